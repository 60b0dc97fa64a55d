//! `tollgate sessions list | show | replay`: reading the audit trail and
//! terminal recordings as a reviewer would.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Error;
use tollgate_kube::table::Streaming;

use crate::{Event, Progress, ReadError, Stage, log_files, parse_time, read_log, since};

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
/// Progress goes to stderr when it is a terminal.
fn records(paths: &[PathBuf], bodies: bool, mut each: impl FnMut(Event) -> Result<(), Error>) -> Result<(), Error> {
    let mut skipped = 0usize;
    let files = log_files(paths)?;
    if files.is_empty() {
        return Err(Error::Empty(paths_shown(paths), "no audit log (*.log, *.log.gz) there"));
    }
    let mut progress = Progress::new(files.len());
    for f in &files {
        progress.file(f);
        let reader = read_log(f)?;
        let reader = if bodies { reader } else { reader.metadata_only() };
        for r in reader {
            match r {
                Ok(e) => {
                    progress.record();
                    each(e)?;
                }
                Err(e) => {
                    skipped += 1;
                    progress.finish();
                    eprintln!("tollgate: skipped {e}");
                }
            }
        }
    }
    progress.finish();
    if skipped > 0 {
        eprintln!("tollgate: {skipped} line(s) were not audit records and were skipped");
    }
    if progress.records() == 0 {
        return Err(Error::Empty(paths_shown(paths), "no audit records in it"));
    }
    Ok(())
}

fn paths_shown(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How `sessions list` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum ListOutput {
    /// A table.
    #[default]
    Text,
    /// A JSON array of rows, written as it goes.
    Json,
}

/// Requests held waiting for their last record before the oldest is
/// printed as it stands: the bound on `sessions list`'s memory (a row is a
/// few hundred bytes, so a few MB), whatever the trail's length.
pub const LIST_WINDOW: usize = 10_000;

/// One request's row, as its records arrive.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    received: String,
    audit_id: String,
    owner: Option<String>,
    user: String,
    verb: String,
    code: Option<u16>,
    decision: Option<String>,
    command: String,
    recording: Option<String>,
    stage: Stage,
    #[serde(skip)]
    rank: u8,
}

impl Row {
    fn of(e: &Event) -> Row {
        Row {
            received: e.request_received_timestamp.clone(),
            audit_id: e.audit_id.clone(),
            owner: e.tollgate("owner").map(str::to_owned),
            user: e.user.username.clone(),
            verb: e.verb.clone(),
            code: e.code(),
            decision: e.tollgate("decision").map(str::to_owned),
            command: e.tollgate("command").unwrap_or("").to_owned(),
            recording: e
                .tollgate("recording")
                .filter(|r| r.ends_with(".cast"))
                .map(str::to_owned),
            stage: e.stage,
            rank: rank(e.stage),
        }
    }

    fn done(&self) -> bool {
        self.rank >= rank(Stage::ResponseComplete)
    }
}

/// The requests printed before their last record came: their later
/// records are skipped, and an ID is forgotten when its last record has
/// come. Bounded: past [`PrintedEarly::cap`] IDs the oldest are forgotten
/// (a record of one of those, if it ever comes, is listed as a row again).
struct PrintedEarly {
    ids: HashSet<String>,
    /// Insertion order, for forgetting the oldest; may still hold IDs
    /// already forgotten.
    order: VecDeque<String>,
    cap: usize,
}

impl PrintedEarly {
    fn new(window: usize) -> Self {
        PrintedEarly {
            ids: HashSet::new(),
            order: VecDeque::new(),
            cap: window.saturating_mul(10),
        }
    }

    /// Whether `e` belongs to a request printed early (forgetting it when
    /// this is its last record).
    fn seen(&mut self, e: &Event) -> bool {
        if !self.ids.contains(&e.audit_id) {
            return false;
        }
        if rank(e.stage) >= rank(Stage::ResponseComplete) {
            self.ids.remove(&e.audit_id);
        }
        true
    }

    fn insert(&mut self, id: String) {
        while self.order.len() >= self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        self.ids.insert(id.clone());
        self.order.push_back(id);
    }
}

/// Prints rows in the order their requests were first seen, each once its
/// last stage is in (or when [`LIST_WINDOW`] later requests have come).
struct Lister<'a, W: Write> {
    filter: &'a ListFilter,
    cutoff: Option<Duration>,
    order: VecDeque<String>,
    rows: HashMap<String, Row>,
    /// Requests printed before their last record (still open after the
    /// window): their later records are not printed again.
    printed_early: PrintedEarly,
    window: usize,
    table: Option<Streaming<8>>,
    json_started: bool,
    out: &'a mut W,
}

