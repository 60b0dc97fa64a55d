//! JSON lines on disk: size-based rotation, a choice of durability with
//! group commit, and a reader that detects a torn last line (a write the
//! process did not finish) and skips it instead of misreading it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::direct::{Appended, Direct};
use super::{Sink, SinkError, io};
use crate::Event;
use crate::page_cache::{Rounds, release};

/// When a record counts as written (`none`, `batch` or `request` in a
/// configuration file). The API server's own log backend never syncs;
/// Tollgate's default does, at most [`FileOptions::sync_interval`] later.
///
/// | | a request is forwarded once its `RequestReceived` record is | a killed gateway loses | a power loss loses |
/// |---|---|---|---|
/// | `none` | queued | the records still queued or staged | the records not yet written back by the OS |
/// | `batch` | written (handed to the OS) | nothing it forwarded | at most the last `syncIntervalMs` |
/// | `request` | written and synced (one `fdatasync` per group of concurrent records) | nothing it forwarded | nothing it forwarded |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Queued: the request does not wait for its record (a crash may lose
    /// the latest records; a failing sink still refuses requests). On
    /// Linux, where the file system takes direct writes, the file sink
    /// stages the records and writes a mebibyte of whole blocks at a time
    /// around the page cache; what is staged is written through it after
    /// [`FileOptions::sync_interval`], at a [flush](crate::Recorder::flush)
    /// and before a rotation.
    None,
    /// Written before the request is forwarded; synced by group commit at
    /// most [`FileOptions::sync_interval`] later.
    #[default]
    Batch,
    /// Written and synced before the request is forwarded; records that
    /// arrive together share one `fdatasync` (group commit).
    Request,
}

impl Durability {
    /// Whether a request waits for its record to reach the sink (all but
    /// `none`).
    pub fn waits(self) -> bool {
        self != Durability::None
    }
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Durability::None),
            "batch" => Ok(Durability::Batch),
            "request" => Ok(Durability::Request),
            other => Err(format!("unknown durability {other:?} (none, batch or request)")),
        }
    }
}

/// How a [`FileSink`] writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FileOptions {
    /// Rotate when the file would grow past this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotated files kept (older ones are deleted; 0: keep all).
    pub max_backups: usize,
    /// When a record counts as written.
    pub durability: Durability,
    /// With [`Durability::Batch`], the longest a written record waits to
    /// be synced to disk (default 100 ms): the window a power loss can
    /// take. With every durability, how often written pages are handed
    /// back to the OS (see [`FileSink`]).
    pub sync_interval: Duration,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            max_bytes: 100 * 1024 * 1024,
            max_backups: 100,
            durability: Durability::Batch,
            sync_interval: Duration::from_millis(100),
        }
    }
}

impl FileOptions {
    /// Rotate past this many bytes (0: never).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    /// Rotated files kept (0: all).
    pub fn max_backups(mut self, n: usize) -> Self {
        self.max_backups = n;
        self
    }

    /// When a record counts as written.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// With [`Durability::Batch`], the longest a record waits to be synced.
    pub fn sync_interval(mut self, d: Duration) -> Self {
        self.sync_interval = d;
        self
    }
}

#[derive(Debug)]
struct State {
    file: File,
    size: u64,
    /// Written since the last sync.
    dirty: bool,
    /// What the housekeeper advises next (see [`FileSink::start_housekeeper`]).
    rounds: Rounds,
    /// The housekeeper found nothing to do and waits for a write.
    idle: bool,
    /// With `durability: none`, where the file system takes them: direct
    /// writes of whole blocks, and the last partial block held
    /// ([`super::direct`]).
    direct: Option<Direct>,
}

impl State {
    /// Writes the bytes the direct writer holds through the page cache.
    fn write_held(&mut self) -> std::io::Result<()> {
        let Some(d) = self.direct.as_mut() else {
            return Ok(());
        };
        let held = d.held();
        if held.is_empty() {
            return Ok(());
        }
        self.file.write_all(held)?;
        self.size += held.len() as u64;
        d.clear_held();
        Ok(())
    }
}

/// How an idle housekeeper is woken: a write sets the flag (under its
/// mutex) and notifies. Apart from the state, so that a waiting
/// housekeeper does not keep the file open.
#[derive(Debug, Default)]
struct Wake {
    written: Mutex<bool>,
    cond: Condvar,
}

/// How long an idle housekeeper waits for a write before it looks whether
/// the sink is gone.
const IDLE_CHECK: Duration = Duration::from_secs(5);

impl Drop for State {
    fn drop(&mut self) {
        // What a `none` log staged is written (not synced: `none`).
        let _ = self.write_held();
        // The last handle: what is written is synced before the file closes.
        if self.dirty {
            let _ = self.file.sync_data();
        }
    }
}

/// Appends records as JSON lines to a file.
///
/// What it wrote does not stay in the page cache: every
/// [`FileOptions::sync_interval`] a thread of the sink advises the OS that
/// the pages written since the round before last will not be read soon
/// (`POSIX_FADV_DONTNEED` on Linux), so a busy gateway's log neither fills
/// the memory of its cgroup with cache nor makes each write touch new
/// pages. A reader of the log (a shipper following it) still reads what
/// it missed, from disk.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tollgate_audit::{Event, FileOptions, FileSink, Level, Sink, Stage, read_log};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit.log");
/// let sink = FileSink::open(&path, FileOptions::default())?;
/// sink.write(&[Event::new("a1", Level::Metadata, Stage::ResponseComplete)]).await?;
/// let events: Vec<_> = read_log(&path)?.collect::<Result<_, _>>()?;
/// assert_eq!(events[0].audit_id, "a1");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileSink {
    path: PathBuf,
    options: FileOptions,
    /// It writes whole blocks directly ([`super::direct`]): on the writer
    /// thread only, since a direct write waits for the device.
    direct: bool,
    state: Arc<Mutex<State>>,
    wake: Arc<Wake>,
}

