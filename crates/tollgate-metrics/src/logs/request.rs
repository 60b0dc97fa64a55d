//! [`RequestFields`]: a line logged while a request is handled carries its
//! [`RequestLog`] as the `request` span it stands for.

use std::fmt::{self, Write as _};

use tollgate_kube::log_context::RequestLog;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// An event format that writes the [`RequestLog`] entered on the thread
/// (see [`tollgate_kube::log_context`]) into a line as `tracing-subscriber`
/// writes a span named `request` with its fields: in text, after the
/// level, `request{audit_id=… method=GET path="…" user="…" owner="…"
/// decision="allow"}:`; in JSON, `"span":{"audit_id":"…",…,"name":"request"}`
/// at the end of the object. Everything else is `inner`'s.
///
/// For the formats the gateway configures: `inner` the default full text
/// format without colour, or the JSON one with the current span and no
/// span list, thread names or file names. A line logged inside another
/// span as well keeps that span: in text the request comes first, in JSON
/// the other span is the line's `span`.
///
/// ```
/// use tollgate_metrics::logs::{LogFields, RequestFields};
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let format = tracing_subscriber::fmt::format().with_ansi(false);
/// let layer = tracing_subscriber::fmt::layer()
///     .with_ansi(false)
///     .event_format(RequestFields::text(format))
///     .fmt_fields(LogFields)
///     .with_writer(std::io::sink);
/// let _subscriber = tracing_subscriber::registry().with(layer);
/// ```
#[derive(Debug, Clone)]
pub struct RequestFields<F> {
    inner: F,
    json: bool,
}

impl<F> RequestFields<F> {
    /// Around a text format.
    pub fn text(inner: F) -> Self {
        RequestFields { inner, json: false }
    }

    /// Around a JSON format.
    pub fn json(inner: F) -> Self {
        RequestFields { inner, json: true }
    }
}

thread_local! {
    /// Where a line with a request's fields is put together.
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl<S, N, F> FormatEvent<S, N> for RequestFields<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let Some(log) = RequestLog::with_current(|log| log.cloned()) else {
            return self.inner.format_event(ctx, writer, event);
        };
        let in_span = ctx.lookup_current().is_some() || event.parent().is_some();
        if self.json && in_span {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut staged = |line: &mut String| -> fmt::Result {
            line.clear();
            self.inner.format_event(ctx, Writer::new(line), event)?;
            let (at, insert) = if self.json {
                // Before the object's closing brace.
                let Some(at) = line.trim_end().strip_suffix('}').map(str::len) else {
                    return writer.write_str(line);
                };
                (at, format!(",\"span\":{}", json_span(&log)))
            } else {
                // After the timestamp and level, as the first span.
                let level = level_text(event.metadata().level());
                let Some(at) = line.find(&format!(" {level} ")).map(|i| i + level.len() + 2) else {
                    return writer.write_str(line);
                };
                let mut text = String::with_capacity(128);
                text.push_str("request{");
                text_fields(&log, &mut text)?;
                text.push_str("}:");
                if !in_span {
                    text.push(' ');
                }
                (at, text)
            };
            line.insert_str(at, &insert);
            writer.write_str(line)
        };
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                let result = staged(&mut line);
                if line.capacity() > 16 << 10 {
                    *line = String::new();
                }
                result
            }
            Err(_) => staged(&mut String::new()),
        })
    }
}

/// The level as the full text format writes it without colour.
fn level_text(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::TRACE => "TRACE",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::INFO => " INFO",
        tracing::Level::WARN => " WARN",
        _ => "ERROR",
    }
}

/// The span's fields as [`LogFields`](super::LogFields) writes them: a
/// `Display` value as it displays, a string as `Debug` quotes it.
fn text_fields(log: &RequestLog, out: &mut String) -> fmt::Result {
    write!(
        out,
        "audit_id={} method={} path={:?}",
        log.audit_id(),
        log.method(),
        log.path()
    )?;
    log.with_learned(|user, decision| {
        if let Some((user, owner)) = user {
            write!(out, " user={user:?} owner={owner:?}")?;
        }
        if let Some(decision) = decision {
            write!(out, " decision={decision:?}")?;
        }
        Ok(())
    })
}

