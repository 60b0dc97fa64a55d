//! [`JsonLogFields`]: a span's fields as one JSON object, appended to as
//! they are recorded.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

use super::staged;

#[cfg(doc)]
use tracing_subscriber::fmt::format::JsonFields;

/// The span fields formatter of the JSON log: `{"audit_id":"…","user":"…"}`
/// in a span's formatted fields, which the JSON event format reads back
/// for a line logged in the span.
///
/// [`JsonFields`] parses a span's formatted fields back into a map and
/// serializes the whole map again each time a field is recorded after the
/// span was created — three times per request in the gateway, ~45,000
/// instructions, whether or not a line is ever logged in it. This writes
/// the values straight into the object as they come: a later field is
/// appended before its closing brace. The object's members are in the
/// order they were recorded (`JsonFields` sorts them by name), and a field
/// recorded twice keeps its last value, as with `JsonFields`: the event
/// format reads the object into a map before writing it out, so the line
/// holds each name once either way.
///
/// ```
/// use tollgate_metrics::logs::JsonLogFields;
///
/// tracing_subscriber::fmt()
///     .json()
///     .with_current_span(true)
///     .fmt_fields(JsonLogFields)
///     .with_writer(std::io::sink)
///     .finish();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLogFields;

impl<'w> FormatFields<'w> for JsonLogFields {
    /// Staged in a buffer of the thread's and written whole, as
    /// [`LogFields`](super::LogFields) does.
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        staged(writer, |buf| {
            buf.push('{');
            let mut members = Members::new(buf, true);
            fields.record(&mut members);
            members.result?;
            buf.push('}');
            Ok(())
        })
    }

    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let out = &mut current.fields;
        // Written by `format_fields`: an object. Reopened at its closing
        // brace.
        if out.pop() != Some('}') {
            out.clear();
            return self.format_fields(current.as_writer(), fields);
        }
        let empty = out.len() == 1;
        let result = staged(&mut *out, |buf| {
            let mut members = Members::new(buf, empty);
            fields.record(&mut members);
            members.result
        });
        out.push('}');
        result
    }
}

/// Records fields as JSON members, written as `tracing-subscriber`'s JSON
/// visitor writes their values (a `Debug` value as a string of its
/// `Debug` output, a raw identifier's `r#` dropped, `log.*` fields of
/// bridged `log` records left out).
struct Members<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<'a, W: fmt::Write> Members<'a, W> {
    fn new(out: &'a mut W, first: bool) -> Self {
        Members {
            out,
            first,
            result: Ok(()),
        }
    }

    /// `"name":` and the value `write` writes.
    fn member(&mut self, name: &str, write: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let comma = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .out
            .write_str(comma)
            .and_then(|()| string(self.out, name))
            .and_then(|()| self.out.write_char(':'))
            .and_then(|()| write(self.out));
    }

    /// A value as `serde_json` writes it (numbers, byte arrays).
    fn value(&mut self, name: &str, v: serde_json::Value) {
        self.member(name, |out| write!(out, "{v}"));
    }
}

impl<W: fmt::Write> Visit for Members<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field.name(), |out| string(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field.name(), |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field.name(), |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field.name(), |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.value(field.name(), serde_json::Value::from(value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.value(field.name(), serde_json::Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.member(name, |out| {
            out.write_char('"')?;
            write!(Escaped(&mut *out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `s` as a JSON string.
fn string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(&mut *out).write_str(s)?;
    out.write_char('"')
}

/// Writes text escaped as `serde_json` escapes a string's contents
/// ([`tollgate_kube::json_text`]).
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        tollgate_kube::json_text::escape(s, |piece| self.0.write_str(piece))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tracing_subscriber::fmt::format::JsonFields;

    use super::*;
    use crate::logs::tests::Buf;

    /// Lines logged in two nested spans whose fields are recorded at
    /// creation and later (one of them twice), with every kind of value,
    /// through a JSON subscriber whose span fields `fields` formats.
    fn log(
        fields: impl for<'w> FormatFields<'w> + Send + Sync + 'static,
        s: &[String; 4],
        n: i64,
        x: f64,
    ) -> Vec<serde_json::Value> {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .fmt_fields(fields)
            .without_time()
            .with_writer(buf.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("conn", peer = %s[3], n);
            let _o = outer.enter();
            let span = tracing::info_span!(
                "request",
                audit_id = %s[0],
                method = "GET",
                path = s[1].as_str(),
                r#type = ?s[2],
                log.target = ?"x",
                user = tracing::field::Empty,
                owner = tracing::field::Empty,
                decision = tracing::field::Empty,
                ratio = tracing::field::Empty,
                bytes = tracing::field::Empty,
            );
            tracing::info!("before");
            span.record("user", s[2].as_str());
            span.record("decision", "allow");
            span.record("ratio", x);
            let _in = span.enter();
            tracing::warn!(detail = ?s[1], "in {}", s[3]);
            span.record("owner", s[0].as_str());
            span.record("decision", s[3].as_str());
            span.record("bytes", &s[1].as_bytes()[..s[1].len().min(4)]);
            outer.record("n", n.wrapping_neg());
            tracing::error!(late = true, "after");
        });
        let text = buf.text();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,40}",
            "\\PC{0,20}",
            any::<String>(),
            Just("\u{1b}[31m\"quoted\"\\\u{7f}\u{0}\u{1f}".to_owned()),
        ]
    }

    proptest! {
        /// Every line carries the same spans, fields and values as with
        /// `JsonFields` (members in recording order instead of by name),
        /// for any text — quotes, backslashes, control characters,
        /// non-ASCII — and any integers, NaN and infinity included.
        #[test]
        fn lines_carry_what_json_fields_gives(
            s in proptest::array::uniform4(text()),
            n in any::<i64>(),
            // Values whose decimal form reads back exactly: `JsonFields`
            // parses its own output again, and serde_json's default float
            // parsing can be one digit off where this writes the shortest
            // exact form.
            x in prop_oneof![
                (-1_000_000i32..1_000_000).prop_map(|i| f64::from(i) / 64.0),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(1e21),
                Just(0.1),
            ],
        ) {
            prop_assert_eq!(log(JsonLogFields, &s, n, x), log(JsonFields::new(), &s, n, x));
        }
    }

    #[test]
    fn a_line_in_a_request_span() {
        let s = ["4f1c", "/api/v1/pods", "ci-bot", "deny"].map(str::to_owned);
        let lines = log(JsonLogFields, &s, 3, 0.5);
        let last = &lines[2];
        assert_eq!(last["fields"]["message"], "after");
        let span = &last["span"];
        assert_eq!(span["audit_id"], "4f1c");
        assert_eq!(span["type"], "\"ci-bot\"", "r# dropped, Debug quoted");
        assert_eq!(span["user"], "ci-bot");
        assert_eq!(span["decision"], "deny", "the last recorded value");
        assert_eq!(span["bytes"], serde_json::json!([47, 97, 112, 105]));
        assert!(span.get("log.target").is_none(), "{span}");
        assert_eq!(last["spans"][0]["n"], -3);
        // Members in the order they were recorded.
        let keys: Vec<&str> = span.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "audit_id", "method", "path", "type", "user", "decision", "ratio", "owner", "bytes", "name"
            ]
        );
    }
}
