//! `/metrics` after real kubectl traffic: both formats with their
//! `Content-Type`, and a sample of every family `docs/metrics.md` lists.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

use common::DemoEnv as Env;

/// `GET /metrics` with `accept`: the `Content-Type` and the body.
async fn scrape(addr: std::net::SocketAddr, accept: Option<&str>) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: admin\r\n{accept}Connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("")
        .to_owned();
    (content_type, body.to_owned())
}

/// The families `docs/metrics.md` lists.
fn documented() -> Vec<String> {
    let doc = include_str!("../../../docs/metrics.md");
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `tollgate_"))
        .filter_map(|l| l.split('`').next())
        .map(|n| format!("tollgate_{n}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_family_has_a_sample_after_kubectl_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let demo =
        tollgate_gateway::demo::start_with_hold(dir.path(), "127.0.0.1:0".parse().unwrap(), Duration::from_millis(200))
            .await
            .unwrap();
    let env = Env { demo, dir };
    // Allowed, denied, long-running, upgraded, unauthenticated, masked.
    env.ok(&["get", "pods"]).await;
    assert_ne!(env.kubectl(&["delete", "namespace", "prod"]).await.code, 0);
    env.ok(&["get", "pods", "--watch", "--request-timeout=1s"]).await;
    assert_eq!(env.ok(&["exec", "demo", "--", "echo", "hi"]).await, "hi\n");
    assert_ne!(env.kubectl(&["--token", "not-a-token", "get", "pods"]).await.code, 0);
    env.ok(&["get", "secrets"]).await;
    // One request that waits for an approval: answered 429 after the hold.
    let mut s = env.tls().await;
    s.write_all(
        format!(
            "DELETE /api/v1/namespaces/prod/configmaps/settings HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            env.token()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    // A reload: the audit policy file rewritten.
    let policy = env.demo.dir.join("audit-policy.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, format!("{text}\n")).unwrap();

    let admin = env.demo.gateway.admin_addr.unwrap();
    let mut body = String::new();
    for _ in 0..50 {
        body = scrape(admin, None).await.1;
        if body.contains("tollgate_reloads_total{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let families = documented();
    assert!(families.len() >= 15, "{families:?}");
    for f in &families {
        let sampled = body.lines().any(|l| {
            !l.starts_with('#')
                && (l.starts_with(&format!("{f} "))
                    || l.starts_with(&format!("{f}{{"))
                    || l.starts_with(&format!("{f}_count"))
                    || l.starts_with(&format!("{f}_info")))
        });
        assert!(sampled, "no sample of {f}:\n{body}");
    }
    // A few values that must be exactly so.
    assert!(
        body.contains(r#"tollgate_policy_decisions_total{rule="no-namespace-delete",action="deny"} 1"#),
        "{body}"
    );
    assert!(body.contains(r#"tollgate_tunnels_total{kind="exec"} 1"#), "{body}");
    let upstream_bytes: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix(r#"tollgate_tunnel_bytes_total{from="upstream"} "#))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        upstream_bytes >= 3,
        "the exec's output went through a tunnel that closed: {body}"
    );
    assert!(
        body.contains(r#"tollgate_approvals_total{state="pending"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"tollgate_reloads_total{part="audit-policy",result="success"}"#),
        "{body}"
    );
    assert!(
        body.lines()
            .any(|l| l.starts_with("tollgate_authentications_total{issuer=\"-\",result=\"malformed token\"}")),
        "a refused token is counted by its short reason, never by what it claims: {body}"
    );
    assert!(
        body.contains(&format!(
            "tollgate_jwks_fetches_total{{issuer=\"{}\",result=\"ok\"}} 1",
            env.demo.github.url()
        )),
        "one discovery per issuer at start-up: {body}"
    );
    assert!(
        body.contains("tollgate_upstream_duration_seconds_count{verb=\"list\"}"),
        "{body}"
    );
    assert!(
        body.contains("tollgate_connections_refused_total{reason=\"limits\"} 0"),
        "{body}"
    );
    // Two connections held open: each counted on a worker, one worker each.
    let (_a, _b) = (env.tls().await, env.tls().await);
    let held = scrape(admin, None).await.1;
    let per_worker: Vec<u64> = held
        .lines()
        .filter(|l| l.starts_with("tollgate_worker_connections{worker="))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(per_worker.len(), workers, "a gauge per worker (workers: auto): {held}");
    assert!(per_worker.iter().sum::<u64>() >= 2, "the held connections: {held}");
    if workers >= 2 {
        assert!(
            per_worker.iter().filter(|n| **n >= 1).count() >= 2,
            "connections spread over the workers: {per_worker:?}"
        );
    }
    assert!(!body.contains("payments-api"), "no user name is a label");
    assert!(body.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");

    let (ct, _) = scrape(admin, None).await;
    assert!(ct.starts_with("application/openmetrics-text; version=1.0.0"), "{ct}");
    let (ct, text) = scrape(admin, Some("text/plain;version=0.0.4;q=1")).await;
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    assert!(
        !text.contains("# EOF") && text.contains("tollgate_requests_total{"),
        "{text}"
    );
}
