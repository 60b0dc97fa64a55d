//! The streaming engine: masks one JSON document arriving in chunks split
//! at any byte, holding at most one list item (or Table row) at a time.
//! The list's head (`kind`, `apiVersion`, `metadata`) and any tail are
//! small; items are parsed, masked and written one by one. Documents that
//! are not lists, and any configuration with user JSONPath selectors (which
//! need the whole document), fall back to masking the document whole.

use std::sync::Arc;

use serde_json::Value;

use crate::Redactor;
use crate::rewrite::{Unit, rewrite, rewrite_indexed};
use crate::tape::{self, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Items,
    Tail,
    Whole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayOf {
    Items,
    Rows,
}

/// Masks a JSON document incrementally.
///
/// ```
/// use std::sync::Arc;
/// use tollgate_redact::{Redactor, StreamMasker};
/// let r = Arc::new(Redactor::builder().build()?);
/// let mut m = StreamMasker::new(r, None, 1 << 20);
/// let mut out = Vec::new();
/// for chunk in [&br#"{"kind":"SecretList","items":[{"data":{"a":"eA"#[..], &br#"=="}},{"data":{"b":"eQ=="}}]}"#[..]] {
///     m.push(chunk, &mut out)?;
/// }
/// m.finish(&mut out)?;
/// assert_eq!(String::from_utf8(out).unwrap(), r#"{"kind":"SecretList","items":[{"data":{"a":"<redacted>"}},{"data":{"b":"<redacted>"}}]}"#);
/// # Ok::<_, tollgate_redact::Error>(())
/// ```
#[derive(Debug)]
pub struct StreamMasker {
    redactor: Arc<Redactor>,
    implied: Option<&'static str>,
    limit: usize,
    phase: Phase,
    buf: Vec<u8>,
    depth: u32,
    in_string: bool,
    escape: bool,
    array_of: ArrayOf,
    item_kind: Option<String>,
    in_item: bool,
    item_is_scalar: bool,
    started: bool,
    /// The index of the item being rewritten (reused from item to item).
    tape: Vec<Node>,
}

fn json_err(e: serde_json::Error) -> String {
    format!("cannot mask a response that is not JSON: {e}")
}

impl StreamMasker {
    /// A masker for one document; `implied` is the kind of the resource
    /// when the document does not say, `limit` bounds what is held.
    pub fn new(redactor: Arc<Redactor>, implied: Option<&'static str>, limit: usize) -> Self {
        let phase = if redactor.has_selectors() {
            Phase::Whole
        } else {
            Phase::Head
        };
        StreamMasker {
            redactor,
            implied,
            limit,
            phase,
            buf: Vec::new(),
            depth: 0,
            in_string: false,
            escape: false,
            array_of: ArrayOf::Items,
            item_kind: None,
            in_item: false,
            item_is_scalar: false,
            started: false,
            tape: Vec::new(),
        }
    }

    fn hold(&mut self, b: u8) -> Result<(), String> {
        if self.buf.len() >= self.limit {
            return Err(format!(
                "a part of the response is larger than the masking limit of {} bytes",
                self.limit
            ));
        }
        self.buf.push(b);
        Ok(())
    }

    /// Updates the tokenizer with one byte outside strings/inside strings.
    fn track(&mut self, b: u8) {
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            return;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
    }

    /// Feeds a chunk; writes what can already be written to `out`.
    ///
    /// # Errors
    /// [`Error::Response`](crate::Error::Response) when the document is not
    /// JSON or a part exceeds the limit.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), crate::Error> {
        self.feed(chunk, out).map_err(crate::Error::Response)
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let mut i = 0;
        while i < chunk.len() {
            match self.phase {
                Phase::Whole | Phase::Tail => {
                    if self.buf.len() + (chunk.len() - i) > self.limit {
                        return Err(self.too_large());
                    }
                    self.buf.extend_from_slice(&chunk[i..]);
                    return Ok(());
                }
                Phase::Items => i = self.items(chunk, i, out)?,
                Phase::Head => {
                    let b = chunk[i];
                    i += 1;
                    if !self.started && !b.is_ascii_whitespace() {
                        self.started = true;
                        if b != b'{' {
                            // Not an object: no list to walk; mask it whole.
                            self.phase = Phase::Whole;
                            self.hold(b)?;
                            continue;
                        }
                    }
                    self.hold(b)?;
                    let was_string = self.in_string;
                    self.track(b);
                    if !was_string && b == b'[' && self.depth == 2 {
                        self.maybe_start_items(out)?;
                    } else if !was_string && self.depth == 0 && b == b'}' {
                        // A document without items: mask it whole at the end.
                        self.phase = Phase::Whole;
                    }
                }
            }
        }
        Ok(())
    }

    fn too_large(&self) -> String {
        format!(
            "a part of the response is larger than the masking limit of {} bytes",
            self.limit
        )
    }

    fn maybe_start_items(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        // The head ends with `"items": [` or `"rows": [` at the top level?
        let text = &self.buf[..self.buf.len() - 1];
        let trimmed = trim_end(text);
        let Some(before_colon) = trimmed.strip_suffix(b":") else {
            return Ok(());
        };
        let key = trim_end(before_colon);
        let array_of = if key.ends_with(b"\"items\"") {
            ArrayOf::Items
        } else if key.ends_with(b"\"rows\"") {
            ArrayOf::Rows
        } else {
            return Ok(());
        };
        let mut head = self.buf.clone();
        head.extend_from_slice(b"]}");
        let Ok(mut v) = serde_json::from_slice::<Value>(&head) else {
            self.phase = Phase::Whole;
            return Ok(());
        };
        let kind = v.get("kind").and_then(Value::as_str).map(str::to_owned);
        let ok = match (array_of, kind.as_deref()) {
            (ArrayOf::Rows, Some("Table")) => true,
            (ArrayOf::Items, Some(k)) => k.ends_with("List"),
            _ => false,
        };
        if !ok {
            return Ok(());
        }
        self.item_kind = kind.as_deref().and_then(|k| k.strip_suffix("List")).map(str::to_owned);
        self.array_of = array_of;
        if self.redactor.redact_as(&mut v, self.implied).is_empty() {
            out.extend_from_slice(&self.buf);
        } else {
            let mut s = serde_json::to_vec(&v).map_err(json_err)?;
            s.truncate(s.len().saturating_sub(2));
            out.extend_from_slice(&s);
        }
        self.buf.clear();
        self.phase = Phase::Items;
        Ok(())
    }

    /// Items from `chunk[i..]`: separators are copied, each complete item
    /// is rewritten; a partial item is held. Returns where it stopped.
    fn items(&mut self, chunk: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, String> {
        while i < chunk.len() {
            if !self.in_item {
                let b = chunk[i];
                if b.is_ascii_whitespace() || b == b',' {
                    out.push(b);
                    i += 1;
                    continue;
                }
                if b == b']' {
                    self.track(b);
                    out.push(b);
                    self.phase = Phase::Tail;
                    return Ok(i + 1);
                }
                self.in_item = true;
                self.item_is_scalar = !matches!(b, b'{' | b'[' | b'"');
            }
            let from = i;
            // An item wholly inside this chunk is indexed straight away;
            // only the one cut by the chunk's end goes through the scanner.
            if self.buf.is_empty()
                && !self.item_is_scalar
                && let Ok(len) = tape::index_value(&chunk[from..], &mut self.tape)
                && std::str::from_utf8(&chunk[from..from + len]).is_ok()
            {
                if len > self.limit {
                    return Err(self.too_large());
                }
                rewrite_indexed(&self.redactor, &chunk[from..from + len], self.unit(), &self.tape, out);
                self.in_item = false;
                i = from + len;
                continue;
            }
            let end = if self.item_is_scalar {
                chunk[i..]
                    .iter()
                    .position(|&b| b == b',' || b == b']' || b.is_ascii_whitespace())
                    .map(|p| i + p)
            } else {
                self.scan(chunk, i).map(|p| p + 1)
            };
            let Some(end) = end else {
                if self.buf.len() + (chunk.len() - from) > self.limit {
                    return Err(self.too_large());
                }
                self.buf.extend_from_slice(&chunk[from..]);
                return Ok(chunk.len());
            };
            if self.buf.len() + (end - from) > self.limit {
                return Err(self.too_large());
            }
            if self.buf.is_empty() {
                self.rewrite_item(&chunk[from..end], out)?;
            } else {
                self.buf.extend_from_slice(&chunk[from..end]);
                let item = std::mem::take(&mut self.buf);
                self.rewrite_item(&item, out)?;
                self.buf = item;
                self.buf.clear();
            }
            self.in_item = false;
            i = end;
        }
        Ok(i)
    }

    /// Finds the end of the current (container) item in `s[from..]`:
    /// strings are skipped to their next quote or backslash.
    fn scan(&mut self, s: &[u8], from: usize) -> Option<usize> {
        let mut k = from;
        while k < s.len() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    k += 1;
                    continue;
                }
                let p = memchr::memchr2(b'"', b'\\', &s[k..])?;
                k += p;
                if s[k] == b'\\' {
                    self.escape = true;
                } else {
                    self.in_string = false;
                    if self.depth == 2 {
                        // A string item ends with its quote.
                        return Some(k);
                    }
                }
                k += 1;
                continue;
            }
            match s[k] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 2 {
                        return Some(k);
                    }
                }
                _ => {}
            }
            k += 1;
        }
        None
    }

    fn unit(&self) -> Unit<'_> {
        match self.array_of {
            ArrayOf::Items => Unit::Item(self.item_kind.as_deref()),
            ArrayOf::Rows => Unit::Row(self.implied),
        }
    }

    fn rewrite_item(&mut self, item: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let mut tape = std::mem::take(&mut self.tape);
        let done = rewrite(&self.redactor, item, self.unit(), &mut tape, out);
        self.tape = tape;
        done.map(|_| ())
    }

    /// Ends the document; writes the rest.
    ///
    /// # Errors
    /// [`Error::Response`](crate::Error::Response) when the document is not
    /// JSON.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), crate::Error> {
        self.end(out).map_err(crate::Error::Response)
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        match self.phase {
            Phase::Head | Phase::Whole => {
                self.redactor.rewrite_bytes(&self.buf, self.implied, out)?;
            }
            Phase::Items => return Err("the response ended inside its list".to_owned()),
            Phase::Tail => {
                let tail = std::mem::take(&mut self.buf);
                let t = trim_start(&tail);
                if t == b"}" || trim_end(t) == b"}" {
                    out.extend_from_slice(&tail);
                } else {
                    // More fields after the list: mask them as an object.
                    let mut obj = b"{\"__tollgate\":0".to_vec();
                    obj.extend_from_slice(&tail);
                    let mut v: Value = serde_json::from_slice(&obj).map_err(json_err)?;
                    if self.redactor.redact_as(&mut v, None).is_empty() {
                        out.extend_from_slice(&tail);
                    } else {
                        if let Value::Object(m) = &mut v {
                            m.remove("__tollgate");
                        }
                        let s = serde_json::to_vec(&v).map_err(json_err)?;
                        if s.len() > 2 {
                            out.push(b',');
                            out.extend_from_slice(&s[1..]);
                        } else {
                            out.push(b'}');
                        }
                    }
                }
            }
        }
        self.buf.clear();
        Ok(())
    }
}

fn trim_end(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &b[..end]
}

fn trim_start(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    &b[start..]
}
