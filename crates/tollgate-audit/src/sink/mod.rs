//! Where records go: a [`Sink`] takes batches of events; the
//! [`Recorder`](crate::Recorder) in front of it groups concurrent records
//! into batches and tells each request when its record is safe.

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
}

#[async_trait::async_trait]
impl<S: Sink + ?Sized> Sink for Arc<S> {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        (**self).write(batch).await
    }
}

/// Writes JSON lines to standard output.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutSink;

#[async_trait::async_trait]
impl Sink for StdoutSink {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        use std::io::Write;
        let mut buf = Vec::new();
        for e in batch {
            serde_json::to_writer(&mut buf, e).map_err(|e| SinkError::Io(e.to_string()))?;
            buf.push(b'\n');
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&buf)
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
}

#[async_trait::async_trait]
impl Sink for Box<dyn Sink> {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        (**self).write(batch).await
    }
}
