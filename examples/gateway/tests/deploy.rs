//! `deploy/`: every overlay renders with the real `kubectl kustomize`, the
//! rendered configuration passes `tollgate serve --check` (test TLS files and
//! a test kubeconfig standing in for the Secret and service-account mounts),
//! the Deployment mounts what the configuration reads, and the ClusterRole
//! grants `impersonate` on exactly what the gateway sends.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubectl kustomize DIR`, parsed.
fn render(dir: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root().join(dir))
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split("\n---\n")
        .map(|d| tollgate_kube::yaml_to_json(d).unwrap_or_else(|e| panic!("{dir}: {e}\n{d}")))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name_prefix: &str) -> Option<&'a Value> {
    docs.iter().find(|d| {
        d["kind"] == kind
            && d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(name_prefix))
    })
}

/// What the gateway asks to impersonate, as RBAC (resource, apiGroup)
/// items: from the headers it builds for an identity with every field set.
fn impersonated() -> BTreeSet<(String, String)> {
    let mut id = tollgate_kube::Identity::new("github:repo:example/app");
    id.groups = vec!["ci".to_owned()];
    id.uid = "u-1".to_owned();
    id.issuer = "https://token.actions.githubusercontent.com".to_owned();
    id.subject = "repo:example/app".to_owned();
    let who = tollgate_proxy::Impersonation::from_identity(&id);
    let mut want = BTreeSet::from([
        ("users".to_owned(), String::new()),
        ("groups".to_owned(), String::new()),
        ("uids".to_owned(), "authentication.k8s.io".to_owned()),
    ]);
    assert!(who.uid.is_some() && !who.groups.is_empty());
    for k in who.extra.keys() {
        want.insert((format!("userextras/{k}"), "authentication.k8s.io".to_owned()));
    }
    want
}

/// The ClusterRole's grants; every rule is `impersonate` only.
fn grants(role: &Value) -> BTreeSet<(String, String)> {
    let mut got = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        assert_eq!(rule["verbs"], serde_json::json!(["impersonate"]), "{rule}");
        assert!(rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none());
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                got.insert((r.as_str().unwrap().to_owned(), g.as_str().unwrap().to_owned()));
            }
        }
    }
    got
}