impl FileSink {
    /// Opens (or creates) the file for appending. A last line the previous
    /// process did not finish is closed with a newline so the next record
    /// starts on its own line; readers skip the torn one.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path, options: FileOptions) -> Result<Self, SinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", path, &e))?;
        }
        let mut file = open_log(path)?;
        let size = file.metadata().map_err(|e| io("reading", path, &e))?.len();
        if size > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(size - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| io("reading", path, &e))?;
            if last[0] != b'\n' {
                tracing::warn!(file = %path.display(), "the audit log ends with a torn record (the last write did not finish); it is kept and skipped by readers");
                file.write_all(b"\n").map_err(|e| io("writing", path, &e))?;
            }
        }
        let size = file.metadata().map_err(|e| io("reading", path, &e))?.len();
        let direct = (options.durability == Durability::None)
            .then(|| Direct::open(&file))
            .flatten();
        let sink = FileSink {
            path: path.to_owned(),
            options,
            direct: direct.is_some(),
            state: Arc::new(Mutex::new(State {
                file,
                size,
                dirty: false,
                rounds: Rounds::starting_at(size),
                idle: false,
                direct,
            })),
            wake: Arc::default(),
        };
        sink.start_housekeeper()?;
        Ok(sink)
    }

    /// A thread that, every `sync_interval` until the sink is dropped,
    /// syncs what was written (`batch`) and hands the written pages back
    /// to the OS (every durability).
    ///
    /// The sync and the advice run on a second handle of the file, outside
    /// the lock: writers are never held by them.
    ///
    /// Handing pages back: an audit log is written once and read later, if
    /// at all, so its pages are dropped from the page cache once they are
    /// on disk (`POSIX_FADV_DONTNEED`, as journald does with its archived
    /// journals). A round advises the bytes written since the round before
    /// last: the first advice of a range starts its write-back (`none`),
    /// the second drops it once it is clean (after `batch`'s sync or
    /// `request`'s, the first already does). This keeps a busy gateway's
    /// log from filling the page cache, which counts against the memory of
    /// its cgroup, and lets the next writes reuse the same pages: on a
    /// virtual machine, a page the guest never touched costs a fault in the
    /// hypervisor the first time, which made writing to a growing log 40
    /// times as expensive (`docs/performance.md`, fourteenth round).
    ///
    /// A housekeeper with nothing left to sync or advise sleeps until the
    /// next write: an idle gateway's does not wake ten times a second.
    fn start_housekeeper(&self) -> Result<(), SinkError> {
        let state = Arc::downgrade(&self.state);
        let wake = self.wake.clone();
        let every = self.options.sync_interval.max(Duration::from_millis(1));
        let path = self.path.clone();
        std::thread::Builder::new()
            // At most 15 bytes, what the kernel keeps of a thread's name
            // (`top -H`, `perf`, `/proc`): the writer and the sync thread
            // must not look alike there.
            .name("audit-sync".to_owned())
            .spawn(move || {
                // Until the file turns the advice down.
                let mut advise = true;
                loop {
                    std::thread::sleep(every);
                    let Some(state) = state.upgrade() else { return };
                    let (handle, sync, from, to) = {
                        let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
                        // The end of a block a direct writer held for a
                        // whole round: no more records came to complete it.
                        let waited = std::time::Instant::now().checked_sub(every);
                        if let Some(d) = &st.direct
                            && waited.is_some_and(|w| d.held_since_before(w))
                            && let Err(e) = st.write_held()
                        {
                            tracing::error!(file = %path.display(), error = %e, "writing the audit log failed");
                        }
                        let holding = st.direct.as_ref().is_some_and(|d| !d.held().is_empty());
                        let sync = std::mem::take(&mut st.dirty);
                        let size = st.size;
                        let (from, to) = st.rounds.next(size);
                        if !sync && from == to && !holding {
                            // Everything written was advised twice.
                            st.idle = true;
                            drop(st);
                            drop(state);
                            let written = wake.written.lock().unwrap_or_else(PoisonError::into_inner);
                            let mut written = wake
                                .cond
                                .wait_timeout_while(written, IDLE_CHECK, |w| !*w)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0;
                            *written = false;
                            continue;
                        }
                        (st.file.try_clone(), sync, from, to)
                    };
                    drop(state);
                    let handle = match handle {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::error!(file = %path.display(), error = %e, "syncing the audit log failed");
                            continue;
                        }
                    };
                    if sync && let Err(e) = handle.sync_data() {
                        tracing::error!(file = %path.display(), error = %e, "syncing the audit log failed");
                        continue;
                    }
                    if advise && let Err(e) = release(&handle, from, to) {
                        tracing::debug!(file = %path.display(), error = %e, "the audit log's pages cannot be handed back to the OS; they stay in the page cache");
                        advise = false;
                    }
                }
            })
            .map(drop)
            .map_err(|e| io("starting the sync thread of", &self.path, &e))
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether whole blocks go to the disk directly ([`super::direct`]).
    #[cfg(test)]
    pub(crate) fn writes_directly(&self) -> bool {
        self.direct
    }

    /// Makes the direct writes fail, through `read_only`.
    #[cfg(test)]
    pub(crate) fn break_direct_writes(&self, read_only: File) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = st.direct.as_mut() {
            d.fail_writes(read_only);
        }
    }

    /// Writes `buf` (whole lines), and syncs it with `request` durability.
    fn write_blocking(&self, buf: &[u8]) -> Result<(), SinkError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.rotates_before(&st, buf) {
            self.rotate(&mut st)?;
        }
        self.append(&mut st, buf)
    }

    /// Whether `buf` goes to a new file.
    fn rotates_before(&self, st: &State, buf: &[u8]) -> bool {
        // Bytes a direct writer holds are the file's too.
        let size = st.size + st.direct.as_ref().map_or(0, |d| d.held().len() as u64);
        self.options.max_bytes > 0 && size > 0 && size + buf.len() as u64 > self.options.max_bytes
    }

    /// Appends `buf` to the current file (and syncs it with `request`
    /// durability).
    fn append(&self, st: &mut State, buf: &[u8]) -> Result<(), SinkError> {
        let mut buf = buf;
        if let Some(d) = st.direct.as_mut() {
            match d.append(st.size, &mut st.file, buf) {
                Ok(Appended::Written(n)) => {
                    st.size += n;
                    buf = &[];
                }
                Ok(Appended::Moved) => {
                    // Truncated (`copytruncate`) or written by another
                    // process: what is held goes after whatever the file
                    // holds now, and the count starts again from its end.
                    st.write_held().map_err(|e| io("writing", &self.path, &e))?;
                    st.file.write_all(buf).map_err(|e| io("writing", &self.path, &e))?;
                    st.size = st.file.metadata().map_err(|e| io("reading", &self.path, &e))?.len();
                    buf = &[];
                }
                Err((e, taken, written)) => {
                    tracing::warn!(file = %self.path.display(), error = %e, "a direct write to the audit log failed: it is written through the page cache from now on");
                    st.size += written;
                    st.write_held().map_err(|e| io("writing", &self.path, &e))?;
                    st.direct = None;
                    buf = &buf[taken..];
                }
            }
        }
        let total = buf.len() as u64;
        st.file.write_all(buf).map_err(|e| io("writing", &self.path, &e))?;
        st.size += total;
        if std::mem::take(&mut st.idle) {
            *self.wake.written.lock().unwrap_or_else(PoisonError::into_inner) = true;
            self.wake.cond.notify_one();
        }
        match self.options.durability {
            // One sync for the whole batch: group commit.
            Durability::Request => st.file.sync_data().map_err(|e| io("syncing", &self.path, &e))?,
            Durability::Batch => st.dirty = true,
            Durability::None => {}
        }
        Ok(())
    }

    /// Renames the file to `<stem>-<time>.<ext>` and starts a new one;
    /// deletes the oldest backups beyond the limit.
    fn rotate(&self, st: &mut State) -> Result<(), SinkError> {
        // What a direct writer holds belongs to the file being rotated.
        st.write_held().map_err(|e| io("writing", &self.path, &e))?;
        if st.dirty {
            // What a rotated file holds is synced before it is renamed.
            st.file.sync_data().map_err(|e| io("syncing", &self.path, &e))?;
            st.dirty = false;
        }
        // The rotated file's pages are handed back (its write-back starts
        // now; the kernel drops what is still dirty later, by itself).
        let _ = release(&st.file, 0, st.size);
        // Only the file this sink writes is renamed. One another process
        // moved away (an outside logrotate) stays where it was put, and
        // whatever took its place is not renamed: a new log is started
        // (or refused, when the path now names a device).
        if names_file(&self.path, &st.file) {
            let stamp = crate::micro_time(SystemTime::now()).replace(':', "-");
            let backup = after_every(
                backup_name(&self.path, &stamp),
                &rotated_files(&self.path),
                &stem_and_ext(&self.path).1,
            );
            std::fs::rename(&self.path, &backup).map_err(|e| io("rotating", &self.path, &e))?;
        } else {
            tracing::warn!(file = %self.path.display(), "the audit log was moved or replaced by another process: it is not renamed, a new log is started at its path");
        }
        st.file = open_log(&self.path)?;
        if st.direct.is_some() {
            st.direct = Direct::open(&st.file);
        }
        st.size = 0;
        st.rounds = Rounds::default();
        if self.options.max_backups > 0 {
            let mut backups = rotated_files(&self.path);
            while backups.len() > self.options.max_backups {
                let old = backups.remove(0);
                if let Err(e) = std::fs::remove_file(&old) {
                    tracing::warn!(file = %old.display(), error = %e, "cannot delete an old audit log");
                }
            }
        }
        Ok(())
    }
}

