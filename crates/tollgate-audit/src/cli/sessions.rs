//! `tollgate sessions list | show | replay`: reading the audit trail and
//! terminal recordings as a reviewer would.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Error;
use crate::{Event, ReadError, Stage, log_files, parse_time, read_log, since};

/// Filters for `sessions list`.
#[derive(Debug, Default, Clone, clap::Args)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only this owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Only this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only since: a duration (30m, 2h, 1h30m, 7d) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only this verb.
    #[arg(long)]
    pub verb: Option<String>,
}

impl ListFilter {
    /// Filters on these.
    pub fn new(owner: Option<String>, user: Option<String>, since: Option<String>, verb: Option<String>) -> Self {
        ListFilter {
            owner,
            user,
            since,
            verb,
        }
    }
}

/// Reads every record, reporting unreadable lines on stderr (a torn last
/// write is expected after a crash and is skipped, never misread); with
/// `bodies: false` request and response objects are read past, not decoded.
fn records(paths: &[PathBuf], bodies: bool, mut each: impl FnMut(Event)) -> Result<(), Error> {
    let mut skipped = 0usize;
    for f in log_files(paths)? {
        let reader = read_log(&f)?;
        let reader = if bodies { reader } else { reader.metadata_only() };
        for r in reader {
            match r {
                Ok(e) => each(e),
                Err(e) => {
                    skipped += 1;
                    eprintln!("tollgate: skipped {e}");
                }
            }
        }
    }
    if skipped > 0 {
        eprintln!("tollgate: {skipped} line(s) were not audit records and were skipped");
    }
    Ok(())
}

/// The table `sessions list` prints: one row per request (its last stage).
///
/// # Errors
/// An [`Error`] when a log cannot be read or a filter is malformed.
pub fn list(paths: &[PathBuf], filter: &ListFilter, out: &mut impl Write) -> Result<(), Error> {
    let cutoff = filter
        .since
        .as_deref()
        .map(|s| {
            since(s).ok_or_else(|| Error::Argument {
                flag: "--since",
                value: s.to_owned(),
                message: "use a duration (30m, 2h, 1h30m, 7d) or an RFC 3339 time (2026-11-27T10:00:00Z, 2026-11-27T11:00:00+01:00)",
            })
        })
        .transpose()?;
    let mut last: BTreeMap<String, Event> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    records(paths, false, |e| {
        if !last.contains_key(&e.audit_id) {
            order.push(e.audit_id.clone());
        }
        let replace = last.get(&e.audit_id).is_none_or(|old| rank(e.stage) >= rank(old.stage));
        if replace {
            last.insert(e.audit_id.clone(), e);
        }
    })?;
    let mut rows = vec![[
        "RECEIVED".to_owned(),
        "AUDIT-ID".to_owned(),
        "OWNER".to_owned(),
        "USER".to_owned(),
        "VERB".to_owned(),
        "CODE".to_owned(),
        "DECISION".to_owned(),
        "COMMAND".to_owned(),
    ]];
    for id in order {
        let Some(e) = last.get(&id) else { continue };
        if filter.owner.as_deref().is_some_and(|o| e.tollgate("owner") != Some(o))
            || filter.user.as_deref().is_some_and(|u| e.user.username != u)
            || filter.verb.as_deref().is_some_and(|v| e.verb != v)
            || cutoff.is_some_and(|c| parse_time(&e.request_received_timestamp).is_some_and(|t| t < c))
        {
            continue;
        }
        let mut command = e.tollgate("command").unwrap_or("").to_owned();
        if e.tollgate("recording").is_some_and(|r| r.ends_with(".cast")) {
            command.push_str("  [recorded]");
        }
        rows.push([
            e.request_received_timestamp.get(..19).unwrap_or("").replace('T', " "),
            e.audit_id.clone(),
            e.tollgate("owner").unwrap_or("-").to_owned(),
            if e.user.username.is_empty() {
                "-".to_owned()
            } else {
                e.user.username.clone()
            },
            e.verb.clone(),
            e.code().map_or("-".to_owned(), |c| c.to_string()),
            e.tollgate("decision").unwrap_or("-").to_owned(),
            command,
        ]);
    }
    Ok(tollgate_kube::table::write(&rows, out)?)
}

fn rank(s: Stage) -> u8 {
    match s {
        Stage::RequestReceived => 0,
        Stage::ResponseStarted => 1,
        Stage::ResponseComplete => 2,
        Stage::Panic => 3,
    }
}

