//! Writes a long, realistic audit trail for measuring the trail's readers
//! (`tollgate sessions list`, `tollgate review`) on it:
//!
//! ```sh
//! cargo run --release -p tollgate-benches --example audit_trail -- --requests 1000000 --out /tmp/trail
//! /usr/bin/time -v target/release/tollgate sessions list --audit /tmp/trail > /dev/null
//! ```
//!
//! Each request has its `RequestReceived` and `ResponseComplete` records
//! (Metadata level, the annotations the gateway writes), a few requests
//! apart as concurrent requests interleave; one request in 500 is a watch
//! that stays open for 20,000 requests. Files rotate every 200,000
//! records, as `audit.log.N` would be read (`audit-NNN.log`).

use std::io::Write;

use tollgate_audit::{Event, Level, Stage};

fn event(i: u64, stage: Stage) -> Event {
    let id = format!("{:08x}-4e1f-4a3b-9c2d-{:012x}", i >> 16, i);
    let mut e = Event::new(id, Level::Metadata, stage);
    let watch = i.is_multiple_of(500);
    e.verb = if watch {
        "watch"
    } else if i.is_multiple_of(7) {
        "create"
    } else {
        "get"
    }
    .to_owned();
    e.request_uri = format!("/api/v1/namespaces/team-{}/pods/web-{}", i % 40, i % 1000);
    let secs = 1_800_000_000 + i / 50;
    e.request_received_timestamp = tollgate_kube::time::format_micro_time(std::time::Duration::from_secs(secs));
    e.stage_timestamp = e.request_received_timestamp.clone();
    e.user.username = format!("github:repo:acme/service-{}:ref:refs/heads/main", i % 300);
    e.user.groups = vec!["github-org:acme".to_owned(), "system:authenticated".to_owned()];
    e.source_ips = vec!["10.0.3.17".to_owned()];
    e.user_agent = "kubectl/v1.32.0 (linux/amd64) kubernetes/abcdef0".to_owned();
    for (k, v) in [
        ("owner", format!("team-{}", i % 40)),
        ("owner-team", "payments-platform".to_owned()),
        ("issuer", "https://token.actions.githubusercontent.com".to_owned()),
        ("subject", format!("repo:acme/service-{}:ref:refs/heads/main", i % 300)),
        ("decision", "allow".to_owned()),
        (
            "command",
            format!("kubectl {} pod web-{} -n team-{}", e.verb, i % 1000, i % 40),
        ),
    ] {
        e.annotations.insert(format!("tollgate.dev/{k}"), v);
    }
    if stage == Stage::ResponseComplete {
        e.response_status = Some(serde_json::json!({"metadata": {}, "code": 200}));
    }
    e
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let requests: u64 = value("--requests").and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let out = std::path::PathBuf::from(value("--out").unwrap_or_else(|| "/tmp/tollgate-trail".to_owned()));
    std::fs::create_dir_all(&out)?;
    let mut file_no = 0;
    let mut written = 0u64;
    let open = |n: u32| -> std::io::Result<std::io::BufWriter<std::fs::File>> {
        Ok(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(out.join(format!("audit-{n:03}.log")))?,
        ))
    };
    let mut w = open(file_no)?;
    // Completions lag their requests by a few places; watches by 20,000.
    let mut open_watches = std::collections::VecDeque::new();
    let mut lagging = std::collections::VecDeque::new();
    let mut bytes = 0u64;
    let mut put = |w: &mut std::io::BufWriter<std::fs::File>, e: &Event, written: &mut u64| -> std::io::Result<()> {
        let line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
        bytes += line.len() as u64 + 1;
        w.write_all(&line)?;
        w.write_all(b"\n")?;
        *written += 1;
        Ok(())
    };
    for i in 0..requests {
        put(&mut w, &event(i, Stage::RequestReceived), &mut written)?;
        if i.is_multiple_of(500) {
            open_watches.push_back(i);
        } else {
            lagging.push_back(i);
        }
        if lagging.len() > 8 {
            let j = lagging.pop_front().unwrap_or(i);
            put(&mut w, &event(j, Stage::ResponseComplete), &mut written)?;
        }
        if open_watches.front().is_some_and(|&j| i - j >= 20_000) {
            let j = open_watches.pop_front().unwrap_or(i);
            put(&mut w, &event(j, Stage::ResponseComplete), &mut written)?;
        }
        if written >= 200_000 * (u64::from(file_no) + 1) {
            w.flush()?;
            file_no += 1;
            w = open(file_no)?;
        }
    }
    for j in lagging.into_iter().chain(open_watches) {
        put(&mut w, &event(j, Stage::ResponseComplete), &mut written)?;
    }
    w.flush()?;
    println!(
        "{requests} requests, {written} records, {:.0} MB in {} files under {}",
        bytes as f64 / 1e6,
        file_no + 1,
        out.display()
    );
    Ok(())
}