/// Opens (or creates) the log at `path` for appending: a regular file
/// only, symlinks followed. A device, a FIFO, a socket or a directory is
/// refused, naming what it is: rotation renames the log, and renaming
/// `/dev/null` would leave a regular file where every process expects the
/// device (records that must go nowhere have no place in an audit log;
/// `stdout: true` writes them to standard output). On Linux the file is
/// opened without blocking, so a FIFO with no reader is refused rather
/// than holding the open.
fn open_log(path: &Path) -> Result<File, SinkError> {
    if let Ok(m) = std::fs::metadata(path) {
        regular(path, &m)?;
    }
    let file = super::open_appended(
        OpenOptions::new().create(true).append(true).read(true),
        path,
        "the audit log",
        true,
    )?;
    // The path may have changed between the look and the open.
    regular(path, &file.metadata().map_err(|e| io("reading", path, &e))?)?;
    #[cfg(target_os = "linux")]
    {
        let flags = rustix::fs::fcntl_getfl(&file).map_err(|e| io("opening", path, &e.into()))?;
        rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)
            .map_err(|e| io("opening", path, &e.into()))?;
    }
    Ok(file)
}

/// `Ok` when `m` is a regular file's; otherwise an error naming `path` and
/// what it is.
fn regular(path: &Path, m: &std::fs::Metadata) -> Result<(), SinkError> {
    let t = m.file_type();
    if t.is_file() {
        return Ok(());
    }
    let what = if t.is_dir() { "a directory" } else { special_kind(t) };
    Err(SinkError::Io(format!(
        "the audit log {} is {what}, not a regular file: rotation would rename it (name a file; for records on standard output, set `stdout: true`)",
        path.display()
    )))
}

