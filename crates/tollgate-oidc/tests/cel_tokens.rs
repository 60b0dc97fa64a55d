//! Issue 20: `AuthenticationConfiguration`s written with CEL, loaded
//! unchanged and decided token by token as the API server decides them.
//! The first is the Kubernetes documentation's structured authentication
//! example (claim validation with expression and message, username,
//! groups and uid by expression, extra by valueExpression, user validation
//! rules); the second a GitHub Actions configuration, the third GitLab CI's
//! with the email rule. Keys come from real test issuers over HTTPS.

use serde_json::{Value, json};
use tollgate_oidc::{Algorithm, Error, Verifier, parse_authentication_configuration};
use tollgate_testkit::TestIssuer;

const NOW: u64 = 1_800_000_000;

/// The example from kubernetes.io (Authenticating → structured
/// authentication configuration), with the test issuer's URL and CA.
fn kubernetes_docs_example(url: &str, ca: &str) -> String {
    format!(
        r#"apiVersion: apiserver.config.k8s.io/v1beta1
kind: AuthenticationConfiguration
jwt:
- issuer:
    url: {url}
    certificateAuthority: |
{ca}
    audiences:
    - my-app
  claimValidationRules:
  - expression: 'claims.hd == "example.com"'
    message: the hd claim must be set to example.com
  - expression: 'claims.exp - claims.nbf <= 86400'
    message: total token lifetime must not exceed 24 hours
  claimMappings:
    username:
      expression: 'claims.username + ":external-user"'
    groups:
      expression: 'claims.roles.split(",")'
    uid:
      expression: 'claims.sub'
    extra:
    - key: 'example.com/tenant'
      valueExpression: 'claims.tenant'
  userValidationRules:
  - expression: "!user.username.startsWith('system:')"
    message: 'username cannot used reserved system: prefix'
  - expression: "user.groups.all(group, !group.startsWith('system:'))"
    message: 'groups cannot used reserved system: prefix'
"#,
        ca = indent(ca)
    )
}

fn github_actions(url: &str, ca: &str) -> String {
    format!(
        r#"apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
- issuer:
    url: {url}
    certificateAuthority: |
{ca}
    audiences: [tollgate]
  claimValidationRules:
  - expression: 'claims.repository.startsWith("acme/")'
    message: only acme repositories may deploy
  - expression: 'claims.?ref.orValue("") == "refs/heads/main" || claims.?environment.orValue("") == "production"'
    message: only main or the production environment
  claimMappings:
    username:
      expression: '"github:" + claims.sub.split(":")[1]'
    groups:
      expression: '["github-org:" + claims.repository_owner] + (has(claims.environment) ? ["github-env:" + claims.environment] : [])'
    extra:
    - key: github.com/workflow
      valueExpression: 'claims.?workflow.orValue("")'
    - key: github.com/run
      valueExpression: 'claims.?run_id.orValue("")'
"#,
        ca = indent(ca)
    )
}

fn gitlab(url: &str, ca: &str) -> String {
    format!(
        r#"apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
- issuer:
    url: {url}
    certificateAuthority: |
{ca}
    audiences: [tollgate]
  claimValidationRules:
  - expression: 'claims.namespace_path == "acme" && claims.ref_protected == "true"'
    message: protected refs of the acme group only
  claimMappings:
    username:
      expression: 'claims.?email_verified.orValue(false) ? "gitlab:" + claims.email : "gitlab:" + claims.project_path'
    groups:
      expression: 'claims.groups_direct.map(g, "gitlab:" + g.lowerAscii())'
  userValidationRules:
  - expression: 'user.groups.exists(g, g == "gitlab:deployers")'
    message: only deployers
"#,
        ca = indent(ca)
    )
}

fn indent(pem: &str) -> String {
    pem.lines()
        .map(|l| format!("      {l}\n"))
        .collect::<String>()
        .trim_end()
        .to_owned()
}

async fn verifier(yaml: &str) -> Verifier {
    let config = parse_authentication_configuration(yaml, "authn.yaml").expect("loads unchanged");
    let mut b = Verifier::builder().cache_capacity(0);
    for j in config.jwt {
        b = b.issuer(j);
    }
    let v = b.build().unwrap();
    v.start().await;
    v
}

