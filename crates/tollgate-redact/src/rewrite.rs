//! The byte-level rewriter: the presets of the reference engine applied to
//! a [`tape`](crate::tape) index of the document. Untouched bytes are copied
//! through; only the values a preset names are replaced. A document the
//! index refuses (not JSON, too deep) goes to the reference engine instead,
//! so both engines decide alike.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::tape::{self, Kind, Node};
use crate::{LAST_APPLIED, Redactor, Replacement};

/// What one document is to the presets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit<'k> {
    /// A document (object, list, Table, watch event) of an implied kind.
    Document(Option<&'k str>),
    /// A list item of a known kind.
    Item(Option<&'k str>),
    /// A Table row whose `object` has the implied kind.
    Row(Option<&'k str>),
}

/// The children of the container `i` (nothing for other nodes).
fn children(t: &[Node], i: usize) -> impl Iterator<Item = usize> + '_ {
    let end = t[i].skip;
    let container = matches!(t[i].kind, Kind::Object | Kind::Array);
    let mut c = i + 1;
    std::iter::from_fn(move || {
        if !container || c >= end {
            return None;
        }
        let this = c;
        c = t[c].skip;
        Some(this)
    })
}

/// A replacement of `start..end` by `text`.
#[derive(Debug)]
struct Edit {
    start: usize,
    end: usize,
    text: Vec<u8>,
}

/// Rewrites `b` into `out`; returns whether anything was replaced.
///
/// # Errors
/// When the document is not JSON (from the reference engine's parser).
pub(crate) fn rewrite(
    r: &Redactor,
    b: &[u8],
    unit: Unit<'_>,
    tape: &mut Vec<Node>,
    out: &mut Vec<u8>,
) -> Result<bool, String> {
    if tape::index(b, tape).is_err() {
        return fallback(r, b, unit, out);
    }
    Ok(rewrite_indexed(r, b, unit, tape, out))
}

/// Rewrites `b`, already indexed into `tape` (see [`tape::index_value`]).
pub(crate) fn rewrite_indexed(r: &Redactor, b: &[u8], unit: Unit<'_>, tape: &[Node], out: &mut Vec<u8>) -> bool {
    let mut pass = Pass::new(r, b, tape);
    match unit {
        Unit::Document(k) | Unit::Item(k) => pass.document(0, k),
        Unit::Row(k) => {
            if let Some(o) = pass.member(0, "object") {
                pass.document(o, k);
            }
        }
    }
    pass.walk(0);
    let changed = !pass.edits.is_empty();
    pass.apply(out);
    changed
}

/// The reference engine on a document the index refused.
fn fallback(r: &Redactor, b: &[u8], unit: Unit<'_>, out: &mut Vec<u8>) -> Result<bool, String> {
    if b.iter().all(u8::is_ascii_whitespace) {
        out.extend_from_slice(b);
        return Ok(false);
    }
    let mut v: Value =
        serde_json::from_slice(b).map_err(|e| format!("cannot mask a response that is not JSON: {e}"))?;
    let changed = match unit {
        Unit::Document(k) => !r.redact_as(&mut v, k).is_empty(),
        Unit::Item(k) => r.redact_item(&mut v, k),
        Unit::Row(k) => r.redact_table_row(&mut v, k),
    };
    if changed {
        out.extend_from_slice(&serde_json::to_vec(&v).map_err(|e| e.to_string())?);
    } else {
        out.extend_from_slice(b);
    }
    Ok(changed)
}

struct Pass<'a> {
    r: &'a Redactor,
    b: &'a [u8],
    t: &'a [Node],
    /// The edits so far, by start offset: disjoint (an edit that covers
    /// earlier ones replaces them), so whether a node lies inside one is a
    /// single ordered look-up, whatever order the edits came in.
    edits: BTreeMap<usize, Edit>,
    /// Run the detectors on every string (otherwise only on escaped ones):
    /// the raw bytes hold a detector match somewhere, or a detector is
    /// anchored and cannot be prefiltered on the whole document.
    scan_all: bool,
}

impl<'a> Pass<'a> {
    fn new(r: &'a Redactor, b: &'a [u8], t: &'a [Node]) -> Self {
        let scan_all = r.detectors_need_scan(b);
        Pass {
            r,
            b,
            t,
            edits: BTreeMap::new(),
            scan_all,
        }
    }

