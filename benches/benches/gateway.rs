//! Whole-gateway throughput with audit on (JSON-lines log, batch
//! durability: one fdatasync per batch) against the same gateway with audit
//! off, in the same run: the demo's test API server behind both, kubectl's
//! `GET pod` through TLS with a verified OIDC token, 32 requests in flight.
//! Issue 6's target: audit on ≥ 0.95× audit off.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use tokio::runtime::Runtime;
use tollgate_gateway::Config;
use tollgate_proxy::{Proxy, Upstream, UpstreamIdentity};
use tower::{Service, ServiceExt};

const IN_FLIGHT: usize = 32;

fn client(kubeconfig: &str, url: &str, server: &str) -> Proxy {
    let text = kubeconfig.replace(server, url);
    let up = Upstream::from_kubeconfig_yaml(&text, "bench", std::path::Path::new("."), None).unwrap();
    // The kubeconfig's token is sent as the credential; no identity, no impersonation.
    Proxy::builder(up).identity(UpstreamIdentity::Impersonate).build()
}

/// `n` GETs, `IN_FLIGHT` at a time; all must succeed.
async fn load(client: &Proxy, n: usize) -> Duration {
    let start = Instant::now();
    let per = n / IN_FLIGHT;
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let mut c = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let req = http::Request::get("/api/v1/namespaces/default/pods/demo")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let res = ServiceExt::<http::Request<Full<Bytes>>>::ready(&mut c)
                    .await
                    .unwrap()
                    .call(req)
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                black_box(res.into_body().collect().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = Arc::new(Runtime::new().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let demo = rt
        .block_on(tollgate_gateway::demo::start(
            dir.path(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    // The same configuration without the audit section, on another port.
    let yaml = std::fs::read_to_string(dir.path().join("tollgate.yaml")).unwrap();
    let start = yaml.find("audit:").unwrap();
    let end = yaml.find("shutdown:").unwrap();
    let no_audit = format!("{}{}", &yaml[..start], &yaml[end..]);
    let off_path = dir.path().join("no-audit.yaml");
    std::fs::write(&off_path, no_audit).unwrap();
    let mut config = Config::load(&off_path).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let off = rt.block_on(tollgate_gateway::start(&config)).unwrap();
    // And with RequestReceived omitted (as most production audit policies
    // do): one record per request, written after the fact.
    let omit_policy = dir.path().join("audit-policy-omit.yaml");
    std::fs::write(
        &omit_policy,
        std::fs::read_to_string(dir.path().join("audit-policy.yaml"))
            .unwrap()
            .replace("omitStages: []", "omitStages: [RequestReceived]"),
    )
    .unwrap();
    let omit_yaml = yaml
        .replace("policy: audit-policy.yaml", "policy: audit-policy-omit.yaml")
        .replace("path: audit/audit.log", "path: audit-omit/audit.log")
        .replace("dir: sessions", "dir: sessions-omit");
    let omit_path = dir.path().join("omit.yaml");
    std::fs::write(&omit_path, omit_yaml).unwrap();
    let mut config = Config::load(&omit_path).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let omit = rt.block_on(tollgate_gateway::start(&config)).unwrap();

    let kubeconfig = std::fs::read_to_string(&demo.kubeconfig).unwrap();
    let server = format!("https://{}", demo.gateway.addr);
    let on_client = client(&kubeconfig, &server, &server);
    let off_client = client(&kubeconfig, &format!("https://{}", off.addr), &server);
    let omit_client = client(&kubeconfig, &format!("https://{}", omit.addr), &server);
    for c in [&on_client, &off_client, &omit_client] {
        rt.block_on(load(c, IN_FLIGHT * 4));
    }

    let mut g = c.benchmark_group("gateway");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    for (name, cl) in [
        ("get_pod/audit_off", &off_client),
        ("get_pod/audit_on", &on_client),
        ("get_pod/audit_on_omit_request_received", &omit_client),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let n = (usize::try_from(iters).unwrap_or(1) * IN_FLIGHT).max(IN_FLIGHT);
                rt.block_on(load(cl, n)) / u32::try_from(IN_FLIGHT).unwrap_or(1)
            })
        });
    }
    g.finish();

    // Interleaved rounds, best of each, for the ratio.
    let n = 3200;
    let (mut best_on, mut best_off, mut best_omit) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..4 {
        best_off = best_off.min(rt.block_on(load(&off_client, n)));
        best_on = best_on.min(rt.block_on(load(&on_client, n)));
        best_omit = best_omit.min(rt.block_on(load(&omit_client, n)));
    }
    let rps = |d: Duration| n as f64 / d.as_secs_f64();
    let log = dir.path().join("audit/audit.log");
    let bytes = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    println!(
        "\ngateway GET pod, {IN_FLIGHT} in flight: audit off {:.0} req/s; audit on (batch durability, RequestReceived confirmed before forwarding) {:.0} req/s, on/off = {:.3}× (target ≥ 0.95×); RequestReceived omitted {:.0} req/s, {:.3}×; audit log {:.1} MB",
        rps(best_off),
        rps(best_on),
        best_off.as_secs_f64() / best_on.as_secs_f64(),
        rps(best_omit),
        best_off.as_secs_f64() / best_omit.as_secs_f64(),
        bytes as f64 / 1e6
    );
    rt.block_on(async {
        off.shutdown().await;
        omit.shutdown().await;
    });
    drop(demo);
}

criterion_group!(benches, bench);
criterion_main!(benches);
