//! `tollgate demo`: the test API server, two test OIDC issuers and the
//! gateway in front, with a kubeconfig for kubectl; and `tollgate token`,
//! which mints more demo tokens. A demo, not a deployment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tollgate_oidc::Algorithm;
use tollgate_testkit::{ApiServer, SigningKey, TestIssuer};

use crate::{Config, Running, StartError};

/// The baseline policy pack (`docs/policies/baseline.yaml`), which the demo loads.
pub const BASELINE_POLICY: &str = include_str!("../../../docs/policies/baseline.yaml");
/// What a real cluster would grant the demo's identities (for `tollgate review --rbac`).
pub const DEMO_RBAC: &str = include_str!("../../../docs/review/demo-rbac.yaml");
/// The audit policy the demo writes (a Kubernetes audit `Policy`).
pub const AUDIT_POLICY: &str = include_str!("../../../docs/audit/demo-policy.yaml");

/// The audience demo tokens carry.
pub const AUDIENCE: &str = "tollgate-demo";
/// The repository the demo's kubectl identity builds.
pub const REPOSITORY: &str = "acme-demo/payments-api";

/// A running demo.
#[derive(Debug)]
pub struct Demo {
    /// The test API server behind the gateway.
    pub api_server: ApiServer,
    /// The GitHub Actions-shaped issuer.
    pub github: TestIssuer,
    /// A second issuer, for bots.
    pub bots: TestIssuer,
    /// A third issuer, for people (approvers).
    pub people: TestIssuer,
    /// The gateway.
    pub gateway: Running,
    /// The kubeconfig that points kubectl at the gateway.
    pub kubeconfig: PathBuf,
    /// Where the demo's files are.
    pub dir: PathBuf,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::Io { what, source }
}

fn write(path: &Path, text: &str) -> Result<(), StartError> {
    std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))
}

fn indent(text: &str, by: usize) -> String {
    text.lines().map(|l| format!("{}{l}\n", " ".repeat(by))).collect()
}

/// Starts everything on `listen` and writes into `dir`: `upstream.kubeconfig`
/// (gateway → API server), `gateway.crt`/`.key`, `authn.yaml` (the
/// API server's `AuthenticationConfiguration` for both issuers),
/// `owners.yaml`, `issuers.json` and the issuers' keys (for `tollgate
/// token`), `tollgate.yaml` (what `tollgate serve` would read) and
/// `kubeconfig` (kubectl → gateway, with a GitHub Actions-shaped token for
/// `acme-demo/payments-api`, owned by `payments`).
///
/// # Errors
/// When a file cannot be written or a listener bound.
pub async fn start(dir: &Path, listen: SocketAddr) -> Result<Demo, StartError> {
    start_with_hold(dir, listen, std::time::Duration::from_secs(20)).await
}

