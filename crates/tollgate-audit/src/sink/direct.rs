//! Direct appends for a log written with `durability: none` (Linux): its
//! records are staged here, a mebibyte's whole blocks at a time go to the
//! disk without passing through the page cache (`O_DIRECT`), and what is
//! staged waits for more records or, after a sync interval, for the
//! sink's housekeeper to write it out through the page cache.
//!
//! Why: copying a record into the page cache, writing it back and dropping
//! the pages again cost this project's test machine ~0.6–0.75 ns of CPU a
//! byte, and a direct write of the same bytes in blocks ~0.2–0.4 ns
//! (`docs/performance.md`, twentieth round). A `none` log promises only
//! that records are queued, so holding less than a block for a moment
//! weakens nothing it says; `batch` and `request` write through the page
//! cache, since a direct write waits for the device and their writes run
//! before requests are forwarded.
//!
//! What a reader sees: the records of the last sync interval or the last
//! mebibyte may still be staged, and the log's end may fall inside a
//! record while the rest of it is staged. A reader that follows the log
//! waits for the line to end, as it must for any writer; this crate's
//! [`read_log`](super::read_log) skips a torn last line. A record someone
//! waits for ([`RecorderOptions::confirm`](crate::RecorderOptions)) and a
//! [flush](crate::Recorder::flush) write out what is staged.

use std::fs::File;
use std::io::Write;
use std::time::Instant;

/// How much is staged and written at most per direct write.
const STAGING: usize = 2 << 20;

/// How much is staged before it is written (the rest of a block stays).
const WRITE_AT: usize = if cfg!(test) { 8 << 10 } else { 1 << 20 };

/// The largest block taken (a file system with larger blocks is written
/// through the page cache).
const MAX_ALIGN: usize = 64 << 10;

/// The staging buffer's alignment in memory (a device asking for more is
/// written through the page cache).
const MEMORY_ALIGN: usize = 4096;

/// A log's direct writer: the log opened a second time with `O_DIRECT`,
/// and an aligned buffer that holds the last partial block.
#[derive(Debug)]
pub(super) struct Direct {
    file: File,
    /// The block size writes are aligned to (offset, length and memory).
    align: usize,
    /// `STAGING` aligned bytes from `start`.
    staging: Vec<u8>,
    start: usize,
    /// Bytes held at the start of the staged region (less than
    /// `WRITE_AT` and a block between appends).
    held: usize,
    /// Since when the oldest held byte waits.
    held_since: Option<Instant>,
}

/// A failed direct append: the error, how many bytes of the data were
/// taken (in the file or held), how many went to the file.
pub(super) type Failed = (std::io::Error, usize, u64);

/// What became of an append.
#[derive(Debug)]
pub(super) enum Appended {
    /// This many bytes went to the file (the rest is held).
    Written(u64),
    /// The file does not end where the sink's count says (another process
    /// truncated or appended to it): nothing was written or taken.
    Moved,
}

