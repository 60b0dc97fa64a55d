//! Durability: a writer process killed with SIGKILL in the middle of a
//! load loses no record it had acknowledged; a torn last line is skipped,
//! never misread; the log can be appended to again.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tollgate_audit::{Durability, Event, FileOptions, FileSink, Level, Recorder, RecorderOptions, Stage, read_log};

const CHILD: &str = "TOLLGATE_DURABILITY_CHILD";

/// The writer, run in a child process by the test below: 16 concurrent
/// requests record as fast as they can and print each acknowledged ID.
#[test]
fn durability_child_writer() {
    let Ok(path) = std::env::var(CHILD) else { return };
    let durability: Durability = std::env::var("TOLLGATE_DURABILITY")
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let sink = FileSink::open(
            std::path::Path::new(&path),
            FileOptions::default().durability(durability),
        )
        .unwrap();
        let rec = Recorder::new(sink, RecorderOptions::default());
        let mut tasks = Vec::new();
        for t in 0..16 {
            let rec = rec.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let mut e = Event::new(format!("w{t}-{i}"), Level::Request, Stage::RequestReceived);
                    e.request_uri = format!("/api/v1/namespaces/n{t}/configmaps/c{i}");
                    e.request_object = Some(serde_json::json!({"data": {"k": "x".repeat(200)}}));
                    if rec.record(e).await.is_ok() {
                        println!("acked w{t}-{i}");
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

fn kill_mid_load(durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "durability_child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD, &path)
        .env("TOLLGATE_DURABILITY", durability)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < 2000 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(id) = line.strip_prefix("acked ") {
            acked.push(id.to_owned());
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush
    child.wait().unwrap();
    assert!(acked.len() >= 2000, "the writer acknowledged records ({})", acked.len());

    let mut found = std::collections::HashSet::new();
    let mut bad = Vec::new();
    for r in read_log(&path).unwrap() {
        match r {
            Ok(e) => {
                assert_eq!(
                    e.request_object.as_ref().unwrap()["data"]["k"].as_str().unwrap().len(),
                    200,
                    "never half a record"
                );
                found.insert(e.audit_id);
            }
            Err(e) => bad.push(e.to_string()),
        }
    }
    let missing: Vec<&String> = acked.iter().filter(|id| !found.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(bad.len() <= 1, "at most the last line is torn: {bad:?}");
    assert!(bad.iter().all(|b| b.contains("torn")), "{bad:?}");

    // A new writer appends after the torn line; readers see both sides.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sink = FileSink::open(&path, FileOptions::default()).unwrap();
        let rec = Recorder::new(sink, RecorderOptions::default());
        rec.record(Event::new("after-restart", Level::Metadata, Stage::RequestReceived))
            .await
            .unwrap();
    });
    let ids: Vec<String> = read_log(&path)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.audit_id)
        .collect();
    assert_eq!(ids.last().map(String::as_str), Some("after-restart"));
    assert_eq!(ids.len(), found.len() + 1);
    std::thread::sleep(Duration::from_millis(1));
}

#[test]
fn acknowledged_records_survive_sigkill_with_batch_durability() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    kill_mid_load("batch");
}

#[test]
fn acknowledged_records_survive_sigkill_with_no_sync() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    // Handed to the OS is enough to survive the process (not a power loss).
    kill_mid_load("none");
}

#[test]
fn acknowledged_records_survive_sigkill_with_request_durability() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    kill_mid_load("request");
}
