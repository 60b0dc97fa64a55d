//! `tollgate sessions list | show | replay`: reading the audit trail and
//! terminal recordings as a reviewer would.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tollgate_audit::{Event, Stage, parse_time, read_log};

/// Filters for `sessions list`.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only this owner.
    pub owner: Option<String>,
    /// Only this user.
    pub user: Option<String>,
    /// Only requests received after this (a duration like `2h`, or an RFC 3339 time).
    pub since: Option<String>,
    /// Only this verb.
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

/// The log files under `paths` (files as given; directories: every
/// `*.log`, `*.log.gz` and rotated file in them), oldest first.
pub fn log_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    let n = f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    n.ends_with(".log") || n.ends_with(".log.gz")
                })
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

/// Reads every record, reporting unreadable lines on stderr (a torn last
/// write is expected after a crash and is skipped, never misread).
fn records(paths: &[PathBuf], mut each: impl FnMut(Event)) -> Result<(), String> {
    let mut skipped = 0usize;
    for f in log_files(paths)? {
        for r in read_log(&f).map_err(|e| e.to_string())? {
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

/// `2h`, `30m`, `1d`, `45s` → a duration.
fn parse_ago(s: &str) -> Option<Duration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    Some(Duration::from_secs(
        n * match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        },
    ))
}

/// `--since`: a duration ago or an RFC 3339 time, as seconds since the epoch.
pub(crate) fn since_cutoff(s: &str) -> Result<Duration, String> {
    if let Some(ago) = parse_ago(s) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        return Ok(now.saturating_sub(ago));
    }
    parse_time(s).ok_or_else(|| {
        format!("--since {s:?}: use a duration (30m, 2h, 7d) or an RFC 3339 time (2026-11-27T10:00:00Z)")
    })
}

/// The table `sessions list` prints: one row per request (its last stage).
///
/// # Errors
/// A message when a log cannot be read or a filter is malformed.
pub fn list(paths: &[PathBuf], filter: &ListFilter, out: &mut impl Write) -> Result<(), String> {
    let cutoff = filter.since.as_deref().map(since_cutoff).transpose()?;
    let mut last: BTreeMap<String, Event> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    records(paths, |e| {
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
    crate::table::write(&rows, out)
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
/// A message when a log cannot be read or no record has this ID.
pub fn show(paths: &[PathBuf], id: &str, out: &mut impl Write) -> Result<(), String> {
    let mut found = 0;
    let mut err = None;
    records(paths, |e| {
        if e.audit_id == id {
            found += 1;
            if let Err(x) = serde_json::to_string_pretty(&e)
                .map_err(|x| x.to_string())
                .and_then(|t| writeln!(out, "{t}").map_err(|x| x.to_string()))
            {
                err = Some(x);
            }
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    if found == 0 {
        return Err(format!("no record with audit ID {id}"));
    }
    Ok(())
}

/// Plays an asciicast v2 file in the terminal with its timing (`speed`
/// times faster; pauses capped at two seconds).
///
/// # Errors
/// A message when the file cannot be read or is not asciicast v2.
pub fn replay(file: &Path, speed: f64, out: &mut impl Write) -> Result<(), String> {
    let f = std::fs::File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut lines = std::io::BufReader::new(f).lines();
    let header = lines
        .next()
        .ok_or_else(|| format!("{}: empty file", file.display()))?
        .map_err(|e| e.to_string())?;
    let header: serde_json::Value =
        serde_json::from_str(&header).map_err(|e| format!("{}:1: not an asciicast header: {e}", file.display()))?;
    if header.get("version").and_then(serde_json::Value::as_u64) != Some(2) {
        return Err(format!("{}:1: not an asciicast v2 file", file.display()));
    }
    if let Some(t) = header.get("title").and_then(serde_json::Value::as_str) {
        eprintln!("▶ {t}");
    }
    let speed = if speed > 0.0 { speed } else { 1.0 };
    let mut last = 0.0f64;
    let mut markers = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let ev: (f64, String, String) = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: not an asciicast event: {e}", file.display(), n + 2))?;
        let wait = ((ev.0 - last) / speed).clamp(0.0, 2.0);
        last = ev.0;
        if wait > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(wait));
        }
        match ev.1.as_str() {
            "o" => {
                out.write_all(ev.2.as_bytes()).map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
            }
            "m" => markers.push(ev.2),
            _ => {}
        }
    }
    for m in markers {
        eprintln!("■ {m}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_ago("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_ago("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_ago("2x"), None);
        assert!(since_cutoff("2026-11-27T10:00:00Z").is_ok());
        assert!(since_cutoff("last tuesday").unwrap_err().contains("--since"));
    }
}
