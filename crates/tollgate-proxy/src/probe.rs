//! [`UpstreamProbe`]: whether the API server has answered at all, for
//! readiness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether the upstream has answered once, else why not.
#[derive(Debug)]
pub struct UpstreamProbe {
    answered: AtomicBool,
    last_error: std::sync::Mutex<String>,
}

impl UpstreamProbe {
    /// Asks `GET /version` every 2 s until any answer comes (a 401 or 403
    /// is an answer: the API server is there), then stops. Waits up to 2 s
    /// for the first answer, so a gateway whose upstream is up is ready as
    /// soon as it starts.
    pub async fn start(upstream: crate::Upstream) -> Arc<Self> {
        let probe = Arc::new(UpstreamProbe {
            answered: AtomicBool::new(false),
            last_error: std::sync::Mutex::new("not asked yet".to_owned()),
        });
        let client = crate::Client::new(upstream).timeout(Duration::from_secs(5));
        let me = probe.clone();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut first = Some(first_tx);
            loop {
                match client.get("/version").await {
                    Ok(_) => me.answered.store(true, Ordering::SeqCst),
                    Err(e) => {
                        if let Ok(mut last) = me.last_error.lock() {
                            *last = e.to_string();
                        }
                    }
                }
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
                if me.answered.load(Ordering::SeqCst) {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(2), first_rx).await;
        probe
    }
}

impl UpstreamProbe {
    /// `Ok` once the upstream has answered, else why the last try failed.
    pub fn answered(&self) -> Result<(), String> {
        if self.answered.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(self.last_error.lock().map(|e| e.clone()).unwrap_or_default())
        }
    }
}