/// [`start`], holding requests that wait for an approval `hold` before
/// answering 429 (tests use a short one).
///
/// # Errors
/// When a file cannot be written or a listener bound.
pub async fn start_with_hold(dir: &Path, listen: SocketAddr, hold: std::time::Duration) -> Result<Demo, StartError> {
    // Before anything is written: a second demo on the same address must
    // not rewrite the running one's issuer keys and then fail on the port.
    if listen.port() != 0 {
        std::net::TcpListener::bind(listen).map_err(|source| StartError::Io {
            what: format!(
                "{listen} cannot be bound (is another `tollgate demo` running? give --listen); nothing in {} was changed",
                dir.display()
            ),
            source,
        })?;
    }
    not_someone_elses(dir)?;
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let api_server = ApiServer::builder().token(random_token()).start().await?;
    write(&dir.join("upstream.kubeconfig"), &api_server.kubeconfig())?;
    let cert = api_server.ca().server_cert(&["localhost", "127.0.0.1"])?;
    write(&dir.join("gateway.crt"), &cert.cert_pem)?;
    write(&dir.join("gateway.key"), &cert.key_pem)?;

    let github = TestIssuer::start(Algorithm::RS256).await?;
    let bots = TestIssuer::start(Algorithm::EdDSA).await?;
    // People (approvers) sign in with a human identity provider.
    let people = TestIssuer::start(Algorithm::ES256).await?;
    let authn = format!(
        "# The API server's own format: this file works unchanged with --authentication-config.\n\
         apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n\
         - issuer:\n    url: {gh}\n    audiences: [{AUDIENCE}]\n    certificateAuthority: |\n{gh_ca}\
         \x20 claimValidationRules:\n  - claim: repository_owner\n    requiredValue: acme-demo\n\
         \x20 claimMappings:\n    username: {{claim: sub, prefix: \"github:\"}}\n    groups: {{claim: repository_owner, prefix: \"github-org:\"}}\n\
         - issuer:\n    url: {bots}\n    audiences: [{AUDIENCE}]\n    certificateAuthority: |\n{bots_ca}\
         \x20 claimMappings:\n    username: {{claim: sub, prefix: \"bot:\"}}\n    groups: {{claim: groups, prefix: \"bots:\"}}\n\
         - issuer:\n    url: {people}\n    audiences: [{AUDIENCE}]\n    certificateAuthority: |\n{people_ca}\
         \x20 claimMappings:\n    username: {{claim: email, prefix: \"\"}}\n    groups: {{claim: groups, prefix: \"\"}}\n",
        gh = github.url(),
        gh_ca = indent(github.ca_pem(), 6),
        bots = bots.url(),
        bots_ca = indent(bots.ca_pem(), 6),
        people = people.url(),
        people_ca = indent(people.ca_pem(), 6),
    );
    write(&dir.join("authn.yaml"), &authn)?;
    let owners = format!(
        "# Ordered owner rules: the first match names the owner.\n\
         - name: payments\n  team: payments-platform\n  contact: payments-oncall@acme.example\n  labels: {{tier: \"1\"}}\n  match:\n    issuer: {gh}\n    claims:\n      repository: acme-demo/payments-*\n\
         - name: platform\n  team: platform-engineering\n  contact: platform@acme.example\n  match:\n    issuer: {bots}\n\
         - name: platform\n  team: platform-engineering\n  contact: platform@acme.example\n  match:\n    issuer: {people}\n",
        gh = github.url(),
        bots = bots.url(),
        people = people.url(),
    );
    write(&dir.join("owners.yaml"), &owners)?;
    let mut issuers = Vec::new();
    for (name, issuer) in [("github", &github), ("bots", &bots), ("people", &people)] {
        let key = issuer.key();
        let key_file = format!("issuer-{name}.key");
        write(&dir.join(&key_file), &key.private_pem)?;
        issuers.push(json!({"name": name, "url": issuer.url(), "alg": format!("{:?}", key.alg), "kid": key.kid, "key": key_file}));
    }
    write(
        &dir.join("issuers.json"),
        &serde_json::to_string_pretty(&issuers).unwrap_or_default(),
    )?;

    write(&dir.join("policy.yaml"), BASELINE_POLICY)?;
    write(&dir.join("audit-policy.yaml"), AUDIT_POLICY)?;
    write(&dir.join("rbac.yaml"), DEMO_RBAC)?;
    let yaml = format!(
        "{WRITTEN_BY_DEMO}\nlisten: {listen}\ntls:\n  cert: gateway.crt\n  key: gateway.key\nadmin:\n  listen: 127.0.0.1:0\n\
         upstream:\n  kubeconfig: upstream.kubeconfig\n  identity: impersonate\n\
         authentication:\n  mode: oidc\n  config: authn.yaml\n  owners: owners.yaml\n  unmapped: allow\n\
         policy:\n  file: policy.yaml\n\
         audit:\n  policy: audit-policy.yaml\n  log:\n    path: audit/audit.log\n    durability: batch\n  \
         sessions:\n    dir: sessions\napproval:\n  holdSeconds: {hold}\nshutdown:\n  drainSeconds: 5\n",
        hold = hold.as_secs()
    );
    let config_path = dir.join("tollgate.yaml");
    write(&config_path, &yaml)?;
    let config = Config::load(&config_path)?;
    let gateway = crate::start(&config).await?;

    let token = mint(dir, "github", &[], 12 * 3600)?;
    let kubeconfig = dir.join("kubeconfig");
    let url = format!("https://{}", gateway.addr);
    write(
        &kubeconfig,
        &tollgate_testkit::kubeconfig(&url, api_server.ca_pem(), Some(&token)),
    )?;
    // An approver: alice, of platform-admins, signed in with the people IdP.
    let alice = mint(dir, "people", &[], 12 * 3600)?;
    write(
        &dir.join("approver.kubeconfig"),
        &tollgate_testkit::kubeconfig(&url, api_server.ca_pem(), Some(&alice)),
    )?;
    Ok(Demo {
        api_server,
        github,
        bots,
        people,
        gateway,
        kubeconfig,
        dir: dir.to_path_buf(),
    })
}

