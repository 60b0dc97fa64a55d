//! The API server's webhook backend: `EventList` batches POSTed as JSON to
//! a URL or a kubeconfig-format file (`--audit-webhook-config-file`), with
//! retries and backoff; when the receiver is down either requests are
//! refused (fail closed) or records spill to an on-disk spool, delivered in
//! order once it returns — up to a disk cap, then fail closed.
//!
//! Delivery is at least once: a crash between a receiver's 2xx and the
//! spool's offset being saved sends that batch again after restart.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tollgate_proxy::{Client, Upstream};

use super::{Sink, SinkError, io};
use crate::{Event, EventList};

/// What happens when the receiver cannot take records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookMode {
    /// Retry, then fail: requests are refused (503) until delivery works.
    FailClosed,
    /// Spill to a spool in `dir`, up to `max_bytes`; then fail closed.
    Spool {
        /// The spool directory.
        dir: PathBuf,
        /// Undelivered bytes allowed on disk.
        max_bytes: u64,
    },
}

/// How a [`WebhookSink`] delivers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookOptions {
    /// The first retry's delay (the API server's default is 10 s), growing
    /// by 1.5 each time.
    pub initial_backoff: Duration,
    /// Attempts per batch in fail-closed mode.
    pub attempts: u32,
    /// Events per POST when delivering from the spool.
    pub batch: usize,
    /// The failure mode.
    pub mode: WebhookMode,
}

impl WebhookOptions {
    /// Fail closed, 10 s initial backoff, 5 attempts, batches of 400.
    pub fn fail_closed() -> Self {
        WebhookOptions {
            initial_backoff: Duration::from_secs(10),
            attempts: 5,
            batch: 400,
            mode: WebhookMode::FailClosed,
        }
    }

    /// Spool into `dir` up to `max_bytes`.
    pub fn spool(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        WebhookOptions {
            mode: WebhookMode::Spool {
                dir: dir.into(),
                max_bytes,
            },
            ..WebhookOptions::fail_closed()
        }
    }

    /// The first retry's delay.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Attempts per batch in fail-closed mode.
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }
}

/// POSTs `EventList`s to a receiver.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use tollgate_audit::{WebhookOptions, WebhookSink};
/// let upstream = tollgate_proxy::Upstream::from_kubeconfig(std::path::Path::new("/etc/tollgate/audit-webhook.kubeconfig"), None)?;
/// let sink = WebhookSink::new(upstream, WebhookOptions::spool("/var/lib/tollgate/spool", 1 << 30))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WebhookSink {
    client: Client,
    options: WebhookOptions,
    spool: Option<Arc<Spool>>,
}

impl WebhookSink {
    /// A sink delivering to `upstream` (its server URL, CA and client
    /// credentials); in spool mode, starts the deliverer on the current
    /// tokio runtime.
    ///
    /// # Errors
    /// When the spool cannot be opened.
    pub fn new(upstream: Upstream, options: WebhookOptions) -> Result<Self, SinkError> {
        // The kubeconfig's own credentials (token, client certificate) go
        // with every POST, as the API server's webhook sends them.
        let client = Client::new(upstream);
        let spool = match &options.mode {
            WebhookMode::FailClosed => None,
            WebhookMode::Spool { dir, max_bytes } => Some(Arc::new(Spool::open(dir, *max_bytes)?)),
        };
        let sink = WebhookSink { client, options, spool };
        if let Some(s) = &sink.spool {
            // The deliverer stops when the last sink is dropped.
            let poster = WebhookSink {
                spool: None,
                ..sink.clone()
            };
            tokio::spawn(deliver(poster, Arc::downgrade(s), s.wake.clone()));
        }
        Ok(sink)
    }

    /// Undelivered bytes in the spool.
    pub fn spooled_bytes(&self) -> u64 {
        self.spool.as_ref().map_or(0, |s| s.pending())
    }

