//! A year of audit records in bounded memory: `tollgate review`'s streaming
//! pass over 1,000,000 records (a rotated, gzip-compressed log: 60 owners,
//! 3,000 identities, 100 namespaces, forged tokens from 50,000 addresses,
//! approvals and exec sessions), its peak heap measured with a counting
//! allocator and compared with the same pass over 100,000 records (the
//! baseline): bounded means the ratio stays near 1, not near 10. Throughput
//! is compared with reading the same records without reviewing them.
//!
//! `cargo bench -p tollgate-benches --bench review` (needs ~150 MB of
//! temporary disk; takes a minute or two).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use tollgate_audit::{Event, Level, ObjectReference, Stage, UserInfo, read_log};
use tollgate_benches::peak_memory;
use tollgate_review::{Filter, Review};

const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
const RESOURCES: [(&str, &str); 10] = [
    ("", "pods"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "services"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("networking.k8s.io", "ingresses"),
    ("", "pods/log"),
];

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn record(i: u64, rng: &mut Rng) -> Event {
    let mut e = Event::new(
        format!("{i:08x}-0000-4000-8000-{:012x}", rng.next(1 << 48)),
        Level::Metadata,
        Stage::ResponseComplete,
    );
    let day = i * 365 / 1_000_000;
    let (m, d) = (1 + day / 31 % 12, 1 + day % 28);
    e.request_received_timestamp = format!(
        "2026-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rng.next(24),
        rng.next(60),
        rng.next(60),
        rng.next(1_000_000)
    );
    e.stage_timestamp.clone_from(&e.request_received_timestamp);
    e.source_ips = vec![format!("10.{}.{}.{}", rng.next(4), rng.next(256), rng.next(256))];
    let a = &mut e.annotations;
    if rng.next(100) == 0 {
        // A forged or expired token: refused before anyone is identified.
        e.source_ips = vec![format!("203.0.{}.{}", rng.next(200), rng.next(250))];
        a.insert("tollgate.dev/decision".into(), "unauthenticated".into());
        a.insert(
            "tollgate.dev/authentication-failure".into(),
            "token signature does not verify".into(),
        );
        e.response_status = Some(serde_json::json!({"code": 401}));
        return e;
    }
    let ident = rng.next(3_000);
    let owner = ident % 60;
    // Identities are narrow, as CI identities are: each works in three
    // namespaces on four resources with three verbs. (The caps bound the review whatever
    // the trail holds; this makes the two runs comparable.)
    let ns = (ident * 7 + rng.next(3)) % 100;
    let res = (ident + rng.next(4)) as usize % RESOURCES.len();
    let user = format!("github:repo:acme/service-{ident}:ref:refs/heads/main");
    e.user = UserInfo::new("system:serviceaccount:tollgate:gateway".to_owned(), vec![]);
    e.impersonated_user = Some(UserInfo::new(user, vec![format!("github-org:team-{owner}")]));
    let (group, resource) = RESOURCES[res];
    let verb = VERBS[(ident + rng.next(3)) as usize % VERBS.len()];
    let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
    let mut o = ObjectReference::default();
    o.resource = resource.to_owned();
    o.subresource = sub.to_owned();
    o.api_group = group.to_owned();
    o.namespace = format!("ns-{ns}");
    o.name = format!("obj-{}", rng.next(10_000));
    e.verb = verb.to_owned();
    e.request_uri = format!("/api/v1/namespaces/{}/{resource}/{}", o.namespace, o.name);
    e.response_status = Some(serde_json::json!({"code": 200}));
    let a = &mut e.annotations;
    a.insert("tollgate.dev/owner".into(), format!("team-{owner}"));
    a.insert(
        "tollgate.dev/owner-contact".into(),
        format!("team-{owner}@acme.example"),
    );
    a.insert(
        "tollgate.dev/issuer".into(),
        "https://token.actions.githubusercontent.com".into(),
    );
    a.insert(
        "tollgate.dev/subject".into(),
        format!("repo:acme/service-{ident}:ref:refs/heads/main"),
    );
    a.insert("tollgate.dev/decision".into(), "allow".into());
    match rng.next(1000) {
        0..=1 => {
            a.insert("tollgate.dev/approval-id".into(), format!("apr-{i:016x}"));
            a.insert("tollgate.dev/approval-state".into(), "approved".into());
            a.insert("tollgate.dev/decision".into(), "approved".into());
            a.insert("tollgate.dev/approvers".into(), "alice@acme.example".into());
        }
        2 => {
            o.resource = "pods".into();
            o.subresource = "exec".into();
            e.response_status = Some(serde_json::json!({"code": 101}));
            a.insert(
                "tollgate.dev/recording".into(),
                format!("/var/lib/tollgate/sessions/{}.cast", e.audit_id),
            );
        }
        3..=20 => {
            e.response_status = Some(serde_json::json!({"code": 403}));
            a.insert("tollgate.dev/decision".into(), "deny".into());
            a.insert("tollgate.dev/rule".into(), format!("rule-{}", rng.next(20)));
        }
        _ => {}
    }
    e.object_ref = Some(o);
    e
}

/// Writes `n` records as a gzip-compressed rotated log.
fn write_log(path: &Path, n: u64) {
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::fast());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..n {
        serde_json::to_writer(&mut gz, &record(i, &mut rng)).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    gz.finish().unwrap().flush().unwrap();
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for n in [100_000u64, 1_000_000] {
        let path = dir.path().join(format!("audit-{n}.log.gz"));
        write_log(&path, n);
        let mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;

        // Baseline: reading and parsing the records, nothing kept.
        let t = Instant::now();
        let (count, read_peak) = peak_memory(|| read_log(&path).unwrap().filter(Result::is_ok).count());
        let read_time = t.elapsed();
        assert_eq!(count as u64, n);

        let t = Instant::now();
        let (review, peak) = peak_memory(|| {
            let mut r = Review::default();
            let skipped = r.add_log(&path, &Filter::default()).unwrap();
            assert_eq!(skipped, 0);
            r
        });
        let review_time = t.elapsed();
        assert_eq!(review.requests, n);
        let (_, report_peak) = peak_memory(|| review.to_html().len() + review.to_json().unwrap().len());
        println!(
            "{n:>9} records ({mb:.0} MB gzip): review peak heap {:.1} MB (reading alone {:.2} MB; writing the HTML and JSON reports {:.1} MB); \
             {:.0} records/s = {:.2}x reading alone",
            peak as f64 / 1e6,
            read_peak as f64 / 1e6,
            report_peak as f64 / 1e6,
            n as f64 / review_time.as_secs_f64(),
            read_time.as_secs_f64() / review_time.as_secs_f64()
        );
        peaks.push(peak);
        std::fs::remove_file(&path).unwrap();
    }
    println!(
        "peak heap, 1,000,000 records / 100,000 records: {:.2}x (bounded: near 1, not 10)",
        peaks[1] as f64 / peaks[0] as f64
    );
}
