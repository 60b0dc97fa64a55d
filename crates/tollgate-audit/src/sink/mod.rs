//! Where records go: a [`Sink`] takes batches of events; the
//! [`Recorder`](crate::Recorder) in front of it groups concurrent records
//! into batches and tells each request when its record is safe.

mod direct;
mod file;
mod memory;
#[cfg(feature = "webhook")]
mod webhook;

use std::sync::Arc;

pub use file::{
    BoundedLines, Durability, FileOptions, FileSink, LogReader, MAX_RECORD_LINE_BYTES, ReadError, read_log,
};
pub use memory::MemorySink;
#[cfg(feature = "webhook")]
pub use webhook::{WebhookMode, WebhookOptions, WebhookSink};

use crate::Event;

/// An I/O error `e` while `what` ("opening", "writing", …) `path`, as
/// every file sink reports it.
fn io(what: &str, path: &std::path::Path, e: &std::io::Error) -> SinkError {
    SinkError::Io(format!("{what} {}: {e}", path.display()))
}

/// Opens `path` with `options` for a file the sink appends to (`what`
/// names it in errors), `nonblock` adding `O_NONBLOCK` on Linux.
///
/// In a directory anyone may write to (mode `o+w`, as a Kubernetes
/// `emptyDir` is), a symlink at `path` is refused, not followed: anyone
/// could have put it there to aim the records, written as the gateway's
/// user, at a file of their choosing. A sticky directory (`/tmp`) is no
/// exception: whether the kernel itself refuses to follow a link there
/// (`fs.protected_symlinks`) is the machine's setting.
fn open_appended(
    options: &mut std::fs::OpenOptions,
    path: &std::path::Path,
    what: &str,
    nonblock: bool,
) -> Result<std::fs::File, SinkError> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        let shared = std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0);
        let mut flags = rustix::fs::OFlags::empty();
        if nonblock {
            flags |= rustix::fs::OFlags::NONBLOCK;
        }
        if shared {
            flags |= rustix::fs::OFlags::NOFOLLOW;
        }
        options.custom_flags(flags.bits() as i32);
        options.open(path).map_err(|e| {
            if shared && e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                SinkError::Io(format!(
                    "{what} {} is a symbolic link in {}, a directory anyone can write to: refused, since anyone could have put it there to aim the records at a file of their choosing (name the file itself, or keep it in a directory only its owner can write to)",
                    path.display(),
                    dir.display()
                ))
            } else {
                io("opening", path, &e)
            }
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (what, nonblock);
        options.open(path).map_err(|e| io("opening", path, &e))
    }
}

/// Why a sink could not take a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing failed (disk full, permissions, a closed pipe …).
    #[error("writing audit records failed: {0}")]
    Io(String),
    /// The receiver refused or could not be reached.
    #[error("delivering audit records failed: {0}")]
    Delivery(String),
}

/// A destination for audit records.
///
/// ```
/// use tollgate_audit::{Event, Sink, SinkError};
/// #[derive(Debug)]
/// struct Count(std::sync::atomic::AtomicUsize);
/// #[async_trait::async_trait]
/// impl Sink for Count {
///     async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
///         self.0.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a batch; when this returns `Ok` the records are as safe as
    /// the sink promises (written, synced, delivered).
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError>;

    /// Whether the sink takes records as JSON lines
    /// ([`Sink::write_lines`]) instead of events. The
    /// [`Recorder`](crate::Recorder) then serializes each record on the
    /// thread that made it, where its data is in cache, and hands the sink
    /// one buffer per batch.
    fn takes_lines(&self) -> bool {
        false
    }

    /// Stores a batch of records as JSON lines (each ends with a newline);
    /// called only when [`Sink::takes_lines`].
    async fn write_lines(&self, lines: &[u8]) -> Result<(), SinkError> {
        let _ = lines;
        Err(SinkError::Io("this sink takes events, not JSON lines".to_owned()))
    }

    /// Stores a batch of JSON lines on the calling thread, when the sink
    /// can without waiting for a device or a peer (a file whose records
    /// count as written once handed to the operating system); `None` when
    /// it cannot, for this batch or at all, and the batch is left to
    /// [`Sink::write_lines`] on the recorder's writer thread (the default).
    ///
    /// The [`Recorder`](crate::Recorder) calls it from the task of a
    /// request that waits for its record: that request writes its own
    /// record and those queued with it, and none of them waits for another
    /// thread to be scheduled.
    fn write_lines_now(&self, lines: &[u8]) -> Option<Result<(), SinkError>> {
        let _ = lines;
        None
    }

    /// Whether [`Sink::write_lines_now`] takes batches (it may still turn
    /// one down); `false` by default.
    fn writes_now(&self) -> bool {
        false
    }

    /// Writes out what the sink holds back between batches (a file log
    /// written with `durability: none` holds the end of its last, partial
    /// block). The [`Recorder`](crate::Recorder)'s writer thread calls it
    /// after a batch that holds a [flush](crate::Recorder::flush) or a
    /// record someone waits for: what is confirmed is written.
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl<S: Sink + ?Sized> Sink for Arc<S> {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        (**self).write(batch).await
    }

    fn takes_lines(&self) -> bool {
        (**self).takes_lines()
    }

    async fn write_lines(&self, lines: &[u8]) -> Result<(), SinkError> {
        (**self).write_lines(lines).await
    }

    fn write_lines_now(&self, lines: &[u8]) -> Option<Result<(), SinkError>> {
        (**self).write_lines_now(lines)
    }

    fn writes_now(&self) -> bool {
        (**self).writes_now()
    }

    async fn flush(&self) -> Result<(), SinkError> {
        (**self).flush().await
    }
}

