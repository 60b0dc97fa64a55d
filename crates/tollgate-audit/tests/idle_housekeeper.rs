//! A file sink's housekeeper (the thread that syncs `batch` logs and hands
//! written pages back to the OS) sleeps once everything written is dealt
//! with: an idle gateway's does not wake every `syncIntervalMs`. Its own
//! test binary: the only such thread in the process is this test's.
#![cfg(target_os = "linux")]

use std::time::Duration;

use tollgate_audit::{Durability, FileOptions, FileSink, Sink};

/// How many times each housekeeper thread of this process has been
/// scheduled (the third field of `/proc/self/task/<tid>/schedstat`).
fn housekeeper_runs() -> Vec<(String, u64)> {
    let mut runs = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("Linux /proc") {
        let dir = task.expect("a task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // "tollgate-audit-sync", cut to the kernel's 15 bytes.
        if comm.trim() != "tollgate-audit-" {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
        let count = stat
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .expect("schedstat");
        runs.push((dir.display().to_string(), count));
    }
    runs
}

#[tokio::test]
async fn an_idle_housekeeper_sleeps_until_the_next_write() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("audit.log");
    let sink = FileSink::open(
        &path,
        FileOptions::default()
            .durability(Durability::Batch)
            .sync_interval(Duration::from_millis(10)),
    )
    .unwrap();
    sink.write_lines(b"{\"auditID\":\"one\"}\n").await.unwrap();
    // The sync, two rounds of advice, and the round that finds nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = housekeeper_runs();
    assert_eq!(before.len(), 1, "one housekeeper thread: {before:?}");
    // Thirty intervals of nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = housekeeper_runs();
    assert_eq!(after, before, "the idle housekeeper ran");
    // A write wakes it: it runs again, and syncs.
    sink.write_lines(b"{\"auditID\":\"two\"}\n").await.unwrap();
    for _ in 0..500 {
        let now = housekeeper_runs();
        if now.first().map(|r| r.1) > before.first().map(|r| r.1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the housekeeper did not wake for a write");
}