    fn children(&self, i: usize) -> impl Iterator<Item = usize> + 'a {
        children(self.t, i)
    }

    fn key_is(&self, i: usize, key: &str) -> bool {
        let n = &self.t[i];
        let raw = &self.b[n.key_start..n.key_end];
        if n.key_escaped {
            tape::key_text(raw, true) == key
        } else {
            raw == key.as_bytes()
        }
    }

    fn key(&self, i: usize) -> Cow<'a, str> {
        let n = &self.t[i];
        tape::key_text(&self.b[n.key_start..n.key_end], n.key_escaped)
    }

    /// The member `key` of the object `i` (the last one, as a JSON parser keeps).
    fn member(&self, i: usize, key: &str) -> Option<usize> {
        if self.t[i].kind != Kind::Object {
            return None;
        }
        self.children(i).filter(|&c| self.key_is(c, key)).last()
    }

    fn str_of(&self, i: usize) -> Option<Cow<'a, str>> {
        let n = &self.t[i];
        (n.kind == Kind::String).then(|| tape::text(&self.b[n.start..n.end], n.escaped))
    }

    fn edited(&self, i: usize) -> bool {
        let n = &self.t[i];
        self.edits
            .range(..=n.start)
            .next_back()
            .is_some_and(|(_, e)| n.end <= e.end)
    }

    /// Records an edit; edits inside it are dropped (it replaces them).
    fn push(&mut self, e: Edit) {
        let inside: Vec<usize> = self
            .edits
            .range(e.start..e.end)
            .filter(|(_, x)| x.end <= e.end)
            .map(|(&k, _)| k)
            .collect();
        for k in inside {
            self.edits.remove(&k);
        }
        self.edits.insert(e.start, e);
    }

    fn is_marker(&self, i: usize) -> bool {
        matches!(&self.r.replacement, Replacement::Marker(m) if self.str_of(i).is_some_and(|s| s == m.as_str()))
    }

    fn replace(&mut self, i: usize, base64: bool) {
        let n = self.t[i];
        if n.kind == Kind::Null || self.edited(i) {
            return;
        }
        let text = self
            .r
            .replacement_json(&self.b[n.start..n.end], n.kind == Kind::String, n.escaped, base64);
        self.push(Edit {
            start: n.start,
            end: n.end,
            text,
        });
    }

    fn replace_all_values(&mut self, i: usize, base64: bool) {
        if self.t[i].kind == Kind::Object {
            for c in self.children(i) {
                self.replace(c, base64);
            }
        } else {
            self.replace(i, base64);
        }
    }

    /// The kind-specific places, recursing into lists, Tables and watch events.
    fn document(&mut self, i: usize, implied: Option<&str>) {
        if self.t[i].kind != Kind::Object {
            return;
        }
        let own = self.member(i, "kind").and_then(|k| self.str_of(k));
        let kind: Option<Cow<'_, str>> = own.clone().or_else(|| implied.map(Cow::Borrowed));
        if own.is_none()
            && self.member(i, "type").is_some_and(|t| self.t[t].kind == Kind::String)
            && let Some(o) = self.member(i, "object")
        {
            self.document(o, implied);
            return;
        }
        match kind.as_deref() {
            Some("Table") => {
                if let Some(rows) = self.member(i, "rows")
                    && self.t[rows].kind == Kind::Array
                {
                    for row in self.children(rows) {
                        if let Some(o) = self.member(row, "object") {
                            self.document(o, implied);
                        }
                    }
                }
                return;
            }
            Some(k) if k.ends_with("List") => {
                if let Some(items) = self.member(i, "items")
                    && self.t[items].kind == Kind::Array
                {
                    let item_kind = k.strip_suffix("List").map(str::to_owned);
                    for item in self.children(items) {
                        self.document(item, item_kind.as_deref());
                    }
                    return;
                }
            }
            _ => {}
        }
        if let Some(meta) = self.member(i, "metadata")
            && let Some(ann) = self.member(meta, "annotations")
            && let Some(la) = self.member(ann, LAST_APPLIED)
        {
            self.last_applied(la);
        }
        match kind.as_deref() {
            Some("Secret") => {
                for (field, b64) in [("data", true), ("stringData", false)] {
                    if let Some(d) = self.member(i, field) {
                        self.replace_all_values(d, b64);
                    }
                }
            }
            Some("ConfigMap") if self.r.configmap_keys.is_some() => {
                for field in ["data", "binaryData"] {
                    if let Some(d) = self.member(i, field)
                        && self.t[d].kind == Kind::Object
                    {
                        for c in self.children(d) {
                            if self.r.configmap_key(&self.key(c)) {
                                self.replace(c, false);
                            }
                        }
                    }
                }
            }
            Some("TokenRequest") => {
                if let Some(t) = self.member(i, "status").and_then(|s| self.member(s, "token")) {
                    self.replace(t, false);
                }
            }
            Some("TokenReview") => {
                if let Some(t) = self.member(i, "spec").and_then(|s| self.member(s, "token")) {
                    self.replace(t, false);
                }
            }
            _ => {}
        }
    }

    /// The annotation holds JSON: masked inside (as a document of its own
    /// kind) and written back; a value that does not parse is masked whole.
    /// The inner edits are written into the annotation's escaped text in
    /// place, so the rest of it stays byte for byte.
    fn last_applied(&mut self, i: usize) {
        let n = self.t[i];
        if n.kind != Kind::String {
            self.replace(i, false);
            return;
        }
        let raw = &self.b[n.start..n.end];
        let mut map = Vec::new();
        let Some(inner) = tape::unescape(raw, &mut map) else {
            self.replace(i, false);
            return;
        };
        let mut t = Vec::new();
        if tape::index(inner.as_bytes(), &mut t).is_err() {
            // Not JSON to the index: the reference engine decides.
            match serde_json::from_str::<Value>(&inner) {
                Ok(mut v) => {
                    if !self.r.redact_as(&mut v, None).is_empty() {
                        self.push(Edit {
                            start: n.start,
                            end: n.end,
                            text: serde_json::to_vec(&format!("{v}\n")).unwrap_or_else(|_| b"\"\"".to_vec()),
                        });
                    }
                }
                Err(_) => self.replace(i, false),
            }
            return;
        }
        let mut pass = Pass::new(self.r, inner.as_bytes(), &t);
        pass.document(0, None);
        pass.walk(0);
        for e in pass.edits.into_values() {
            let text = String::from_utf8_lossy(&e.text);
            let quoted = serde_json::to_vec(&*text).unwrap_or_else(|_| b"\"\"".to_vec());
            self.push(Edit {
                start: n.start + tape::raw_offset(&map, e.start),
                end: n.start + tape::raw_offset(&map, e.end),
                text: quoted[1..quoted.len() - 1].to_vec(),
            });
        }
    }

    /// Env values with credential names, and secret-shaped strings,
    /// anywhere below `root` (not inside last-applied annotations, which
    /// [`document`](Self::document) handles, nor inside replaced values).
    fn walk(&mut self, root: usize) {
        let t = self.t;
        let end = t[root].skip;
        let mut i = root;
        while i < end {
            let n = t[i];
            if n.key_end > n.key_start || n.key_escaped {
                if self.key_is(i, LAST_APPLIED) {
                    i = n.skip;
                    continue;
                }
                if n.kind == Kind::Array && self.key_is(i, "env") {
                    self.env(i);
                }
            }
            match n.kind {
                Kind::Object | Kind::Array if !self.edits.is_empty() && self.edited(i) => {
                    i = n.skip;
                    continue;
                }
                Kind::String => self.detect(i),
                _ => {}
            }
            i += 1;
        }
    }

    /// An `env` list: values of entries whose name looks like a credential.
    fn env(&mut self, list: usize) {
        for e in self.children(list) {
            let named = self
                .member(e, "name")
                .and_then(|n| self.str_of(n))
                .is_some_and(|n| self.r.env_names.is_match(&n));
            if named
                && let Some(v) = self.member(e, "value")
                && !self.is_marker(v)
            {
                self.replace(v, false);
            }
        }
    }

    /// Secret-shaped substrings of one string value.
    fn detect(&mut self, i: usize) {
        let n = self.t[i];
        if !(self.scan_all || n.escaped) || self.is_marker(i) || (!self.edits.is_empty() && self.edited(i)) {
            return;
        }
        let Some(s) = self.str_of(i) else { return };
        if self.r.any_detector.as_ref().is_some_and(|re| re.is_match(&s))
            && let Some(masked) = self.r.redact_text(&s)
        {
            self.push(Edit {
                start: n.start,
                end: n.end,
                text: serde_json::to_vec(&masked).unwrap_or_else(|_| b"\"\"".to_vec()),
            });
        }
    }

    /// Writes the document with the edits applied (an edit inside another
    /// is dropped: the outer one already replaced it).
    fn apply(self, out: &mut Vec<u8>) {
        let mut at = 0;
        for e in self.edits.values() {
            if e.start < at {
                continue;
            }
            out.extend_from_slice(&self.b[at..e.start]);
            out.extend_from_slice(&e.text);
            at = e.end;
        }
        out.extend_from_slice(&self.b[at..]);
    }
}