/// The span as the JSON format writes it: its fields in the order they
/// were recorded, then its name.
fn json_span(log: &RequestLog) -> serde_json::Value {
    let mut span = serde_json::Map::new();
    span.insert("audit_id".into(), log.audit_id().to_string().into());
    span.insert("method".into(), log.method().as_str().into());
    span.insert("path".into(), log.path().into());
    log.with_learned(|user, decision| {
        if let Some((user, owner)) = user {
            span.insert("user".into(), user.into());
            span.insert("owner".into(), owner.into());
        }
        if let Some(decision) = decision {
            span.insert("decision".into(), decision.into());
        }
    });
    span.insert("name".into(), "request".into());
    serde_json::Value::Object(span)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tollgate_kube::AuditId;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::logs::tests::Buf;
    use crate::logs::{JsonLogFields, LogFields};

    /// What a request logs: a line before authentication, one after it
    /// and the decision, one inside another span.
    fn log_lines(id: &AuditId, path: &str, user: &str, owner: &str, spanless: bool) {
        let method = http::Method::POST;
        let uri: http::Uri = path.parse().unwrap();
        let in_request = |user: &dyn Fn(), decision: &dyn Fn()| {
            tracing::info!(n = 1, "before");
            user();
            decision();
            tracing::warn!("after");
            tracing::info_span!("inner", x = 2).in_scope(|| tracing::error!("inside"));
        };
        if spanless {
            let log = RequestLog::new(id, &method, &uri);
            log.in_scope(|| {
                in_request(&|| log.record_user(user, owner), &|| log.record_decision("deny"));
            });
        } else {
            let span = tracing::info_span!(
                "request",
                audit_id = %id,
                method = %method,
                path = uri.path(),
                user = tracing::field::Empty,
                owner = tracing::field::Empty,
                decision = tracing::field::Empty,
            );
            span.in_scope(|| {
                in_request(
                    &|| {
                        span.record("user", user);
                        span.record("owner", owner);
                    },
                    &|| {
                        span.record("decision", "deny");
                    },
                );
            });
        }
        tracing::info!("outside");
    }

    fn text(id: &AuditId, path: &str, user: &str, owner: &str, spanless: bool) -> String {
        let buf = Buf::default();
        let format = tracing_subscriber::fmt::format().with_ansi(false);
        let sub = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .event_format(RequestFields::text(format))
                .fmt_fields(LogFields)
                .with_writer(buf.clone()),
        );
        tracing::subscriber::with_default(sub, || log_lines(id, path, user, owner, spanless));
        strip_times(&buf.text())
    }

    fn json(id: &AuditId, path: &str, user: &str, owner: &str, spanless: bool) -> String {
        let buf = Buf::default();
        let format = tracing_subscriber::fmt::format()
            .json()
            .with_current_span(true)
            .with_span_list(false);
        let sub = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .event_format(RequestFields::json(format))
                .fmt_fields(JsonLogFields)
                .with_writer(buf.clone()),
        );
        tracing::subscriber::with_default(sub, || log_lines(id, path, user, owner, spanless));
        buf.text()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("timestamp");
                serde_json::to_string(&v).unwrap() + "\n"
            })
            .collect()
    }

    /// Each line without its leading timestamp (up to the first space).
    fn strip_times(s: &str) -> String {
        s.lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned() + "\n")
            .collect()
    }

    #[test]
    fn a_line_reads_as_with_the_span() {
        let id = AuditId::random();
        let spanless = text(&id, "/api/v1/namespaces/a/pods?watch=1", "ci-bot", "payments", true);
        assert_eq!(
            spanless,
            text(&id, "/api/v1/namespaces/a/pods?watch=1", "ci-bot", "payments", false)
        );
        assert!(
            spanless.contains(&format!(
                "WARN request{{audit_id={id} method=POST path=\"/api/v1/namespaces/a/pods\" user=\"ci-bot\" owner=\"payments\" decision=\"deny\"}}: tollgate_metrics::logs::request::tests: after"
            )),
            "{spanless}"
        );
        assert!(
            spanless.contains("INFO tollgate_metrics::logs::request::tests: outside"),
            "{spanless}"
        );
        let spanless = json(&id, "/x", "ci-bot", "payments", true);
        assert_eq!(spanless, json(&id, "/x", "ci-bot", "payments", false));
        assert!(
            spanless.contains(&format!(
                r#""span":{{"audit_id":"{id}","method":"POST","path":"/x","user":"ci-bot","owner":"payments","decision":"deny","name":"request"}}"#
            )),
            "{spanless}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Byte for byte the span's lines, for any user, owner and path
        /// (quotes, backslashes, control characters, terminal escapes,
        /// non-ASCII).
        #[test]
        fn written_as_the_span_is_written(
            user in prop_oneof!["[ -~]{0,20}", "\\PC{0,10}", any::<String>(), Just("\u{1b}[31mred".to_owned())],
            owner in "\\PC{0,10}",
            segment in "[a-zA-Z0-9%._~-]{0,12}",
        ) {
            let id = AuditId::random();
            let path = format!("/api/{segment}");
            prop_assert_eq!(text(&id, &path, &user, &owner, true), text(&id, &path, &user, &owner, false));
            prop_assert_eq!(json(&id, &path, &user, &owner, true), json(&id, &path, &user, &owner, false));
        }
    }
}
