//! Finding an audit trail's files and reading a `--since` cutoff: what
//! every reader of the trail (the `sessions` commands, the access review)
//! needs before it opens a log.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::ReadError;

/// The log files under `paths`, oldest first: files as given (a FIFO
/// too, read as it comes); for a directory, every regular file in it named
/// `*.log` or `*.log.gz` (rotated files included; a FIFO, a device or a
/// subdirectory so named is passed over).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("audit.log"), "").unwrap();
/// std::fs::write(dir.path().join("audit-2026-12-01.log.gz"), "").unwrap();
/// std::fs::write(dir.path().join("notes.txt"), "").unwrap();
/// let files = tollgate_audit::log_files(&[dir.path().to_owned()]).unwrap();
/// assert_eq!(files.len(), 2);
/// ```
///
/// # Errors
/// [`ReadError::Io`] naming a path that does not exist or a directory that
/// cannot be listed.
pub fn log_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReadError> {
    let io = |p: &PathBuf, source| ReadError::Io {
        file: p.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| io(p, e))?
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.file_name()
                        .map(|n| n.to_string_lossy())
                        .is_some_and(|n| n.ends_with(".log") || n.ends_with(".log.gz"))
                })
                // Regular files (symlinks followed): a FIFO would hold its
                // open until something writes to it.
                .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file()))
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(io(p, std::io::ErrorKind::NotFound.into()));
        }
    }
    Ok(out)
}

/// A `--since` value as a time since the epoch: a duration ago (`30m`,
/// `1h30m`, `7d`) or an RFC 3339 time (`2026-11-27T11:00:00+01:00`).
///
/// ```
/// use tollgate_audit::since;
/// assert_eq!(since("2026-11-27T11:00:00+01:00"), since("2026-11-27T10:00:00Z"));
/// assert!(since("1h30m").is_some());
/// assert!(since("last tuesday").is_none());
/// ```
pub fn since(s: &str) -> Option<Duration> {
    if let Ok(ago) = tollgate_kube::time::parse_duration(s) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        return Some(now.saturating_sub(ago));
    }
    crate::parse_time(s)
}

/// Progress of a long read on standard error — records read, the file, the
/// rate — redrawn at most four times a second, and only when standard
/// error is a terminal (a pipe or a CI log gets nothing).
///
/// ```
/// let mut p = tollgate_audit::Progress::new(2);
/// p.file(std::path::Path::new("audit.log"));
/// p.record();
/// assert_eq!(p.records(), 1);
/// p.finish();
/// ```
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    files: usize,
    file: usize,
    name: String,
    records: u64,
    started: Instant,
    drawn: Instant,
}

impl Progress {
    /// For a read of `files` files.
    pub fn new(files: usize) -> Self {
        Self::to_terminal(files, std::io::stderr().is_terminal())
    }

    /// Shown only when `enabled` (tests).
    pub fn to_terminal(files: usize, enabled: bool) -> Self {
        let now = Instant::now();
        Progress {
            enabled,
            files,
            file: 0,
            name: String::new(),
            records: 0,
            started: now,
            drawn: now,
        }
    }

    /// The next file is being read.
    pub fn file(&mut self, path: &Path) {
        self.file += 1;
        self.name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.draw();
    }

    /// One more record read.
    pub fn record(&mut self) {
        self.records += 1;
        if self.enabled && self.records.is_multiple_of(1024) && self.drawn.elapsed() >= Duration::from_millis(250) {
            self.draw();
        }
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The current line, as drawn.
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        format!(
            "{} records · file {}/{} {} · {:.0} records/s",
            self.records,
            self.file,
            self.files,
            self.name,
            self.records as f64 / secs
        )
    }

    fn draw(&mut self) {
        if self.enabled {
            self.drawn = Instant::now();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{}", self.line());
            let _ = err.flush();
        }
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if self.enabled {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            self.enabled = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let ago = |s: &str| now.saturating_sub(since(s).unwrap()).as_secs();
        assert!((5399..=5401).contains(&ago("1h30m")));
        assert!((7 * 86_400 - 1..=7 * 86_400 + 1).contains(&ago("7d")));
        assert!(since("2x").is_none());
        assert_eq!(since("2026-11-27T11:00:00+01:00"), since("2026-11-27T10:00:00Z"));
    }

    #[test]
    fn progress_counts_and_names_the_file() {
        let mut p = Progress::to_terminal(3, false);
        p.file(Path::new("/var/log/tollgate/audit-1.log.gz"));
        for _ in 0..5 {
            p.record();
        }
        let line = p.line();
        assert!(line.starts_with("5 records · file 1/3 audit-1.log.gz · "), "{line}");
    }

    /// A directory's FIFO (a log shipper's pipe) or subdirectory named like
    /// a log is passed over: opening the FIFO waited for a writer forever
    /// (`tollgate sessions list --audit DIR` hung), and reading the
    /// directory failed the whole listing. A symlink to a log is read.
    #[cfg(target_os = "linux")]
    #[test]
    fn only_regular_files_of_a_directory_are_logs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("audit.log"), "").unwrap();
        std::fs::create_dir(dir.path().join("old.log")).unwrap();
        let fifo = dir.path().join("audit-pipe.log");
        crate::test_fifo(&fifo);
        std::os::unix::fs::symlink(dir.path().join("audit.log"), dir.path().join("linked.log")).unwrap();
        let files = log_files(&[dir.path().to_owned()]).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["audit.log", "linked.log"]);
        // Named on the command line, a FIFO is read (`--audit <(zcat …)`).
        assert_eq!(log_files(std::slice::from_ref(&fifo)).unwrap(), [fifo]);
    }

    #[test]
    fn a_missing_path_is_named() {
        let e = log_files(&[PathBuf::from("/nonexistent/audit.log")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/audit.log"), "{e}");
    }
}
