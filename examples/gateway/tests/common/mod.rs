//! What the end-to-end tests share: a real `kubectl` pointed at a demo.
#![allow(dead_code, reason = "each end-to-end test file uses a part of these helpers")]

use std::path::Path;
use std::time::Duration;

use tokio::io::BufReader;

use tokio::process::Command;

/// `kubectl --kubeconfig K --cache-dir DIR/cache ARGS…`, isolated from the
/// developer's own configuration and proxies, killed when dropped.
pub(crate) fn kubectl(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("kubectl");
    c.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .kill_on_drop(true);
    c
}

/// `kubectl ARGS` against a kubeconfig, with environment variables and
/// standard input, within a minute.
pub(crate) async fn kubectl_at(
    kubeconfig: &Path,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> KubectlOut {
    use tokio::io::AsyncWriteExt;
    let mut c = kubectl(kubeconfig, dir, args);
    c.envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("kubectl is installed (scripts/test installs it)");
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(text.as_bytes()).await.unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl finished")
        .unwrap();
    KubectlOut {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The lines a kubectl child prints.
pub(crate) type StdoutLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// The next line, within 20 s.
pub(crate) async fn read(lines: &mut StdoutLines) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
        .expect("the stream is still open")
}

/// A demo (test API server, issuers, gateway) in a scratch directory, and
/// the real kubectl pointed at it.
pub(crate) struct DemoEnv {
    pub(crate) demo: tollgate_gateway::demo::Demo,
    pub(crate) dir: tempfile::TempDir,
}

/// What a kubectl run printed.
pub(crate) struct KubectlOut {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl DemoEnv {
    pub(crate) async fn start() -> DemoEnv {
        let dir = tempfile::tempdir().unwrap();
        let demo = tollgate_gateway::demo::start(dir.path(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        DemoEnv { demo, dir }
    }

    /// `kubectl ARGS` through the demo, within a minute.
    pub(crate) async fn kubectl(&self, args: &[&str]) -> KubectlOut {
        let mut c = kubectl(&self.demo.kubeconfig, self.dir.path(), args);
        c.stdin(std::process::Stdio::null());
        let out = tokio::time::timeout(Duration::from_secs(60), c.output())
            .await
            .expect("kubectl finished")
            .expect("kubectl is installed (scripts/test installs it)");
        KubectlOut {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `kubectl ARGS` with environment variables and standard input.
    pub(crate) async fn kubectl_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> KubectlOut {
        kubectl_at(&self.demo.kubeconfig, self.dir.path(), args, env, stdin).await
    }

    /// `kubectl ARGS`, which must succeed; its standard output.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert_eq!(out.code, 0, "kubectl {args:?} failed:\n{}\n{}", out.stdout, out.stderr);
        out.stdout
    }

    /// Writes a file into the scratch directory.
    pub(crate) fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The demo's audit log.
    pub(crate) fn log(&self) -> std::path::PathBuf {
        self.dir.path().join("audit/audit.log")
    }

    /// The records so far, once one matches `want` (within 5 s).
    pub(crate) async fn records_until(
        &self,
        what: &str,
        want: impl Fn(&tollgate_audit::Event) -> bool,
    ) -> Vec<tollgate_audit::Event> {
        records_until(&self.log(), what, want).await
    }

    /// A TLS connection to the demo gateway, trusting the CA its kubeconfig names.
    pub(crate) async fn tls(&self) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        self.tls_at(self.demo.gateway.addr).await
    }

    /// A TLS connection to a gateway at `addr` serving the demo's
    /// certificate, trusting the CA the demo's kubeconfig names.
    #[allow(dead_code)]
    pub(crate) fn tls_at(
        &self,
        addr: std::net::SocketAddr,
    ) -> impl std::future::Future<Output = tokio_rustls::client::TlsStream<tokio::net::TcpStream>> + Send + 'static
    {
        use base64::Engine;
        use rustls_pki_types::pem::PemObject;
        let kc: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&self.demo.kubeconfig).unwrap()).unwrap();
        let cluster = &kc["clusters"][0]["cluster"];
        let pem = base64::engine::general_purpose::STANDARD
            .decode(cluster["certificate-authority-data"].as_str().unwrap())
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let server: http::Uri = cluster["server"].as_str().unwrap().parse().unwrap();
        let name = rustls_pki_types::ServerName::try_from(server.host().unwrap().to_owned()).unwrap();
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                .connect(name, tcp)
                .await
                .unwrap()
        }
    }

    /// The bearer token of the demo's kubeconfig.
    pub(crate) fn token(&self) -> String {
        let kc: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&self.demo.kubeconfig).unwrap()).unwrap();
        kc["users"][0]["user"]["token"].as_str().unwrap().to_owned()
    }

    /// Whether the test API server received `METHOD …uri_part…`.
    pub(crate) fn upstream_saw(&self, method: &str, uri_part: &str) -> bool {
        self.demo
            .api_server
            .requests()
            .iter()
            .any(|r| r.method.as_str() == method && r.uri.to_string().contains(uri_part))
    }
}

/// The records in `log` so far, once one matches `want` (within 5 s).
pub(crate) async fn records_until(
    log: &Path,
    what: &str,
    want: impl Fn(&tollgate_audit::Event) -> bool,
) -> Vec<tollgate_audit::Event> {
    for _ in 0..200 {
        let all: Vec<tollgate_audit::Event> = tollgate_audit::read_log(log)
            .map(|r| r.filter_map(Result::ok).collect())
            .unwrap_or_default();
        if all.iter().any(&want) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no record: {what}");
}

/// Runs the `tollgate` binary: exit code, standard output, standard error.
pub(crate) fn tollgate(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