/// The first line of the `tollgate.yaml` a demo writes: what marks a
/// directory as a demo's own.
const WRITTEN_BY_DEMO: &str = "# Written by `tollgate demo`.";

/// The files [`start`] writes into its directory.
const DEMO_FILES: [&str; 15] = [
    "upstream.kubeconfig",
    "gateway.crt",
    "gateway.key",
    "authn.yaml",
    "owners.yaml",
    "issuer-github.key",
    "issuer-bots.key",
    "issuer-people.key",
    "issuers.json",
    "policy.yaml",
    "audit-policy.yaml",
    "rbac.yaml",
    "tollgate.yaml",
    "kubeconfig",
    "approver.kubeconfig",
];

/// Refuses `dir` when it holds a file the demo would write over and is not
/// an earlier demo's directory (its `tollgate.yaml` says so): `--dir
/// /etc/tollgate` would otherwise replace a deployment's configuration and
/// policies with the demo's.
fn not_someone_elses(dir: &Path) -> Result<(), StartError> {
    if written_by_demo(&dir.join("tollgate.yaml")) {
        return Ok(());
    }
    let taken: Vec<&str> = DEMO_FILES
        .into_iter()
        .filter(|f| std::fs::symlink_metadata(dir.join(f)).is_ok())
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    Err(StartError::Io {
        what: format!(
            "{} holds files `tollgate demo` did not write and would replace ({}); nothing was changed",
            dir.display(),
            taken.join(", ")
        ),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "give --dir a new or empty directory, or one an earlier demo wrote",
        ),
    })
}

/// Whether `config` is a regular file that starts with the demo's marker:
/// only that many bytes are read, and a FIFO or a device is never opened
/// (opening a FIFO would wait for a writer).
fn written_by_demo(config: &Path) -> bool {
    use std::io::Read;
    if !std::fs::metadata(config).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = Vec::with_capacity(WRITTEN_BY_DEMO.len());
    std::fs::File::open(config)
        .and_then(|f| f.take(WRITTEN_BY_DEMO.len() as u64).read_to_end(&mut head))
        .is_ok_and(|_| head == WRITTEN_BY_DEMO.as_bytes())
}