/// What a file that is neither a regular file nor a directory is.
#[cfg(unix)]
fn special_kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: std::fs::FileType) -> &'static str {
    "a special file"
}

/// Whether `path` (symlinks followed) is the file `file` has open.
#[cfg(unix)]
fn names_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(p), Ok(f)) => p.dev() == f.dev() && p.ino() == f.ino(),
        _ => false,
    }
}

/// Whether `path` still names a file (where files cannot be told apart).
#[cfg(not(unix))]
fn names_file(path: &Path, _: &File) -> bool {
    std::fs::metadata(path).is_ok()
}

/// The log's name before its extension, and its extension with the dot
/// (`audit`, `.log`): a backup's name is made of them.
fn stem_and_ext(path: &Path) -> (String, String) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (stem, ext)
}

fn backup_name(path: &Path, stamp: &str) -> PathBuf {
    let (stem, ext) = stem_and_ext(path);
    path.with_file_name(format!("{stem}-{stamp}{ext}"))
}

/// `name`, or, when an existing backup's name sorts at or after it (the
/// clock stepped back, or two rotations in one microsecond), the newest
/// backup's name with `1` appended to its stamp (before the log's
/// extension `ext`, with its dot; the stamp's own dot is not one): the
/// names keep sorting in the order the files were rotated, so the oldest
/// are deleted first and none is renamed over.
fn after_every(name: PathBuf, backups: &[PathBuf], ext: &str) -> PathBuf {
    let Some(newest) = backups.last().filter(|newest| **newest >= name) else {
        return name;
    };
    let newest_name = newest.file_name().unwrap_or_default().to_string_lossy();
    let stamped = newest_name.strip_suffix(ext).unwrap_or(&newest_name);
    newest.with_file_name(format!("{stamped}1{ext}"))
}

/// The rotated files of a log, in the order they were rotated (their names
/// sort by time, and [`after_every`] keeps it so when the clock does not).
pub(crate) fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (stem, ext) = stem_and_ext(path);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| is_backup_name(n, &stem, &ext))
        })
        .collect();
    out.sort();
    out
}

/// Whether `name` is what [`backup_name`] and [`after_every`] name a
/// backup of the log `<stem><ext>`: `<stem>-YYYY-MM-DDTHH-MM-SS.ffffffZ`,
/// any number of `1`s, then `<ext>` — nothing else in the directory is
/// one of its backups (or deleted as one).
fn is_backup_name(name: &str, stem: &str, ext: &str) -> bool {
    const STAMP: &[u8; 27] = b"0000-00-00T00-00-00.000000Z";
    let Some(rest) = name
        .strip_prefix(stem)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(ext))
    else {
        return false;
    };
    let Some((stamp, ones)) = rest.as_bytes().split_at_checked(STAMP.len()) else {
        return false;
    };
    let stamp_fits = stamp
        .iter()
        .zip(STAMP)
        .all(|(c, want)| if *want == b'0' { c.is_ascii_digit() } else { c == want });
    stamp_fits && ones.iter().all(|&c| c == b'1')
}

/// Writes on the calling thread (one `write` per batch, and the `request`
/// sync): the [`Recorder`](crate::Recorder)'s writer thread, or, for a
/// batch [`Sink::write_lines_now`] takes, the task of a request waiting
/// for its record.
#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        BUFFER.with_borrow_mut(|buf| {
            buf.clear();
            for e in batch {
                crate::json_line::write_event(e, buf).map_err(|e| SinkError::Io(e.to_string()))?;
                buf.push(b'\n');
            }
            let result = self.write_blocking(buf);
            if buf.capacity() > MAX_KEPT_BUFFER {
                *buf = Vec::new();
            }
            result
        })
    }

    fn takes_lines(&self) -> bool {
        true
    }

    async fn write_lines(&self, lines: &[u8]) -> Result<(), SinkError> {
        self.write_blocking(lines)
    }

    /// With `batch` or `none` durability, the `write` to the operating
    /// system; not with `request` (its sync waits for the disk), nor with
    /// direct writes (they wait for it too), nor when the batch would
    /// start a new file (a rotation syncs, renames and deletes): those go
    /// to the writer thread.
    fn write_lines_now(&self, lines: &[u8]) -> Option<Result<(), SinkError>> {
        if !self.writes_now() {
            return None;
        }
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.rotates_before(&st, lines) {
            return None;
        }
        Some(self.append(&mut st, lines))
    }

    fn writes_now(&self) -> bool {
        self.options.durability != Durability::Request && !self.direct
    }

    /// Writes what a `none` log writing directly has staged through the
    /// page cache.
    async fn flush(&self) -> Result<(), SinkError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.write_held().map_err(|e| io("writing", &self.path, &e))
    }
}

