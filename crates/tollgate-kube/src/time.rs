//! Durations and times as operators write them, with one grammar
//! everywhere Tollgate reads them (policy files, `--since`, `--ttl`, review
//! windows): durations like `90s`, `15m`, `1h30m`, `2d` or a bare number of
//! seconds (humantime's grammar), times in RFC 3339 with `Z` or any offset
//! (`2026-12-02T10:00:00+01:00`, read with jiff).
//!
//! ```
//! use std::time::Duration;
//! use tollgate_kube::time::{parse_duration, parse_timestamp};
//! assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
//! assert_eq!(parse_duration("90")?, Duration::from_secs(90));
//! assert_eq!(
//!     parse_timestamp("2026-12-02T10:00:00+01:00")?,
//!     parse_timestamp("2026-12-02T09:00:00Z")?,
//! );
//! assert!(parse_duration("soon").is_err());
//! # Ok::<_, tollgate_kube::Error>(())
//! ```

use std::time::Duration;

use crate::Error;

/// A duration: humantime's grammar (`90s`, `15m`, `1h30m`, `2d`, `1h 30m`)
/// or a bare number of seconds.
///
/// # Errors
/// [`Error::InvalidDuration`] naming the input.
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map(Duration::from_secs).map_err(|e| invalid_duration(s, &e));
    }
    humantime::parse_duration(t).map_err(|e| invalid_duration(s, &e))
}

fn invalid_duration(s: &str, e: &dyn std::fmt::Display) -> Error {
    Error::InvalidDuration {
        input: s.to_owned(),
        message: e.to_string(),
    }
}

/// An RFC 3339 time with `Z` or an offset, as the time since the Unix
/// epoch (microsecond precision is kept; times before 1970 are refused).
///
/// # Errors
/// [`Error::InvalidTime`] naming the input.
pub fn parse_timestamp(s: &str) -> Result<Duration, Error> {
    let invalid = |message: String| Error::InvalidTime {
        input: s.to_owned(),
        message,
    };
    let ts: jiff::Timestamp = s.trim().parse().map_err(|e: jiff::Error| invalid(e.to_string()))?;
    let d = ts.duration_since(jiff::Timestamp::UNIX_EPOCH);
    Duration::try_from(d).map_err(|_| invalid("before 1970".to_owned()))
}

/// Formats a time since the Unix epoch as a Kubernetes MicroTime: RFC
/// 3339 in UTC with six fractional digits (`2026-07-25T17:20:00.123456Z`).
/// Times past the last second jiff has (in year 9999) are written as that
/// second, with their own microseconds.
pub fn format_micro_time(since_epoch: Duration) -> String {
    MicroTime::since_epoch(since_epoch).to_string()
}

/// A Kubernetes MicroTime's text (`2026-07-25T17:20:00.123456Z`), kept
/// inline: what [`format_micro_time`] writes, without allocating it. The
/// audit log writes two of these for every record.
///
/// ```
/// use std::time::Duration;
/// use tollgate_kube::time::MicroTime;
/// let t = MicroTime::since_epoch(Duration::from_micros(1_785_000_000_123_456));
/// assert_eq!(t.as_str(), "2026-07-25T17:20:00.123456Z");
/// assert_eq!(t.as_bytes().len(), 27);
/// assert_eq!(t.to_string(), t.as_str());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MicroTime([u8; 27]);

impl MicroTime {
    /// The time `since_epoch` after the Unix epoch.
    pub fn since_epoch(since_epoch: Duration) -> Self {
        thread_local! {
            /// The second last formatted on this thread and its text up to the
            /// fraction (`2026-07-25T17:20:00.`): records come many to a second.
            static SECOND: std::cell::Cell<Option<(u64, [u8; 20])>> = const { std::cell::Cell::new(None) };
        }
        let secs = since_epoch.as_secs();
        let prefix = match SECOND.get() {
            Some((cached, prefix)) if cached == secs => prefix,
            _ => {
                let prefix = second_prefix(secs);
                SECOND.set(Some((secs, prefix)));
                prefix
            }
        };
        let mut text = [b'Z'; 27];
        text[..20].copy_from_slice(&prefix);
        let mut n = since_epoch.subsec_micros();
        for d in text[20..26].iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        MicroTime(text)
    }

    /// Now, by the system clock (the Unix epoch for a clock set before it).
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        MicroTime::since_epoch(since)
    }

    /// The text's bytes: ASCII digits and punctuation, nothing a JSON
    /// string needs escaped.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // ASCII digits and punctuation: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for MicroTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for MicroTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MicroTime({})", self.as_str())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` of second `secs` since the epoch, digits written
