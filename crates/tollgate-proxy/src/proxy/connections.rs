//! Short requests' HTTP/2 connections to the API server: as many as their
//! number needs.
//!
//! The API server lets a client have 100 streams on one HTTP/2 connection,
//! and hyper's pool keeps one connection per host and never opens a second
//! when the first is full: every short request past the hundredth would
//! wait for a stream, however slow the hundred ahead of it (a slow list, a
//! client reading its answer slowly). Like client-go, which opens another
//! connection then, this keeps a pool of its own per connection count:
//! each connection is a client of hyper's (one HTTP/2 connection to the
//! host), and a request takes a stream on the first with one free, opening
//! another connection when none has, up to [`MAX_CONNECTIONS`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::increment_below;

/// Streams taken on one connection before the next request goes to
/// another: the API server's own limit.
pub(crate) const STREAMS_PER_CONNECTION: usize = 100;

/// The most connections opened for short requests; past them a request
/// takes a stream on the least busy one, and HTTP/2 queues it there.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// The connections, each with the streams its requests hold. A request
/// reads the connections made so far without a lock (each slot is set
/// once); only making a connection waits for others making the same one.
pub(crate) struct Connections<C> {
    make: Box<dyn Fn() -> C + Send + Sync>,
    slots: Box<[OnceLock<Arc<Connection<C>>>]>,
    per_connection: usize,
}

impl<C> std::fmt::Debug for Connections<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("open", &self.len())
            .field("per_connection", &self.per_connection)
            .field("max", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// One connection: the client it goes through and its streams in use.
#[derive(Debug)]
pub(crate) struct Connection<C> {
    pub(crate) client: C,
    streams: AtomicUsize,
}

/// A stream taken on a connection; given back when dropped (the request's
/// response body ended or was dropped, or the request failed).
#[derive(Debug)]
pub(crate) struct Stream<C>(Arc<Connection<C>>);

impl<C> Stream<C> {
    /// The client to send the request through.
    pub(crate) fn client(&self) -> &C {
        &self.0.client
    }
}

impl<C> Drop for Stream<C> {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<C> Connection<C> {
    /// A stream here if fewer than `limit` are taken.
    fn try_take(self: &Arc<Self>, limit: usize) -> Option<Stream<C>> {
        increment_below(&self.streams, limit).then(|| Stream(self.clone()))
    }
}

impl<C> Connections<C> {
    /// Connections made by `make` when needed, `per_connection` streams
    /// each, at most `max` of them (at least one).
    pub(crate) fn new(make: impl Fn() -> C + Send + Sync + 'static, per_connection: usize, max: usize) -> Self {
        Connections {
            make: Box::new(make),
            slots: (0..max.max(1)).map(|_| OnceLock::new()).collect(),
            per_connection: per_connection.max(1),
        }
    }

    /// A stream on the first connection with one free, making the next
    /// connection when none has; past the most connections, on the least
    /// busy one (where HTTP/2 queues the request).
    pub(crate) fn take(&self) -> Stream<C> {
        for slot in self.slots.iter() {
            let c = slot.get_or_init(|| {
                Arc::new(Connection {
                    client: (self.make)(),
                    streams: AtomicUsize::new(0),
                })
            });
            if let Some(s) = c.try_take(self.per_connection) {
                return s;
            }
        }
        let least = self
            .slots
            .iter()
            .filter_map(OnceLock::get)
            .min_by_key(|c| c.streams.load(Ordering::Relaxed));
        let c = match least {
            Some(c) => c.clone(),
            // Every slot was set above; not reached.
            None => Arc::new(Connection {
                client: (self.make)(),
                streams: AtomicUsize::new(0),
            }),
        };
        c.streams.fetch_add(1, Ordering::AcqRel);
        Stream(c)
    }

    /// How many connections were made (hyper closes an idle one's socket
    /// and opens it again when it is next used).
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.get().is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made() -> (Connections<usize>, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (Connections::new(move || m.fetch_add(1, Ordering::Relaxed), 3, 2), n)
    }

    #[test]
    fn a_connection_fills_before_the_next_opens_and_streams_come_back() {
        let (c, made) = made();
        let first: Vec<_> = (0..3).map(|_| c.take()).collect();
        assert!(
            first.iter().all(|s| *s.client() == 0),
            "one connection while it has streams"
        );
        assert_eq!(made.load(Ordering::Relaxed), 1);
        let fourth = c.take();
        assert_eq!(*fourth.client(), 1, "the fourth opens another");
        drop(first);
        assert_eq!(*c.take().client(), 0, "given-back streams are taken again first");
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn past_the_most_connections_the_least_busy_is_shared() {
        let (c, made) = made();
        let held: Vec<_> = (0..6).map(|_| c.take()).collect();
        assert_eq!(made.load(Ordering::Relaxed), 2);
        let extra = c.take();
        assert_eq!(c.len(), 2, "no third connection");
        assert!(*extra.client() < 2);
        drop(held);
        drop(extra);
        let taken: usize = c
            .slots
            .iter()
            .filter_map(OnceLock::get)
            .map(|c| c.streams.load(Ordering::Relaxed))
            .sum();
        assert_eq!(taken, 0);
    }

    #[test]
    fn taken_from_many_threads_no_connection_passes_its_streams() {
        let c = Connections::new(|| 0usize, 5, 100);
        let held: Vec<Stream<usize>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..50).map(|_| c.take()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        assert_eq!(held.len(), 200);
        for conn in c.slots.iter().filter_map(OnceLock::get) {
            assert!(conn.streams.load(Ordering::Relaxed) <= 5);
        }
        assert_eq!(c.len(), 40);
    }
}
