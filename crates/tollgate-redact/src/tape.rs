//! A structural index of one JSON document: every value's byte span, its
//! key when it is an object member, and a skip pointer past its subtree.
//! Built in one pass without decoding strings, so the byte-level rewriter
//! can find the few places a preset names and copy everything else through.
//!
//! The parser is strict: it accepts only what `serde_json` accepts (RFC 8259
//! grammar, valid escapes and surrogate pairs, finite numbers, nesting up to
//! 128) so that a document the index refuses can fall back to the reference
//! engine, which then decides exactly as before.

use std::borrow::Cow;

/// What a node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Null,
    Other,
}

/// One value of the document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// The value's bytes: `start..end` (strings include their quotes).
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The member's key, between its quotes (`0..0` outside objects).
    pub(crate) key_start: usize,
    pub(crate) key_end: usize,
    /// The index just past this node's subtree.
    pub(crate) skip: usize,
    /// A string value (or the key) contains a backslash escape.
    pub(crate) escaped: bool,
    pub(crate) key_escaped: bool,
}

/// The deepest nesting accepted (as `serde_json`'s recursion limit).
const MAX_DEPTH: usize = 128;

/// Why the index refused a document (the caller falls back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused;

/// Indexes `b` into `tape` (cleared first).
pub(crate) fn index(b: &[u8], tape: &mut Vec<Node>) -> Result<(), Refused> {
    if std::str::from_utf8(b).is_err() {
        return Err(Refused);
    }
    parse(b, tape, true).map(|_| ())
}

/// Indexes the first value of `b` (after whitespace) and returns where it
/// ends; what follows is not looked at. The caller checks that
/// `b[..end]` is UTF-8. Refused also when `b` ends inside the value.
pub(crate) fn index_value(b: &[u8], tape: &mut Vec<Node>) -> Result<usize, Refused> {
    parse(b, tape, false)
}

fn parse(b: &[u8], tape: &mut Vec<Node>, whole: bool) -> Result<usize, Refused> {
    tape.clear();
    let mut stack: Vec<usize> = Vec::new();
    let mut i = ws(b, 0);
    let mut key = (0usize, 0usize, false);
    'value: loop {
        let Some(&c) = b.get(i) else { return Err(Refused) };
        let at = tape.len();
        let (kind, end) = match c {
            b'{' | b'[' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(Refused);
                }
                let kind = if c == b'{' { Kind::Object } else { Kind::Array };
                tape.push(node(kind, i, i, key));
                stack.push(at);
                i = ws(b, i + 1);
                let close = if c == b'{' { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    stack.pop();
                    tape[at].end = i + 1;
                    tape[at].skip = at + 1;
                    i += 1;
                } else {
                    if c == b'{' {
                        (key, i) = member_key(b, i)?;
                    } else {
                        key = (0, 0, false);
                    }
                    continue 'value;
                }
                (kind, i)
            }
            b'"' => {
                let (end, escaped) = string(b, i)?;
                let mut n = node(Kind::String, i, end, key);
                n.escaped = escaped;
                n.skip = at + 1;
                tape.push(n);
                (Kind::String, end)
            }
            b't' => (Kind::Other, literal(b, i, b"true")?),
            b'f' => (Kind::Other, literal(b, i, b"false")?),
            b'n' => (Kind::Null, literal(b, i, b"null")?),
            b'-' | b'0'..=b'9' => (Kind::Other, number(b, i)?),
            _ => return Err(Refused),
        };
        if !matches!(kind, Kind::Object | Kind::Array | Kind::String) {
            let mut n = node(kind, i, end, key);
            n.skip = at + 1;
            tape.push(n);
        }
        i = end;
        // After a value: a separator, a close, or the end.
        loop {
            let Some(&top) = stack.last() else {
                return match whole {
                    false => Ok(i),
                    true if ws(b, i) == b.len() => Ok(i),
                    true => Err(Refused),
                };
            };
            i = ws(b, i);
            let in_object = tape[top].kind == Kind::Object;
            match b.get(i) {
                Some(b',') => {
                    i = ws(b, i + 1);
                    if in_object {
                        (key, i) = member_key(b, i)?;
                    } else {
                        key = (0, 0, false);
                    }
                    continue 'value;
                }
                Some(b'}') if in_object => {}
                Some(b']') if !in_object => {}
                _ => return Err(Refused),
            }
            stack.pop();
            tape[top].end = i + 1;
            tape[top].skip = tape.len();
            i += 1;
        }
    }
}

fn node(kind: Kind, start: usize, end: usize, key: (usize, usize, bool)) -> Node {
    Node {
        kind,
        start,
        end,
        key_start: key.0,
        key_end: key.1,
        skip: 0,
        escaped: false,
        key_escaped: key.2,
    }
}

/// `"key"` `:` at `i`; returns the key's inner span and where its value starts.
#[allow(clippy::type_complexity)]
fn member_key(b: &[u8], i: usize) -> Result<((usize, usize, bool), usize), Refused> {
    if b.get(i) != Some(&b'"') {
        return Err(Refused);
    }
    let (end, escaped) = string(b, i)?;
    let j = ws(b, end);
    if b.get(j) != Some(&b':') {
        return Err(Refused);
    }
    Ok(((i + 1, end - 1, escaped), ws(b, j + 1)))
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i) {
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        i += 1;
    }
    i
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, Refused> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        Err(Refused)
    }
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

