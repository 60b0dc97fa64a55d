//! The response body as it streams: bytes and watch events counted, the
//! body kept (bounded) where the record needs it, and the
//! `ResponseComplete` record written when it ends — or when the client
//! goes away first (a watch ended with Ctrl-C).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use serde_json::Value;

use super::record::{ReceivedLine, Shared, response_status, strip_managed_fields};
use crate::{Event, Level, Stage};

pin_project! {
    /// A response body that writes the request's `ResponseComplete`
    /// record when it ends (or is dropped). Forwards `size_hint` and
    /// `is_end_stream`.
    #[derive(Debug)]
    pub struct RecordBody<B> {
        #[pin]
        inner: B,
        // Boxed: the response and its body are moved by every layer
        // outside, and a tally holds a whole record.
        tally: Option<Box<Tally>>,
    }
}

impl<B> RecordBody<B> {
    pub(crate) fn new(inner: B, tally: Option<Tally>) -> Self {
        RecordBody {
            inner,
            tally: tally.map(Box::new),
        }
    }
}

/// Counts watch events in a JSON (newline-delimited) or protobuf
/// (length-prefixed) stream.
#[derive(Debug)]
enum Framing {
    Lines,
    LengthPrefixed { header: Vec<u8>, remaining: u64 },
}

/// What is known of a response while it streams.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) shared: Arc<Shared>,
    /// Boxed: the tally of a small request has none, and is built and
    /// moved without the 848 bytes of one.
    pub(crate) event: Option<Box<Event>>,
    /// Instead of `event`, a small request's `RequestReceived` line, from
    /// which `ResponseComplete` is spliced (inline: the tally is boxed).
    line: Option<ReceivedLine>,
    pub(crate) code: u16,
    pub(crate) kind: Option<&'static str>,
    pub(crate) omit_managed_fields: bool,
    pub(crate) keep_object: bool,
    pub(crate) watch: bool,
    pub(crate) long_running: bool,
    /// The body is gzip-encoded (the client accepted it).
    pub(crate) gzip: bool,
    /// The proxy refused the request itself ([`tollgate_proxy::Refused`]):
    /// `ResponseComplete`'s decision is `refused`.
    pub(crate) refused: bool,
    framing: Framing,
    capture: Vec<u8>,
    truncated: bool,
    bytes: u64,
    events: u64,
}