    /// One POST.
    async fn post(&self, body: Bytes) -> Result<(), SinkError> {
        let res = self
            .client
            .post_json("", body)
            .await
            .map_err(|e| SinkError::Delivery(e.to_string()))?;
        if res.status.is_success() {
            Ok(())
        } else {
            Err(SinkError::Delivery(format!(
                "the receiver {} answered {}",
                self.client.url(),
                res.status
            )))
        }
    }

    fn encode(batch: &[Event]) -> Result<Bytes, SinkError> {
        serde_json::to_vec(&EventList::new(batch.to_vec()))
            .map(Bytes::from)
            .map_err(|e| SinkError::Delivery(e.to_string()))
    }
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        if let Some(s) = &self.spool {
            return s.append(batch);
        }
        let body = Self::encode(batch)?;
        let mut delay = self.options.initial_backoff;
        let mut last = SinkError::Delivery("no attempt".to_owned());
        for attempt in 0..self.options.attempts {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay = delay.mul_f64(1.5);
            }
            match self.post(body.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// Records waiting for the receiver: JSON lines appended (and synced)
/// to `spool.log`; `spool.offset` holds how far delivery got.
#[derive(Debug)]
struct Spool {
    data: PathBuf,
    offset_path: PathBuf,
    max_bytes: u64,
    state: Mutex<SpoolState>,
    wake: Arc<tokio::sync::Notify>,
}

#[derive(Debug)]
struct SpoolState {
    file: File,
    len: u64,
    offset: u64,
}

impl Spool {
    fn open(dir: &Path, max_bytes: u64) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, &e))?;
        let data = dir.join("spool.log");
        let offset_path = dir.join("spool.offset");
        // A link at the spool's path where anyone could have put it is not
        // followed: delivered records truncate the spool.
        let mut file = super::open_appended(
            OpenOptions::new().create(true).append(true).read(true),
            &data,
            "the webhook spool",
            false,
        )?;
        // One gateway per spool: two would deliver the same records.
        file.try_lock().map_err(|_| {
            SinkError::Io(format!(
                "the spool {} is in use by another process; give each gateway its own spool directory",
                data.display()
            ))
        })?;
        let mut len = file.metadata().map_err(|e| io("reading", &data, &e))?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| io("reading", &data, &e))?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(|e| io("writing", &data, &e))?;
                len += 1;
            }
        }
        let offset = tollgate_kube::files::read_config_text(&offset_path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .min(len);
        Ok(Spool {
            data,
            offset_path,
            max_bytes,
            state: Mutex::new(SpoolState { file, len, offset }),
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SpoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pending(&self) -> u64 {
        let st = self.lock();
        st.len - st.offset
    }

    fn append(&self, batch: &[Event]) -> Result<(), SinkError> {
        let mut buf = Vec::new();
        for e in batch {
            serde_json::to_writer(&mut buf, e).map_err(|e| SinkError::Io(e.to_string()))?;
            buf.push(b'\n');
        }
        let mut st = self.lock();
        let pending = st.len - st.offset;
        if pending + buf.len() as u64 > self.max_bytes {
            return Err(SinkError::Delivery(format!(
                "the audit receiver is not taking records and the spool is full ({pending} bytes undelivered, cap {})",
                self.max_bytes
            )));
        }
        st.file.write_all(&buf).map_err(|e| io("writing", &self.data, &e))?;
        st.file.sync_data().map_err(|e| io("syncing", &self.data, &e))?;
        st.len += buf.len() as u64;
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// Up to `max` events from the delivery offset, and the offset after
    /// them. A line that is not a record (torn by a crash) is skipped.
    fn next_batch(&self, max: usize) -> Result<(Vec<Event>, u64), SinkError> {
        let (offset, len) = {
            let st = self.lock();
            (st.offset, st.len)
        };
        let mut f = File::open(&self.data).map_err(|e| io("opening", &self.data, &e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| io("reading", &self.data, &e))?;
        let mut r = BufReader::new(f.take(len - offset));
        let mut events = Vec::new();
        let mut at = offset;
        let mut line = Vec::new();
        while events.len() < max {
            line.clear();
            let n = r
                .read_until(b'\n', &mut line)
                .map_err(|e| io("reading", &self.data, &e))?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            at += n as u64;
            match serde_json::from_slice::<Event>(line.trim_ascii()) {
                Ok(e) => events.push(e),
                Err(e) if !line.trim_ascii().is_empty() => {
                    tracing::warn!(error = %e, "skipped a spooled line that is not a record (a torn write)");
                }
                Err(_) => {}
            }
        }
        Ok((events, at))
    }

    /// Delivery got to `at`: saved, and the spool emptied when all is
    /// delivered.
    fn advance(&self, at: u64) -> Result<(), SinkError> {
        let mut st = self.lock();
        st.offset = at;
        if st.offset == st.len {
            st.file.set_len(0).map_err(|e| io("truncating", &self.data, &e))?;
            st.len = 0;
            st.offset = 0;
        }
        // Through a new file: whatever has the temporary name (a link or a
        // hard link someone put there) is removed, never written through.
        let tmp = self.offset_path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(st.offset.to_string().as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, &self.offset_path))
            .map_err(|e| io("saving", &self.offset_path, &e))
    }
}

/// Delivers spooled records in order, retrying with backoff (capped at
/// five minutes) until the receiver takes them.
async fn deliver(sink: WebhookSink, weak: std::sync::Weak<Spool>, wake: Arc<tokio::sync::Notify>) {
    let mut delay = sink.options.initial_backoff;
    loop {
        let Some(spool) = weak.upgrade() else { return };
        let (events, at) = match spool.next_batch(sink.options.batch.max(1)) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the audit spool");
                drop(spool);
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        if events.is_empty() {
            if at > spool.lock().offset {
                if let Err(e) = spool.advance(at) {
                    tracing::error!(error = %e, "cannot save the audit spool offset");
                }
                continue;
            }
            drop(spool);
            let _ = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
            continue;
        }
        let body = match WebhookSink::encode(&events) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode spooled records");
                continue;
            }
        };
        match sink.post(body).await {
            Ok(()) => {
                delay = sink.options.initial_backoff;
                if let Err(e) = spool.advance(at) {
                    tracing::error!(error = %e, "cannot save the audit spool offset (records may be sent twice)");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, pending = spool.pending(), retry_in = ?delay, "audit webhook delivery failed; records stay spooled");
                drop(spool);
                tokio::time::sleep(delay).await;
                delay = delay.mul_f64(1.5).min(Duration::from_secs(300));
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A spool in a directory anyone can write to refuses a `spool.log`
    /// someone linked to another file: delivered records truncate the
    /// spool, and through the link they would truncate that file.
    #[test]
    fn a_planted_spool_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (victim, spool) = crate::test_victim_and_shared_dir(dir.path());
        std::os::unix::fs::symlink(&victim, spool.join("spool.log")).unwrap();
        let e = Spool::open(&spool, 1 << 20)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("symbolic link") && e.contains("spool.log"), "{e:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), crate::TEST_VICTIM);
    }

    /// The offset is saved through a new temporary file: one someone put
    /// in its place (a link, a hard link) is replaced, never written
    /// through.
    #[test]
    fn the_offset_is_never_written_through_a_planted_file() {
        let dir = tempfile::tempdir().unwrap();
        let (victim, _) = crate::test_victim_and_shared_dir(dir.path());
        let spool_dir = dir.path().join("spool");
        let spool = Spool::open(&spool_dir, 1 << 20).unwrap();
        spool
            .append(&[Event::new("a", crate::Level::Metadata, crate::Stage::ResponseComplete)])
            .unwrap();
        std::os::unix::fs::symlink(&victim, spool_dir.join("spool.tmp")).unwrap();
        spool.advance(3).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), crate::TEST_VICTIM);
        assert_eq!(std::fs::read_to_string(spool_dir.join("spool.offset")).unwrap(), "3");
        std::fs::hard_link(&victim, spool_dir.join("spool.tmp")).unwrap();
        spool.advance(5).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), crate::TEST_VICTIM);
        assert_eq!(std::fs::read_to_string(spool_dir.join("spool.offset")).unwrap(), "5");
    }
}