fn number(b: &[u8], start: usize) -> Result<usize, Refused> {
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i),
        _ => return Err(Refused),
    }
    let mut float = false;
    if b.get(i) == Some(&b'.') {
        let j = digits(b, i + 1);
        if j == i + 1 {
            return Err(Refused);
        }
        i = j;
        float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let j = digits(b, i);
        if j == i {
            return Err(Refused);
        }
        i = j;
        float = true;
    }
    if float {
        // serde_json refuses numbers that overflow to infinity.
        let text = std::str::from_utf8(&b[start..i]).map_err(|_| Refused)?;
        if !text.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(Refused);
        }
    }
    Ok(i)
}

/// A string starting at the quote at `i`: returns the index past its
/// closing quote and whether it holds escapes.
fn string(b: &[u8], i: usize) -> Result<(usize, bool), Refused> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        // Most strings are short: eight bytes at a time for a while, then
        // a vectorised search for long ones.
        let at = match special(b, j, 64) {
            Ok(at) => at,
            Err(from) => {
                let rest = b.get(from..).ok_or(Refused)?;
                let p = memchr::memchr2(b'"', b'\\', rest).ok_or(Refused)?;
                if rest[..p].iter().any(|&c| c < 0x20) {
                    return Err(Refused);
                }
                from + p
            }
        };
        match b[at] {
            b'"' => return Ok((at + 1, escaped)),
            b'\\' => {
                escaped = true;
                j = escape(b, at)?;
            }
            _ => return Err(Refused),
        }
    }
}

/// The first `"`, `\\` or control byte in `b[from..]` within `budget`
/// bytes (eight at a time: SWAR), or where the search stopped.
fn special(b: &[u8], from: usize, budget: usize) -> Result<usize, usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let stop = (from + budget).min(b.len());
    let mut j = from;
    while j + 8 <= stop {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[j..j + 8]);
        let x = u64::from_le_bytes(word);
        let quote = x ^ (ONES * u64::from(b'"'));
        let slash = x ^ (ONES * u64::from(b'\\'));
        let hit = (quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (x.wrapping_sub(ONES * 0x20) & !x);
        let hit = hit & HIGH;
        if hit != 0 {
            return Ok(j + (hit.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    while j < stop {
        let c = b[j];
        if c == b'"' || c == b'\\' || c < 0x20 {
            return Ok(j);
        }
        j += 1;
    }
    if stop == b.len() { Err(b.len()) } else { Err(j) }
}

/// Validates the escape at the backslash `i`; returns the index past it.
fn escape(b: &[u8], i: usize) -> Result<usize, Refused> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            let hi = hex4(b, i + 2)?;
            match hi {
                0xDC00..=0xDFFF => Err(Refused),
                0xD800..=0xDBFF => {
                    if b.get(i + 6..i + 8) != Some(b"\\u") {
                        return Err(Refused);
                    }
                    match hex4(b, i + 8)? {
                        0xDC00..=0xDFFF => Ok(i + 12),
                        _ => Err(Refused),
                    }
                }
                _ => Ok(i + 6),
            }
        }
        _ => Err(Refused),
    }
}

fn hex4(b: &[u8], i: usize) -> Result<u32, Refused> {
    let h = b.get(i..i + 4).ok_or(Refused)?;
    let s = std::str::from_utf8(h).map_err(|_| Refused)?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(Refused);
    }
    u32::from_str_radix(s, 16).map_err(|_| Refused)
}

/// The text of a string whose quoted bytes are `raw` (validated by the index).
pub(crate) fn text(raw: &[u8], escaped: bool) -> Cow<'_, str> {
    let inner = &raw[1..raw.len() - 1];
    if !escaped {
        // Validated UTF-8 by `index`.
        return std::str::from_utf8(inner).map_or_else(|_| String::from_utf8_lossy(inner), Cow::Borrowed);
    }
    serde_json::from_slice::<String>(raw).map_or(Cow::Borrowed(""), Cow::Owned)
}

/// Decodes the string whose quoted bytes are `raw` (validated by the
/// index), recording in `map` a `(decoded, raw)` offset pair (raw offsets
/// relative to the opening quote) at the start and the end of every escape,
/// so that a position between decoded characters can be taken back to the
/// raw text with [`raw_offset`].
pub(crate) fn unescape(raw: &[u8], map: &mut Vec<(usize, usize)>) -> Option<String> {
    map.clear();
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 1;
    let end = raw.len().checked_sub(1)?;
    while i < end {
        let Some(p) = memchr::memchr(b'\\', &raw[i..end]) else {
            out.extend_from_slice(&raw[i..end]);
            break;
        };
        out.extend_from_slice(&raw[i..i + p]);
        i += p;
        map.push((out.len(), i));
        let c = *raw.get(i + 1)?;
        i += 2;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let hi = hex4(raw, i).ok()?;
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(raw, i + 2).ok()?;
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let ch = char::from_u32(code)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => out.push(other),
        }
        map.push((out.len(), i));
    }
    String::from_utf8(out).ok()
}

