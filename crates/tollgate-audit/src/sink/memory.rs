//! A sink that keeps records in memory, for tests and embedders; it can be
//! told to fail, to exercise the failure modes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Sink, SinkError};
use crate::Event;

/// Records kept in memory.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tollgate_audit::{Event, Level, MemorySink, Sink, Stage};
/// let sink = MemorySink::default();
/// sink.write(&[Event::new("a", Level::Metadata, Stage::ResponseComplete)]).await.unwrap();
/// assert_eq!(sink.events().len(), 1);
/// sink.set_failing(true);
/// assert!(sink.write(&[]).await.is_err());
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<Event>>>,
    failing: Arc<AtomicBool>,
}

impl MemorySink {
    /// A copy of what was written.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes every write fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Sink for MemorySink {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SinkError::Io("the memory sink is set to fail".to_owned()));
        }
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(batch);
        Ok(())
    }
}
