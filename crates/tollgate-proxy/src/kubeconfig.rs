//! Reading a kubeconfig file into an [`Upstream`](crate::Upstream).
//!
//! Supported: `server`, `certificate-authority(-data)`,
//! `insecure-skip-tls-verify`, `tls-server-name`, `client-certificate(-data)`
//! / `client-key(-data)`, `token`, `tokenFile`. Credential plugins (`exec`,
//! `auth-provider`), basic auth, `proxy-url` and `as` impersonation are
//! refused with the field named: a gateway must not silently ignore how it
//! was told to authenticate.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::Error;

/// What a kubeconfig context resolves to, before TLS is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) server: String,
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) insecure_skip_tls_verify: bool,
    pub(crate) tls_server_name: Option<String>,
    pub(crate) client_cert_pem: Option<Vec<u8>>,
    pub(crate) client_key_pem: Option<Vec<u8>>,
    pub(crate) token: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
}

struct Ctx<'a> {
    file: &'a str,
    dir: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config {
            source_name: self.file.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn read(&self, field: &str, path: &str) -> Result<Vec<u8>, Error> {
        let p = self.resolve(path);
        tollgate_kube::files::read_config(&p).map_err(|e| self.err(field, format!("cannot read {}: {e}", p.display())))
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    fn b64(&self, field: &str, data: &str) -> Result<Vec<u8>, Error> {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| self.err(field, format!("not valid base64: {e}")))
    }
}

fn string<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn find_named<'v>(list: &'v Value, name: &str, inner: &str) -> Option<(usize, &'v Value)> {
    list.as_array()?
        .iter()
        .enumerate()
        .find(|(_, e)| e.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|(i, e)| e.get(inner).map(|v| (i, v)))
}