impl Direct {
    /// A direct writer for `log` (the log opened for appending), when its
    /// file system takes direct writes; `None` otherwise.
    #[cfg(target_os = "linux")]
    pub(super) fn open(log: &File) -> Option<Self> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let st = rustix::fs::statx(
            log,
            "",
            rustix::fs::AtFlags::EMPTY_PATH,
            rustix::fs::StatxFlags::DIOALIGN,
        )
        .ok()?;
        if !rustix::fs::StatxFlags::from_bits_retain(st.stx_mask).contains(rustix::fs::StatxFlags::DIOALIGN) {
            return None;
        }
        let (offset, memory) = (st.stx_dio_offset_align as usize, st.stx_dio_mem_align as usize);
        if offset == 0 || memory == 0 {
            // The file system takes no direct writes (tmpfs).
            return None;
        }
        // Whole blocks of the file system, not only of the device: a
        // direct write that ends inside a file system block has the rest
        // of it zeroed on disk, and the next write starts inside it.
        let align = offset.max(st.stx_blksize as usize);
        if memory > MEMORY_ALIGN || align > MAX_ALIGN || !align.is_power_of_two() {
            return None;
        }
        // The same file, not whatever its path names now: a second open
        // file description, so the flag is this one's alone.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
            .open(format!("/proc/self/fd/{}", log.as_raw_fd()))
            .ok()?;
        let (a, b) = (file.metadata().ok()?, log.metadata().ok()?);
        if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
            return None;
        }
        let staging = vec![0u8; STAGING + MEMORY_ALIGN];
        let start = staging.as_ptr().align_offset(MEMORY_ALIGN);
        if start > MEMORY_ALIGN {
            return None;
        }
        Some(Direct {
            file,
            align,
            staging,
            start,
            held: 0,
            held_since: None,
        })
    }

    /// Direct writes are Linux's.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn open(_log: &File) -> Option<Self> {
        None
    }

    /// The size of the blocks written.
    #[cfg(test)]
    pub(super) fn align(&self) -> usize {
        self.align
    }

    /// Makes every direct write fail from now on (a handle it cannot
    /// write through).
    #[cfg(test)]
    pub(super) fn fail_writes(&mut self, read_only: File) {
        self.file = read_only;
    }

    /// The bytes held back.
    pub(super) fn held(&self) -> &[u8] {
        &self.staging[self.start..self.start + self.held]
    }

    /// Whether the held bytes have waited since before `before`.
    pub(super) fn held_since_before(&self, before: Instant) -> bool {
        self.held_since.is_some_and(|t| t < before)
    }

    /// Forgets the held bytes (after they were written elsewhere).
    pub(super) fn clear_held(&mut self) {
        self.held = 0;
        self.held_since = None;
    }

    /// Appends `data` to the log, which ends at `end`: a file ending
    /// inside a block is first filled up to the block's end through
    /// `buffered` (the log's appending handle); then the rest is staged,
    /// and once `WRITE_AT` is, its whole blocks go directly.
    ///
    /// # Errors
    /// A failed write, with how many bytes of `data` were taken (`.1`: in
    /// the file or held, [`Direct::held`]) and how many went to the file
    /// (`.2`), so the caller can write the rest another way.
    pub(super) fn append(&mut self, end: u64, buffered: &mut File, data: &[u8]) -> Result<Appended, Failed> {
        let real = self.file.metadata().map_err(|e| (e, 0, 0))?.len();
        if real != end {
            return Ok(Appended::Moved);
        }
        let align = self.align as u64;
        let mut at = end;
        let mut taken = 0;
        if self.held == 0 && !at.is_multiple_of(align) {
            let k = data.len().min((align - at % align) as usize);
            buffered.write_all(&data[..k]).map_err(|e| (e, 0, 0))?;
            at += k as u64;
            taken = k;
        }
        while taken < data.len() {
            let n = (STAGING - self.held).min(data.len() - taken);
            let from = self.start + self.held;
            self.staging[from..from + n].copy_from_slice(&data[taken..taken + n]);
            if self.held == 0 {
                self.held_since = Some(Instant::now());
            }
            self.held += n;
            taken += n;
            // A direct write costs about as much as copying ~100 KiB
            // into the page cache, whatever its size: one per MiB.
            if self.held < WRITE_AT {
                continue;
            }
            let whole = self.held - self.held % self.align;
            let mut done = 0;
            while done < whole {
                let chunk = &self.staging[self.start + done..self.start + whole];
                let failed: std::io::Error = match rustix::io::pwrite(&self.file, chunk, at + done as u64) {
                    Ok(0) => std::io::ErrorKind::WriteZero.into(),
                    Ok(w) => {
                        done += w;
                        continue;
                    }
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => e.into(),
                };
                // What was written is no longer held.
                self.staging
                    .copy_within(self.start + done..self.start + self.held, self.start);
                self.held -= done;
                return Err((failed, taken, at - end + done as u64));
            }
            self.staging
                .copy_within(self.start + whole..self.start + self.held, self.start);
            self.held -= whole;
            at += whole as u64;
            self.held_since = (self.held > 0).then(Instant::now);
        }
        Ok(Appended::Written(at - end))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use crate::sink::{Durability, FileOptions, FileSink, Sink};

    /// A directory on the disk the sources are on (`/tmp` may be tmpfs,
    /// which takes no direct writes).
    fn dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(".direct-test-")
            .tempdir_in(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
    }

    /// The block size of direct writes in `dir`, if it takes them.
    fn direct_block(dir: &std::path::Path) -> Option<usize> {
        let f = std::fs::File::create(dir.join("probe")).unwrap();
        super::Direct::open(&f).map(|d| d.align())
    }

    fn none(path: &std::path::Path) -> FileSink {
        none_with(path, |o| o)
    }

    /// A `none` log, its options changed by `change`; without, no
    /// housekeeper round comes during a test's appends.
    fn none_with(path: &std::path::Path, change: impl FnOnce(FileOptions) -> FileOptions) -> FileSink {
        let options = FileOptions::default()
            .durability(Durability::None)
            .sync_interval(Duration::from_secs(3600));
        FileSink::open(path, change(options)).unwrap()
    }

    /// Numbered JSON lines, `n` bytes of padding each.
    fn lines(from: usize, count: usize, pad: usize) -> Vec<u8> {
        (from..from + count)
            .flat_map(|i| format!("{{\"i\":{i},\"p\":\"{}\"}}\n", "x".repeat(pad)).into_bytes())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Whatever the appends' sizes and where the file started, the
        /// log is at every moment a prefix of what was appended, holds all
        /// of it but what is staged, and after a flush all of it.
        #[test]
        fn the_log_is_what_was_appended_less_at_most_a_held_block(
            start in 0usize..9000,
            appends in proptest::collection::vec((0usize..40, 0usize..300), 1..40),
        ) {
            let d = dir();
            let path = d.path().join("audit.log");
            let mut all = lines(1_000_000, 1, start);
            std::fs::write(&path, &all).unwrap();
            let sink = none(&path);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut n = 0;
            for (count, pad) in appends {
                let chunk = lines(n, count, pad);
                n += count;
                rt.block_on(sink.write_lines(&chunk)).unwrap();
                all.extend_from_slice(&chunk);
                let on_disk = std::fs::read(&path).unwrap();
                prop_assert!(all.starts_with(&on_disk), "the log is not a prefix of what was appended");
                prop_assert!(all.len() - on_disk.len() < super::WRITE_AT + super::MAX_ALIGN, "{} bytes held", all.len() - on_disk.len());
            }
            rt.block_on(sink.flush()).unwrap();
            prop_assert_eq!(std::fs::read(&path).unwrap(), all);
        }
    }

    /// On a disk that takes them, a `none` log's whole blocks are written
    /// directly once enough is staged: the end of the last one is held, a
    /// small append is staged, and a flush writes all of it.
    #[tokio::test]
    async fn whole_blocks_go_directly_and_the_rest_is_held() {
        let d = dir();
        let Some(block) = direct_block(d.path()) else {
            eprintln!("this file system takes no direct writes: the page cache path is tested elsewhere");
            return;
        };
        let path = d.path().join("audit.log");
        let sink = none(&path);
        assert!(
            !sink.writes_now(),
            "direct writes wait for the device: the writer thread's"
        );
        let chunk = lines(0, 100, 500);
        assert!(chunk.len() > super::WRITE_AT);
        sink.write_lines(&chunk).await.unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(
            len,
            (chunk.len() / block * block) as u64,
            "whole blocks of {block} bytes only"
        );
        let small = lines(100, 2, 10);
        sink.write_lines(&small).await.unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            len,
            "less than is written at once is staged"
        );
        sink.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), [chunk, small].concat());
    }

    /// A log truncated by another process (`copytruncate`) goes on at its
    /// new end: no hole of zeros where the old end was.
    #[tokio::test]
    async fn a_truncated_log_goes_on_at_its_new_end() {
        let d = dir();
        let path = d.path().join("audit.log");
        let sink = none(&path);
        sink.write_lines(&lines(0, 50, 300)).await.unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        let after = lines(50, 30, 300);
        sink.write_lines(&after).await.unwrap();
        sink.flush().await.unwrap();
        let log = std::fs::read(&path).unwrap();
        assert!(!log.contains(&0), "a hole in the log");
        assert!(log.ends_with(&after), "the records after the truncation are its end");
    }

    /// Held bytes are written by the housekeeper once they waited a round,
    /// when no more records came to complete their block.
    #[tokio::test]
    async fn the_housekeeper_writes_what_waited_a_round() {
        let d = dir();
        let path = d.path().join("audit.log");
        let sink = none_with(&path, |o| o.sync_interval(Duration::from_millis(20)));
        let chunk = lines(0, 3, 10);
        sink.write_lines(&chunk).await.unwrap();
        let start = std::time::Instant::now();
        while std::fs::read(&path).unwrap() != chunk {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "held bytes were never written"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Rotation writes the held end of the old file into it: the rotated
    /// files and the new one hold every record, in order, once.
    #[tokio::test]
    async fn rotation_keeps_the_held_end_in_the_old_file() {
        let d = dir();
        let path = d.path().join("audit.log");
        let sink = none_with(&path, |o| o.max_bytes(64 * 1024).max_backups(0));
        let mut all = Vec::new();
        for i in 0..40 {
            let chunk = lines(i * 10, 10, 700);
            sink.write_lines(&chunk).await.unwrap();
            all.extend_from_slice(&chunk);
        }
        sink.flush().await.unwrap();
        let mut files = crate::sink::file::rotated_files(&path);
        assert!(files.len() >= 3, "{files:?}");
        files.push(path.clone());
        let mut read = Vec::new();
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                bytes.is_empty() || bytes.ends_with(b"\n"),
                "{} ends inside a record",
                f.display()
            );
            read.extend_from_slice(&bytes);
        }
        assert_eq!(read, all);
    }

    /// A direct write that fails sends this append and every later one
    /// through the page cache: nothing is lost or written twice.
    #[tokio::test]
    async fn a_failed_direct_write_falls_back_to_the_page_cache() {
        let d = dir();
        let path = d.path().join("audit.log");
        let sink = none(&path);
        if !sink.writes_directly() {
            eprintln!("this file system takes no direct writes: nothing to fall back from");
            return;
        }
        let mut all = lines(0, 5, 100);
        sink.write_lines(&all).await.unwrap();
        sink.break_direct_writes(std::fs::File::open(&path).unwrap());
        for i in 0..3 {
            let chunk = lines(5 + i * 40, 40, 400);
            assert!(chunk.len() > super::WRITE_AT, "enough for a direct write");
            sink.write_lines(&chunk).await.unwrap();
            all.extend_from_slice(&chunk);
            assert_eq!(std::fs::read(&path).unwrap(), all, "after append {i}");
        }
    }

    /// A recorder's flush writes what the sink holds: every record queued
    /// before it can be read.
    #[tokio::test]
    async fn a_flush_writes_what_is_held() {
        let d = dir();
        let path = d.path().join("audit.log");
        let rec = crate::Recorder::new(none(&path), crate::RecorderOptions::default().confirm(false));
        for i in 0..5 {
            rec.record_later(crate::Event::new(
                format!("r{i}"),
                crate::Level::Metadata,
                crate::Stage::ResponseComplete,
            ));
        }
        rec.flush().await;
        let ids: Vec<String> = crate::read_log(&path)
            .unwrap()
            .map(|e| e.map(|e| e.audit_id))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4"]);
    }
}