impl<W: Write> Lister<'_, W> {
    fn add(&mut self, e: &Event) -> Result<(), Error> {
        if self.printed_early.seen(e) {
            return Ok(());
        }
        match self.rows.get_mut(&e.audit_id) {
            Some(row) if rank(e.stage) >= row.rank => *row = Row::of(e),
            Some(_) => {}
            None => {
                self.order.push_back(e.audit_id.clone());
                self.rows.insert(e.audit_id.clone(), Row::of(e));
            }
        }
        while let Some(front) = self.order.front() {
            let finished = self.rows.get(front).is_none_or(Row::done);
            if !finished && self.order.len() <= self.window {
                break;
            }
            let Some(id) = self.order.pop_front() else { break };
            if !finished {
                self.printed_early.insert(id.clone());
            }
            if let Some(row) = self.rows.remove(&id) {
                self.print(&row)?;
            }
        }
        Ok(())
    }

    fn keeps(&self, r: &Row) -> bool {
        let f = self.filter;
        f.owner.as_deref().is_none_or(|o| r.owner.as_deref() == Some(o))
            && f.user.as_deref().is_none_or(|u| r.user == u)
            && f.verb.as_deref().is_none_or(|v| r.verb == v)
            && self
                .cutoff
                .is_none_or(|c| parse_time(&r.received).is_none_or(|t| t >= c))
    }

    fn print(&mut self, r: &Row) -> Result<(), Error> {
        if !self.keeps(r) {
            return Ok(());
        }
        if let Some(table) = self.table.as_mut() {
            let mut command = r.command.clone();
            if r.recording.is_some() {
                command.push_str("  [recorded]");
            }
            table.row(
                [
                    r.received.get(..19).unwrap_or("").replace('T', " "),
                    r.audit_id.clone(),
                    r.owner.clone().unwrap_or_else(|| "-".to_owned()),
                    if r.user.is_empty() {
                        "-".to_owned()
                    } else {
                        r.user.clone()
                    },
                    r.verb.clone(),
                    r.code.map_or("-".to_owned(), |c| c.to_string()),
                    r.decision.clone().unwrap_or_else(|| "-".to_owned()),
                    command,
                ],
                self.out,
            )?;
        } else {
            self.out.write_all(if self.json_started { b",\n" } else { b"[\n" })?;
            self.json_started = true;
            serde_json::to_writer(&mut *self.out, r).map_err(std::io::Error::from)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), Error> {
        while let Some(id) = self.order.pop_front() {
            if let Some(row) = self.rows.remove(&id) {
                self.print(&row)?;
            }
        }
        match self.table.take() {
            Some(t) => t.finish(self.out)?,
            None if self.json_started => self.out.write_all(b"\n]\n")?,
            None => self.out.write_all(b"[]\n")?,
        }
        Ok(())
    }
}

/// The table `sessions list` prints: one row per request (its last stage),
/// in the order requests were received, written as the trail is read — in
/// bounded memory ([`LIST_WINDOW`]), however long the trail.
///
/// # Errors
/// An [`Error`] when a log cannot be read, holds no records, or a filter
/// is malformed.
pub fn list(paths: &[PathBuf], filter: &ListFilter, out: &mut impl Write) -> Result<(), Error> {
    list_as(paths, filter, ListOutput::Text, out)
}

/// [`list`] in a chosen format.
///
/// # Errors
/// As [`list`].
pub fn list_as(paths: &[PathBuf], filter: &ListFilter, output: ListOutput, out: &mut impl Write) -> Result<(), Error> {
    list_windowed(paths, filter, output, LIST_WINDOW, out)
}

