//! A string's contents as JSON text, escaped byte for byte as `serde_json`
//! escapes them: `"`, `\` and the control characters below U+0020, the
//! short forms (`\b \t \n \f \r`) where JSON has them and `\u00xx`
//! otherwise; nothing else (non-ASCII text is written as it is).
//!
//! Shared by the writers that build JSON without a `serde_json::Value`:
//! the audit log's lines (`tollgate-audit`) and the JSON log's span fields
//! (`tollgate-metrics`), so both escape exactly alike.

/// What byte `c` (below 0x20, or `"` or `\`) is written as.
fn escape_of(c: u8) -> &'static str {
    const CONTROL: [&str; 32] = [
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007", "\\b", "\\t", "\\n",
        "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014",
        "\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e",
        "\\u001f",
    ];
    match c {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        _ => CONTROL.get(usize::from(c)).copied().unwrap_or_default(),
    }
}

/// Whether byte `c` must be escaped.
fn escapes(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes is `"`, `\` or below 0x20 (exact: the
/// classic "has a zero byte" and "has a byte less than n" tests).
fn word_needs_escape(w: u64) -> bool {
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let quote = zero(w ^ (LO * u64::from(b'"')));
    let backslash = zero(w ^ (LO * u64::from(b'\\')));
    let control = w.wrapping_sub(LO * 0x20) & !w & HI;
    (quote | backslash | control) != 0
}

/// Whether `s` is written as it is (nothing in it needs escaping): eight
/// bytes at a time, the tail padded with a byte that needs none.
///
/// ```
/// assert!(tollgate_kube::json_text::is_plain("tollgate.dev/owner"));
/// assert!(!tollgate_kube::json_text::is_plain("a\tb"));
/// ```
pub fn is_plain(s: &str) -> bool {
    let mut words = s.as_bytes().chunks_exact(8);
    for w in words.by_ref() {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        if word_needs_escape(u64::from_le_bytes(x)) {
            return false;
        }
    }
    let tail = words.remainder();
    let mut x = [b'a'; 8];
    for (d, s) in x.iter_mut().zip(tail) {
        *d = *s;
    }
    !word_needs_escape(u64::from_le_bytes(x))
}

/// Gives `s`'s contents escaped as JSON text (without the surrounding
/// quotes) to `piece`, in order: runs of `s` that need no escaping, and
/// the escapes between them. A string that needs none — nearly every one —
/// is given whole, found eight bytes at a time. Stops at `piece`'s first
/// error.
///
/// # Errors
/// The first error `piece` returns.
///
/// # Example
/// ```
/// let mut out = String::new();
/// tollgate_kube::json_text::escape("say \"hi\"\n", |p| {
///     out.push_str(p);
///     Ok::<(), std::convert::Infallible>(())
/// })?;
/// assert_eq!(out, r#"say \"hi\"\n"#);
/// # Ok::<(), std::convert::Infallible>(())
/// ```
pub fn escape<E>(s: &str, mut piece: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
    if is_plain(s) {
        return piece(s);
    }
    let b = s.as_bytes();
    // The start of the run not yet given.
    let mut start = 0;
    let mut at = 0;
    let mut escape_at = |i: usize, c: u8, start: &mut usize| -> Result<(), E> {
        // Escaped bytes are ASCII, so `start` and `i` are on character
        // boundaries.
        piece(s.get(*start..i).unwrap_or_default())?;
        piece(escape_of(c))?;
        *start = i + 1;
        Ok(())
    };
    // Eight bytes at a time; only a word that holds a byte to escape is
    // looked at byte by byte (terminal output has a newline or an escape
    // sequence every line, not every byte).
    for w in b.chunks_exact(8) {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        if word_needs_escape(u64::from_le_bytes(x)) {
            for (j, &c) in w.iter().enumerate() {
                if escapes(c) {
                    escape_at(at + j, c, &mut start)?;
                }
            }
        }
        at += 8;
    }
    for (j, &c) in b.get(at..).unwrap_or_default().iter().enumerate() {
        if escapes(c) {
            escape_at(at + j, c, &mut start)?;
        }
    }
    piece(s.get(start..).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        escape(s, |p| {
            out.push_str(p);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn every_byte_that_needs_it_is_escaped_as_serde_json_does() {
        for c in (0u8..0x20).chain([b'"', b'\\']) {
            let s = format!("a{}b", char::from(c));
            assert_eq!(
                format!("\"{}\"", escaped(&s)),
                serde_json::to_string(&s).unwrap(),
                "byte {c:#x}"
            );
        }
    }

    #[test]
    fn a_failing_writer_stops_the_escape() {
        let mut calls = 0;
        let r = escape("a\"b\"c", |_| {
            calls += 1;
            if calls == 2 { Err("full") } else { Ok(()) }
        });
        assert_eq!(r, Err("full"));
        assert_eq!(calls, 2);
    }

    proptest! {
        /// Quoted, the escaped text is what serde_json writes for the
        /// string, whatever its bytes (the SWAR test included: strings
        /// of every length around its eight-byte words).
        #[test]
        fn the_same_text_as_serde_json(s in any::<String>(), pad in 0usize..17) {
            let s = format!("{}{s}", "x".repeat(pad));
            prop_assert_eq!(format!("\"{}\"", escaped(&s)), serde_json::to_string(&s).unwrap());
        }

        /// Plain exactly when serde_json writes the string as it is (not
        /// compared with `escape`, which asks `is_plain` first): one byte
        /// to escape at any place, in strings of every length around the
        /// eight-byte words, the tail padded.
        #[test]
        fn plain_is_what_serde_json_writes_unchanged(
            s in prop_oneof![
                any::<String>(),
                "[a-z\u{e9}]{0,30}",
                "[a-z]{0,20}[\\x00-\\x1f\"\\\\][a-z\u{e9}]{0,20}",
            ]
        ) {
            prop_assert_eq!(is_plain(&s), serde_json::to_string(&s).unwrap() == format!("\"{s}\""));
        }

        /// Terminal-like text: long plain runs, a byte to escape now and
        /// then, at every position of an eight-byte word.
        #[test]
        fn sparse_escapes_in_long_text(s in "([a-z \u{e9}]{0,23}[\n\r\x1b\"\\\\\t]){0,12}[a-z]{0,9}") {
            prop_assert_eq!(format!("\"{}\"", escaped(&s)), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn control_heavy_text_too(s in "[\\x00-\\x1f\"\\\\a-z\u{e9}\u{1f600}]{0,40}") {
            prop_assert_eq!(format!("\"{}\"", escaped(&s)), serde_json::to_string(&s).unwrap());
        }
    }
}
