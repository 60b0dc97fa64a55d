//! The request's audit ID, shared by the audit record and the API server.

use std::cell::RefCell;
use std::sync::Arc;

/// Random bytes a thread draws audit IDs from: 256 IDs' worth.
const POOL_BYTES: usize = 4096;

struct Pool {
    bytes: [u8; POOL_BYTES],
    used: usize,
}

impl Pool {
    fn take(&mut self) -> [u8; 16] {
        if self.used + 16 > POOL_BYTES {
            if getrandom::getrandom(&mut self.bytes).is_err() {
                fallback(&mut self.bytes);
            }
            self.used = 0;
        }
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.bytes[self.used..self.used + 16]);
        self.used += 16;
        b
    }
}

/// Should the operating system's source fail, IDs stay distinct: each 8
/// bytes are a hash, keyed by the standard library's per-process random
/// keys, of a process-wide counter.
fn fallback(bytes: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let keys = std::collections::hash_map::RandomState::new();
    for chunk in bytes.chunks_mut(8) {
        let mut h = keys.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// The ID that ties a request's audit record to the API server's own
/// (`Audit-ID` header). The gateway always sets its own: a client-chosen ID
/// would otherwise be recorded verbatim by the API server.
///
/// ```
/// use tollgate_kube::AuditId;
/// let id = AuditId::from_random_bytes([7; 16]);
/// assert_eq!(id.as_str(), "07070707-0707-4707-8707-070707070707");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuditId(Arc<str>);

impl AuditId {
    /// The header it travels in, `Audit-ID` (a constant: naming a header
    /// by a string parses the name on every use).
    pub const HEADER: http::HeaderName = http::HeaderName::from_static("audit-id");

    /// An ID with this text.
    pub fn new(id: impl Into<String>) -> Self {
        AuditId(Arc::from(id.into()))
    }

    /// A fresh version-4 UUID from the operating system's random source.
    ///
    /// The bytes come from a per-thread buffer refilled by one `getrandom`
    /// call per 256 IDs, so a request costs no system call.
    ///
    /// ```
    /// use tollgate_kube::AuditId;
    /// let (a, b) = (AuditId::random(), AuditId::random());
    /// assert_ne!(a, b);
    /// assert_eq!(a.as_str().len(), 36);
    /// ```
    pub fn random() -> Self {
        thread_local! {
            static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; POOL_BYTES], used: POOL_BYTES }) };
        }
        let b = POOL.with(|p| p.borrow_mut().take());
        AuditId::from_random_bytes(b)
    }

    /// A version-4 UUID from 16 random bytes.
    pub fn from_random_bytes(mut b: [u8; 16]) -> Self {
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 36];
        let mut at = 0;
        for (i, x) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out[at] = b'-';
                at += 1;
            }
            out[at] = HEX[usize::from(x >> 4)];
            out[at + 1] = HEX[usize::from(x & 0x0f)];
            at += 2;
        }
        // Hex digits and dashes only.
        AuditId(Arc::from(std::str::from_utf8(&out).unwrap_or_default()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value of the [`HEADER`](AuditId::HEADER) it travels in, or
    /// `None` when the text cannot be a header value (an ID taken from
    /// elsewhere with a control character in it).
    ///
    /// The value is marked sensitive: HTTP/2 then sends it as a literal
    /// that is never indexed. Every request has an ID of its own, so
    /// entering each into the connection's HPACK table (4 KiB) would evict,
    /// every fifty requests or so, the entries that do repeat (the
    /// impersonation headers, the content type), and those would be sent
    /// and entered again in full.
    ///
    /// ```
    /// use tollgate_kube::AuditId;
    /// let v = AuditId::random().header_value().unwrap();
    /// assert!(v.is_sensitive());
    /// assert_eq!(v.len(), 36);
    /// assert!(AuditId::new("a\nb").header_value().is_none());
    /// ```
    pub fn header_value(&self) -> Option<http::HeaderValue> {
        let mut v = http::HeaderValue::from_str(&self.0).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

impl std::fmt::Display for AuditId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Across several refills of a thread's pool (256 IDs each) and on
    /// several threads, every ID is a well-formed version-4 UUID and none
    /// repeats.
    #[test]
    fn random_ids_are_version_4_and_distinct() {
        let ids: Vec<AuditId> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| AuditId::random()).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let distinct: std::collections::HashSet<&str> = ids.iter().map(AuditId::as_str).collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let b = id.as_str().as_bytes();
            assert_eq!(b.len(), 36);
            assert_eq!((b[8], b[13], b[18], b[23]), (b'-', b'-', b'-', b'-'));
            assert_eq!(b[14], b'4', "version 4: {}", id);
            assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'), "RFC 4122 variant: {}", id);
            assert!(b.iter().all(|c| c.is_ascii_hexdigit() || *c == b'-'));
        }
    }

    #[test]
    fn the_fallback_fills_distinct_bytes() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        fallback(&mut a);
        fallback(&mut b);
        assert_ne!(a, b);
        assert!(a.chunks(8).collect::<std::collections::HashSet<_>>().len() == 8);
    }
}
