//! An [`Event`] as one JSON line, written straight into a buffer: the same
//! bytes `serde_json` writes (a property test holds the two equal), at a
//! fraction of the cost. Every record is written through here, so the
//! writer thread's time goes to the disk, not to formatting: strings are
//! scanned eight bytes at a time for the three things JSON escapes, and
//! copied in runs.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value;

use crate::{Event, Level, ObjectReference, Stage, UserInfo};

/// A record borrowed from wherever its parts are: an [`Event`], or the
/// request's own data (the audit layer writes the records of small
/// requests this way, without building an `Event`).
#[derive(Debug)]
pub(crate) struct EventRef<'a> {
    pub(crate) level: Level,
    pub(crate) audit_id: &'a str,
    pub(crate) stage: Stage,
    pub(crate) request_uri: &'a str,
    pub(crate) verb: &'a str,
    pub(crate) users: Users<'a>,
    pub(crate) source_ips: &'a [String],
    pub(crate) user_agent: &'a str,
    pub(crate) object_ref: Option<ObjectRef<'a>>,
    pub(crate) response_status: Option<&'a Value>,
    pub(crate) request_object: Option<&'a Value>,
    pub(crate) response_object: Option<&'a Value>,
    pub(crate) request_received_timestamp: Text<'a>,
    pub(crate) stage_timestamp: Text<'a>,
    pub(crate) annotations: Annotations<'a>,
}

/// A record's `user` and `impersonatedUser`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Users<'a> {
    /// Borrowed, written with the record.
    Refs(UserRef<'a>, Option<UserRef<'a>>),
    /// Already written by [`users`] (a record layer's memo): copied.
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    Written(&'a [u8]),
}

/// A user, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserRef<'a> {
    pub(crate) username: &'a str,
    pub(crate) uid: &'a str,
    pub(crate) groups: &'a [String],
    pub(crate) extra: &'a BTreeMap<String, Vec<String>>,
    /// Single-valued entries merged into `extra` (replacing one of the
    /// same key), in key order: the impersonation's `tollgate.dev/*`.
    pub(crate) more: &'a [(&'a str, &'a str)],
}

impl<'a> UserRef<'a> {
    fn of(u: &'a UserInfo) -> Self {
        UserRef {
            username: &u.username,
            uid: &u.uid,
            groups: &u.groups,
            extra: &u.extra,
            more: &[],
        }
    }

    fn has_extra(&self) -> bool {
        !self.extra.is_empty() || !self.more.is_empty()
    }
}

/// An object reference, borrowed.
#[derive(Debug, Default)]
pub(crate) struct ObjectRef<'a> {
    pub(crate) resource: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
    pub(crate) uid: &'a str,
    pub(crate) api_group: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) resource_version: &'a str,
    pub(crate) subresource: &'a str,
}

impl<'a> ObjectRef<'a> {
    fn of(r: &'a ObjectReference) -> Self {
        ObjectRef {
            resource: &r.resource,
            namespace: &r.namespace,
            name: &r.name,
            uid: &r.uid,
            api_group: &r.api_group,
            api_version: &r.api_version,
            resource_version: &r.resource_version,
            subresource: &r.subresource,
        }
    }
}

