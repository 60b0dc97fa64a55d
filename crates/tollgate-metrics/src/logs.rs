//! The gateway's log (feature `logs`): its fields written as
//! `tracing-subscriber`'s default formatter writes them, without its cost
//! on the request path ([`LogFields`]), and `RUST_LOG` as the cheapest
//! filter that reads it ([`LogFilter`]).
//!
//! Every request opens a span (the audit layer's: audit ID, method, path)
//! and the authentication and policy layers record the user, owner and
//! decision into it. The log subscriber formats those fields when they are
//! recorded, whether or not a line is ever logged in the span, so the
//! formatting is paid by every request. [`DefaultFields`] writes each value
//! through `Debug` and each name through the terminal-colour machinery even
//! when colour is off; [`LogFields`] writes a plain string field directly
//! (quoted, as `Debug` quotes it, when it needs no escaping) and hands
//! everything else — the message, errors, escapes, colour — to
//! [`DefaultVisitor`], so the output is the same bytes.
//!
//! ```
//! use tollgate_metrics::logs::LogFields;
//!
//! tracing_subscriber::fmt()
//!     .fmt_fields(LogFields)
//!     .with_ansi(false)
//!     .with_writer(std::io::sink)
//!     .finish();
//! ```

mod json;
mod request;

use std::fmt;

pub use json::JsonLogFields;
pub use request::RequestFields;
use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{RecordFields, VisitFmt, VisitOutput};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

#[cfg(doc)]
use tracing_subscriber::fmt::format::DefaultFields;

/// The fields formatter of the text log; see the [module](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFields;

impl<'w> FormatFields<'w> for LogFields {
    /// The fields through [`FieldsVisitor`]. Without colour, staged in a
    /// buffer of the thread's and written to `writer` whole: a span's
    /// fields are kept in a `String` the subscriber starts empty, which
    /// would otherwise grow — a reallocation and a copy — several times
    /// per request.
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let record = |writer: Writer<'_>| {
            let mut v = FieldsVisitor {
                writer,
                is_empty: true,
                result: Ok(()),
            };
            fields.record(&mut v);
            v.finish()
        };
        // A writer made here has neither colour nor the subscriber's
        // choice not to sanitize escapes.
        if writer.has_ansi_escapes() || !writer.sanitizes_ansi_escapes() {
            return record(writer);
        }
        staged(writer, |buf| record(Writer::new(buf)))
    }
}

thread_local! {
    /// Where [`staged`] formats.
    static STAGE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// What `write` writes, formatted in a buffer of this thread's and
/// written to `out` in one piece. Re-entered (a value whose `Debug` logs),
/// written to `out` directly.
fn staged<W: fmt::Write>(mut out: W, write: impl FnOnce(&mut String) -> fmt::Result) -> fmt::Result {
    STAGE.with(|stage| {
        let Ok(mut buf) = stage.try_borrow_mut() else {
            let mut direct = String::new();
            write(&mut direct)?;
            return out.write_str(&direct);
        };
        buf.clear();
        let result = write(&mut buf).and_then(|()| out.write_str(&buf));
        if buf.capacity() > 16 << 10 {
            *buf = String::new();
        }
        result
    })
}

/// The visitor of [`LogFields`].
#[derive(Debug)]
pub struct FieldsVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl FieldsVisitor<'_> {
    /// Whether this field is written here rather than by
    /// [`DefaultVisitor`]: a named field (not the message, a raw
    /// identifier or the `log` crate's metadata, which the default
    /// skips) on a writer without colour.
    fn plain(&self, field: &Field) -> bool {
        let name = field.name();
        !self.writer.has_ansi_escapes() && name != "message" && !name.starts_with("r#") && !name.starts_with("log.")
    }

    /// `name=`, after a space unless it is the first field.
    fn name(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.is_empty) {
            self.writer.write_str(" ")?;
        }
        self.writer.write_str(field.name())?;
        self.writer.write_str("=")
    }

    /// The field as [`DefaultVisitor`] writes it.
    fn default(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut v = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut v);
        self.result = v.finish();
        // Only fields it writes are handed to it (not the `log` crate's
        // metadata, which it skips).
        self.is_empty = false;
    }
}