impl Tally {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        event: Box<Event>,
        code: u16,
        kind: Option<&'static str>,
        omit_managed_fields: bool,
        watch: bool,
        long_running: bool,
        protobuf: bool,
    ) -> Self {
        let keep_object = event.level >= Level::RequestResponse && !watch;
        Tally::with(
            shared,
            Some(event),
            keep_object,
            code,
            kind,
            omit_managed_fields,
            watch,
            long_running,
            protobuf,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn with(
        shared: Arc<Shared>,
        event: Option<Box<Event>>,
        keep_object: bool,
        code: u16,
        kind: Option<&'static str>,
        omit_managed_fields: bool,
        watch: bool,
        long_running: bool,
        protobuf: bool,
    ) -> Self {
        Tally {
            shared,
            event,
            line: None,
            code,
            kind,
            omit_managed_fields,
            keep_object,
            watch,
            long_running,
            gzip: false,
            refused: false,
            framing: if protobuf {
                Framing::LengthPrefixed {
                    header: Vec::new(),
                    remaining: 0,
                }
            } else {
                Framing::Lines
            },
            capture: Vec::new(),
            truncated: false,
            bytes: 0,
            events: 0,
        }
    }

    /// The tally of a small request (not a stream, no object kept) whose
    /// `RequestReceived` was written as `line`.
    pub(crate) fn for_line(shared: Arc<Shared>, line: ReceivedLine, code: u16, kind: Option<&'static str>) -> Self {
        let mut t = Tally::with(shared, None, false, code, kind, false, false, false, false);
        t.line = Some(line);
        t
    }

    fn observe(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        if self.watch {
            match &mut self.framing {
                Framing::Lines => self.events += memchr_count(b'\n', data),
                Framing::LengthPrefixed { header, remaining } => {
                    let mut d = data;
                    while !d.is_empty() {
                        if *remaining > 0 {
                            let take = (*remaining).min(d.len() as u64);
                            *remaining -= take;
                            d = &d[usize::try_from(take).unwrap_or(d.len())..];
                            if *remaining == 0 {
                                self.events += 1;
                            }
                            continue;
                        }
                        let need = 4 - header.len();
                        let take = need.min(d.len());
                        header.extend_from_slice(&d[..take]);
                        d = &d[take..];
                        if header.len() == 4 {
                            *remaining = u64::from(u32::from_be_bytes([header[0], header[1], header[2], header[3]]));
                            header.clear();
                            if *remaining == 0 {
                                self.events += 1;
                            }
                        }
                    }
                }
            }
        }
        let want = self.keep_object || self.code >= 400;
        if want && !self.truncated {
            if self.capture.len() + data.len() > self.shared.capture_limit {
                self.truncated = true;
                self.capture = Vec::new();
            } else {
                self.capture.extend_from_slice(data);
            }
        }
    }

    pub(crate) fn finish(&mut self, early: bool, error: Option<String>) {
        if let Some(line) = self.line.take() {
            self.finish_line(&line, early, error);
            return;
        }
        let Some(mut e) = self.event.take() else { return };
        e.stage = Stage::ResponseComplete;
        e.stage_timestamp = crate::micro_time(SystemTime::now());
        let decoded = if self.gzip && !self.truncated {
            gunzip(&self.capture, self.shared.capture_limit)
        } else {
            None
        };
        let body: &[u8] = decoded.as_deref().unwrap_or(&self.capture);
        let captured = (!self.truncated).then_some(body);
        e.response_status = Some(response_status(self.code, captured));
        if self.keep_object && self.code < 400 {
            if self.truncated {
                e.annotations
                    .insert("audit.k8s.io/truncated".to_owned(), "true".to_owned());
            } else if !body.is_empty() {
                match serde_json::from_slice::<Value>(body) {
                    Ok(mut v) => {
                        let report = self.shared.redactor.redact_as(&mut v, self.kind);
                        if self.omit_managed_fields {
                            strip_managed_fields(&mut v);
                        }
                        if !report.is_empty() {
                            let paths: Vec<String> = report
                                .paths
                                .iter()
                                .map(|p| format!("responseObject{}", p.trim_start_matches('$')))
                                .collect();
                            let entry = e
                                .annotations
                                .entry("tollgate.dev/redacted-paths".to_owned())
                                .or_default();
                            let mut all: Vec<String> = serde_json::from_str(entry).unwrap_or_default();
                            all.extend(paths);
                            *entry = serde_json::to_string(&all).unwrap_or_default();
                        }
                        e.response_object = Some(v);
                    }
                    Err(_) => {
                        e.annotations.insert(
                            "tollgate.dev/response-object".to_owned(),
                            format!("not recorded: {} bytes that are not JSON", body.len()),
                        );
                    }
                }
            }
        }
        e.annotations
            .insert("tollgate.dev/response-bytes".to_owned(), self.bytes.to_string());
        if self.watch {
            e.annotations
                .insert("tollgate.dev/watch-events".to_owned(), self.events.to_string());
        }
        if early {
            e.annotations
                .insert("tollgate.dev/closed-early".to_owned(), "true".to_owned());
        }
        if let Some(err) = error {
            e.annotations.insert("tollgate.dev/response-error".to_owned(), err);
        }
        if self.refused {
            e.annotations
                .insert("tollgate.dev/decision".to_owned(), "refused".to_owned());
        }
        self.shared.recorder.record_later(*e);
    }
}

impl Tally {
    /// `ResponseComplete` spliced from the `RequestReceived` line: what
    /// [`Tally::finish`] writes for a record without objects.
    fn finish_line(&mut self, line: &ReceivedLine, early: bool, error: Option<String>) {
        use crate::json_line::Text;
        let now = tollgate_kube::time::MicroTime::now();
        let code = self.code;
        let status = (code >= 400).then(|| {
            let decoded = if self.gzip && !self.truncated {
                gunzip(&self.capture, self.shared.capture_limit)
            } else {
                None
            };
            let body: &[u8] = decoded.as_deref().unwrap_or(&self.capture);
            response_status(code, (!self.truncated).then_some(body))
        });
        // Digits need no escaping: written without a formatter or a check.
        let (mut bytes, mut events) = (itoa::Buffer::new(), itoa::Buffer::new());
        let bytes = Text::Plain(bytes.format(self.bytes).as_bytes());
        let events = self.watch.then(|| Text::Plain(events.format(self.events).as_bytes()));
        // At most five: no allocation.
        let mut add: [(&'static str, Text<'_>); 5] = [("", Text::Plain(b"")); 5];
        add[0] = ("tollgate.dev/response-bytes", bytes);
        let mut n = 1;
        let more = [
            events.map(|e| ("tollgate.dev/watch-events", e)),
            early.then(|| ("tollgate.dev/closed-early", Text::word("true"))),
            error.as_deref().map(|e| ("tollgate.dev/response-error", Text::Any(e))),
            self.refused.then(|| ("tollgate.dev/decision", Text::word("refused"))),
        ];
        for entry in more.into_iter().flatten() {
            add[n] = entry;
            n += 1;
        }
        let add = &mut add[..n];
        // Spliced straight into the recorder's queue: no copy of the line
        // is made first.
        self.shared.recorder.record_line_later_with(
            |out| {
                crate::json_line::restage(
                    &line.bytes,
                    &line.marks,
                    Stage::ResponseComplete,
                    Text::time(&now),
                    |out| match &status {
                        Some(v) => serde_json::to_writer(out, v),
                        None => {
                            out.extend_from_slice(b"{\"metadata\":{},\"code\":");
                            out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
                            out.push(b'}');
                            Ok(())
                        }
                    },
                    add,
                    out,
                )?;
                out.push(b'\n');
                Ok(())
            },
            || line.audit_id(),
        );
    }
}

/// A gzip body, decoded up to `limit` bytes (`None` past it or when not gzip).
fn gunzip(b: &[u8], limit: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let read = flate2::read::MultiGzDecoder::new(b)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (read <= limit).then_some(out)
}

fn memchr_count(needle: u8, data: &[u8]) -> u64 {
    data.iter().filter(|&&b| b == needle).count() as u64
}

impl Drop for Tally {
    fn drop(&mut self) {
        // A body need not be polled to its end (hyper stops when it says
        // it has ended). For a stream, being dropped first means the
        // client went away (a watch ended with Ctrl-C): the record is
        // still written, and says so.
        self.finish(self.watch || self.long_running, None);
    }
}

impl<B> Body for RecordBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let next = ready!(this.inner.poll_frame(cx));
        if let Some(t) = this.tally.as_mut() {
            match &next {
                Some(Ok(frame)) => {
                    if let Some(d) = frame.data_ref() {
                        t.observe(d);
                    }
                }
                Some(Err(e)) => t.finish(false, Some(e.to_string())),
                None => t.finish(false, None),
            }
        }
        Poll::Ready(next)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
