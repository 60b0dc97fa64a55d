//! The request's audit ID, shared by the audit record and the API server.

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
pub struct AuditId(String);

impl AuditId {
    /// An ID with this text.
    pub fn new(id: impl Into<String>) -> Self {
        AuditId(id.into())
    }

    /// A version-4 UUID from 16 random bytes.
    pub fn from_random_bytes(mut b: [u8; 16]) -> Self {
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(36);
        for (i, x) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out.push('-');
            }
            out.push(char::from(HEX[usize::from(x >> 4)]));
            out.push(char::from(HEX[usize::from(x & 0x0f)]));
        }
        AuditId(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AuditId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
