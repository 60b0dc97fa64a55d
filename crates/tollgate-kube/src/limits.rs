//! Every bound this crate puts on what one request can make the gateway do,
//! in one place (`docs/configuration.md` lists these and the other crates'
//! bounds with their defaults).
//!
//! Each bound is checked while the input is read, before the work it limits
//! is done, so a request over it costs no more than one under it.
//!
//! ```
//! use tollgate_kube::limits;
//! assert_eq!(limits::MAX_POINTER_DEPTH, 128);
//! assert!(limits::MAX_YAML_EXPANDED_BYTES > tollgate_kube::DEFAULT_MAX_BODY_BYTES);
//! ```

/// The longest request URI (path and query) the gateway serves by default:
/// 8 KiB. Longer ones get 414 from the gateway instead of reaching the
/// API server over the HTTP/2 connection every client shares (a peer that
/// refuses a request's headers may drop the whole connection). kubectl's
/// longest (a watch with label and field selectors) is well under it;
/// raise it with `limits.maxUriBytes` for clients that need more.
pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;

/// The most header bytes (as HTTP/2 counts them, `Authorization` aside) the
/// gateway serves by default: 12 KiB, under the 16 KiB header list that
/// common HTTP/2 servers accept by default, with room for the
/// `Impersonate-*` headers the gateway adds. The API server itself allows
/// 1 MiB; raise it with `limits.maxHeaderBytes` when the upstream is the API
/// server and clients send more.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 12 * 1024;

/// The most segments a JSON pointer in a JSON patch may have: 128, the
/// nesting serde_json (and so every JSON body) is limited to.
pub const MAX_POINTER_DEPTH: usize = 128;

/// The most operations one JSON patch may carry: 10,000, the API server's
/// own limit (`maxJSONPatchOperations`).
pub const MAX_PATCH_OPS: usize = 10_000;

/// The most YAML nodes a request body may produce, alias expansions
/// included (a 3 MiB body of tiny nodes stays under it; a billion-laughs
/// expansion does not).
pub const MAX_YAML_NODES: usize = 250_000;

/// The deepest a YAML body may nest: 64 levels (the YAML parser's own
/// default). Its decoder recurses once per level with frames far larger
/// than serde_json's, and a request is decoded on a 2 MiB async worker
/// stack; no Kubernetes object nests half as deep.
pub const MAX_YAML_DEPTH: usize = 64;

/// The most bytes of keys and scalars a YAML body may produce once its
/// aliases are expanded: the default body limit plus 1 MiB. A body without
/// aliases never reaches it; one whose aliases would multiply it does.
pub const MAX_YAML_EXPANDED_BYTES: usize = crate::DEFAULT_MAX_BODY_BYTES + 1024 * 1024;

/// The most bytes of a parser's message that reach a client or a log line:
/// a message quoting a 6 MB scalar is cut here.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 512;

/// Cuts `message` to [`MAX_ERROR_MESSAGE_BYTES`] at a character boundary,
/// saying how much was left out.
///
/// ```
/// let long = "x".repeat(10_000);
/// let cut = tollgate_kube::limits::cut_message(long);
/// assert!(cut.len() < 600 && cut.ends_with("(9488 more bytes)"));
/// ```
pub fn cut_message(message: String) -> String {
    if message.len() <= MAX_ERROR_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_ERROR_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &message[..end], message.len() - end)
}