fn docs_claims(url: &str) -> Value {
    json!({"iss": url, "aud": "my-app", "sub": "119abc", "exp": NOW + 3600, "nbf": NOW - 60, "iat": NOW - 60,
           "hd": "example.com", "username": "alice", "roles": "admin,dev", "tenant": "tenant-1"})
}

fn set(mut v: Value, key: &str, val: Value) -> Value {
    if val.is_null() {
        v.as_object_mut().unwrap().remove(key);
    } else {
        v[key] = val;
    }
    v
}

/// Allowed with this username, or refused with a reason containing this.
enum Want {
    User(&'static str),
    Refused(&'static str),
}

async fn run(v: &Verifier, issuer: &TestIssuer, cases: Vec<(&str, Value, Want)>) -> usize {
    let n = cases.len();
    for (name, claims, want) in cases {
        let got = v.authenticate_at(&issuer.mint(&claims), NOW).await;
        match (want, got) {
            (Want::User(u), Ok(id)) => assert_eq!(id.username, u, "{name}"),
            (Want::Refused(part), Err(e)) => {
                let text = e.to_string();
                assert!(text.contains(part), "{name}: refused, but for {text:?}, not {part:?}");
                assert!(matches!(e, Error::ClaimRule(_) | Error::Claim { .. }), "{name}: {e:?}");
            }
            (Want::User(u), Err(e)) => panic!("{name}: wanted {u}, refused: {e}"),
            (Want::Refused(part), Ok(id)) => panic!("{name}: wanted a refusal ({part}), got {}", id.username),
        }
    }
    n
}

#[tokio::test]
async fn thirty_tokens_decided_as_the_api_server_decides_them() {
    let docs = TestIssuer::start(Algorithm::RS256).await.unwrap();
    let gh = TestIssuer::start(Algorithm::ES256).await.unwrap();
    let gl = TestIssuer::start(Algorithm::RS256).await.unwrap();
    let mut cases = 0;

    // The Kubernetes documentation's example.
    let v = verifier(&kubernetes_docs_example(docs.url(), docs.ca_pem())).await;
    let c = docs_claims(docs.url());
    let ok = v.authenticate_at(&docs.mint(&c), NOW).await.unwrap();
    assert_eq!(ok.username, "alice:external-user");
    assert_eq!(ok.groups, ["admin", "dev"]);
    assert_eq!(ok.uid, "119abc");
    assert_eq!(ok.extra["example.com/tenant"], ["tenant-1"]);
    cases += 1;
    cases += run(
        &v,
        &docs,
        vec![
            (
                "docs: another user",
                set(c.clone(), "username", json!("bob")),
                Want::User("bob:external-user"),
            ),
            (
                "docs: one role",
                set(c.clone(), "roles", json!("viewer")),
                Want::User("alice:external-user"),
            ),
            (
                "docs: lifetime of exactly a day",
                set(
                    set(c.clone(), "nbf", json!(NOW - 100)),
                    "exp",
                    json!(NOW - 100 + 86_400),
                ),
                Want::User("alice:external-user"),
            ),
            (
                "docs: wrong hd",
                set(c.clone(), "hd", json!("evil.com")),
                Want::Refused("the hd claim must be set to example.com"),
            ),
            (
                "docs: hd with a different case",
                set(c.clone(), "hd", json!("Example.com")),
                Want::Refused("the hd claim must be set to example.com"),
            ),
            ("docs: no hd", set(c.clone(), "hd", Value::Null), Want::Refused("hd")),
            (
                "docs: a lifetime over a day",
                set(c.clone(), "exp", json!(NOW - 60 + 86_401)),
                Want::Refused("total token lifetime must not exceed 24 hours"),
            ),
            ("docs: no nbf", set(c.clone(), "nbf", Value::Null), Want::Refused("nbf")),
            (
                "docs: system: username",
                set(c.clone(), "username", json!("system:admin")),
                Want::Refused("username cannot used reserved system: prefix"),
            ),
            (
                "docs: a system: role",
                set(c.clone(), "roles", json!("dev,system:masters")),
                Want::Refused("groups cannot used reserved system: prefix"),
            ),
            (
                "docs: username not a string",
                set(c.clone(), "username", json!(7)),
                Want::Refused("(CEL)"),
            ),
            (
                "docs: no username",
                set(c.clone(), "username", Value::Null),
                Want::Refused("username"),
            ),
            (
                "docs: no roles",
                set(c.clone(), "roles", Value::Null),
                Want::Refused("roles"),
            ),
            (
                "docs: roles a list, not a string",
                set(c.clone(), "roles", json!(["a"])),
                Want::Refused("(CEL)"),
            ),
            (
                "docs: no tenant",
                set(c.clone(), "tenant", Value::Null),
                Want::Refused("tenant"),
            ),
        ],
    )
    .await;
    // An empty tenant is no extra value, as the API server drops it.
    let id = v
        .authenticate_at(&docs.mint(&set(c.clone(), "tenant", json!(""))), NOW)
        .await
        .unwrap();
    assert!(!id.extra.contains_key("example.com/tenant"));
    cases += 1;

    // GitHub Actions.
    let v = verifier(&github_actions(gh.url(), gh.ca_pem())).await;
    let c = json!({"iss": gh.url(), "aud": "tollgate", "sub": "repo:acme/payments:ref:refs/heads/main",
                   "exp": NOW + 300, "nbf": NOW - 5, "iat": NOW - 5, "repository": "acme/payments",
                   "repository_owner": "acme", "ref": "refs/heads/main", "workflow": "deploy", "run_id": "42"});
    let ok = v.authenticate_at(&gh.mint(&c), NOW).await.unwrap();
    assert_eq!(ok.username, "github:acme/payments");
    assert_eq!(ok.groups, ["github-org:acme"]);
    assert_eq!(ok.extra["github.com/workflow"], ["deploy"]);
    assert_eq!(ok.extra["github.com/run"], ["42"]);
    cases += 1;
    cases += run(
        &v,
        &gh,
        vec![
            (
                "gh: another acme repository",
                set(
                    set(c.clone(), "repository", json!("acme/web")),
                    "sub",
                    json!("repo:acme/web:ref:refs/heads/main"),
                ),
                Want::User("github:acme/web"),
            ),
            (
                "gh: a fork's repository",
                set(c.clone(), "repository", json!("evil/payments")),
                Want::Refused("only acme repositories may deploy"),
            ),
            (
                "gh: acme as a prefix of another org",
                set(c.clone(), "repository", json!("acme-evil/payments")),
                Want::Refused("only acme repositories may deploy"),
            ),
            (
                "gh: a feature branch",
                set(c.clone(), "ref", json!("refs/heads/feature")),
                Want::Refused("only main or the production environment"),
            ),
            (
                "gh: no ref, no environment",
                set(c.clone(), "ref", Value::Null),
                Want::Refused("only main or the production environment"),
            ),
            (
                "gh: a branch deploying to production",
                set(
                    set(c.clone(), "ref", json!("refs/heads/x")),
                    "environment",
                    json!("production"),
                ),
                Want::User("github:acme/payments"),
            ),
            (
                "gh: a branch deploying to staging",
                set(
                    set(c.clone(), "ref", json!("refs/heads/x")),
                    "environment",
                    json!("staging"),
                ),
                Want::Refused("only main or the production environment"),
            ),
            (
                "gh: no workflow claim (optional)",
                set(c.clone(), "workflow", Value::Null),
                Want::User("github:acme/payments"),
            ),
            (
                "gh: a sub without a colon",
                set(c.clone(), "sub", json!("nocolon")),
                Want::Refused("(CEL)"),
            ),
            (
                "gh: no repository",
                set(c.clone(), "repository", Value::Null),
                Want::Refused("repository"),
            ),
        ],
    )
    .await;
    let env = v
        .authenticate_at(&gh.mint(&set(c.clone(), "environment", json!("production"))), NOW)
        .await
        .unwrap();
    assert_eq!(env.groups, ["github-org:acme", "github-env:production"]);
    let no_workflow = v
        .authenticate_at(&gh.mint(&set(c.clone(), "workflow", Value::Null)), NOW)
        .await
        .unwrap();
    assert!(!no_workflow.extra.contains_key("github.com/workflow"));
    cases += 2;

    // GitLab CI, with the email rule.
    let v = verifier(&gitlab(gl.url(), gl.ca_pem())).await;
    let c = json!({"iss": gl.url(), "aud": "tollgate", "sub": "project_path:acme/app:ref_type:branch:ref:main",
                   "exp": NOW + 300, "nbf": NOW - 5, "iat": NOW - 5, "namespace_path": "acme", "project_path": "acme/app",
                   "ref_protected": "true", "email": "dev@acme.example", "email_verified": true, "groups_direct": ["Deployers", "Dev"]});
    cases += run(
        &v,
        &gl,
        vec![
            ("gl: verified email", c.clone(), Want::User("gitlab:dev@acme.example")),
            (
                "gl: unverified email: the project",
                set(c.clone(), "email_verified", json!(false)),
                Want::User("gitlab:acme/app"),
            ),
            (
                "gl: no email_verified: the project",
                set(c.clone(), "email_verified", Value::Null),
                Want::User("gitlab:acme/app"),
            ),
            (
                "gl: an unprotected ref",
                set(c.clone(), "ref_protected", json!("false")),
                Want::Refused("protected refs of the acme group only"),
            ),
            (
                "gl: another group",
                set(c.clone(), "namespace_path", json!("other")),
                Want::Refused("protected refs of the acme group only"),
            ),
            (
                "gl: not a deployer",
                set(c.clone(), "groups_direct", json!(["Dev"])),
                Want::Refused("only deployers"),
            ),
        ],
    )
    .await;
    assert!(cases >= 30, "{cases} cases");
}

#[test]
fn load_time_rules_of_the_api_server() {
    let base = |mapping: &str| {
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n- issuer: {{url: 'https://x.example', audiences: [a]}}\n  claimMappings:\n{mapping}"
        )
    };
    let err = |yaml: &str| {
        parse_authentication_configuration(yaml, "authn.yaml")
            .unwrap_err()
            .to_string()
    };
    // claims.email in the username needs claims.email_verified somewhere.
    let e = err(&base("    username: {expression: 'claims.email'}\n"));
    assert!(
        e.contains("claimMappings.username.expression: claims.email_verified must be used"),
        "{e}"
    );
    parse_authentication_configuration(
        &base("    username: {expression: 'claims.email_verified ? claims.email : claims.sub'}\n"),
        "authn.yaml",
    )
    .unwrap();
    // A syntax error names the field and the position.
    let e = err(&base("    username: {expression: 'claims.sub +'}\n"));
    assert!(
        e.starts_with("authn.yaml: jwt[0].claimMappings.username.expression: "),
        "{e}"
    );
    // A Kubernetes library we do not provide is named, not ignored.
    let e = err(&base(
        "    username: {expression: 'claims.sub'}\n    groups: {expression: 'ip(claims.addr).family() == 4 ? [\"v4\"] : []'}\n",
    ));
    assert!(
        e.contains("groups.expression: ip() is in Kubernetes' CEL IP library"),
        "{e}"
    );
    // extra keys as the API server accepts them.
    for (key, part) in [
        ("tenant", "domain-prefixed"),
        ("example.com/Tenant", "lowercase"),
        ("kubernetes.io/tenant", "reserved"),
        ("x.k8s.io/tenant", "reserved"),
    ] {
        let e = err(&base(&format!(
            "    username: {{expression: 'claims.sub'}}\n    extra:\n    - key: {key}\n      valueExpression: claims.sub\n"
        )));
        assert!(e.contains(part), "{key}: {e}");
    }
    // A hostile expression is refused at load, with the reason.
    let deep = format!("{}claims.sub{}", "(".repeat(100), ")".repeat(100));
    let e = err(&base(&format!("    username: {{expression: '{deep}'}}\n")));
    assert!(e.contains("nests 100 deep"), "{e}");
}
