//! What the audit layers cost per request, in process (issue 18): the
//! gateway's audit layers around a service answering a 1 KB Pod, with a
//! verified identity and the policy's decision in the request as the
//! gateway's inner layers put them, 64 requests in flight on one thread;
//! the same stack with audit disabled is the baseline, measured in the same
//! run, rounds interleaved. CPU is the whole process's (the writer thread
//! included), from `/proc/self/stat`; the allocator is the gateway's
//! (mimalloc).
//!
//! ```sh
//! cargo run --release -p tollgate-benches --example audit_path -- [--requests N] [--rounds R] [--only batch]
//! ```

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tollgate_audit::{AuditLayer, AuditPolicy, Durability, FileOptions, FileSink, Level, Recorder, RecorderOptions};
use tollgate_kube::{Identity, Owner, RequestInfoLayer, note};
use tollgate_rules::{PolicyLayer, PolicyStore, parse_policy};
use tower::util::MapRequestLayer;
use tower::{Service, ServiceBuilder, ServiceExt};

/// The gateway's allocator (`examples/gateway/src/main.rs`), so that the
/// layers allocate here as they do there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Req = Request<Full<Bytes>>;

const POD: &[u8] = &[b' '; 1024];

const RULES: &str = r#"
apiVersion: tollgate.dev/v1alpha1
kind: Policy
rules:
- name: no-namespace-delete
  match:
    verbs: [delete]
    resources: [{group: "", resources: [namespaces]}]
  action: deny
  message: namespaces stay
"#;

fn identity() -> Identity {
    let mut id = Identity::anonymous();
    id.issuer = "https://token.actions.githubusercontent.com".into();
    id.subject = "repo:acme-demo/payments-api:ref:refs/heads/main".into();
    id.username = "github:repo:acme-demo/payments-api:ref:refs/heads/main".into();
    id.groups = vec!["github-org:acme-demo".into()];
    id.extra.insert(
        "authentication.kubernetes.io/credential-id".into(),
        vec!["JTI=6b10b27d".into()],
    );
    let mut owner = Owner::unmapped();
    owner.name = "payments".into();
    owner.team = "payments-platform".into();
    owner.contact = "payments-oncall@acme.example".into();
    owner.mapped = true;
    id.owner = owner;
    id
}

/// The process's CPU time so far (user + system, all threads).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime); field 3 (the state) is the first
    // after the command name.
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

/// `n` GETs through `audit`'s layers, 64 at a time; (wall, CPU) per request.
async fn run(audit: &AuditLayer, n: usize) -> (Duration, Duration) {
    let id = identity();
    let svc = ServiceBuilder::new()
        .layer(audit.clone())
        .layer(MapRequestLayer::new(move |mut req: Req| {
            note(req.extensions(), std::sync::Arc::new(id.clone()));
            req.extensions_mut().insert(id.clone());
            req
        }))
        .layer(RequestInfoLayer::new())
        .layer(PolicyLayer::new(PolicyStore::new(
            parse_policy(RULES, "rules.yaml").unwrap(),
        )))
        .layer(audit.record_layer())
        .service_fn(|_req: Req| async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(POD)))
                    .unwrap(),
            )
        });
    let (wall, cpu0) = (Instant::now(), cpu());
    let per = n / 64;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let mut svc = svc.clone();
        tasks.push(tokio::task::spawn_local(async move {
            for _ in 0..per {
                let req = Request::get("/api/v1/namespaces/default/pods/web-0")
                    .header("user-agent", "kubectl/v1.32.0 (linux/amd64) kubernetes/abcdef")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let res = svc.ready().await.unwrap().call(req).await.unwrap();
                assert_eq!(res.status(), 200);
                std::hint::black_box(res.into_body().collect().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = (per * 64) as u32;
    (wall.elapsed() / total, (cpu() - cpu0) / total)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (n, rounds) = (value("--requests", 200_000), value("--rounds", 3));
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let file = |name: &str, d: Durability| {
            let recorder = Recorder::new(
                FileSink::open(&dir.path().join(name), FileOptions::default().durability(d)).unwrap(),
                RecorderOptions::default().confirm(d.waits()),
            );
            AuditLayer::builder(recorder)
                .policy(AuditPolicy::everything(Level::Metadata))
                .build()
        };
        let paths = [
            ("audit disabled", AuditLayer::disabled()),
            ("audit none", file("none.log", Durability::None)),
            ("audit batch", file("batch.log", Durability::Batch)),
        ];
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_default();
        let mut results: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); paths.len()];
        run(&paths[0].1, n / 10).await;
        for _ in 0..rounds {
            for (i, (name, audit)) in paths.iter().enumerate() {
                if i > 0 && !name.contains(&only) {
                    continue;
                }
                results[i].push(run(audit, n).await);
            }
        }
        let median = |v: &[(Duration, Duration)], cpu: bool| {
            let mut x: Vec<Duration> = v.iter().map(|r| if cpu { r.1 } else { r.0 }).collect();
            x.sort();
            x[x.len() / 2]
        };
        let base = median(&results[0], true).as_secs_f64();
        println!("{n} requests per round, {rounds} rounds, 64 in flight on one thread (median of rounds)\n");
        println!("| path | wall µs / request | CPU µs / request | CPU − disabled |");
        println!("|---|---|---|---|");
        for (i, (name, _)) in paths.iter().enumerate() {
            if results[i].is_empty() {
                continue;
            }
            let c = median(&results[i], true).as_secs_f64();
            println!(
                "| {name} | {:.2} | {:.2} | {:+.2} µs |",
                median(&results[i], false).as_secs_f64() * 1e6,
                c * 1e6,
                (c - base) * 1e6
            );
        }
        println!();
        for (name, audit) in &paths[1..] {
            let s = audit.recorder().stats();
            println!(
                "{name}: {} records in {} batches ({:.1} per batch)",
                s.written,
                s.batches,
                s.written as f64 / s.batches.max(1) as f64
            );
        }
    });
}