/// Mints a demo token from a demo directory's issuer (`github` or `bots`),
/// with `claims` (`key=value`; a value that parses as JSON is used as
/// JSON) over the defaults, valid for `ttl_seconds` (negative: already
/// expired).
///
/// # Errors
/// When the directory holds no such demo issuer.
pub fn mint(dir: &Path, issuer: &str, claims: &[(String, String)], ttl_seconds: i64) -> Result<String, StartError> {
    let path = dir.join("issuers.json");
    let text = tollgate_kube::files::read_config_text(&path)
        .map_err(io(format!("reading {} (run `tollgate demo` first)", path.display())))?;
    let bad = |field: &str, message: String| {
        StartError::Config(crate::ConfigError::new(path.display().to_string(), field, message))
    };
    let list: Value = serde_json::from_str(&text).map_err(|e| bad("(document)", e.to_string()))?;
    let entry = list
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == issuer))
        .ok_or_else(|| bad("name", format!("no demo issuer {issuer:?} (github, bots or people)")))?;
    let s = |k: &str| entry[k].as_str().unwrap_or("").to_owned();
    let alg = tollgate_oidc::parse_algorithm(&s("alg")).map_err(|e| bad("alg", e.to_string()))?;
    let pem =
        tollgate_kube::files::read_config_text(&dir.join(s("key"))).map_err(io(format!("reading {}", s("key"))))?;
    let key = SigningKey::from_pem(alg, s("kid"), &pem)?;
    let url = s("url");
    let now = tollgate_testkit::now() as i64;
    let mut body = if issuer == "github" {
        // Another repository's token names that repository in its subject
        // too, as GitHub's do.
        let repository = claims
            .iter()
            .find(|(k, _)| k == "repository")
            .map_or(REPOSITORY, |(_, v)| v.as_str());
        tollgate_testkit::github_actions_claims(&url, repository, AUDIENCE, 0)
    } else if issuer == "people" {
        json!({"iss": url, "aud": AUDIENCE, "sub": "00u1alice", "email": "alice@acme.example", "email_verified": true,
               "groups": ["platform-admins"], "iat": now})
    } else {
        json!({"iss": url, "aud": AUDIENCE, "sub": "reporter", "groups": ["reporting"], "iat": now})
    };
    body["exp"] = json!(now + ttl_seconds);
    if ttl_seconds < 0 {
        body["nbf"] = json!(now + ttl_seconds - 60);
        body["iat"] = json!(now + ttl_seconds - 60);
    }
    for (k, v) in claims {
        body[k.as_str()] = serde_json::from_str(v).unwrap_or_else(|_| json!(v));
    }
    Ok(key.sign(&body))
}

/// `30s`, `10m`, `12h`, `2d`, plain seconds; a leading `-` for the past.
///
/// ```
/// assert_eq!(tollgate_gateway::demo::parse_ttl("12h"), Ok(43200));
/// assert_eq!(tollgate_gateway::demo::parse_ttl("-1m"), Ok(-60));
/// assert_eq!(tollgate_gateway::demo::parse_ttl("1h30m"), Ok(5400));
/// assert!(tollgate_gateway::demo::parse_ttl("soon").is_err());
/// ```
///
/// # Errors
/// A message naming the input.
pub fn parse_ttl(s: &str) -> Result<i64, String> {
    let (neg, body) = s.strip_prefix('-').map_or((false, s), |b| (true, b));
    let d = tollgate_kube::time::parse_duration(body).map_err(|e| e.to_string())?;
    let n = i64::try_from(d.as_secs()).map_err(|_| format!("{s:?} is too long"))?;
    Ok(if neg { -n } else { n })
}

fn random_token() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("testkit-{:x}-{}", nanos, std::process::id())
}

