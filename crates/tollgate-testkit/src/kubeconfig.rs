//! Writing kubeconfig files (as JSON, which kubectl reads like YAML).

use base64::Engine;
use serde_json::json;

/// A kubeconfig with one cluster, user and context named `tollgate`.
///
/// ```
/// let k = tollgate_testkit::kubeconfig("https://127.0.0.1:6443", "-----BEGIN CERTIFICATE-----\n", Some("t0ken"));
/// assert!(k.contains("\"current-context\":\"tollgate\""));
/// ```
pub fn kubeconfig(server: &str, ca_pem: &str, token: Option<&str>) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let user = match token {
        Some(t) => json!({"token": t}),
        None => json!({}),
    };
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tollgate", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": "tollgate", "user": user}],
        "contexts": [{"name": "tollgate", "context": {"cluster": "tollgate", "user": "tollgate", "namespace": "default"}}],
        "current-context": "tollgate",
    })
    .to_string()
}
