//! Query-string decoding with the rules of Go's `net/url.ParseQuery`, which
//! is what the API server uses to read `?watch=`, `?fieldSelector=` and the
//! other list options.

use percent_encoding::percent_decode;

/// A decoded query string: the `(key, value)` pairs in the order they were
/// sent, with the pairs Go's `url.ParseQuery` would drop already dropped.
///
/// ```
/// use tollgate_kube::Query;
///
/// let q = Query::parse("watch&fieldSelector=metadata.name%3Dweb&a=1;b=2");
/// assert_eq!(q.first("watch"), Some(""));
/// assert_eq!(q.first("fieldSelector"), Some("metadata.name=web"));
/// // Go refuses pairs with a semicolon; they are skipped.
/// assert_eq!(q.first("a"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string (without the leading `?`).
    pub fn parse(raw: &str) -> Self {
        let mut pairs = Vec::new();
        for pair in raw.split('&') {
            if pair.is_empty() || pair.contains(';') {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(k), Some(v)) = (query_unescape(k), query_unescape(v)) else {
                continue;
            };
            pairs.push((k, v));
        }
        Query { pairs }
    }

    /// The first value of `key`, as the API server reads list options.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key` in order (exec's repeated `command=`).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All pairs in the order they were sent.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// `url.QueryUnescape`: `+` is a space, `%XX` must be two hex digits, and the
/// result must be valid UTF-8 (Go keeps invalid UTF-8; we refuse it, which
/// only drops a pair that no Kubernetes option could use).
fn query_unescape(s: &str) -> Option<String> {
    if !valid_escapes(s.as_bytes()) {
        return None;
    }
    let plus = s.replace('+', " ");
    percent_decode(plus.as_bytes())
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// True when every `%` is followed by two hex digits, as Go's unescape demands.
pub(crate) fn valid_escapes(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() {
                return false;
            }
            if !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert!(valid_escapes(b"a%20b"));
        assert!(!valid_escapes(b"a%2"));
        assert!(!valid_escapes(b"a%"));
        assert!(!valid_escapes(b"%zz"));
        assert!(valid_escapes(b""));
    }

    #[test]
    fn go_rules() {
        let q = Query::parse("a=1&a=2&b=x+y&c=%zz&&d");
        assert_eq!(q.all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(q.first("b"), Some("x y"));
        assert_eq!(q.first("c"), None);
        assert_eq!(q.first("d"), Some(""));
    }
}