/// Annotations, borrowed: a map, or entries already in key order (no key
/// twice).
#[derive(Debug)]
pub(crate) enum Annotations<'a> {
    Map(&'a BTreeMap<String, String>),
    // Made by the record layer only.
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    Sorted(&'a [(&'static str, Text<'a>)]),
}

/// A string value to write: text from anywhere, escaped as it needs, or
/// text known to need no escaping, copied as it is (what the gateway
/// generates: timestamps, numbers, its own words, values it checked once
/// and remembers).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text<'a> {
    /// Escaped where JSON needs it.
    Any(&'a str),
    /// UTF-8 that needs no escaping ([`tollgate_kube::json_text::is_plain`],
    /// asserted in debug builds and tests). Bytes, so a timestamp's
    /// inline text is written without being validated as UTF-8 again.
    Plain(&'a [u8]),
}

impl<'a> Text<'a> {
    /// A timestamp's text: ASCII digits and punctuation.
    // Used by the record layer (feature `layer`).
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    pub(crate) fn time(t: &'a tollgate_kube::time::MicroTime) -> Self {
        Text::Plain(t.as_bytes())
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Text::Any(s) => s.len(),
            Text::Plain(b) => b.len(),
        }
    }

    // Used by the record layer (feature `layer`).
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &'a str {
        match *self {
            Text::Any(s) => s,
            Text::Plain(b) => std::str::from_utf8(b).unwrap_or_default(),
        }
    }

    /// The text (for an [`Event`]; not on the line writer's path).
    // Used by the record layer (feature `layer`).
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    pub(crate) fn to_owned_string(self) -> String {
        match self {
            Text::Any(s) => s.to_owned(),
            Text::Plain(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }

    /// `s`, copied unchecked when `plain` (a remembered
    /// [`is_plain`](tollgate_kube::json_text::is_plain) of it) says so.
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    pub(crate) fn checked(s: &'a str, plain: bool) -> Self {
        if plain { Text::Plain(s.as_bytes()) } else { Text::Any(s) }
    }

    /// A word of the gateway's own (a literal that needs no escaping).
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    pub(crate) fn word(s: &'static str) -> Self {
        Text::Plain(s.as_bytes())
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Text::Any(s) => string(s, out),
            Text::Plain(b) => {
                debug_assert!(
                    std::str::from_utf8(b).is_ok_and(tollgate_kube::json_text::is_plain),
                    "text said to need no escaping does: {:?}",
                    String::from_utf8_lossy(b)
                );
                out.reserve(b.len() + 2);
                out.push(b'"');
                out.extend_from_slice(b);
                out.push(b'"');
            }
        }
    }
}

impl Annotations<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Annotations::Map(m) => m.is_empty(),
            Annotations::Sorted(l) => l.is_empty(),
        }
    }
}

/// Where the parts a later stage changes are in a written record (byte
/// offsets into the buffer, from where the record starts).
#[derive(Debug, Clone, Default)]
pub(crate) struct Marks {
    /// The stage's value, inside its quotes.
    pub(crate) stage: Range<usize>,
    /// Where `responseStatus` goes: right after `objectRef` (or what comes
    /// before it).
    pub(crate) status_at: usize,
    /// The `stageTimestamp` value, inside its quotes.
    pub(crate) stage_timestamp: Range<usize>,
    /// Each annotation, in key order.
    pub(crate) annotations: Vec<Entry>,
    /// Where the annotations object closes (or, without annotations, where
    /// the record does).
    pub(crate) annotations_end: usize,
}

/// Where one annotation is in a written record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    /// From the key's opening quote to the value's closing one.
    pub(crate) whole: Range<usize>,
    /// The key as written (inside its quotes): what a later stage compares
    /// its own keys with, without looking for where the key ends.
    pub(crate) key: Range<usize>,
}

/// Appends `e` as compact JSON (no newline), field for field as `serde_json`
/// serializes it.
pub(crate) fn write_event(e: &Event, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    write_ref(&EventRef::of(e), out).map(drop)
}

impl<'a> EventRef<'a> {
    /// `e`, borrowed.
    pub(crate) fn of(e: &'a Event) -> Self {
        EventRef {
            level: e.level,
            audit_id: &e.audit_id,
            stage: e.stage,
            request_uri: &e.request_uri,
            verb: &e.verb,
            users: Users::Refs(UserRef::of(&e.user), e.impersonated_user.as_ref().map(UserRef::of)),
            source_ips: &e.source_ips,
            user_agent: &e.user_agent,
            object_ref: e.object_ref.as_ref().map(ObjectRef::of),
            response_status: e.response_status.as_ref(),
            request_object: e.request_object.as_ref(),
            response_object: e.response_object.as_ref(),
            request_received_timestamp: Text::Any(&e.request_received_timestamp),
            stage_timestamp: Text::Any(&e.stage_timestamp),
            annotations: Annotations::Map(&e.annotations),
        }
    }
}