/// Writes JSON lines to standard output.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutSink;

#[async_trait::async_trait]
impl Sink for StdoutSink {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        let mut buf = Vec::new();
        for e in batch {
            crate::json_line::write_event(e, &mut buf).map_err(|e| SinkError::Io(e.to_string()))?;
            buf.push(b'\n');
        }
        self.write_lines(&buf).await
    }

    fn takes_lines(&self) -> bool {
        true
    }

    async fn write_lines(&self, lines: &[u8]) -> Result<(), SinkError> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(lines)
            .and_then(|()| out.flush())
            .map_err(|e| SinkError::Io(e.to_string()))
    }
}

/// Writes every batch to several sinks; a batch counts as written when all
/// of them took it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tollgate_audit::{Event, Level, MemorySink, Sink, Stage, Tee};
/// let (a, b) = (MemorySink::default(), MemorySink::default());
/// let tee = Tee::new(vec![Box::new(a.clone()), Box::new(b.clone())]);
/// tee.write(&[Event::new("x", Level::Metadata, Stage::Panic)]).await.unwrap();
/// assert_eq!((a.events().len(), b.events().len()), (1, 1));
/// # }
/// ```
#[derive(Debug)]
pub struct Tee(Vec<Box<dyn Sink>>);

impl Tee {
    /// Writes to all of these.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        Tee(sinks)
    }
}

#[async_trait::async_trait]
impl Sink for Tee {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        for s in &self.0 {
            s.write(batch).await?;
        }
        Ok(())
    }

    /// Lines when every sink takes them (and there is at least one).
    fn takes_lines(&self) -> bool {
        !self.0.is_empty() && self.0.iter().all(|s| s.takes_lines())
    }

    async fn write_lines(&self, lines: &[u8]) -> Result<(), SinkError> {
        for s in &self.0 {
            s.write_lines(lines).await?;
        }
        Ok(())
    }

    /// The one sink's, when there is one; several go to the writer thread
    /// (one of them might take the batch and the next not).
    fn write_lines_now(&self, lines: &[u8]) -> Option<Result<(), SinkError>> {
        match self.0.as_slice() {
            [one] => one.write_lines_now(lines),
            _ => None,
        }
    }

    fn writes_now(&self) -> bool {
        matches!(self.0.as_slice(), [one] if one.writes_now())
    }

    /// Every sink's, the first error returned after all were asked.
    async fn flush(&self) -> Result<(), SinkError> {
        let mut result = Ok(());
        for s in &self.0 {
            let r = s.flush().await;
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

#[async_trait::async_trait]
impl Sink for Box<dyn Sink> {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        (**self).write(batch).await
    }

    fn takes_lines(&self) -> bool {
        (**self).takes_lines()
    }

    async fn write_lines(&self, lines: &[u8]) -> Result<(), SinkError> {
        (**self).write_lines(lines).await
    }

    fn write_lines_now(&self, lines: &[u8]) -> Option<Result<(), SinkError>> {
        (**self).write_lines_now(lines)
    }

    fn writes_now(&self) -> bool {
        (**self).writes_now()
    }

    async fn flush(&self) -> Result<(), SinkError> {
        (**self).flush().await
    }
}