/// directly (a `strftime` costs a microsecond); past jiff's last second
/// (in year 9999), that second.
fn second_prefix(secs: u64) -> [u8; 20] {
    let ts = i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::new(s, 0).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    let dt = jiff::tz::Offset::UTC.to_datetime(ts);
    let year = u32::try_from(dt.year()).unwrap_or(0).min(9999);
    let mut out = [0u8; 20];
    let mut at = 0;
    let mut num = |n: u32, width: u32, after: u8| {
        for p in (0..width).rev() {
            out[at] = b'0' + ((n / 10u32.pow(p)) % 10) as u8;
            at += 1;
        }
        out[at] = after;
        at += 1;
    };
    let two = |n: i8| u32::try_from(n).unwrap_or(0);
    num(year, 4, b'-');
    num(two(dt.month()), 2, b'-');
    num(two(dt.day()), 2, b'T');
    num(two(dt.hour()), 2, b':');
    num(two(dt.minute()), 2, b':');
    num(two(dt.second()), 2, b'.');
    out
}

/// Formats a time since the Unix epoch as RFC 3339 in UTC to the second
/// (`2026-11-27T15:40:00Z`), as Kubernetes writes `metav1.Time`.
pub fn format_time(since_epoch: Duration) -> String {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    let ts = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::MAX);
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_times_match_strftime() {
        for secs in [
            0u64,
            1,
            59,
            86_399,
            951_782_400,
            1_764_700_000,
            4_102_444_799,
            253_402_207_199,
        ] {
            for micros in [0u32, 1, 999_999, 123_456] {
                let d = Duration::new(secs, micros * 1000);
                let ts = jiff::Timestamp::new(secs as i64, (micros * 1000) as i32).unwrap();
                assert_eq!(
                    format_micro_time(d),
                    ts.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string(),
                    "{secs}.{micros}"
                );
            }
        }
    }

    #[test]
    fn durations() {
        for (s, secs) in [
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("2d", 172_800),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("0", 0),
            ("45", 45),
        ] {
            assert_eq!(parse_duration(s).unwrap(), Duration::from_secs(secs), "{s}");
        }
        for s in ["", "soon", "-5m", "1x", "h"] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.to_string().contains(&format!("{s:?}")), "{e}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_time(Duration::from_secs(1_795_794_000)), "2026-11-27T15:40:00Z");
        assert_eq!(format_time(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_micro_time(Duration::from_micros(1_785_000_000_123_456)),
            "2026-07-25T17:20:00.123456Z"
        );
        assert_eq!(
            format_micro_time(Duration::new(253_402_300_800, 5_000)),
            "9999-12-30T22:00:00.000005Z"
        );
        // First on a thread of its own: nothing remembered yet.
        let max = std::thread::spawn(|| format_micro_time(Duration::MAX)).join().unwrap();
        assert_eq!(max, "9999-12-30T22:00:00.999999Z");
    }

    #[test]
    fn times_with_offsets() {
        let z = parse_timestamp("2026-07-25T17:20:00.123456Z").unwrap();
        assert_eq!(z.as_micros(), 1_785_000_000_123_456);
        assert_eq!(parse_timestamp("2026-07-25T19:20:00.123456+02:00").unwrap(), z);
        assert_eq!(parse_timestamp("2026-07-25T12:20:00.123456-05:00").unwrap(), z);
        for s in [
            "yesterday",
            "2026-07-25",
            "1969-12-31T23:59:59Z",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_timestamp(s).is_err(), "{s}");
        }
    }

    proptest::proptest! {
        /// Times in any order, a second repeated or not (the thread
        /// remembers the last one's text), are written as jiff writes them.
        #[test]
        fn micro_times_in_any_order_match_strftime(
            times in proptest::collection::vec((0u64..253_402_300_799, 0u32..1_000_000, proptest::bool::ANY), 1..20)
        ) {
            let mut last = 0;
            for (secs, micros, repeat) in times {
                let secs = if repeat { last } else { secs };
                last = secs;
                let ts = jiff::Timestamp::new(secs as i64, (micros * 1000) as i32).unwrap();
                let want = ts.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string();
                proptest::prop_assert_eq!(format_micro_time(Duration::new(secs, micros * 1000)), want.clone());
                // The inline text: the same bytes, none of which a JSON
                // string escapes (the audit log copies them unchecked).
                let inline = MicroTime::since_epoch(Duration::new(secs, micros * 1000));
                proptest::prop_assert_eq!(inline.as_bytes(), want.as_bytes());
                proptest::prop_assert!(crate::json_text::is_plain(inline.as_str()));
            }
        }

        #[test]
        fn never_panic(s in "\\PC{0,40}") {
            let _ = parse_duration(&s);
            let _ = parse_timestamp(&s);
        }
    }
}
