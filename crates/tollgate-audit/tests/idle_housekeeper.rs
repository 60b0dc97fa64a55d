//! A file sink's housekeeper (the thread that syncs `batch` logs and hands
//! written pages back to the OS) sleeps once everything written is dealt
//! with: an idle gateway's does not wake every `syncIntervalMs`. Its own
//! test binary: the only such thread in the process is this test's.
#![cfg(target_os = "linux")]

use std::time::Duration;

use tollgate_audit::{Durability, FileOptions, FileSink, Sink};

mod common;
use common::audit_thread_runs;

fn housekeeper_runs() -> Vec<(String, u64)> {
    audit_thread_runs("audit-sync")
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
    let woke =
        tollgate_testkit::eventually(|| housekeeper_runs().first().map(|r| r.1) > before.first().map(|r| r.1)).await;
    assert!(woke, "the housekeeper did not wake for a write");
}