/// Loads `path` and resolves `context` (or `current-context`).
pub(crate) fn load(path: &Path, context: Option<&str>) -> Result<Resolved, Error> {
    let file = path.display().to_string();
    let text = tollgate_kube::files::read_config_text(path).map_err(|e| Error::File {
        path: file.clone(),
        message: e.to_string(),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, &file, dir, context)
}

/// The kubeconfig files kubectl would read: `--kubeconfig` when given,
/// else every file in `$KUBECONFIG` (`:`-separated; missing ones skipped,
/// as kubectl skips them), else `~/.kube/config`.
///
/// ```
/// use std::path::PathBuf;
/// let files = tollgate_proxy::kubeconfig_files(None, Some("/a:/b::/c".into()), Some("/home/me".into()));
/// assert_eq!(files, [PathBuf::from("/a"), PathBuf::from("/b"), PathBuf::from("/c")]);
/// let files = tollgate_proxy::kubeconfig_files(None, None, Some("/home/me".into()));
/// assert_eq!(files, [PathBuf::from("/home/me/.kube/config")]);
/// ```
pub fn kubeconfig_files(flag: Option<&Path>, env: Option<std::ffi::OsString>, home: Option<PathBuf>) -> Vec<PathBuf> {
    if let Some(f) = flag {
        return vec![f.to_path_buf()];
    }
    if let Some(list) = env.filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    home.map(|h| vec![h.join(".kube").join("config")]).unwrap_or_default()
}

/// File-path fields, made absolute against the file they were read from
/// when entries of several files are merged.
const PATH_FIELDS: [&str; 4] = ["certificate-authority", "client-certificate", "client-key", "tokenFile"];

/// Loads several files merged as kubectl merges `$KUBECONFIG`: the first
/// file that sets `current-context` sets it, and the first definition of
/// each named context, cluster and user wins.
pub(crate) fn load_chain(files: &[PathBuf], context: Option<&str>) -> Result<Resolved, Error> {
    if let [one] = files {
        return load(one, context);
    }
    let shown = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut current: Option<String> = None;
    let mut merged = serde_json::Map::new();
    for key in ["contexts", "clusters", "users"] {
        merged.insert(key.to_owned(), Value::Array(Vec::new()));
    }
    let mut read_any = false;
    for path in files {
        let Ok(text) = tollgate_kube::files::read_config_text(path) else {
            continue;
        };
        read_any = true;
        let file = path.display().to_string();
        let dir = path.parent().unwrap_or(Path::new("."));
        let cx = Ctx { file: &file, dir };
        let doc = tollgate_kube::yaml_to_json(&text).map_err(|e| cx.err("(document)", e.to_string()))?;
        if current.is_none() {
            current = string(&doc, "current-context").map(str::to_owned);
        }
        for (key, inner) in [("contexts", "context"), ("clusters", "cluster"), ("users", "user")] {
            let Some(entries) = doc.get(key).and_then(Value::as_array) else {
                continue;
            };
            for e in entries {
                let Some(name) = e.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let list = merged.get_mut(key).and_then(Value::as_array_mut);
                let Some(list) = list else { continue };
                if list.iter().any(|x| x.get("name").and_then(Value::as_str) == Some(name)) {
                    continue;
                }
                let mut e = e.clone();
                if let Some(body) = e.get_mut(inner).and_then(Value::as_object_mut) {
                    for f in PATH_FIELDS {
                        if let Some(p) = body.get(f).and_then(Value::as_str).filter(|p| !p.is_empty()) {
                            let abs = cx.resolve(p).display().to_string();
                            body.insert(f.to_owned(), Value::String(abs));
                        }
                    }
                }
                list.push(e);
            }
        }
    }
    if !read_any {
        return Err(Error::File {
            path: shown,
            message: "none of these kubeconfig files can be read".to_owned(),
        });
    }
    if let Some(c) = current {
        merged.insert("current-context".to_owned(), Value::String(c));
    }
    let text = Value::Object(merged).to_string();
    parse(&text, &shown, Path::new("/"), context)
}

pub(crate) fn parse(text: &str, file: &str, dir: &Path, context: Option<&str>) -> Result<Resolved, Error> {
    let cx = Ctx { file, dir };
    let doc = tollgate_kube::yaml_to_json(text).map_err(|e| cx.err("(document)", e.to_string()))?;
    if !doc.is_object() {
        return Err(cx.err("(document)", "a kubeconfig must be a mapping"));
    }
    let ctx_name = match context {
        Some(c) => c.to_owned(),
        None => string(&doc, "current-context")
            .ok_or_else(|| cx.err("current-context", "not set and no context was given"))?
            .to_owned(),
    };
    let (ci, ctx) = find_named(&doc["contexts"], &ctx_name, "context")
        .ok_or_else(|| cx.err("contexts", format!("no context named {ctx_name:?}")))?;
    let cluster_name =
        string(ctx, "cluster").ok_or_else(|| cx.err(format!("contexts[{ci}].context.cluster"), "required"))?;
    let (ki, cluster) = find_named(&doc["clusters"], cluster_name, "cluster").ok_or_else(|| {
        cx.err(
            format!("contexts[{ci}].context.cluster"),
            format!("no cluster named {cluster_name:?}"),
        )
    })?;
    let kf = |f: &str| format!("clusters[{ki}].cluster.{f}");

    let mut r = Resolved::default();
    let server = string(cluster, "server").ok_or_else(|| cx.err(kf("server"), "required"))?;
    if !(server.starts_with("https://") || server.starts_with("http://")) {
        return Err(cx.err(kf("server"), format!("{server:?} is not an http(s) URL")));
    }
    r.server = server.to_owned();
    if let Some(data) = string(cluster, "certificate-authority-data") {
        r.ca_pem = Some(cx.b64(&kf("certificate-authority-data"), data)?);
    } else if let Some(p) = string(cluster, "certificate-authority") {
        r.ca_pem = Some(cx.read(&kf("certificate-authority"), p)?);
    }
    r.insecure_skip_tls_verify = cluster
        .get("insecure-skip-tls-verify")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    r.tls_server_name = string(cluster, "tls-server-name").map(str::to_owned);
    if string(cluster, "proxy-url").is_some() {
        return Err(cx.err(kf("proxy-url"), "HTTP proxies to the API server are not supported"));
    }

    if let Some(user_name) = string(ctx, "user") {
        let (ui, user) = find_named(&doc["users"], user_name, "user").ok_or_else(|| {
            cx.err(
                format!("contexts[{ci}].context.user"),
                format!("no user named {user_name:?}"),
            )
        })?;
        let uf = |f: &str| format!("users[{ui}].user.{f}");
        for unsupported in [
            "exec",
            "auth-provider",
            "username",
            "password",
            "as",
            "as-groups",
            "as-uid",
            "as-user-extra",
        ] {
            if user.get(unsupported).is_some_and(|v| !v.is_null()) {
                return Err(cx.err(
                    uf(unsupported),
                    "not supported by Tollgate: give the gateway a token, token file or client certificate",
                ));
            }
        }
        if let Some(data) = string(user, "client-certificate-data") {
            r.client_cert_pem = Some(cx.b64(&uf("client-certificate-data"), data)?);
        } else if let Some(p) = string(user, "client-certificate") {
            r.client_cert_pem = Some(cx.read(&uf("client-certificate"), p)?);
        }
        if let Some(data) = string(user, "client-key-data") {
            r.client_key_pem = Some(cx.b64(&uf("client-key-data"), data)?);
        } else if let Some(p) = string(user, "client-key") {
            r.client_key_pem = Some(cx.read(&uf("client-key"), p)?);
        }
        if r.client_cert_pem.is_some() != r.client_key_pem.is_some() {
            return Err(cx.err(
                uf("client-key"),
                "a client certificate needs its key, and a key its certificate",
            ));
        }
        r.token = string(user, "token").map(str::to_owned);
        if r.token.is_none() {
            r.token_file = string(user, "tokenFile").map(|p| cx.resolve(p));
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_on_any_text(text in "[a-z: \\[\\]{},\n'-]{0,200}") {
            let _ = parse(&text, "kc", Path::new("/"), None);
        }

        #[test]
        fn never_panics_on_odd_shapes(server in "[a-z:/.0-9]{0,20}", data in "[A-Za-z0-9+/=]{0,12}", ctx in "[a-z]{0,3}") {
            let text = format!("current-context: {ctx}\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nclusters: [{{name: k, cluster: {{server: '{server}', certificate-authority-data: '{data}'}}}}]\nusers: [{{name: u, user: {{token: [1]}}}}]\n");
            let _ = parse(&text, "kc", Path::new("/"), None);
        }
    }

    const KC: &str = r#"
apiVersion: v1
kind: Config
current-context: a
contexts:
- name: a
  context: {cluster: c1, user: u1}
- name: b
  context: {cluster: c1, user: u2}
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTg==
users:
- name: u1
  user: {token: abc}
- name: u2
  user:
    exec: {command: aws}
"#;

    #[test]
    fn several_files_merge_as_kubectl_merges_them() {
        let dir = std::env::temp_dir().join(format!("tollgate-kc-chain-{}", std::process::id()));
        let sub = dir.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("token"), "from-file").unwrap();
        // The first file sets the context; the cluster comes from the
        // second, the user (with a relative token file) from the third.
        std::fs::write(
            dir.join("a"),
            "current-context: work\ncontexts: [{name: work, context: {cluster: k, user: me}}]\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("b"),
            "current-context: other\nclusters: [{name: k, cluster: {server: 'https://gw:8443', insecure-skip-tls-verify: true}}]\n",
        )
        .unwrap();
        std::fs::write(sub.join("c"), "users: [{name: me, user: {tokenFile: token}}]\n").unwrap();
        let files = [dir.join("a"), dir.join("missing"), dir.join("b"), sub.join("c")];
        let r = load_chain(&files, None).unwrap();
        assert_eq!(r.server, "https://gw:8443");
        assert_eq!(r.token_file, Some(sub.join("token")), "relative to the file it was in");
        let e = load_chain(&files, Some("other")).unwrap_err().to_string();
        assert!(e.contains("no context named \"other\""), "{e}");
        let e = load_chain(&[dir.join("nope1"), dir.join("nope2")], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none of these kubeconfig files"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolves_current_context() {
        let r = parse(KC, "kc", Path::new("/"), None).unwrap();
        assert_eq!(r.server, "https://10.0.0.1:6443");
        assert_eq!(r.token.as_deref(), Some("abc"));
        assert_eq!(r.ca_pem.as_deref(), Some(&b"-----BEGIN"[..]));
    }

    #[test]
    fn names_the_unsupported_field() {
        let e = parse(KC, "kc", Path::new("/"), Some("b")).unwrap_err().to_string();
        assert_eq!(
            e,
            "kc: users[1].user.exec: not supported by Tollgate: give the gateway a token, token file or client certificate"
        );
        let e = parse(KC, "kc", Path::new("/"), Some("zz")).unwrap_err().to_string();
        assert!(e.contains("no context named \"zz\""), "{e}");
        let e = parse("clusters: [", "kc", Path::new("/"), None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("kc: (document): "), "{e}");
    }
}