/// Prints every record of one request (bodies included, as recorded:
/// redacted).
///
/// # Errors
/// An [`Error`] when a log cannot be read or no record has this ID.
pub fn show(paths: &[PathBuf], id: &str, out: &mut impl Write) -> Result<(), Error> {
    let mut found = 0;
    let mut err = None;
    records(paths, true, |e| {
        if e.audit_id == id && err.is_none() {
            found += 1;
            // An Event always serializes: its maps have string keys.
            let text = serde_json::to_string_pretty(&e).unwrap_or_default();
            err = writeln!(out, "{text}").err();
        }
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    if found == 0 {
        return Err(Error::NotFound(id.to_owned()));
    }
    Ok(())
}

/// How a recording is played.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
#[non_exhaustive]
pub struct ReplayOptions {
    /// Playback speed (times faster).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// The longest single pause, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub max_idle: f64,
    /// The most time spent in pauses, in seconds; the rest plays at once.
    #[arg(long, default_value_t = 600.0)]
    pub max_total: f64,
    /// Write the recording as it is, terminal controls included (OSC,
    /// DCS and the like can set the clipboard or title of the terminal
    /// it is played in: only for recordings you trust).
    #[arg(long)]
    pub raw: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            speed: 1.0,
            max_idle: 2.0,
            max_total: 600.0,
            raw: false,
        }
    }
}

/// The longest line of a recording read (longer ones are skipped and
/// counted, never held).
pub const MAX_CAST_LINE_BYTES: usize = 1024 * 1024;

/// Plays an asciicast v2 file in the terminal with its timing. A recording
/// is what a container wrote, so by default only text, colours and cursor
/// movement reach the reviewer's terminal ([`super::terminal::Filter`]);
/// titles and markers are printed as text; each pause is capped at
/// `max_idle` and all of them at `max_total`.
///
/// # Errors
/// An [`Error`] when the file cannot be read or is not asciicast v2.
pub fn replay(file: &Path, options: ReplayOptions, out: &mut impl Write) -> Result<(), Error> {
    let name = file.display().to_string();
    let bad = |line: usize, message: String| Error::Recording {
        file: name.clone(),
        line,
        message,
    };
    let f = std::fs::File::open(file).map_err(|source| ReadError::Io {
        file: name.clone(),
        source,
    })?;
    let mut lines = crate::BoundedLines::new(std::io::BufReader::new(f), MAX_CAST_LINE_BYTES);
    let header = match lines.next() {
        None => return Err(bad(1, "empty file".to_owned())),
        Some(Err(e)) => return Err(bad(1, e.to_string())),
        Some(Ok(Some(h))) => h,
        Some(Ok(None)) => return Err(bad(1, format!("header longer than {MAX_CAST_LINE_BYTES} bytes"))),
    };
    let header: serde_json::Value =
        serde_json::from_str(&header).map_err(|e| bad(1, format!("not an asciicast header: {e}")))?;
    if header.get("version").and_then(serde_json::Value::as_u64) != Some(2) {
        return Err(bad(1, "not an asciicast v2 file".to_owned()));
    }
    if let Some(t) = header.get("title").and_then(serde_json::Value::as_str) {
        eprintln!("▶ {}", super::terminal::visible(t));
    }
    let speed = if options.speed.is_finite() && options.speed > 0.0 {
        options.speed
    } else {
        1.0
    };
    let max_idle = if options.max_idle.is_finite() {
        options.max_idle.max(0.0)
    } else {
        2.0
    };
    let mut budget = if options.max_total.is_finite() {
        options.max_total.max(0.0)
    } else {
        600.0
    };
    let mut filter = super::terminal::Filter::default();
    let mut shown = String::new();
    let mut last = 0.0f64;
    let mut markers = Vec::new();
    let mut skipped = 0usize;
    for (n, line) in lines.enumerate() {
        let Some(line) = line.map_err(|e| bad(n + 2, e.to_string()))? else {
            skipped += 1;
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let ev: (f64, String, String) =
            serde_json::from_str(&line).map_err(|e| bad(n + 2, format!("not an asciicast event: {e}")))?;
        // Times that go backwards or are not numbers wait nothing.
        let step = (ev.0 - last) / speed;
        let wait = if step.is_finite() {
            step.clamp(0.0, max_idle).min(budget)
        } else {
            0.0
        };
        if ev.0.is_finite() {
            last = ev.0;
        }
        if wait > 0.0 {
            budget -= wait;
            std::thread::sleep(Duration::from_secs_f64(wait));
        }
        match ev.1.as_str() {
            "o" => {
                if options.raw {
                    out.write_all(ev.2.as_bytes())?;
                } else {
                    shown.clear();
                    filter.feed(&ev.2, &mut shown);
                    out.write_all(shown.as_bytes())?;
                }
                out.flush()?;
            }
            "m" => markers.push(ev.2),
            _ => {}
        }
    }
    for m in markers {
        eprintln!("■ {}", super::terminal::visible(&m));
    }
    if skipped > 0 {
        eprintln!("tollgate: {skipped} line(s) longer than {MAX_CAST_LINE_BYTES} bytes were skipped");
    }
    Ok(())
}
