//! The file sink hands what it wrote back to the OS: a log written through
//! it does not stay in the page cache, with every durability, while a file
//! written the same way without it does (the control: this measurement sees
//! cached pages on this file system). Residency is read with `fincore`
//! (util-linux).
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use tollgate_audit::{Durability, FileOptions, FileSink, Sink};
use tollgate_testkit::resident_bytes as resident;

const MIB: usize = 1 << 20;

/// 8 MiB of JSON lines, in 64 writes.
fn lines() -> Vec<u8> {
    let line = format!("{{\"auditID\":\"x\",\"pad\":\"{}\"}}\n", "y".repeat(1000));
    line.repeat(MIB / 8 / line.len() + 1).into_bytes()
}

async fn written_pages_leave_the_page_cache(durability: Durability) {
    // The tests' own directory (under `target/`), not a `/tmp` that may be
    // tmpfs, where pages cannot be dropped.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let log = dir.path().join("audit.log");
    let control = dir.path().join("control.log");
    let chunk = lines();
    let sink = FileSink::open(
        &log,
        FileOptions::default()
            .durability(durability)
            .sync_interval(Duration::from_millis(20)),
    )
    .unwrap();
    let mut plain = std::fs::File::create(&control).unwrap();
    for _ in 0..64 {
        sink.write_lines(&chunk).await.unwrap();
        std::io::Write::write_all(&mut plain, &chunk).unwrap();
    }
    let total = std::fs::metadata(&log).unwrap().len();
    assert!(total >= 8 * MIB as u64);
    // Write-back of `none`'s dirty pages takes a moment; a few seconds at
    // most on any disk this runs on.
    let start = Instant::now();
    let mut left = resident(&log);
    while left > MIB as u64 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = resident(&log);
    }
    let kept = resident(&control);
    assert!(
        kept >= total * 9 / 10,
        "the control file, written alike without the sink, has only {kept} of {total} bytes cached: this file system does not keep pages, nothing is measured"
    );
    assert!(
        left <= MIB as u64,
        "{durability:?}: {left} of the log's {total} bytes are still in the page cache after {:?}",
        start.elapsed()
    );
    // What was handed back is still the log, read from disk.
    let read = std::fs::read(&log).unwrap();
    assert_eq!(read.len() as u64, total);
    assert_eq!(&read[..chunk.len()], &chunk[..]);
}

#[tokio::test]
async fn written_pages_leave_the_page_cache_with_durability_none() {
    written_pages_leave_the_page_cache(Durability::None).await;
}

#[tokio::test]
async fn written_pages_leave_the_page_cache_with_durability_batch() {
    written_pages_leave_the_page_cache(Durability::Batch).await;
}

#[tokio::test]
async fn written_pages_leave_the_page_cache_with_durability_request() {
    written_pages_leave_the_page_cache(Durability::Request).await;
}