fn list_windowed(
    paths: &[PathBuf],
    filter: &ListFilter,
    output: ListOutput,
    window: usize,
    out: &mut impl Write,
) -> Result<(), Error> {
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
    let table = (output == ListOutput::Text).then(|| {
        Streaming::new([
            "RECEIVED", "AUDIT-ID", "OWNER", "USER", "VERB", "CODE", "DECISION", "COMMAND",
        ])
    });
    let mut lister = Lister {
        filter,
        cutoff,
        order: VecDeque::new(),
        rows: HashMap::new(),
        printed_early: PrintedEarly::new(window.max(1)),
        window: window.max(1),
        table,
        json_started: false,
        out,
    };
    records(paths, false, |e| lister.add(&e))?;
    lister.finish()
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
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn record(id: &str, stage: Stage, verb: &str, t: &str) -> String {
        let mut e = Event::new(id, Level::Metadata, stage);
        e.verb = verb.to_owned();
        e.request_received_timestamp = t.to_owned();
        e.user.username = "ci".to_owned();
        e.annotations
            .insert("tollgate.dev/command".to_owned(), format!("kubectl {verb} {id}"));
        if stage != Stage::RequestReceived {
            e.response_status = Some(serde_json::json!({"code": 200}));
        }
        serde_json::to_string(&e).unwrap()
    }

    fn trail(lines: &[String]) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("audit.log"), lines.join("\n") + "\n").unwrap();
        let paths = vec![dir.path().to_path_buf()];
        (dir, paths)
    }

    fn listed(paths: &[PathBuf], window: usize, output: ListOutput) -> String {
        let mut out = Vec::new();
        list_windowed(paths, &ListFilter::default(), output, window, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rows_come_in_received_order_once_each_even_past_the_window() {
        let t = "2026-12-03T10:00:00.000000Z";
        let (_dir, paths) = trail(&[
            record("watch-1", Stage::RequestReceived, "watch", t),
            record("watch-1", Stage::ResponseStarted, "watch", t),
            record("get-1", Stage::RequestReceived, "get", t),
            record("get-2", Stage::RequestReceived, "get", t),
            record("get-1", Stage::ResponseComplete, "get", t),
            record("get-3", Stage::ResponseComplete, "get", t),
            record("get-2", Stage::ResponseComplete, "get", t),
            // The watch ends long after: the window (2) has printed it.
            record("watch-1", Stage::ResponseComplete, "watch", t),
        ]);
        let text = listed(&paths, 2, ListOutput::Text);
        let ids: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().nth(2).unwrap())
            .collect();
        assert_eq!(ids, ["watch-1", "get-1", "get-2", "get-3"], "{text}");
        // With room for everything, the watch shows its last stage.
        let text = listed(&paths, 100, ListOutput::Text);
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.lines().nth(1).unwrap().contains(" 200 "), "{text}");
        let json: serde_json::Value = serde_json::from_str(&listed(&paths, 100, ListOutput::Json)).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 4);
        assert_eq!(json[0]["auditId"], "watch-1");
        assert_eq!(json[0]["stage"], "ResponseComplete");
        assert_eq!(json[0]["code"], 200);
    }

    #[test]
    fn requests_printed_early_are_forgotten_when_they_end_and_never_grow_past_the_cap() {
        let t = "2026-12-03T10:00:00.000000Z";
        let ev = |id: &str, stage: Stage| serde_json::from_str::<Event>(&record(id, stage, "watch", t)).unwrap();
        let filter = ListFilter::default();
        let mut out = Vec::new();
        let mut lister = Lister {
            filter: &filter,
            cutoff: None,
            order: VecDeque::new(),
            rows: HashMap::new(),
            printed_early: PrintedEarly::new(2),
            window: 2,
            table: None,
            json_started: false,
            out: &mut out,
        };
        // Watches that outlive the window of 2, then end.
        for i in 0..100 {
            lister.add(&ev(&format!("w{i}"), Stage::RequestReceived)).unwrap();
        }
        assert!(!lister.printed_early.ids.is_empty());
        for i in 0..100 {
            lister.add(&ev(&format!("w{i}"), Stage::ResponseComplete)).unwrap();
        }
        let held = lister.printed_early.ids.len();
        assert_eq!(held, 0, "ended requests are forgotten");
        // Requests that never end (a gateway killed mid-watch): at most the cap.
        for i in 0..1000 {
            lister.add(&ev(&format!("open{i}"), Stage::RequestReceived)).unwrap();
        }
        assert!(
            lister.printed_early.ids.len() <= 20,
            "{}",
            lister.printed_early.ids.len()
        );
        assert!(lister.printed_early.order.len() <= 20);
    }

    #[test]
    fn an_empty_or_mistyped_trail_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let e = list(&[dir.path().to_path_buf()], &ListFilter::default(), &mut out).unwrap_err();
        assert!(e.to_string().contains("no audit log"), "{e}");
        std::fs::write(dir.path().join("audit.log"), "").unwrap();
        let e = list(&[dir.path().to_path_buf()], &ListFilter::default(), &mut out).unwrap_err();
        assert!(e.to_string().contains("no audit records"), "{e}");
        let e = list(&[dir.path().join("audti.log")], &ListFilter::default(), &mut out).unwrap_err();
        assert!(e.to_string().contains("audti.log"), "{e}");
    }
}
