//! Upgrade tunnels (exec, attach, port-forward over WebSocket or SPDY):
//! bytes are copied as they come, and a [`Tap`] sees each direction.

use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Observes a tunnel's bytes. Called on the tunnel's task with each chunk
/// as it passes; must not block. Recording hooks in here without touching
/// the tunnel.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tollgate_proxy::{Tap, TunnelStats, TunnelTap};
///
/// #[derive(Default)]
/// struct Count(Mutex<u64>);
/// impl Tap for Count {
///     fn client_bytes(&self, b: &[u8]) { *self.0.lock().unwrap() += b.len() as u64; }
///     fn upstream_bytes(&self, _: &[u8]) {}
/// }
/// // An inner layer puts this into the request's extensions:
/// let tap = TunnelTap::new(Count::default());
/// # let _ = tap;
/// ```
pub trait Tap: Send + Sync + 'static {
    /// Bytes from the client toward the API server.
    fn client_bytes(&self, bytes: &[u8]);
    /// Bytes from the API server toward the client.
    fn upstream_bytes(&self, bytes: &[u8]);
    /// Whether the tunnel must end now (for example: a required recording
    /// can no longer follow it), and why. Checked after every chunk; the
    /// chunk that made it so is not passed on, and both directions close.
    fn must_close(&self) -> Option<String> {
        None
    }

    /// When [`must_close`](Tap::must_close) ends the tunnel: bytes written
    /// to the client before its side closes, telling it why (a `Status` in
    /// the protocol's error stream). `None` sends nothing.
    fn farewell(&self) -> Option<Vec<u8>> {
        None
    }

    /// Called once when the tunnel closes.
    fn closed(&self, stats: TunnelStats) {
        let _ = stats;
    }
}

impl Tap for () {
    fn client_bytes(&self, _: &[u8]) {}
    fn upstream_bytes(&self, _: &[u8]) {}
}

/// A tap shared with whoever else holds it (the recorder that writes the
/// session's record when the tunnel closes).
impl<T: Tap + ?Sized> Tap for Arc<T> {
    fn client_bytes(&self, bytes: &[u8]) {
        (**self).client_bytes(bytes);
    }
    fn upstream_bytes(&self, bytes: &[u8]) {
        (**self).upstream_bytes(bytes);
    }
    fn must_close(&self) -> Option<String> {
        (**self).must_close()
    }
    fn farewell(&self) -> Option<Vec<u8>> {
        (**self).farewell()
    }
    fn closed(&self, stats: TunnelStats) {
        (**self).closed(stats);
    }
}

/// Byte counts of a finished tunnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TunnelStats {
    /// Bytes the client sent.
    pub client_bytes: u64,
    /// Bytes the API server sent.
    pub upstream_bytes: u64,
}

/// A [`Tap`] carried in request extensions to the proxy.
#[derive(Clone)]
pub struct TunnelTap(Arc<dyn Tap>);

impl TunnelTap {
    /// Wraps a tap.
    pub fn new(tap: impl Tap) -> Self {
        TunnelTap(Arc::new(tap))
    }
}

impl std::fmt::Debug for TunnelTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelTap")
    }
}

/// What a proxy's tunnels did, all together (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TunnelTotals {
    /// Tunnels open now.
    pub open: u64,
    /// Bytes clients sent through tunnels that closed.
    pub client_bytes: u64,
    /// Bytes the API server sent through tunnels that closed.
    pub upstream_bytes: u64,
}

/// The counters behind [`TunnelTotals`].
#[derive(Debug, Default)]
pub(crate) struct TunnelCounters {
    open: std::sync::atomic::AtomicU64,
    client_bytes: std::sync::atomic::AtomicU64,
    upstream_bytes: std::sync::atomic::AtomicU64,
}

impl TunnelCounters {
    pub(crate) fn totals(&self) -> TunnelTotals {
        use std::sync::atomic::Ordering::Relaxed;
        TunnelTotals {
            open: self.open.load(Relaxed),
            client_bytes: self.client_bytes.load(Relaxed),
            upstream_bytes: self.upstream_bytes.load(Relaxed),
        }
    }
}

/// Waits for both sides to switch protocols, then copies until both close.
pub(crate) async fn run(client: OnUpgrade, upstream: OnUpgrade, tap: Option<TunnelTap>, counters: Arc<TunnelCounters>) {
    use std::sync::atomic::Ordering::Relaxed;
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade tunnel did not open");
            return;
        }
    };
    let (cr, cw) = tokio::io::split(TokioIo::new(client));
    let (ur, uw) = tokio::io::split(TokioIo::new(upstream));
    let tap_ref = tap.as_ref().map(|t| t.0.clone());
    // Either direction can end the tunnel for both (a tap that must close it).
    let stop = Arc::new(Stop::default());
    counters.open.fetch_add(1, Relaxed);
    let (client_bytes, upstream_bytes) = tokio::join!(
        pump(cr, uw, tap_ref.clone(), Direction::ClientToUpstream, stop.clone()),
        pump(ur, cw, tap_ref, Direction::UpstreamToClient, stop),
    );
    counters.open.fetch_sub(1, Relaxed);
    counters.client_bytes.fetch_add(client_bytes, Relaxed);
    counters.upstream_bytes.fetch_add(upstream_bytes, Relaxed);
    if let Some(t) = tap {
        t.0.closed(TunnelStats {
            client_bytes,
            upstream_bytes,
        });
    }
}

#[derive(Clone, Copy)]
enum Direction {
    ClientToUpstream,
    UpstreamToClient,
}

async fn pump<R, W>(mut r: R, mut w: W, tap: Option<Arc<dyn Tap>>, dir: Direction, stop: Arc<Stop>) -> u64
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let read = tokio::select! {
            r = r.read(&mut buf) => r,
            () = stop.notify.notified() => break,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if let Some(t) = &tap {
            match dir {
                Direction::ClientToUpstream => t.client_bytes(chunk),
                Direction::UpstreamToClient => t.upstream_bytes(chunk),
            }
            if let Some(why) = t.must_close() {
                tracing::warn!(reason = %why, "closing a tunnel its tap cannot follow");
                // notify_one stores a permit for the other pump even if it
                // is not waiting yet; waiters are woken too.
                stop.by_tap.store(true, std::sync::atomic::Ordering::SeqCst);
                stop.notify.notify_waiters();
                stop.notify.notify_one();
                break;
            }
        }
        total += n as u64;
        if w.write_all(chunk).await.is_err() || w.flush().await.is_err() {
            break;
        }
    }
    // The client is told why a tap closed its tunnel, if the tap can say.
    if matches!(dir, Direction::UpstreamToClient)
        && stop.by_tap.load(std::sync::atomic::Ordering::SeqCst)
        && let Some(bytes) = tap.as_ref().and_then(|t| t.farewell())
    {
        let _ = w.write_all(&bytes).await;
        let _ = w.flush().await;
    }
    let _ = w.shutdown().await;
    total
}

/// Ends both directions of a tunnel; `by_tap` when a tap asked.
#[derive(Default)]
struct Stop {
    notify: tokio::sync::Notify,
    by_tap: std::sync::atomic::AtomicBool,
}