/// The most buffer capacity a writer thread keeps between batches.
const MAX_KEPT_BUFFER: usize = 4 << 20;

thread_local! {
    /// The batch being written, reused from batch to batch.
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A line of a log that is not a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file cannot be read.
    #[error("cannot read {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a complete record: a torn write, or not an audit log.
    #[error("{file}:{line}: not an audit record ({message}){}", if *.torn { " — a torn write, skipped" } else { "" })]
    Line {
        /// The file.
        file: String,
        /// The line number.
        line: usize,
        /// Why it does not parse.
        message: String,
        /// The line has no newline after it or was closed by a later
        /// writer: a write that did not finish.
        torn: bool,
    },
}

/// The longest audit record a reader takes: a record's objects are capped
/// when written (1 MiB each by default), so a longer line was not written
/// by Tollgate; it is skipped (reported as a bad line), never held whole.
pub const MAX_RECORD_LINE_BYTES: usize = 8 * 1024 * 1024;

/// One line of a reader, read with a cap.
enum LineRead {
    Eof,
    /// The line (with its newline, if it had one) is in the buffer.
    Line,
    /// Longer than the cap: consumed up to its newline, not kept.
    TooLong,
}

/// Reads the next line into `buf` (cleared first), holding at most `max`
/// bytes of it; a longer line is read past and dropped.
fn read_line_capped(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max.saturating_add(1) {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            break;
        }
    }
    Ok(match (any, too_long) {
        (false, _) => LineRead::Eof,
        (true, true) => LineRead::TooLong,
        (true, false) => LineRead::Line,
    })
}

/// Lines of a reader with a cap on their length: `Ok(Some(line))`, or
/// `Ok(None)` for a line longer than the cap (read past, never held).
///
/// ```
/// let text = format!("short\n{}\nlast", "x".repeat(100));
/// let lines: Vec<_> = tollgate_audit::BoundedLines::new(text.as_bytes(), 10)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(lines, [Some("short".to_owned()), None, Some("last".to_owned())]);
/// ```
#[derive(Debug)]
pub struct BoundedLines<R> {
    reader: R,
    max: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> BoundedLines<R> {
    /// Lines of `reader`, each at most `max` bytes.
    pub fn new(reader: R, max: usize) -> Self {
        BoundedLines {
            reader,
            max,
            buf: Vec::new(),
        }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = std::io::Result<Option<String>>;

    fn next(&mut self) -> Option<Self::Item> {
        match read_line_capped(&mut self.reader, &mut self.buf, self.max) {
            Err(e) => Some(Err(e)),
            Ok(LineRead::Eof) => None,
            Ok(LineRead::TooLong) => Some(Ok(None)),
            Ok(LineRead::Line) => {
                let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                Some(
                    String::from_utf8(line.to_vec())
                        .map(Some)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
                )
            }
        }
    }
}

/// Reads records line by line; bad lines are reported as errors (the
/// caller decides whether to skip them), never half-read. Lines may be
/// gzip-compressed files too (by the `.gz` extension).
pub struct LogReader {
    file: String,
    lines: Box<dyn BufRead + Send>,
    line: usize,
    metadata_only: bool,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("file", &self.file)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// Opens an audit log for reading (`.gz` files are decompressed).
///
/// # Errors
/// When the file cannot be opened.
pub fn read_log(path: &Path) -> Result<LogReader, ReadError> {
    let file = path.display().to_string();
    let f = File::open(path).map_err(|source| ReadError::Io {
        file: file.clone(),
        source,
    })?;
    let lines: Box<dyn BufRead + Send> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f)))
    } else {
        Box::new(BufReader::new(f))
    };
    Ok(LogReader {
        file,
        lines,
        line: 0,
        metadata_only: false,
    })
}

impl LogReader {
    /// Reads records without their `requestObject` and `responseObject`:
    /// read past, never decoded (for tools such as the access review that do
    /// not use them).
    pub fn metadata_only(mut self) -> Self {
        self.metadata_only = true;
        self
    }
}