/// Appends `e` as compact JSON (no newline), as [`write_event`] writes the
/// same record, and says where its stage-specific parts are.
pub(crate) fn write_ref(e: &EventRef<'_>, out: &mut Vec<u8>) -> Result<Marks, serde_json::Error> {
    let base = out.len();
    let mut marks = Marks {
        // One allocation, not a growing one.
        annotations: Vec::with_capacity(match &e.annotations {
            Annotations::Map(m) => m.len(),
            Annotations::Sorted(l) => l.len(),
        }),
        ..Marks::default()
    };
    // The members every record opens with, up to the audit ID, in one run:
    // none of them needs escaping or varies but by level.
    out.extend_from_slice(match e.level {
        Level::None => br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"None","auditID":"#,
        Level::Metadata => br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"#,
        Level::Request => br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"#,
        Level::RequestResponse => {
            br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"#
        }
    });
    string(e.audit_id, out);
    out.extend_from_slice(br#","stage":""#);
    let stage_at = out.len() - base;
    out.extend_from_slice(e.stage.as_str().as_bytes());
    marks.stage = stage_at..out.len() - base;
    out.extend_from_slice(br#"","requestURI":"#);
    string(e.request_uri, out);
    out.extend_from_slice(br#","verb":"#);
    string(e.verb, out);
    let mut o = Object { out, first: false };
    o.separate();
    match &e.users {
        Users::Written(written) => o.out.extend_from_slice(written),
        Users::Refs(user, impersonated) => users(user, impersonated.as_ref(), o.out),
    }
    if !e.source_ips.is_empty() {
        o.key("sourceIPs");
        strings(e.source_ips, o.out);
    }
    o.str_unless_empty("userAgent", e.user_agent);
    if let Some(r) = &e.object_ref {
        o.key("objectRef");
        object_ref(r, o.out);
    }
    marks.status_at = o.out.len() - base;
    for (name, v) in [
        ("responseStatus", e.response_status),
        ("requestObject", e.request_object),
        ("responseObject", e.response_object),
    ] {
        if let Some(v) = v {
            o.key(name);
            serde_json::to_writer(&mut *o.out, v)?;
        }
    }
    o.key("requestReceivedTimestamp");
    e.request_received_timestamp.write(o.out);
    o.key("stageTimestamp");
    marks.stage_timestamp = quoted(e.stage_timestamp, o.out, base);
    if !e.annotations.is_empty() {
        o.key("annotations");
        let mut a = Object::open(o.out);
        let mut entry = |a: &mut Object<'_>, k: Result<&'static str, &str>, v: Text<'_>| {
            let at = a.out.len() + usize::from(!a.first) - base;
            match k {
                Ok(k) => a.key(k),
                Err(k) => a.key_text(k),
            }
            // Before the key's closing quote and colon.
            let key_end = a.out.len() - 2 - base;
            v.write(a.out);
            marks.annotations.push(Entry {
                whole: at..a.out.len() - base,
                key: at + 1..key_end,
            });
        };
        match &e.annotations {
            Annotations::Map(m) => m.iter().for_each(|(k, v)| entry(&mut a, Err(k), Text::Any(v))),
            Annotations::Sorted(l) => l.iter().for_each(|(k, v)| entry(&mut a, Ok(k), *v)),
        }
        marks.annotations_end = a.out.len() - base;
        a.close();
    } else {
        marks.annotations_end = o.out.len() - base;
    }
    o.close();
    Ok(marks)
}

/// The record `line` (written by [`write_ref`], which gave `marks`, without
/// a response status) at a later stage: its stage and stage timestamp
/// replaced, `response_status` written where it goes, and `add` merged into
/// its annotations (an added key replaces the same key) — the bytes
/// [`write_event`] writes for that record, without building it. Keys are
/// compared as written, which is their text when they need no escaping
/// (true of every key the audit layer adds).
#[cfg_attr(not(feature = "layer"), allow(dead_code))]
pub(crate) fn restage(
    line: &[u8],
    marks: &Marks,
    stage: Stage,
    stage_timestamp: Text<'_>,
    response_status: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
    add: &mut [(&'static str, Text<'_>)],
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    out.reserve(line.len() + 64 + add.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>());
    out.extend_from_slice(&line[..marks.stage.start]);
    out.extend_from_slice(stage.as_str().as_bytes());
    out.extend_from_slice(&line[marks.stage.end..marks.status_at]);
    out.extend_from_slice(b",\"responseStatus\":");
    response_status(out)?;
    // The timestamp is written with its quotes, in place of the old one's.
    out.extend_from_slice(&line[marks.status_at..marks.stage_timestamp.start - 1]);
    stage_timestamp.write(out);
    let after_timestamp = marks.stage_timestamp.end + 1;
    add.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut adds = add.iter().peekable();
    let Some(first) = marks.annotations.first() else {
        out.extend_from_slice(&line[after_timestamp..marks.annotations_end]);
        if adds.peek().is_some() {
            out.extend_from_slice(b",\"annotations\":");
            let mut a = Object::open(out);
            adds.for_each(|(k, v)| a.str_plain_key(k, *v));
            a.close();
        }
        out.extend_from_slice(&line[marks.annotations_end..]);
        return Ok(());
    };
    out.extend_from_slice(&line[after_timestamp..first.whole.start]);
    let mut a = Object { out, first: true };
    let entries = &marks.annotations;
    let key = |i: usize| line.get(entries[i].key.clone()).unwrap_or_default();
    // The written entries between two added ones are copied in one run,
    // with the commas between them.
    let run = |a: &mut Object<'_>, from: usize, to: usize| {
        a.separate();
        a.out
            .extend_from_slice(&line[entries[from].whole.start..entries[to].whole.end]);
    };
    let mut i = 0;
    while i < entries.len() {
        let Some(&&(k, v)) = adds.peek() else {
            run(&mut a, i, entries.len() - 1);
            i = entries.len();
            break;
        };
        match k.as_bytes().cmp(key(i)) {
            std::cmp::Ordering::Less => a.str_plain_key(k, v),
            // The added entry replaces the written one.
            std::cmp::Ordering::Equal => {
                a.str_plain_key(k, v);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let mut j = i + 1;
                while j < entries.len() && key(j) < k.as_bytes() {
                    j += 1;
                }
                run(&mut a, i, j - 1);
                i = j;
                continue;
            }
        }
        adds.next();
    }
    debug_assert_eq!(i, entries.len());
    adds.for_each(|(k, v)| a.str_plain_key(k, *v));
    out.extend_from_slice(&line[marks.annotations_end..]);
    Ok(())
}

/// Writes `s` as a JSON string; the range of its contents (inside the
/// quotes), from `base`.
fn quoted(s: Text<'_>, out: &mut Vec<u8>, base: usize) -> Range<usize> {
    let start = out.len() + 1 - base;
    s.write(out);
    start..out.len() - 1 - base
}

/// A JSON object being written: commas between members.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    #[inline(always)]
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, first: true }
    }

    /// A key the code names (`"username"`, `"tollgate.dev/owner"`): it
    /// needs no escaping, so it is copied without being scanned.
    #[inline(always)]
    fn key(&mut self, k: &'static str) {
        debug_assert!(
            tollgate_kube::json_text::is_plain(k),
            "a literal key that needs escaping: {k:?}"
        );
        self.separate();
        self.out.reserve(k.len() + 3);
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A key from the data (a claim's name, an annotation of a record
    /// read back): escaped.
    fn key_text(&mut self, k: &str) {
        self.separate();
        string(k, self.out);
        self.out.push(b':');
    }

    /// The comma before every member but the first.
    #[inline(always)]
    fn separate(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    #[inline(always)]
    fn str(&mut self, k: &'static str, v: &str) {
        self.key(k);
        string(v, self.out);
    }

    /// A member the code names, with a value of any kind.
    fn str_plain_key(&mut self, k: &'static str, v: Text<'_>) {
        self.key(k);
        v.write(self.out);
    }

    #[inline(always)]
    fn str_unless_empty(&mut self, k: &'static str, v: &str) {
        if !v.is_empty() {
            self.str(k, v);
        }
    }

    #[inline(always)]
    fn close(self) {
        self.out.push(b'}');
    }
}

/// The members `"user"` and (when there is one) `"impersonatedUser"`, as
/// [`write_ref`] writes them, without braces around them: what a record
/// layer can write once for an identity and copy into each of its records
/// ([`Users::Written`]).
pub(crate) fn users(user_ref: &UserRef<'_>, impersonated: Option<&UserRef<'_>>, out: &mut Vec<u8>) {
    let mut o = Object { out, first: true };
    o.key("user");
    user(user_ref, o.out);
    if let Some(u) = impersonated {
        o.key("impersonatedUser");
        user(u, o.out);
    }
}

fn user(u: &UserRef<'_>, out: &mut Vec<u8>) {
    let mut o = Object::open(out);
    o.str_unless_empty("username", u.username);
    o.str_unless_empty("uid", u.uid);
    if !u.groups.is_empty() {
        o.key("groups");
        strings(u.groups, o.out);
    }
    if u.has_extra() {
        o.key("extra");
        extra(u.extra, u.more, o.out);
    }
    o.close();
}

/// `m` with `more` merged in (an entry of `more` replaces one of `m` with
/// the same key), in key order.
fn extra(m: &BTreeMap<String, Vec<String>>, more: &[(&str, &str)], out: &mut Vec<u8>) {
    let mut o = Object::open(out);
    let mut more = more.iter().peekable();
    for (k, vs) in m {
        while let Some((mk, mv)) = more.next_if(|(mk, _)| *mk < k.as_str()) {
            o.key_text(mk);
            strings(&[*mv], o.out);
        }
        if let Some((mk, mv)) = more.next_if(|(mk, _)| *mk == k.as_str()) {
            o.key_text(mk);
            strings(&[*mv], o.out);
            continue;
        }
        o.key_text(k);
        strings(vs, o.out);
    }
    for (mk, mv) in more {
        o.key_text(mk);
        strings(&[*mv], o.out);
    }
    o.close();
}

fn object_ref(r: &ObjectRef<'_>, out: &mut Vec<u8>) {
    let mut o = Object::open(out);
    o.str_unless_empty("resource", r.resource);
    o.str_unless_empty("namespace", r.namespace);
    o.str_unless_empty("name", r.name);
    o.str_unless_empty("uid", r.uid);
    o.str_unless_empty("apiGroup", r.api_group);
    o.str_unless_empty("apiVersion", r.api_version);
    o.str_unless_empty("resourceVersion", r.resource_version);
    o.str_unless_empty("subresource", r.subresource);
    o.close();
}

fn strings<S: AsRef<str>>(list: &[S], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(s.as_ref(), out);
    }
    out.push(b']');
}

/// `s` as a JSON string, escaped as `serde_json` escapes it
/// ([`tollgate_kube::json_text`]).
pub(crate) fn string(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let _ = tollgate_kube::json_text::escape(s, |piece| {
        out.extend_from_slice(piece.as_bytes());
        Ok::<(), std::convert::Infallible>(())
    });
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use tollgate_kube::json_text::is_plain;

    use super::*;
    use crate::{Level, Stage};

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9/:.-]{0,40}",
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just('"'),
                    Just('\\'),
                    Just('\u{1}'),
                    Just('é'),
                    Just('\u{7f}'),
                    Just('x'),
                    Just('\n')
                ],
                0..24
            )
            .prop_map(|v| v.into_iter().collect()),
        ]
    }

    fn user_info() -> impl Strategy<Value = UserInfo> {
        (
            text(),
            text(),
            proptest::collection::vec(text(), 0..3),
            proptest::collection::btree_map(text(), proptest::collection::vec(text(), 0..2), 0..3),
        )
            .prop_map(|(username, uid, groups, extra)| {
                let mut u = UserInfo::new(username, groups);
                u.uid = uid;
                u.extra = extra;
                u
            })
    }

    prop_compose! {
        fn event()(
            id in text(), uri in text(), verb in text(), agent in text(),
            user in user_info(), imp in proptest::option::of(user_info()),
            ips in proptest::collection::vec(text(), 0..3),
            reference in proptest::option::of((text(), text(), text(), text())),
            status in proptest::option::of(any::<u16>()),
            body in proptest::option::of(text()),
            annotations in proptest::collection::btree_map(text(), text(), 0..5),
            level in 0..4u8, stage in 0..4u8,
        ) -> Event {
            let level = [Level::None, Level::Metadata, Level::Request, Level::RequestResponse][usize::from(level)];
            let stage = [Stage::RequestReceived, Stage::ResponseStarted, Stage::ResponseComplete, Stage::Panic][usize::from(stage)];
            let mut e = Event::new(id, level, stage);
            e.request_uri = uri;
            e.verb = verb;
            e.user_agent = agent;
            e.user = user;
            e.impersonated_user = imp;
            e.source_ips = ips;
            e.object_ref = reference.map(|(resource, namespace, name, subresource)| ObjectReference {
                resource, namespace, name, subresource, ..ObjectReference::default()
            });
            e.response_status = status.map(|c| serde_json::json!({"metadata": {}, "code": c}));
            e.request_object = body.map(|b| serde_json::json!({"kind": "ConfigMap", "data": {"k": b}}));
            e.annotations = annotations;
            e
        }
    }

    proptest! {
        #[test]
        fn the_same_bytes_as_serde_json(e in event()) {
            let mut ours = Vec::new();
            write_event(&e, &mut ours).unwrap();
            prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&e).unwrap());
        }

        /// A record restaged from its first stage's bytes is the record
        /// written whole at the later stage.
        #[test]
        fn restaged_bytes_are_the_later_stage_written_whole(
            mut e in event(),
            existing in proptest::collection::btree_map("[a-z./-]{1,12}", text(), 0..5),
            added in proptest::collection::btree_map("[a-z./-]{1,12}", text(), 0..4),
            code in 100u16..600,
            later in text(),
        ) {
            e.stage = Stage::RequestReceived;
            e.response_status = None;
            e.annotations = existing;
            let mut first = Vec::new();
            let marks = write_ref(&EventRef::of(&e), &mut first).unwrap();
            // The layer's keys are literals: these live as long as the test.
            let mut add: Vec<(&'static str, Text<'_>)> = added
                .iter()
                .map(|(k, v)| (&*Box::leak(k.clone().into_boxed_str()), Text::checked(v, is_plain(v))))
                .collect();
            let mut ours = Vec::new();
            restage(&first, &marks, Stage::ResponseComplete, Text::checked(&later, is_plain(&later)), |out| {
                serde_json::to_writer(out, &serde_json::json!({"metadata": {}, "code": code}))
            }, &mut add, &mut ours).unwrap();
            e.stage = Stage::ResponseComplete;
            e.stage_timestamp = later;
            e.response_status = Some(serde_json::json!({"metadata": {}, "code": code}));
            e.annotations.extend(added);
            prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&e).unwrap());
        }

        /// Entries merged into a user's extra land where a map would put
        /// them, replacing the same key.
        #[test]
        fn merged_extra_is_the_merged_map(
            u in user_info(),
            more in proptest::collection::btree_map(text(), text(), 0..4),
        ) {
            let list: Vec<(&str, &str)> = more.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut ours = Vec::new();
            user(&UserRef { more: &list, ..UserRef::of(&u) }, &mut ours);
            let mut merged = u.clone();
            merged.extra.extend(more.iter().map(|(k, v)| (k.clone(), vec![v.clone()])));
            prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&merged).unwrap());
        }

        #[test]
        fn strings_escape_as_serde_json_does(s in any::<String>()) {
            let mut ours = Vec::new();
            string(&s, &mut ours);
            prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn every_byte_escapes_as_serde_json_does() {
        for c in 0u8..=0x7f {
            let s = format!("ab{}cdefghij{}", char::from(c), char::from(c));
            let mut ours = Vec::new();
            string(&s, &mut ours);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&s).unwrap(),
                "byte {c:#x}"
            );
        }
    }
}