/// The raw offset of the decoded offset `d` (a boundary between characters
/// that is not inside an escape's output), from [`unescape`]'s map.
pub(crate) fn raw_offset(map: &[(usize, usize)], d: usize) -> usize {
    let at = map.partition_point(|&(dp, _)| dp <= d);
    match at.checked_sub(1).map(|k| map[k]) {
        Some((dp, rp)) => rp + (d - dp),
        None => d + 1,
    }
}

/// The text of a key whose inner bytes are `inner`.
pub(crate) fn key_text(inner: &[u8], escaped: bool) -> Cow<'_, str> {
    if !escaped {
        return std::str::from_utf8(inner).map_or_else(|_| String::from_utf8_lossy(inner), Cow::Borrowed);
    }
    let mut quoted = Vec::with_capacity(inner.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(inner);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted).map_or(Cow::Borrowed(""), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        index(s.as_bytes(), &mut Vec::new()).is_ok()
    }

    #[test]
    fn accepts_what_serde_accepts_and_refuses_the_rest() {
        for s in [
            r#"{}"#,
            r#"[]"#,
            r#" {"a" : [1, -2.5e3, true, false, null, "x\u00e9\n"], "b": {}} "#,
            r#""\ud83d\ude00""#,
            "0",
        ] {
            assert!(ok(s), "{s}");
            assert!(serde_json::from_str::<serde_json::Value>(s).is_ok(), "{s}");
        }
        for s in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"a\nb\"",
            "{\"a\" 1}",
            "[1 2]",
            "1e999",
            "{1:2}",
            "[] []",
        ] {
            assert!(!ok(s), "{s:?}");
            assert!(serde_json::from_str::<serde_json::Value>(s).is_err(), "{s:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(!ok(&deep));
    }

    #[test]
    fn swar_search_finds_the_first_special_byte() {
        for text in [
            "abcdefghijklmnop\"",
            "a\\",
            "\u{1}xxxxxxxxxx",
            "xxxxxxxxxxxxxxx\u{1f}",
            "ééééééé\"",
            "\u{7f}\u{80}!#$[]\"",
        ] {
            let b = text.as_bytes();
            let want = b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            assert_eq!(special(b, 0, 64).ok(), want, "{text:?}");
        }
        assert_eq!(special(b"abcdefghij", 0, 64), Err(10));
        assert_eq!(special(&[b'a'; 100], 0, 64), Err(64));
    }

    proptest::proptest! {
        #[test]
        fn swar_search_equals_a_byte_loop(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80), from in 0usize..8) {
            let from = from.min(b.len());
            let want = b[from..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|p| from + p);
            match special(&b, from, 64) {
                Ok(at) => proptest::prop_assert_eq!(Some(at), want),
                Err(stop) => proptest::prop_assert!(want.is_none_or(|w| w >= stop)),
            }
        }

        #[test]
        fn unescape_equals_serde(text in "\\PC{0,40}") {
            let raw = serde_json::to_vec(&text).unwrap();
            let mut map = Vec::new();
            let got = unescape(&raw, &mut map);
            proptest::prop_assert_eq!(got.as_deref(), Some(text.as_str()));
        }
    }

    #[test]
    fn unescape_maps_positions_back() {
        let raw = br#""{\"a\":\"\u00e9x\"}\n""#;
        let mut map = Vec::new();
        let text = unescape(raw, &mut map).unwrap();
        assert_eq!(text, "{\"a\":\"\u{e9}x\"}\n");
        assert_eq!(serde_json::from_slice::<String>(raw).unwrap(), text);
        // The value `"éx"` starts at decoded 5 and ends at decoded 10.
        let (s, e) = (5, 10);
        assert_eq!(&text[s..e], "\"\u{e9}x\"");
        assert_eq!(&raw[raw_offset(&map, s)..raw_offset(&map, e)], br#"\"\u00e9x\""#);
        assert_eq!(raw_offset(&map, 0), 1);
    }

    #[test]
    fn spans_keys_and_skips() {
        let s = br#"{"a":{"b":[1,"x"]},"c\n":null}"#;
        let mut t = Vec::new();
        index(s, &mut t).unwrap();
        let kinds: Vec<Kind> = t.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Object,
                Kind::Object,
                Kind::Array,
                Kind::Other,
                Kind::String,
                Kind::Null
            ]
        );
        assert_eq!(t[0].skip, 6);
        assert_eq!(t[1].skip, 5);
        assert_eq!(&s[t[1].key_start..t[1].key_end], b"a");
        assert_eq!(&s[t[1].start..t[1].end], br#"{"b":[1,"x"]}"#);
        assert_eq!(&s[t[4].start..t[4].end], br#""x""#);
        assert!(t[5].key_escaped);
        assert_eq!(key_text(&s[t[5].key_start..t[5].key_end], true), "c\n");
    }
}