impl Iterator for LogReader {
    type Item = Result<Event, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut buf = Vec::new();
            match read_line_capped(&mut self.lines, &mut buf, MAX_RECORD_LINE_BYTES) {
                Ok(LineRead::Eof) => return None,
                Ok(LineRead::Line) => {}
                Ok(LineRead::TooLong) => {
                    self.line += 1;
                    return Some(Err(ReadError::Line {
                        file: self.file.clone(),
                        line: self.line,
                        message: format!("longer than {MAX_RECORD_LINE_BYTES} bytes, skipped unread"),
                        torn: false,
                    }));
                }
                Err(source) => {
                    return Some(Err(ReadError::Io {
                        file: self.file.clone(),
                        source,
                    }));
                }
            }
            self.line += 1;
            let complete = buf.last() == Some(&b'\n');
            let text = buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let parsed = if self.metadata_only {
                crate::event::without_objects(|| serde_json::from_slice::<Event>(text))
            } else {
                serde_json::from_slice::<Event>(text)
            };
            return Some(parsed.map_err(|e| ReadError::Line {
                file: self.file.clone(),
                line: self.line,
                message: e.to_string(),
                torn: !complete || e.is_eof(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Level, Stage};

    /// Writes three records into the log at `path`, rotated past
    /// `max_bytes` and keeping one backup: its backups after.
    async fn three_records_one_backup(path: &Path, max_bytes: u64) -> Vec<PathBuf> {
        let options = FileOptions::default().max_bytes(max_bytes).max_backups(1);
        let sink = FileSink::open(path, options).unwrap();
        for i in 0..3 {
            sink.write(&[ev(&format!("e{i}"))]).await.unwrap();
        }
        rotated_files(path)
    }

    fn ev(id: &str) -> Event {
        Event::new(id, Level::Metadata, Stage::ResponseComplete)
    }

    #[tokio::test]
    async fn a_torn_last_line_is_skipped_never_misread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = FileSink::open(&path, FileOptions::default()).unwrap();
        sink.write(&[ev("one"), ev("two")]).await.unwrap();
        drop(sink);
        // A writer killed mid-record leaves half a line.
        let full = serde_json::to_string(&ev("three")).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&full.as_bytes()[..full.len() / 2]).unwrap();
        drop(f);
        let sink = FileSink::open(&path, FileOptions::default()).unwrap();
        sink.write(&[ev("four")]).await.unwrap();
        let read: Vec<_> = read_log(&path).unwrap().collect();
        let ids: Vec<String> = read
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|e| e.audit_id.clone())
            .collect();
        assert_eq!(ids, ["one", "two", "four"]);
        let bad: Vec<_> = read.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(bad.len(), 1);
        assert!(bad[0].to_string().contains(":3: not an audit record"), "{}", bad[0]);
        assert!(bad[0].to_string().contains("torn"), "{}", bad[0]);
    }

    #[test]
    fn long_lines_are_skipped_unread_and_objects_can_be_left_undecoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut with_body = ev("one");
        with_body.request_object = Some(serde_json::json!({"kind": "Pod", "spec": {"x": 1}}));
        let mut text = serde_json::to_string(&with_body).unwrap();
        text.push('\n');
        // Issue 13, point 7: a line far longer than any record Tollgate writes.
        text.push_str(&format!("{{\"x\":\"{}\"}}\n", "y".repeat(MAX_RECORD_LINE_BYTES + 10)));
        text.push_str(&serde_json::to_string(&ev("three")).unwrap());
        text.push('\n');
        std::fs::write(&path, text).unwrap();

        let all: Vec<_> = read_log(&path).unwrap().collect();
        assert_eq!(all.len(), 3);
        assert!(all[0].as_ref().unwrap().request_object.is_some());
        let err = all[1].as_ref().unwrap_err().to_string();
        assert!(err.contains(":2:") && err.contains("longer than"), "{err}");
        assert_eq!(all[2].as_ref().unwrap().audit_id, "three");

