//! End to end: kubectl through the demo as two owners (one mapped, one
//! not), then `tollgate review` shows both, the refusals, the approval and
//! the exec session.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tollgate_approval::cli as approvals_cli;
use tollgate_gateway::demo;

mod common;

use common::tollgate;

struct Env {
    demo: demo::Demo,
    dir: tempfile::TempDir,
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = common::kubectl(&self.demo.kubeconfig, self.dir.path(), args);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    async fn run(&self, args: &[&str]) -> bool {
        self.cmd(args).output().await.unwrap().status.success()
    }
}

/// Waits for the pending approval of a held kubectl command and decides it.
async fn decide_pending(approver: &std::path::Path, approve: bool, reason: &str) -> String {
    for _ in 0..200 {
        let mut out = Vec::new();
        approvals_cli::list(approver, Some("pending"), &mut out).await.unwrap();
        if let Some(id) = String::from_utf8(out)
            .unwrap()
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
        {
            let mut out = Vec::new();
            approvals_cli::decide(approver, id, approve, Some(reason), &mut out)
                .await
                .unwrap();
            return id.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no approval became pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_shows_owners_refusals_approvals_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo::start_with_hold(dir.path(), "127.0.0.1:0".parse().unwrap(), Duration::from_secs(1))
        .await
        .unwrap();
    let env = Env { demo, dir };
    let d = env.dir.path().to_str().unwrap().to_owned();
    let approver = env.dir.path().join("approver.kubeconfig");

    // The mapped owner (payments) works, is refused once, opens a shell,
    // reads a Secret (a warn rule), asks for two approvals (one granted,
    // one denied), trips a dry-run rule and reads a non-resource URL.
    assert!(env.run(&["get", "pods"]).await);
    assert!(!env.run(&["delete", "namespace", "prod"]).await);
    assert!(env.run(&["exec", "demo", "--", "echo", "hi"]).await);
    assert!(env.run(&["create", "namespace", "prod"]).await);
    assert!(
        env.run(&[
            "create",
            "secret",
            "generic",
            "db",
            "-n",
            "prod",
            "--from-literal=password=s3cr3t"
        ])
        .await
    );
    assert!(env.run(&["get", "secret", "db", "-n", "prod"]).await);
    let manifest = env.dir.path().join("web.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: nginx}]}\n",
    )
    .unwrap();
    assert!(env.run(&["apply", "-f", manifest.to_str().unwrap()]).await);
    let delete = env.cmd(&["delete", "deployment", "web", "-n", "prod"]).spawn().unwrap();
    let id = decide_pending(&approver, true, "cleanup").await;
    assert!(delete.wait_with_output().await.unwrap().status.success());
    assert!(env.run(&["apply", "-f", manifest.to_str().unwrap()]).await);
    let delete = env.cmd(&["delete", "deployment", "web", "-n", "prod"]).spawn().unwrap();
    let denied = decide_pending(&approver, false, "not during the freeze").await;
    assert!(!delete.wait_with_output().await.unwrap().status.success());

    let policy = env.dir.path().join("policy.yaml");
    let mut rules = std::fs::read_to_string(&policy).unwrap();
    rules.push_str(
        "\n- name: trial-no-configmap-writes\n  match:\n    verbs: [create, update, patch]\n    resources: [{group: \"\", resources: [configmaps]}]\n  action: deny\n  message: configmaps come from the pipeline\n  mode: dryrun\n",
    );
    std::fs::write(&policy, rules).unwrap();
    let mut tripped = false;
    for i in 0..60 {
        let name = format!("cfg-{i}");
        let out = env
            .cmd(&["create", "configmap", &name, "-n", "prod", "--from-literal=a=b"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "a dry-run rule never blocks");
        if String::from_utf8_lossy(&out.stderr).contains("Tollgate dry-run") {
            tripped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(tripped, "the policy file was reloaded with the dry-run rule");
    let _ = env.run(&["get", "--raw", "/metrics"]).await;

    // A bot of the platform team, a token from a repository no owner rule
    // maps, and a bad token.
    let (code, bot, err) = tollgate(&[
        "token",
        "--demo-dir",
        &d,
        "--issuer",
        "bots",
        "--claim",
        "sub=nightly-report",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        env.run(&["--token", bot.trim(), "get", "deployments", "-n", "prod"])
            .await
    );
    let (code, other, err) = tollgate(&[
        "token",
        "--demo-dir",
        &d,
        "--claim",
        "repository=acme-demo/unknown-repo",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(env.run(&["--token", other.trim(), "get", "pods"]).await);
    assert!(!env.run(&["--token", "not-a-token", "get", "pods"]).await);

    // Let the last records reach the log.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let audit = format!("{d}/audit");
    if std::env::var_os("TOLLGATE_REGENERATE_FIXTURE").is_some() {
        regenerate_fixture(&audit, &d);
    }
    let (code, md, err) = tollgate(&["review", "--audit", &audit, "--format", "md"]);
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("## payments"), "{md}");
    assert!(md.contains("## unmapped (no owner rule matched)"), "{md}");
    assert!(md.contains("| no-namespace-delete | 1 |"), "{md}");
    assert!(
        md.contains(&format!("| {id} | `kubectl delete deployment web -n prod` |")),
        "{md}"
    );
    assert!(md.contains("| approved | alice@acme.example | cleanup |"), "{md}");
    assert!(
        md.contains(&format!("| {denied} | `kubectl delete deployment web -n prod` |"))
            && md.contains("| denied | alice@acme.example | not during the freeze |"),
        "{md}"
    );
    assert!(md.contains("Approvals: 2 requested (1 approved, 1 denied)."), "{md}");
    assert!(md.contains("| trial-no-configmap-writes | 1 |"), "{md}");
    assert!(md.contains("| get /metrics |"), "a non-resource URL: {md}");
    assert!(md.contains("`bot:nightly-report`"), "the platform team's bot: {md}");
    assert!(
        md.contains("| default/demo (exec) | `kubectl exec demo -n default -c app -- echo hi` | 0 |")
            && md.contains(".cast` |"),
        "the exec session and its recording: {md}"
    );
    tables_are_whole(&md);
    assert!(
        md.contains("## Unaccountable activity") && md.contains("127.0.0.1 —"),
        "{md}"
    );
    assert!(md.contains("1 identity no owner rule maps"), "{md}");

    let (code, json, err) = tollgate(&["review", "--audit", &audit, "--format", "json", "--owner", "payments"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["owners"]["payments"]["writes"].as_u64().unwrap() >= 3);
    assert!(v["owners"].get("unmapped").is_none(), "--owner filters");
    // Granted vs used, from RBAC objects as kubectl prints them.
    let rbac = format!("{d}/rbac.yaml");
    std::fs::write(
        &rbac,
        "apiVersion: v1\nkind: List\nitems:\n\
         - {kind: ClusterRole, metadata: {name: edit-all}, rules: [{verbs: ['*'], apiGroups: ['*'], resources: ['*']}]}\n\
         - kind: ClusterRoleBinding\n  metadata: {name: payments-edit}\n  roleRef: {kind: ClusterRole, name: edit-all}\n\
         \x20 subjects: [{kind: User, name: 'github:repo:acme-demo/payments-api:ref:refs/heads/main'}]\n\
         - kind: RoleBinding\n  metadata: {name: payments-staging, namespace: staging}\n  roleRef: {kind: ClusterRole, name: edit-all}\n\
         \x20 subjects: [{kind: Group, name: 'github-org:acme-demo'}]\n",
    )
    .unwrap();
    let (code, md, err) = tollgate(&["review", "--audit", &audit, "--rbac", &rbac, "--owner", "payments"]);
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("## Granted vs used"), "{md}");
    assert!(md.contains("Bound in but never used: staging."), "{md}");
    assert!(md.contains("kind: Role\nmetadata:\n  name: github-repo-acme-demo-payments-api-ref-refs-heads-minimal\n  namespace: prod"), "{md}");
    assert!(
        md.contains("resources: [\"deployments\"]\n  verbs: [create, delete, get]"),
        "{md}"
    );
    let page_path = format!("{d}/review.html");
    let (code, _, err) = tollgate(&["review", "--audit", &audit, "--format", "html", "--out", &page_path]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(
        page.contains("<h2 id=\"owner-payments\">payments</h2>")
            && page.contains("<h2 id=\"owner-unmapped\">unmapped (no owner rule matched)</h2>"),
        "{page}"
    );
    assert!(page.contains("No owner rule maps these identities"));
    assert!(page.contains("<svg") && page.contains("<details><summary>show</summary>"));
    assert!(
        !page.contains(" src=") && !page.contains("href=\"http") && !page.contains("<link"),
        "self-contained: no external assets"
    );
    assert!(page.contains("<h2>What needs a decision</h2>") && page.contains("1 identity no owner rule maps"));
    assert!(page.contains(".cast\">"), "the recording is linked: {page}");

    // Checked against the current configuration: the demo's issuers are all
    // still configured; drop two of them and their identities stand out.
    let (code, md, err) = tollgate(&["review", "--audit", &audit, "--owners", &format!("{d}/tollgate.yaml")]);
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("Every issuer on the records is still configured."), "{md}");
    assert!(!md.contains("owner no current rule names"), "{md}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let github = v["owners"]["payments"]["identities"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["issuer"]
        .as_str()
        .unwrap()
        .to_owned();
    let authn = format!("{d}/authn-now.yaml");
    std::fs::write(
        &authn,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n\
             - issuer: {{url: \"{github}\", audiences: [tollgate]}}\n  claimMappings: {{username: {{claim: sub, prefix: \"\"}}}}\n"
        ),
    )
    .unwrap();
    let owners_now = format!("{d}/owners-now.yaml");
    std::fs::write(
        &owners_now,
        "- name: platform\n  match: {issuer: \"https://elsewhere.example\"}\n",
    )
    .unwrap();
    let (code, md, err) = tollgate(&[
        "review",
        "--audit",
        &audit,
        "--owners",
        &authn,
        "--owners",
        &owners_now,
        "--format",
        "md",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        md.contains("| issuer no longer configured | identities | requests | last seen |"),
        "{md}"
    );
    assert!(md.contains("(issuer no longer configured)**"), "{md}");
    assert!(
        md.contains("| owner no current rule names | requests |") && md.contains("| payments |"),
        "{md}"
    );
    let (code, _, err) = tollgate(&["review", "--audit", &audit, "--owners", &manifest.display().to_string()]);
    assert_ne!(code, 0);
    assert!(err.contains("web.yaml"), "{err}");
    let (code, _, err) = tollgate(&["review", "--audit", &audit, "--format", "pdf"]);
    assert_ne!(code, 0);
    assert!(err.contains("use html, md, json or csv"), "{err}");
}

/// Every row of every Markdown table has as many cells as its header, so
/// the report pastes into a ticket without broken tables.
fn tables_are_whole(md: &str) {
    let cells = |l: &str| l.replace("\\|", "").matches('|').count();
    let mut head = None;
    for l in md.lines() {
        if l.starts_with('|') {
            let n = cells(l);
            assert_eq!(*head.get_or_insert(n), n, "a broken table row: {l}\n{md}");
        } else {
            head = None;
        }
    }
}

/// Writes what this run recorded as the golden test's fixture
/// (`tests/fixtures/review/`): the trail split as a rotated, gzip-compressed
/// file and the current one, the temporary directory replaced by a fixed
/// path, and an `AuthenticationConfiguration` that still configures only
/// the GitHub issuer.
fn regenerate_fixture(audit: &str, dir: &str) {
    use std::io::Write;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/review");
    std::fs::create_dir_all(&fixture).unwrap();
    let mut lines = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(audit).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        lines.extend(text.lines().map(|l| l.replace(dir, "/var/lib/tollgate")));
    }
    let half = lines.len() / 2;
    let gz = std::fs::File::create(fixture.join("audit-2026-11-27T00-00-00.000.log.gz")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
    for l in &lines[..half] {
        writeln!(gz, "{l}").unwrap();
    }
    gz.finish().unwrap();
    let mut rest = lines[half..].join("\n");
    rest.push('\n');
    std::fs::write(fixture.join("audit.log"), rest).unwrap();
    let github = lines
        .iter()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let issuer = v["annotations"]["tollgate.dev/issuer"].as_str()?;
            (v["annotations"]["tollgate.dev/owner"] == "payments").then(|| issuer.to_owned())
        })
        .unwrap();
    std::fs::write(
        fixture.join("authn.yaml"),
        format!(
            "# The demo's configuration after the bots and people issuers were removed.\n\
             apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n\
             - issuer: {{url: \"{github}\", audiences: [tollgate]}}\n  claimMappings: {{username: {{claim: sub, prefix: \"github:\"}}}}\n"
        ),
    )
    .unwrap();
}
