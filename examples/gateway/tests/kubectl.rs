//! End to end: the real `kubectl` through the Tollgate gateway to the
//! testkit API server. Each test starts its own demo on `127.0.0.1:0`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tollgate_gateway::demo::{self, Demo};

mod common;

struct Env {
    demo: Demo,
    dir: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let demo = demo::start(dir.path(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        Env { demo, dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        common::kubectl(&self.demo.kubeconfig, self.dir.path(), args)
    }

    async fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_stdin(args, None).await
    }

    async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut c = self.cmd(args);
        c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("kubectl is installed (see .ci/run)");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).await.unwrap();
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("kubectl finished")
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert_eq!(out.code, 0, "kubectl {args:?} failed:\n{}\n{}", out.stdout, out.stderr);
        out.stdout
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Paths (with query) the API server received.
    fn upstream_requests(&self) -> Vec<(String, String, http::HeaderMap)> {
        self.demo
            .api_server
            .requests()
            .into_iter()
            .map(|r| {
                (
                    r.method.to_string(),
                    r.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                    r.headers,
                )
            })
            .collect()
    }
}

use common::read;

impl Env {
    async fn replicas(&self) -> String {
        self.ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "staging",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: staging
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

#[tokio::test(flavor = "multi_thread")]
async fn get_as_table_and_yaml() {
    let env = Env::start().await;
    let table = env.ok(&["get", "pods"]).await;
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["demo", "1/1", "Running", "0"]);

    let yaml = env.ok(&["get", "pod", "demo", "-o", "yaml"]).await;
    assert!(yaml.starts_with("apiVersion: v1\nkind: Pod\n"), "{yaml}");
    assert!(
        yaml.contains("  name: demo\n") && yaml.contains("  namespace: default\n"),
        "{yaml}"
    );

    // kubectl asked for a Table over HTTP/2 and the gateway forwarded the Accept header.
    let reqs = env.upstream_requests();
    let (_, _, h) = reqs
        .iter()
        .find(|(m, u, _)| m == "GET" && u.starts_with("/api/v1/namespaces/default/pods?"))
        .unwrap();
    assert!(
        h["accept"]
            .to_str()
            .unwrap()
            .starts_with("application/json;as=Table;v=v1;g=meta.k8s.io")
    );
    let versions: Vec<_> = env.demo.api_server.requests().iter().map(|r| r.version).collect();
    assert!(
        versions.contains(&http::Version::HTTP_2),
        "the gateway speaks HTTP/2 upstream when offered"
    );
}

/// What a first look at a cluster asks for works on the demo: its node,
/// the `kubernetes` service, the pod's events (also under `describe`),
/// and `get all`.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_look_at_the_demo_cluster() {
    let env = Env::start().await;
    let rows = |table: &str| -> Vec<Vec<String>> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    };
    let nodes = rows(&env.ok(&["get", "nodes"]).await);
    assert_eq!(nodes[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert_eq!(
        (nodes[1][0].as_str(), nodes[1][1].as_str()),
        ("demo-node", "Ready"),
        "{nodes:?}"
    );
    let services = rows(&env.ok(&["get", "svc"]).await);
    assert_eq!(
        services[0],
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    );
    assert_eq!(
        &services[1][..5],
        ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    );
    let events = env.ok(&["get", "events"]).await;
    assert!(
        events.contains("Normal") && events.contains("pod/demo") && events.contains("Started container app"),
        "{events}"
    );
    let all = env.ok(&["get", "all"]).await;
    assert!(all.contains("pod/demo") && all.contains("service/kubernetes"), "{all}");
    let describe = env.kubectl(&["describe", "pod", "demo"]).await;
    assert_eq!(describe.code, 0, "{}", describe.stderr);
    assert!(
        describe.stdout.contains("Started container app"),
        "the pod's events: {}",
        describe.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_receives_later_events() {
    let env = Env::start().await;
    let mut child = env
        .cmd(&["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(read(&mut lines).await.starts_with("NAME"));
    assert!(read(&mut lines).await.starts_with("demo "));
    // The watch is established once kubectl has issued it upstream.
    for _ in 0..200 {
        if env.upstream_requests().iter().any(|(_, u, _)| u.contains("watch=true")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    env.ok(&["run", "late", "--image", "busybox"]).await;
    let line = read(&mut lines).await;
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cols[..3], ["late", "1/1", "Running"], "{line}");
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn create_apply_scale_delete() {
    let env = Env::start().await;
    assert_eq!(
        env.ok(&["create", "namespace", "staging"]).await,
        "namespace/staging created\n"
    );
    assert!(env.ok(&["get", "ns"]).await.contains("\nstaging "));

    let f2 = env.write("web2.yaml", &DEPLOYMENT.replace("REPLICAS", "2"));
    let f3 = env.write("web3.yaml", &DEPLOYMENT.replace("REPLICAS", "3"));
    assert_eq!(
        env.ok(&["apply", "-f", f2.to_str().unwrap()]).await,
        "deployment.apps/web created\n"
    );
    assert_eq!(
        env.ok(&["apply", "-f", f3.to_str().unwrap()]).await,
        "deployment.apps/web configured\n"
    );
    assert_eq!(env.replicas().await, "3");
    let reqs = env.upstream_requests();
    let patch = reqs
        .iter()
        .find(|(m, u, _)| m == "PATCH" && u.starts_with("/apis/apps/v1/namespaces/staging/deployments/web?"))
        .unwrap();
    assert_eq!(patch.2["content-type"], "application/strategic-merge-patch+json");

    let f4 = env.write("web4.yaml", &DEPLOYMENT.replace("REPLICAS", "4"));
    assert_eq!(
        env.ok(&["apply", "--server-side", "-f", f4.to_str().unwrap()]).await,
        "deployment.apps/web serverside-applied\n"
    );
    assert_eq!(env.replicas().await, "4");
    assert!(env.upstream_requests().iter().any(|(_, _, h)| {
        h.get("content-type")
            .is_some_and(|c| c == "application/apply-patch+yaml")
    }));

    assert_eq!(
        env.ok(&["scale", "deployment", "web", "-n", "staging", "--replicas=5"])
            .await,
        "deployment.apps/web scaled\n"
    );
    assert_eq!(env.replicas().await, "5");
    let table = env.ok(&["get", "deployments", "-n", "staging"]).await;
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["web", "5/5", "5", "5"], "{table}");

    // kubectl 1.35 and later add "from staging namespace".
    let deleted = env.ok(&["delete", "deployment", "web", "-n", "staging"]).await;
    assert!(deleted.starts_with("deployment.apps \"web\" deleted"), "{deleted}");
    let gone = env.kubectl(&["get", "deployment", "web", "-n", "staging"]).await;
    assert_eq!(gone.code, 1);
    assert_eq!(
        gone.stderr,
        "Error from server (NotFound): deployments.apps \"web\" not found\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_follow_stream() {
    let env = Env::start().await;
    assert_eq!(
        env.ok(&["logs", "demo"]).await,
        "demo/app: log line 1\ndemo/app: log line 2\ndemo/app: log line 3\n"
    );

    let mut child = env
        .cmd(&["logs", "-f", "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, "demo/app: log line 1");
    // The first line reached us while the stream was still open.
    assert!(
        child.try_wait().unwrap().is_none(),
        "logs -f must stream, not buffer until the end"
    );
    let mut rest = Vec::new();
    while let Some(l) = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
    {
        rest.push(l);
    }
    assert_eq!(rest.len(), 7, "{rest:?}");
    assert_eq!(rest.last().unwrap(), "demo/app: log line 8");
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_over_websocket() {
    let env = Env::start().await;
    assert_eq!(env.ok(&["exec", "demo", "--", "echo", "hi"]).await, "hi\n");
    let out = env
        .kubectl_stdin(&["exec", "-i", "demo", "--", "cat"], Some("line one\nline two\n"))
        .await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "line one\nline two\n"),
        "{}",
        out.stderr
    );
    let out = env
        .kubectl(&["exec", "demo", "--", "sh", "-c", "echo out; exit 3"])
        .await;
    assert_eq!(out.code, 3);
    assert_eq!(out.stdout, "out\n");
    assert!(
        out.stderr.contains("command terminated with exit code 3"),
        "{}",
        out.stderr
    );
    let reqs = env.upstream_requests();
    let (m, u, h) = reqs.iter().find(|(_, u, _)| u.contains("/exec?")).unwrap();
    assert_eq!(m, "GET");
    assert!(u.contains("command=echo&command=hi"), "{u}");
    assert_eq!(h["upgrade"], "websocket");
    assert!(
        h["sec-websocket-protocol"]
            .to_str()
            .unwrap()
            .contains("v5.channel.k8s.io")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_urls_get_the_api_servers_answer_and_are_not_forwarded() {
    let env = Env::start().await;
    let out = env.kubectl(&["get", "--raw", "/api/v1/watch"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "Error from server (InternalError): Internal Server Error: \"/api/v1/watch\": failed to create RequestInfo: unable to determine kind and namespace from url, /api/v1/watch\n"
    );
    let out = env.kubectl(&["get", "--raw", "/apis/apps/v1/proxy"]).await;
    assert!(
        out.stderr.starts_with("Error from server (InternalError)"),
        "{}",
        out.stderr
    );
    assert!(
        !env.upstream_requests()
            .iter()
            .any(|(_, u, _)| u.starts_with("/api/v1/watch") || u.starts_with("/apis/apps/v1/proxy")),
        "refused URLs never reach the API server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_cannot_choose_their_identity() {
    let env = Env::start().await;
    // Warm kubectl's discovery cache, as any real user's is, then forget it upstream.
    env.ok(&["get", "pods"]).await;
    env.demo.api_server.clear_requests();
    // kubectl --as sends Impersonate-User / Impersonate-Group: refused, never forwarded.
    let out = env
        .kubectl(&["get", "pods", "--as", "admin", "--as-group", "system:masters"])
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with(
            "Error from server (Forbidden): impersonation headers are not allowed (impersonate-group, impersonate-user)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        !env.upstream_requests()
            .iter()
            .any(|(_, u, _)| u.starts_with("/api/v1/namespaces/default/pods"))
    );
    // The record says the gateway refused it: the policy's `allow` at
    // `RequestReceived`, `refused` when it completed with the proxy's 403
    // (not `allow` beside a 403, which reads as the cluster's RBAC).
    let refused = |e: &tollgate_audit::Event| {
        e.response_status
            .as_ref()
            .and_then(|s| s.get("message"))
            .and_then(serde_json::Value::as_str)
            .is_some_and(|m| m.starts_with("impersonation headers are not allowed"))
    };
    let log = env.demo.dir.join("audit/audit.log");
    let records = common::records_until(&log, "the refused impersonation", |e| refused(e)).await;
    let completed = records.iter().find(|e| refused(e)).unwrap();
    assert_eq!(completed.stage, tollgate_audit::Stage::ResponseComplete);
    assert_eq!(completed.annotations["tollgate.dev/decision"], "refused");
    let received = records
        .iter()
        .find(|e| e.audit_id == completed.audit_id && e.stage == tollgate_audit::Stage::RequestReceived)
        .expect("its RequestReceived");
    assert_eq!(received.annotations["tollgate.dev/decision"], "allow");

    env.ok(&["get", "pods"]).await;
    for (_, u, h) in env.upstream_requests() {
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("Bearer testkit-"),
            "the gateway's own credentials, not the client's: {auth}"
        );
        assert_eq!(
            h["impersonate-user"], "github:repo:acme-demo/payments-api:ref:refs/heads/main",
            "{u}"
        );
        assert_eq!(h["impersonate-extra-tollgate.dev%2fowner"], "payments");
        assert!(h.contains_key("audit-id"));
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_shows_the_mapped_identity_and_owner() {
    let env = Env::start().await;
    let out = env.ok(&["auth", "whoami"]).await;
    let rows: Vec<(String, String)> = out
        .lines()
        .skip(1)
        .map(|l| {
            let (k, v) = l.split_at(l.find("   ").unwrap());
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let get = |k: &str| rows.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str()).unwrap_or("");
    assert_eq!(
        get("Username"),
        "github:repo:acme-demo/payments-api:ref:refs/heads/main",
        "{out}"
    );
    assert_eq!(get("Groups"), "[github-org:acme-demo system:authenticated]");
    assert_eq!(get("Extra: tollgate.dev/owner"), "[payments]");
    assert_eq!(
        get("Extra: tollgate.dev/issuer"),
        format!("[{}]", env.demo.github.url())
    );

    // A second issuer, side by side.
    let bot = tollgate_gateway::demo::mint(&env.demo.dir, "bots", &[], 600).unwrap();
    let out = env.ok(&["--token", &bot, "auth", "whoami"]).await;
    assert!(out.contains("bot:reporter"), "{out}");
    assert!(out.contains("[bots:reporting system:authenticated]"), "{out}");
    assert!(
        out.contains("Extra: tollgate.dev/owner") && out.contains("[platform]"),
        "{out}"
    );

    // An identity no owner rule maps is flagged `unmapped`.
    let other = tollgate_gateway::demo::mint(
        &env.demo.dir,
        "github",
        &[("repository".into(), "acme-demo/web".into())],
        600,
    )
    .unwrap();
    let out = env.ok(&["--token", &other, "auth", "whoami"]).await;
    assert!(out.contains("[unmapped]"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_can_i_gets_the_api_servers_answer_as_the_mapped_identity() {
    let env = Env::start().await;
    env.demo.api_server.clear_requests();
    // kubectl sends its review as protobuf; the gateway passes it on.
    assert_eq!(env.ok(&["auth", "can-i", "get", "pods"]).await.trim(), "yes");
    let reviews: Vec<_> = env
        .upstream_requests()
        .into_iter()
        .filter(|(m, u, _)| m == "POST" && u.ends_with("/selfsubjectaccessreviews"))
        .collect();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let (_, u, h) = &reviews[0];
    assert_eq!(u, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
    assert_eq!(
        h["impersonate-user"], "github:repo:acme-demo/payments-api:ref:refs/heads/main",
        "the API server is asked about the mapped identity, not the gateway's"
    );
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/vnd.kubernetes.protobuf"),
        "{h:?}"
    );

    let list = env.ok(&["auth", "can-i", "--list", "-n", "dev"]).await;
    assert!(list.lines().next().unwrap_or("").starts_with("Resources"), "{list}");
    assert!(list.lines().any(|l| l.starts_with("*.*")), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_get_kubectls_login_error() {
    let env = Env::start().await;
    // Warm kubectl's discovery cache, as any real user's is, then forget it upstream.
    env.ok(&["get", "pods"]).await;
    env.demo.api_server.clear_requests();
    let expired = tollgate_gateway::demo::mint(&env.demo.dir, "github", &[], -60).unwrap();
    let out = env.kubectl(&["--token", &expired, "get", "pods"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: You must be logged in to the server (Unauthorized: token has expired)\n"
    );
    let out = env.kubectl(&["--token", "not-a-jwt", "get", "pods"]).await;
    assert_eq!(
        out.stderr,
        "error: You must be logged in to the server (Unauthorized: malformed token)\n"
    );
    let wrong_org = tollgate_gateway::demo::mint(
        &env.demo.dir,
        "github",
        &[("repository_owner".into(), "evil".into())],
        600,
    )
    .unwrap();
    let out = env.kubectl(&["--token", &wrong_org, "get", "pods"]).await;
    assert_eq!(
        out.stderr,
        "error: You must be logged in to the server (Unauthorized: token claims are not accepted)\n"
    );
    let wrong_aud =
        tollgate_gateway::demo::mint(&env.demo.dir, "github", &[("aud".into(), "kubernetes".into())], 600).unwrap();
    let out = env.kubectl(&["--token", &wrong_aud, "get", "pods"]).await;
    assert_eq!(
        out.stderr,
        "error: You must be logged in to the server (Unauthorized: token audience is not accepted)\n"
    );
    assert!(
        !env.upstream_requests()
            .iter()
            .any(|(_, u, _)| u.starts_with("/api/v1/namespaces/default/pods")),
        "refused tokens never reach the API server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused() {
    let env = Env::start().await;
    let big = env.write("big.txt", &"x".repeat(4 * 1024 * 1024));
    let out = env
        .kubectl(&["create", "configmap", "big", &format!("--from-file={}", big.display())])
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("Request entity too large: limit is 3145728"),
        "{}",
        out.stderr
    );
    assert!(
        !env.upstream_requests()
            .iter()
            .any(|(m, u, _)| m == "POST" && u.contains("configmaps"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_endpoints_are_apart_from_the_api() {
    let env = Env::start().await;
    let admin = env.demo.gateway.admin_addr.unwrap();
    let get = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(admin).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out).await.unwrap();
        out
    };
    assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
    assert!(
        get("/api/v1/pods").await.starts_with("HTTP/1.1 404"),
        "the admin listener serves no API"
    );
    // and the API listener does not serve the admin paths: /healthz goes upstream.
    env.ok(&["get", "--raw", "/healthz"]).await;
    assert!(env.upstream_requests().iter().any(|(_, u, _)| u == "/healthz"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_baseline_policy_blocks_warns_and_allows() {
    let env = Env::start().await;
    assert_eq!(
        env.ok(&["create", "namespace", "prod"]).await,
        "namespace/prod created\n"
    );
    let out = env.kubectl(&["delete", "namespace", "prod"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "Error from server (Forbidden): namespaces \"prod\" is forbidden: blocked by Tollgate rule \"no-namespace-delete\": deleting a namespace deletes everything in it; ask the platform team\n"
    );
    assert!(
        env.ok(&["get", "ns"]).await.contains("\nprod "),
        "the namespace is still there"
    );

    let out = env.kubectl(&["get", "secrets"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("demo-credentials"));
    assert_eq!(
        out.stderr,
        "Warning: reading Secrets is recorded and reviewed; values are masked (Tollgate rule \"warn-on-secret-reads\")\n"
    );

    let out = env.kubectl(&["exec", "demo", "--", "rm", "-rf", "/"]).await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("blocked by Tollgate rule \"no-destructive-exec\""),
        "{}",
        out.stderr
    );
    assert!(
        !env.upstream_requests().iter().any(|(_, u, _)| u.contains("command=rm")),
        "never forwarded"
    );
    assert_eq!(
        env.ok(&["exec", "demo", "--", "ls"]).await,
        "bin\netc\nhome\ntmp\nusr\nvar\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_changes_apply_without_restart_and_bad_files_are_ignored() {
    let env = Env::start().await;
    env.ok(&["get", "pods"]).await;
    let path = env.demo.dir.join("policy.yaml");
    let deny_pods = "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: freeze\n  match: {verbs: [list], resources: [{resources: [pods]}]}\n  action: deny\n  message: change freeze\n";
    std::fs::write(&path, deny_pods).unwrap();
    let mut refused = None;
    for _ in 0..40 {
        let out = env.kubectl(&["get", "pods"]).await;
        if out.code != 0 {
            refused = Some(out.stderr);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let refused = refused.expect("the new policy was picked up");
    assert!(
        refused.contains("blocked by Tollgate rule \"freeze\": change freeze"),
        "{refused}"
    );
    // A broken file keeps the policy in force.
    std::fs::write(
        &path,
        "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: freeze\n  action: explode\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let out = env.kubectl(&["get", "pods"]).await;
    assert!(
        out.stderr.contains("blocked by Tollgate rule \"freeze\""),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_masked_where_a_rule_asks_and_only_there() {
    let env = Env::start().await;
    let f = env.write("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: default}\nstringData: {password: s3cr3t-value}\n");
    env.ok(&["apply", "-f", f.to_str().unwrap()]).await;
    // The baseline's warn-on-secret-reads rule has `mask: true`.
    let yaml = env.ok(&["get", "secret", "db", "-o", "yaml"]).await;
    assert!(!yaml.contains("s3cr3t"), "{yaml}");
    assert!(
        yaml.contains("password: PHJlZGFjdGVkPg=="),
        "data stays base64 (of <redacted>): {yaml}"
    );
    assert!(
        yaml.contains(r#""stringData":{"password":"<redacted>"}"#),
        "masked inside last-applied: {yaml}"
    );
    let table = env.ok(&["get", "secrets"]).await;
    assert!(table.contains("db ") && !table.contains("s3cr3t"));
    let json = env.ok(&["get", "secrets", "-o", "json"]).await;
    assert!(!json.contains("s3cr3t") && !json.contains("czNjcjN0"), "{json}");
    // A watch is masked event by event.
    let mut child = env
        .cmd(&["get", "secret", "db", "-w", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    while !seen.contains("PHJlZGFjdGVkPg==") {
        seen.push_str(&read(&mut lines).await);
    }
    assert!(!seen.contains("s3cr3t"));
    child.kill().await.unwrap();

    // Without a masking rule, the real values come through.
    let path = env.demo.dir.join("policy.yaml");
    std::fs::write(&path, "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules: []\n").unwrap();
    let mut real = String::new();
    for _ in 0..40 {
        real = env
            .ok(&["get", "secret", "db", "-o", "jsonpath={.data.password}"])
            .await;
        if real != "PHJlZGFjdGVkPg==" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(real, "czNjcjN0LXZhbHVl", "base64 of s3cr3t-value");
}

/// A second gateway in this process with the demo's configuration, one
/// line of it replaced (`from` → `to`), and a kubeconfig for it.
async fn second_gateway(
    env: &common::DemoEnv,
    name: &str,
    (from, to): (&str, &str),
) -> (tollgate_gateway::Running, std::path::PathBuf) {
    let config = std::fs::read_to_string(env.dir.path().join("tollgate.yaml")).unwrap();
    assert!(config.contains(from), "the demo's configuration has {from:?}");
    let path = env.write(&format!("tollgate-{name}.yaml"), &config.replace(from, to));
    let mut c = tollgate_gateway::Config::load(&path).unwrap();
    c.listen = "127.0.0.1:0".parse().unwrap();
    let gateway = tollgate_gateway::start(&c).await.unwrap();
    let kubeconfig = env.write(
        &format!("{name}.kubeconfig"),
        &std::fs::read_to_string(&env.demo.kubeconfig)
            .unwrap()
            .replace(&env.demo.gateway.addr.to_string(), &gateway.addr.to_string()),
    );
    (gateway, kubeconfig)
}

/// Issue 20: the demo's GitHub issuer rewritten the way Kubernetes users
/// write it, with CEL — claim validation by expression and message,
/// username and groups by expression, extra by valueExpression, a user
/// validation rule — loads, and the real kubectl sees the result.
#[tokio::test(flavor = "multi_thread")]
async fn cel_mappings_show_in_kubectl_auth_whoami_and_refuse_what_they_should() {
    let env = common::DemoEnv::start().await;
    let authn = std::fs::read_to_string(env.dir.path().join("authn.yaml")).unwrap();
    let claim_form = "  claimValidationRules:\n  - claim: repository_owner\n    requiredValue: acme-demo\n  claimMappings:\n    username: {claim: sub, prefix: \"github:\"}\n    groups: {claim: repository_owner, prefix: \"github-org:\"}\n";
    let cel_form = r#"  claimValidationRules:
  - expression: 'claims.repository_owner == "acme-demo" && claims.ref == "refs/heads/main"'
    message: only acme-demo's main branch
  claimMappings:
    username:
      expression: '"github:" + claims.repository + "@" + claims.ref.split("/")[2]'
    groups:
      expression: '["github-org:" + claims.repository_owner, "github-env:" + claims.?environment.orValue("none")]'
    extra:
    - key: github.com/workflow
      valueExpression: claims.workflow
  userValidationRules:
  - expression: "!user.username.startsWith('system:')"
    message: no system users
"#;
    assert!(
        authn.contains(claim_form),
        "the demo's GitHub mappings are where the test expects them"
    );
    env.write("authn-cel.yaml", &authn.replace(claim_form, cel_form));
    let (gateway, kubeconfig) = second_gateway(&env, "cel", ("config: authn.yaml", "config: authn-cel.yaml")).await;
    let run = |args: Vec<String>| {
        let kubeconfig = kubeconfig.clone();
        let dir = env.dir.path().to_path_buf();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::kubectl_at(&kubeconfig, &dir, &args, &[], None).await
        }
    };
    let who = run(vec!["auth".into(), "whoami".into()]).await;
    assert_eq!(who.code, 0, "{}", who.stderr);
    assert!(
        who.stdout.contains("github:acme-demo/payments-api@main"),
        "{}",
        who.stdout
    );
    assert!(who.stdout.contains("github-env:production"), "{}", who.stdout);
    assert!(
        who.stdout.contains("github.com/workflow") && who.stdout.contains("[deploy]"),
        "the extra from valueExpression: {}",
        who.stdout
    );
    // A token from a feature branch fails the claim rule: 401, and the
    // message is in the gateway's audit record.
    let (code, token, err) = common::tollgate(&[
        "token",
        "--demo-dir",
        env.dir.path().to_str().unwrap(),
        "--claim",
        "ref=refs/heads/feature",
    ]);
    assert_eq!(code, 0, "{err}");
    let refused = run(vec![
        "--token".into(),
        token.trim().to_owned(),
        "get".into(),
        "pods".into(),
    ])
    .await;
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("You must be logged in"), "{}", refused.stderr);
    // The rule's message is on record with the refusal.
    env.records_until("the 401 with the claim rule's message", |e| {
        e.code() == Some(401)
            && e.annotations
                .values()
                .any(|v| v.contains("only acme-demo's main branch"))
    })
    .await;
    gateway.shutdown().await;
}

/// Issue 20: a policy `cel:` condition refuses and allows through the
/// demo with the real kubectl.
#[tokio::test(flavor = "multi_thread")]
async fn a_cel_policy_keeps_images_to_the_company_registry() {
    let env = common::DemoEnv::start().await;
    let baseline = std::fs::read_to_string(env.dir.path().join("policy.yaml")).unwrap();
    let rule = r#"
- name: company-registry-only
  match:
    verbs: [create, update, patch]
    resources: [{group: apps, resources: [deployments]}]
  when:
  - cel: '!object.spec.template.spec.containers.all(c, c.image.startsWith("registry.acme.example/"))'
  action: deny
  message: images come from registry.acme.example
"#;
    assert!(baseline.contains("\nrules:\n"), "the baseline has a rules list");
    env.write("policy-cel.yaml", &format!("{}{rule}", baseline.trim_end()));
    let (gateway, kubeconfig) =
        second_gateway(&env, "cel-policy", ("file: policy.yaml", "file: policy-cel.yaml")).await;
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let (kubeconfig, dir) = (kubeconfig.clone(), env.dir.path().to_path_buf());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::kubectl_at(&kubeconfig, &dir, &args, &[], None).await
        }
    };
    let refused = run(&["create", "deployment", "evil", "--image", "docker.io/library/nginx"]).await;
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("images come from registry.acme.example"),
        "{}",
        refused.stderr
    );
    let allowed = run(&[
        "create",
        "deployment",
        "web",
        "--image",
        "registry.acme.example/web:1.0",
    ])
    .await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    // Changing the image afterwards goes through the same rule (a patch).
    let patched = run(&["set", "image", "deployment/web", "web=docker.io/evil:latest"]).await;
    assert_ne!(patched.code, 0, "{}", patched.stdout);
    assert!(
        patched.stderr.contains("images come from registry.acme.example"),
        "{}",
        patched.stderr
    );
    gateway.shutdown().await;
}