impl Demo {
    /// The kubectl commands to try, for the terminal.
    pub fn instructions(&self) -> String {
        let k = format!("kubectl --kubeconfig {}", self.kubeconfig.display());
        format!(
            "Tollgate demo: gateway on https://{gw} in front of a test API server on {api}\n\
             OIDC issuers: {gh} (GitHub Actions-shaped), {bots} (bots) and {people} (people)   admin: http://{admin}/readyz\n\n\
             Your kubectl identity: a GitHub Actions token for {REPOSITORY}, owned by `payments`.\n\n\
             The `tollgate` commands below need it on PATH: `cargo install --path examples/gateway` installs\n\
             `tollgate` and `kubectl-tollgate` (the kubectl plugin) into ~/.cargo/bin; or write\n\
             `cargo run --release --bin tollgate --` instead of `tollgate`.\n\n\
             Try:\n  \
             {k} auth whoami\n  \
             {k} get pods\n  \
             {k} get pods -w            # then create something in another terminal\n  \
             {k} create namespace prod\n  \
             {k} scale deployment web --replicas 3 -n prod\n  \
             {k} logs -f demo\n  \
             {k} exec demo -- echo hi\n  \
             echo hello | {k} exec -i demo -- cat\n  \
             {k} get pods --as admin    # refused: clients cannot impersonate\n  \
             {k} delete namespace prod  # refused by the baseline policy ({dir}/policy.yaml)\n  \
             {k} exec demo -- rm -rf /  # refused; `-- ls` passes\n  \
             {k} get secrets            # allowed, with a warning\n  \
             {k} get --raw /api/v1/watch   # refused like the API server refuses it\n\n\
             Risky commands wait for an approver (alice@acme.example, of platform-admins):\n  \
             {k} create namespace prod\n  \
             {k} create deployment web --image nginx -n prod --dry-run=client -o yaml | {k} apply -f -\n  \
             {k} delete deployment web -n prod   # waits; in another terminal:\n  \
             export KUBECONFIG={dir}/approver.kubeconfig   # the approver's own credentials\n  \
             kubectl tollgate whoami\n  \
             kubectl tollgate approvals list\n  \
             kubectl tollgate approvals show <ID>\n  \
             kubectl tollgate approvals approve <ID>   # the delete then completes\n\n\
             Every call is on record in {dir}/audit/audit.log (audit.k8s.io/v1 Events, secrets redacted):\n  \
             tollgate sessions list --audit {dir}/audit/audit.log\n  \
             tollgate sessions show <AUDIT-ID> --audit {dir}/audit/audit.log\n  \
             tollgate sessions replay {dir}/sessions/<AUDIT-ID>.cast   # an exec session\n  \
             tollgate review --audit {dir}/audit --rbac {dir}/rbac.yaml --owners {dir}/tollgate.yaml --format html --out review.html   # the access review\n\n\
             More tokens:\n  \
             tollgate token --demo-dir {dir} --issuer bots\n  \
             tollgate token --demo-dir {dir} --claim repository=acme-demo/web --ttl 10m\n  \
             {k} --token \"$(tollgate token --demo-dir {dir} --ttl -1m)\" get pods   # expired\n\n\
             Ctrl-C stops the demo.",
            gw = self.gateway.addr,
            api = self.api_server.url(),
            gh = self.github.url(),
            bots = self.bots.url(),
            people = self.people.url(),
            dir = self.dir.display(),
            admin = self.gateway.admin_addr.map(|a| a.to_string()).unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new or empty directory, and one an earlier demo wrote, are the
    /// demo's to write; one holding any other file the demo writes is not.
    #[test]
    fn a_demo_writes_only_into_its_own_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(not_someone_elses(&dir.path().join("new")).is_ok());
        assert!(not_someone_elses(dir.path()).is_ok());
        std::fs::write(dir.path().join("notes.txt"), "kept").unwrap();
        assert!(
            not_someone_elses(dir.path()).is_ok(),
            "files the demo does not write are no matter"
        );
        std::fs::write(dir.path().join("kubeconfig"), "a cluster's").unwrap();
        let e = not_someone_elses(dir.path()).unwrap_err().to_string();
        assert!(e.contains("would replace (kubeconfig)"), "{e}");
        std::fs::write(
            dir.path().join("tollgate.yaml"),
            format!("{WRITTEN_BY_DEMO}\nlisten: 127.0.0.1:8443\n"),
        )
        .unwrap();
        assert!(not_someone_elses(dir.path()).is_ok(), "an earlier demo's directory");
    }

    /// A FIFO named `tollgate.yaml` is someone else's, and is not opened:
    /// the look would wait for a writer forever.
    #[cfg(unix)]
    #[test]
    fn a_fifo_in_the_demo_directory_is_refused_unopened() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tollgate.yaml");
        let made = std::process::Command::new("mkfifo").arg(&config).status().unwrap();
        assert!(made.success());
        let e = not_someone_elses(dir.path()).unwrap_err().to_string();
        assert!(e.contains("would replace (tollgate.yaml)"), "{e}");
    }
}
