//! Finding an audit trail's files and reading a `--since` cutoff: what
//! every reader of the trail (the `sessions` commands, the access review)
//! needs before it opens a log.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ReadError;

/// The log files under `paths`, oldest first: files as given; for a
/// directory, every `*.log` and `*.log.gz` in it (rotated files included).
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
    fn a_missing_path_is_named() {
        let e = log_files(&[PathBuf::from("/nonexistent/audit.log")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/audit.log"), "{e}");
    }
}