/// Writes the ConfigMap's files, substitutes test files for the mounts,
/// and runs `tollgate serve --check` on the result.
fn check_config(overlay: &str, docs: &[Value]) {
    let deployment = find(docs, "Deployment", "tollgate").unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let mounts: Vec<(&str, &str)> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap()))
        .collect();
    let volume = |name: &str| {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{overlay}: no volume {name}"))
    };
    let mounted_at = |path: &str| mounts.iter().find(|(_, p)| *p == path).map(|(n, _)| volume(n));
    // The generated ConfigMap is the one mounted where the args point.
    let config_map = find(docs, "ConfigMap", "tollgate-config").unwrap();
    let cm_name = config_map["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        mounted_at("/etc/tollgate/config").unwrap()["configMap"]["name"],
        cm_name
    );
    assert_eq!(
        container["args"],
        serde_json::json!(["serve", "--config", "/etc/tollgate/config/tollgate.yaml"])
    );
    assert_eq!(
        mounted_at("/etc/tollgate/tls").unwrap()["secret"]["secretName"],
        "tollgate-tls"
    );
    assert!(mounted_at("/var/log/tollgate").is_some(), "{overlay}: the audit volume");

    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    for (k, v) in config_map["data"].as_object().unwrap() {
        std::fs::write(config_dir.join(k), v.as_str().unwrap()).unwrap();
    }
    let mut text = std::fs::read_to_string(config_dir.join("tollgate.yaml")).unwrap();
    // The TLS Secret: a certificate from a test CA.
    assert!(text.contains("/etc/tollgate/tls/tls.crt") && text.contains("/etc/tollgate/tls/tls.key"));
    let ca = tollgate_testkit::TestCa::new("deploy test").unwrap();
    let cert = ca.server_cert(&["tollgate.tollgate.svc"]).unwrap();
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/tls.crt"), &cert.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls/tls.key"), &cert.key_pem).unwrap();
    text = text.replace("/etc/tollgate/tls/", &format!("{}/tls/", dir.path().display()));
    // The upstream: a test kubeconfig for the service account or the Secret.
    let kubeconfig = dir.path().join("upstream.kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n\
         clusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443', insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\n",
    )
    .unwrap();
    if text.contains("inCluster: true") {
        assert_ne!(
            pod["automountServiceAccountToken"], false,
            "{overlay}: in-cluster needs the token"
        );
        text = text.replace("inCluster: true", &format!("kubeconfig: {}", kubeconfig.display()));
    } else {
        assert!(text.contains("kubeconfig: /etc/tollgate/upstream/kubeconfig"), "{text}");
        assert_eq!(
            mounted_at("/etc/tollgate/upstream").unwrap()["secret"]["secretName"],
            "tollgate-upstream"
        );
        text = text.replace("/etc/tollgate/upstream/kubeconfig", &kubeconfig.display().to_string());
    }
    assert!(!text.contains("/etc/tollgate/"), "{overlay}: an unmounted path: {text}");
    std::fs::write(config_dir.join("tollgate.yaml"), &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--check", "--config"])
        .arg(config_dir.join("tollgate.yaml"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{overlay}: serve --check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("));
}

/// What every gateway pod must have to run in production.
fn check_pod(overlay: &str, docs: &[Value]) {
    let d = find(docs, "Deployment", "tollgate").unwrap();
    assert_eq!(d["spec"]["replicas"], 2, "{overlay}");
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "admin");
    assert!(c["lifecycle"]["preStop"].is_object());
    assert!(c["resources"]["requests"]["cpu"].is_string() && c["resources"]["requests"]["memory"].is_string());
    let service = find(docs, "Service", "tollgate").unwrap();
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "https");
    assert!(find(docs, "PodDisruptionBudget", "tollgate").is_some());
}

#[test]
fn the_in_cluster_overlay_renders_checks_and_grants_only_impersonation() {
    let docs = render("deploy/overlays/in-cluster");
    check_pod("in-cluster", &docs);
    check_config("in-cluster", &docs);
    assert_eq!(grants(find(&docs, "ClusterRole", "tollgate").unwrap()), impersonated());
    let binding = find(&docs, "ClusterRoleBinding", "tollgate").unwrap();
    assert_eq!(binding["roleRef"]["name"], "tollgate-impersonator");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "tollgate", "namespace": "tollgate"}])
    );
    let d = find(&docs, "Deployment", "tollgate").unwrap();
    assert_eq!(d["spec"]["template"]["spec"]["serviceAccountName"], "tollgate");
    // Approvals are shared by the replicas through the Redis it deploys.
    let cm = find(&docs, "ConfigMap", "tollgate-config").unwrap();
    let config = cm["data"]["tollgate.yaml"].as_str().unwrap();
    assert!(config.contains("store: redis") && config.contains("tollgate-redis.tollgate.svc"));
    assert!(find(&docs, "Service", "tollgate-redis").is_some());
}

#[test]
fn the_external_overlay_renders_checks_and_its_target_rbac_grants_only_impersonation() {
    let docs = render("deploy/overlays/external");
    check_pod("external", &docs);
    check_config("external", &docs);
    assert!(
        find(&docs, "ClusterRole", "").is_none() && find(&docs, "ClusterRoleBinding", "").is_none(),
        "no RBAC where the gateway runs"
    );
    let target = render("deploy/overlays/external/target-cluster");
    assert_eq!(
        grants(find(&target, "ClusterRole", "tollgate").unwrap()),
        impersonated()
    );
}

#[test]
fn the_base_renders_and_its_policy_is_the_baseline_pack() {
    let docs = render("deploy/base");
    check_pod("base", &docs);
    check_config("base", &docs);
    let deployed = std::fs::read_to_string(root().join("deploy/base/config/policy.yaml")).unwrap();
    let pack = std::fs::read_to_string(root().join("docs/policies/baseline.yaml")).unwrap();
    assert_eq!(
        deployed, pack,
        "deploy/base/config/policy.yaml is a copy of docs/policies/baseline.yaml"
    );
}

#[test]
fn the_containerfile_builds_the_production_binary_for_a_non_root_runtime() {
    let text = std::fs::read_to_string(root().join("Containerfile")).unwrap();
    let build = text
        .lines()
        .find(|l| l.starts_with("RUN cargo build"))
        .expect("a cargo build line");
    for flag in ["--release", "--locked", "-p tollgate-gateway", "--no-default-features"] {
        assert!(build.contains(flag), "{flag} in {build}");
    }
    assert!(text.contains("\nUSER 65532:65532\n"), "non-root");
    assert!(text.contains("distroless/cc-debian12:nonroot"));
    // The image's default command is the path the Deployment mounts.
    assert!(text.contains(r#"CMD ["serve", "--config", "/etc/tollgate/config/tollgate.yaml"]"#));
}