        let light: Vec<_> = read_log(&path).unwrap().metadata_only().collect();
        let first = light[0].as_ref().unwrap();
        assert_eq!(first.audit_id, "one");
        assert!(first.request_object.is_none(), "objects are read past");
        // The flag does not outlive the reader's call.
        let again: Event = serde_json::from_str(&serde_json::to_string(&with_body).unwrap()).unwrap();
        assert!(again.request_object.is_some());
    }

    /// A request's task writes a batch only when that is one `write`:
    /// not when the batch would start a new file (a rotation syncs,
    /// renames and deletes), never with `request` durability (a sync).
    #[test]
    fn a_batch_that_would_rotate_or_sync_is_left_to_the_writer_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let line = |n: usize| format!("{{\"n\":{n:>50}}}\n").into_bytes();
        let sink = FileSink::open(&path, FileOptions::default().max_bytes(100)).unwrap();
        assert!(sink.writes_now());
        assert!(matches!(sink.write_lines_now(&line(1)), Some(Ok(()))));
        assert!(sink.write_lines_now(&line(2)).is_none(), "the second would rotate");
        assert_eq!(std::fs::read(&path).unwrap(), line(1), "and was not written");
        assert!(rotated_files(&path).is_empty());

        let synced = dir.path().join("synced.log");
        let sink = FileSink::open(&synced, FileOptions::default().durability(Durability::Request)).unwrap();
        assert!(!sink.writes_now());
        assert!(sink.write_lines_now(&line(1)).is_none());
        assert_eq!(std::fs::metadata(&synced).unwrap().len(), 0);
    }

    /// Waiting requests writing their own records into a log that rotates
    /// under them: every record is in exactly one file, in queue order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_writing_their_records_into_a_rotating_log_lose_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let options = FileOptions::default().max_bytes(4000).max_backups(1000);
        let rec = crate::Recorder::new(
            FileSink::open(&path, options).unwrap(),
            crate::RecorderOptions::default(),
        );
        for round in 0..20 {
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let rec = rec.clone();
                    tokio::spawn(async move {
                        let mut e = ev(&format!("r{round:02}-{i:02}"));
                        e.stage = Stage::RequestReceived;
                        rec.record(e).await
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        }
        let backups = rotated_files(&path);
        assert!(backups.len() > 5, "it rotated: {backups:?}");
        let mut ids = Vec::new();
        for f in backups.iter().chain([&path]) {
            ids.extend(read_log(f).unwrap().map(|e| e.unwrap().audit_id));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 320, "each record once");
        assert_eq!(ids.len(), 320);
        // Rounds are sequential: every record of a round precedes the next's.
        let rounds: Vec<&str> = ids.iter().map(|i| &i[..3]).collect();
        assert!(rounds.windows(2).all(|w| w[0] <= w[1]), "{ids:?}");
    }

    /// A clock that stepped back (or two rotations in one microsecond)
    /// would name the new backup before the existing ones: the oldest would
    /// not be deleted first, and a backup could be renamed over. The new
    /// backup's name sorts after every existing one instead.
    #[tokio::test]
    async fn a_clock_that_stepped_back_deletes_the_oldest_backup_not_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        // Rotated when the clock read 2099.
        let future = dir.path().join("audit-2099-01-01T00-00-00.000000Z.log");
        std::fs::write(&future, "{}\n").unwrap();
        let backups = three_records_one_backup(&path, 300).await;
        assert_eq!(backups.len(), 1, "{backups:?}");
        assert!(!future.exists(), "the oldest backup is the one deleted");
        let name = backups[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("audit-2099-01-01T00-00-00.000000Z1"), "{name}");
        let kept: Vec<String> = read_log(&backups[0]).unwrap().map(|e| e.unwrap().audit_id).collect();
        assert_eq!(kept, ["e1"], "the newest rotated records are kept");
        let current: Vec<String> = read_log(&path).unwrap().map(|e| e.unwrap().audit_id).collect();
        assert_eq!(current, ["e2"]);
        // Backups are named one after another, never over one another.
        let a = after_every(
            dir.path().join("audit-2000.log"),
            &[dir.path().join("audit-2001.log")],
            ".log",
        );
        assert_eq!(a, dir.path().join("audit-20011.log"));
        let b = after_every(
            dir.path().join("audit-2002.log"),
            &[dir.path().join("audit-2001.log")],
            ".log",
        );
        assert_eq!(b, dir.path().join("audit-2002.log"));
        let c = after_every(dir.path().join("audit-2001"), &[dir.path().join("audit-2001")], "");
        assert_eq!(c, dir.path().join("audit-20011"));
    }

    /// Whether `/dev/null` is still the character device: what the tests
    /// below must leave in place.
    #[cfg(unix)]
    fn dev_null_is_intact() -> bool {
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata("/dev/null").is_ok_and(|m| m.file_type().is_char_device())
    }

    /// A log path that names a device, a FIFO or a directory is refused at
    /// start with the kind of file it is: rotating renames the log, and
    /// with `path: /dev/null` it renamed the device away and left a
    /// regular file in its place (found with the speed harness). The device
    /// is reached through a symlink here, so a failure renames the link,
    /// never `/dev/null`.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_log_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let null = dir.path().join("null.log");
        std::os::unix::fs::symlink("/dev/null", &null).unwrap();
        let e = FileSink::open(&null, FileOptions::default()).expect_err("a device is refused");
        assert!(e.to_string().contains("a character device, not a regular file"), "{e}");
        assert!(e.to_string().contains("null.log"), "{e}");
        assert!(dev_null_is_intact());

        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let e = FileSink::open(&sub, FileOptions::default()).expect_err("a directory is refused");
        assert!(e.to_string().contains("a directory, not a regular file"), "{e}");

        // A FIFO without a reader would hold a plain open forever.
        let fifo = dir.path().join("fifo.log");
        crate::test_fifo(&fifo);
        let (tx, rx) = std::sync::mpsc::channel();
        let f = fifo.clone();
        std::thread::spawn(move || tx.send(FileSink::open(&f, FileOptions::default()).err().map(|e| e.to_string())));
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("opening a FIFO returns at once")
            .expect("a FIFO is refused");
        assert!(e.contains("a FIFO, not a regular file"), "{e}");
    }

    /// Rotation renames the file the sink writes, and only that: a path
    /// another process moved away is not renamed again (a new file is
    /// started), and one replaced by a link to a device is left as it is
    /// and the write fails, naming it.
    #[cfg(unix)]
    /// A symlink at the log's path in a directory anyone can write to
    /// may have been planted there by anyone, to aim the records (written
    /// as the gateway's user, often root) at a file of their choosing: it
    /// is refused, and the file it names is left untouched. In a directory
    /// only its owner writes to, a symlink is the operator's and is
    /// followed.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_symlink_in_a_directory_anyone_can_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (victim, open) = crate::test_victim_and_shared_dir(dir.path());
        let planted = open.join("audit.log");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let e = FileSink::open(&planted, FileOptions::default()).expect_err("a planted link is refused");
        let e = e.to_string();
        assert!(e.contains("symbolic link") && e.contains("anyone can write to"), "{e}");
        assert!(e.contains("audit.log"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), crate::TEST_VICTIM);

        // The same in a directory of the operator's own is followed.
        let own = dir.path().join("own");
        std::fs::create_dir(&own).unwrap();
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o755)).unwrap();
        let target = dir.path().join("real.log");
        let link = own.join("audit.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let sink = FileSink::open(&link, FileOptions::default()).expect("an operator's link is followed");
        drop(sink);
        assert!(target.exists());

        // Without a link, a directory anyone can write to is used as before.
        let fresh = open.join("fresh.log");
        FileSink::open(&fresh, FileOptions::default()).expect("a new log there is created");
        assert!(!fresh.symlink_metadata().unwrap().file_type().is_symlink());
    }

    #[tokio::test]
    async fn rotation_renames_only_the_file_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        // Every write after the first starts a new file.
        let options = FileOptions::default().max_bytes(1).durability(Durability::None);
        let sink = FileSink::open(&path, options).unwrap();
        sink.write(&[ev("e0")]).await.unwrap();
        // Moved away (as an outside logrotate would): the rotation starts
        // a new file and leaves the moved one where it is.
        let moved = dir.path().join("moved.log");
        std::fs::rename(&path, &moved).unwrap();
        sink.write(&[ev("e1")]).await.unwrap();
        // `none` may hold the end of the last block.
        sink.flush().await.unwrap();
        let ids = |p: &Path| read_log(p).unwrap().map(|e| e.unwrap().audit_id).collect::<Vec<_>>();
        assert_eq!(ids(&moved), ["e0"]);
        assert_eq!(ids(&path), ["e1"]);
        assert!(rotated_files(&path).is_empty(), "{:?}", rotated_files(&path));
        // Replaced by a link to a device.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/null", &path).unwrap();
        let e = sink.write(&[ev("e2")]).await.expect_err("a device is not written to");
        assert!(e.to_string().contains("a character device, not a regular file"), "{e}");
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert!(rotated_files(&path).is_empty(), "{:?}", rotated_files(&path));
        assert!(dev_null_is_intact());
    }

    /// Only the log's own backups count against `maxBackups`: files an
    /// operator keeps beside the log whose names merely start like a
    /// backup's (an export, a compressed copy, a backup of another log
    /// with the same stem) are never deleted.
    #[tokio::test]
    async fn only_the_logs_own_backups_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let keep = [
            "audit-2024-archive.log",
            "audit-2001-01-01T00-00-00.000000Z.log.gz",
            "audit-2001-01-01T00-00-00.000000Z.json",
            "audit-2001-01-01T00-00-00.000000Z2.log",
            "audit-2001-01-01T00-00-00.000000.log",
            "audit-2001-01-01.log",
        ];
        for k in keep {
            std::fs::write(dir.path().join(k), b"kept\n").unwrap();
        }
        let old = dir.path().join("audit-2001-01-01T00-00-00.000000Z.log");
        std::fs::write(&old, b"").unwrap();
        let backups = three_records_one_backup(&path, 1).await;
        assert_eq!(backups.len(), 1, "{backups:?}");
        assert!(!old.exists(), "the oldest backup is deleted");
        for k in keep {
            assert!(dir.path().join(k).exists(), "{k} is kept");
        }
    }

    proptest::proptest! {
        /// Every name rotation gives a backup (any time, any number of
        /// `1`s after it) sorts after the one before and is recognised as
        /// a backup; no other name panics the check.
        #[test]
        fn the_names_rotation_gives_are_backups(
            micros in 0u64..253_402_300_799_999_999,
            ones in 0usize..4,
            stem in "[a-z][a-z.]{0,8}",
            ext in proptest::option::of("[a-z]{1,4}"),
            other in "\\PC{0,40}",
        ) {
            let file = match &ext {
                Some(e) => format!("{stem}.{e}"),
                None => stem.clone(),
            };
            let path = Path::new("/var/log/tollgate").join(&file);
            let stamp = crate::micro_time(std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros)).replace(':', "-");
            let (s, e) = stem_and_ext(&path);
            let mut name = backup_name(&path, &stamp);
            for _ in 0..ones {
                let next = after_every(name.clone(), std::slice::from_ref(&name), &e);
                proptest::prop_assert!(next > name, "{next:?} sorts after {name:?}");
                name = next;
            }
            let n = name.file_name().and_then(|n| n.to_str()).unwrap();
            proptest::prop_assert!(is_backup_name(n, &s, &e), "{n}");
            let _ = is_backup_name(&other, &s, &e);
        }
    }

    #[tokio::test]
    async fn rotates_by_size_and_keeps_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let options = FileOptions::default()
            .max_bytes(2000)
            .max_backups(2)
            .durability(Durability::None);
        let sink = FileSink::open(&path, options).unwrap();
        for i in 0..40 {
            sink.write(&[ev(&format!("e{i}"))]).await.unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // `none` may hold the end of the last block.
        sink.flush().await.unwrap();
        let backups = rotated_files(&path);
        assert_eq!(backups.len(), 2, "{backups:?}");
        assert!(std::fs::metadata(&path).unwrap().len() <= 2000);
        let mut ids = Vec::new();
        for f in backups.iter().chain([&path]) {
            ids.extend(read_log(f).unwrap().map(|e| e.unwrap().audit_id));
        }
        assert_eq!(ids.last().map(String::as_str), Some("e39"));
        let nums: Vec<usize> = ids.iter().map(|i| i[1..].parse().unwrap()).collect();
        assert!(
            nums.windows(2).all(|w| w[1] == w[0] + 1),
            "in order, none missing: {nums:?}"
        );
    }
}
