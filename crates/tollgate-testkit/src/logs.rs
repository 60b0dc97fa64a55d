//! `pods/log`: a few lines, and with `follow=true` more lines over time.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

/// The log line `n` of a container.
pub(crate) fn line(pod: &str, container: &str, n: usize) -> String {
    format!("{pod}/{container}: log line {n}\n")
}

/// Lines already "written" when a request arrives.
pub(crate) const INITIAL_LINES: usize = 3;

/// Streams the initial lines, then `more` lines, one per `interval`.
pub(crate) async fn follow(tx: mpsc::Sender<Bytes>, pod: String, container: String, more: usize, interval: Duration) {
    for n in 1..=INITIAL_LINES {
        if tx.send(Bytes::from(line(&pod, &container, n))).await.is_err() {
            return;
        }
    }
    for n in INITIAL_LINES + 1..=INITIAL_LINES + more {
        tokio::time::sleep(interval).await;
        if tx.send(Bytes::from(line(&pod, &container, n))).await.is_err() {
            return;
        }
    }
}