/// Whether `Debug` writes `s` as itself in quotes: printable ASCII, no
/// quote or backslash. (Without a branch per byte, so it vectorizes:
/// `0x20..=0x7e` is one comparison after subtracting `0x20`.)
fn needs_no_escaping(s: &str) -> bool {
    s.bytes().fold(true, |ok, b| {
        ok & (b.wrapping_sub(0x20) < 0x5f) & (b != b'"') & (b != b'\\')
    })
}

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if self.plain(field) && needs_no_escaping(value) {
            self.result = self.name(field).and_then(|()| {
                self.writer.write_str("\"")?;
                self.writer.write_str(value)?;
                self.writer.write_str("\"")
            });
        } else if !field.name().starts_with("log.") {
            self.default(|v| v.record_str(field, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.default(|v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if self.plain(field) {
            self.result = self.name(field).and_then(|()| write!(self.writer, "{value:?}"));
        } else if !field.name().starts_with("log.") {
            self.default(|v| v.record_debug(field, value));
        }
    }
}

impl VisitOutput<fmt::Result> for FieldsVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for FieldsVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// `RUST_LOG`'s directives as a filter: which of the two layers below is
/// set. Targets and levels only (`info`, `warn,tollgate_audit=debug`) are
/// a [`Targets`] filter, which decides once per call site; a directive
/// naming a span or a field (`warn,[request]=info`) needs an
/// [`EnvFilter`], which follows every span as it is entered and left — a
/// cost each request pays. Add both to the subscriber (an unset one does
/// nothing):
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
/// use tollgate_metrics::logs::LogFilter;
///
/// let filter = LogFilter::new(Some("warn,tollgate_audit=debug"));
/// assert!(filter.env.is_none());
/// let subscriber = tracing_subscriber::registry()
///     .with(filter.targets)
///     .with(filter.env)
///     .with(tracing_subscriber::fmt::layer().fmt_fields(tollgate_metrics::logs::LogFields));
/// # let _ = subscriber;
/// ```
#[derive(Debug)]
pub struct LogFilter {
    /// Set for targets and levels only.
    pub targets: Option<Targets>,
    /// Set when a directive names a span or a field.
    pub env: Option<EnvFilter>,
}

impl LogFilter {
    /// `directives` (`RUST_LOG`'s value; `info` when unset, empty or
    /// unreadable).
    pub fn new(directives: Option<&str>) -> Self {
        let directives = directives.map(str::trim).filter(|d| !d.is_empty()).unwrap_or("info");
        if !directives.contains(['[', '{'])
            && let Ok(t) = directives.parse::<Targets>()
        {
            return LogFilter {
                targets: Some(t),
                env: None,
            };
        }
        match EnvFilter::try_new(directives) {
            Ok(f) => LogFilter {
                targets: None,
                env: Some(f),
            },
            Err(_) => LogFilter {
                targets: Some(Targets::new().with_default(tracing::Level::INFO)),
                env: None,
            },
        }
    }
}

/// Installs the gateway's log as the global subscriber: standard error,
/// `RUST_LOG` through [`LogFilter`] (default `info`); JSON lines with
/// `json`, else text, with colour only on a terminal and without
/// `NO_COLOR`. A request's fields go on its lines through its
/// [`RequestLog`](tollgate_kube::log_context::RequestLog), not a span
/// ([`set_spanless`](tollgate_kube::log_context::set_spanless)), unless a
/// directive names a span (the filter must see the span) or colour is on
/// ([`RequestFields`] writes lines without it). Does nothing when a
/// global subscriber is already installed.
pub fn init_stderr(json: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = LogFilter::new(std::env::var("RUST_LOG").ok().as_deref());
    let spans_filtered = filter.env.is_some();
    let logs = tracing_subscriber::registry().with(filter.targets).with(filter.env);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let colour = !json && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let installed = if json {
        let format = tracing_subscriber::fmt::format()
            .json()
            .with_current_span(true)
            .with_span_list(false);
        logs.with(
            layer
                .event_format(RequestFields::json(format))
                .fmt_fields(JsonLogFields),
        )
        .try_init()
    } else {
        let format = tracing_subscriber::fmt::format().with_ansi(colour);
        logs.with(
            layer
                .event_format(RequestFields::text(format))
                .fmt_fields(LogFields)
                .with_ansi(colour),
        )
        .try_init()
    };
    if installed.is_ok() {
        tollgate_kube::log_context::set_spanless(!spans_filtered && !colour);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    #[derive(Clone, Default)]
    pub(crate) struct Buf(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        /// What was written, as text.
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    #[derive(Debug)]
    struct Failed(String, Option<Box<Failed>>);

    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Failed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    /// What the gateway logs in a request's span, with every kind of
    /// field, through a subscriber made by `fields`.
    fn log(
        ansi: bool,
        fields: impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
        s: &[String; 4],
    ) -> String {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields)
            .with_ansi(ansi)
            .without_time()
            .with_writer(buf.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                audit_id = %s[0],
                method = "GET",
                path = s[1].as_str(),
                user = tracing::field::Empty,
                owner = tracing::field::Empty,
                decision = tracing::field::Empty,
            );
            span.record("user", s[2].as_str());
            span.record("decision", "allow");
            let _in = span.enter();
            let error = Failed(s[3].clone(), Some(Box::new(Failed(s[0].clone(), None))));
            tracing::warn!(
                error = &error as &(dyn std::error::Error + 'static),
                bytes = 17u64,
                late = true,
                "cannot {}",
                s[3]
            );
            tracing::info!(r#type = s[2].as_str(), log.target = "x", detail = ?s[1], "{}", s[0]);
            tracing::error!(owner = s[3].as_str());
            tracing::info!(reason = %s[2], message = s[1].as_str());
            span.record("owner", s[0].as_str());
            tracing::info!("after");
        });
        buf.text()
    }

    proptest! {
        /// Byte for byte the default formatter's lines, for any values
        /// (quotes, backslashes, control characters, terminal escapes,
        /// non-ASCII), with colour and without.
        #[test]
        fn written_as_the_default_formatter_writes(
            s in proptest::array::uniform4(prop_oneof![
                "[ -~]{0,40}",
                "\\PC{0,20}",
                any::<String>(),
                Just("\u{1b}[31mred\u{1b}[0m".to_owned()),
            ]),
            ansi in any::<bool>(),
        ) {
            prop_assert_eq!(log(ansi, LogFields, &s), log(ansi, DefaultFields::new(), &s));
        }
    }

    #[test]
    fn a_plain_line_is_as_expected() {
        let s = [
            "4f1c".to_owned(),
            "/api/v1/pods".to_owned(),
            "ci-bot".to_owned(),
            "x".to_owned(),
        ];
        let out = log(false, LogFields, &s);
        assert!(
            out.contains(r#"request{audit_id=4f1c method="GET" path="/api/v1/pods" user="ci-bot" decision="allow"}"#),
            "{out}"
        );
        assert!(out.contains(r#"owner="x""#), "{out}");
    }

    /// `staged` called again while its buffer is in use (tracing itself
    /// drops an event logged while another is dispatched, so this is for a
    /// formatter used outside a subscriber): written directly, nothing lost.
    #[test]
    fn staged_within_staged() {
        let mut out = String::from(">");
        let r = staged(&mut out, |outer| {
            outer.push_str("a=1");
            let mut inner = String::new();
            staged(&mut inner, |buf| {
                buf.push_str("b=2");
                Ok(())
            })?;
            outer.push_str(&inner);
            Ok(())
        });
        assert_eq!((r, out.as_str()), (Ok(()), ">a=1b=2"));
        // A failed write leaves `out` as it was.
        let mut out = String::from(">");
        let r = staged(&mut out, |buf| {
            buf.push_str("half");
            Err(fmt::Error)
        });
        assert_eq!((r, out.as_str()), (Err(fmt::Error), ">"));
    }

    /// Targets and levels make the filter that follows no span; a span or
    /// field directive, the one that does; nothing readable, `info`.
    #[test]
    fn the_log_filter_follows_spans_only_when_a_directive_names_one() {
        for (directives, on, off) in [
            (
                None,
                ("tollgate_rules", tracing::Level::INFO),
                ("tollgate_rules", tracing::Level::DEBUG),
            ),
            (
                Some(""),
                ("hyper", tracing::Level::INFO),
                ("hyper", tracing::Level::DEBUG),
            ),
            (
                Some("warn,tollgate_audit=debug"),
                ("tollgate_audit::recorder", tracing::Level::DEBUG),
                ("tollgate_rules", tracing::Level::INFO),
            ),
            (
                Some("off"),
                ("tollgate_rules", tracing::Level::ERROR),
                ("tollgate_rules", tracing::Level::ERROR),
            ),
            (
                Some("tollgate_rules=nonsense=3"),
                ("x", tracing::Level::INFO),
                ("x", tracing::Level::DEBUG),
            ),
        ] {
            let f = LogFilter::new(directives);
            assert!(f.env.is_none(), "{directives:?}");
            let targets = f.targets.unwrap();
            if directives != Some("off") {
                assert!(targets.would_enable(on.0, &on.1), "{directives:?}: {on:?}");
            }
            assert!(!targets.would_enable(off.0, &off.1), "{directives:?}: {off:?}");
        }
        for directives in ["warn,[request]=info", "[{decision=deny}]=debug"] {
            let f = LogFilter::new(Some(directives));
            assert!(f.targets.is_none() && f.env.is_some(), "{directives}");
        }
    }
}
