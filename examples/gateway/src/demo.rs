//! `tollgate demo`: the test API server and the gateway in front of it,
//! with a kubeconfig for kubectl. A demo, not a deployment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tollgate_testkit::ApiServer;

use crate::{Config, Running, StartError};

/// A running demo.
#[derive(Debug)]
pub struct Demo {
    /// The test API server behind the gateway.
    pub api_server: ApiServer,
    /// The gateway.
    pub gateway: Running,
    /// The kubeconfig that points kubectl at the gateway.
    pub kubeconfig: PathBuf,
}

fn write(path: &Path, text: &str) -> Result<(), StartError> {
    std::fs::write(path, text).map_err(|source| StartError::Io {
        what: format!("writing {}", path.display()),
        source,
    })
}

/// Starts the test API server and a gateway on `listen` in front of it,
/// writing into `dir`: `upstream.kubeconfig` (gateway → API server),
/// `gateway.crt`/`gateway.key`, `tollgate.yaml` (the gateway's config, as
/// `tollgate serve` would read it) and `kubeconfig` (kubectl → gateway).
///
/// # Errors
/// When a file cannot be written or a listener bound.
pub async fn start(dir: &Path, listen: SocketAddr) -> Result<Demo, StartError> {
    std::fs::create_dir_all(dir).map_err(|source| StartError::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    let api_server = ApiServer::builder().token(random_token()).start().await?;
    write(&dir.join("upstream.kubeconfig"), &api_server.kubeconfig())?;
    let cert = api_server.ca().server_cert(&["localhost", "127.0.0.1"])?;
    write(&dir.join("gateway.crt"), &cert.cert_pem)?;
    write(&dir.join("gateway.key"), &cert.key_pem)?;
    let yaml = format!(
        "# Written by `tollgate demo`.\nlisten: {listen}\ntls:\n  cert: gateway.crt\n  key: gateway.key\nadmin:\n  listen: 127.0.0.1:0\nupstream:\n  kubeconfig: upstream.kubeconfig\nauthentication:\n  mode: none\nshutdown:\n  drainSeconds: 5\n"
    );
    let config_path = dir.join("tollgate.yaml");
    write(&config_path, &yaml)?;
    let config = Config::load(&config_path)?;
    let gateway = crate::start(&config).await?;
    let kubeconfig = dir.join("kubeconfig");
    let url = format!("https://{}", gateway.addr);
    write(
        &kubeconfig,
        &tollgate_testkit::kubeconfig(&url, api_server.ca_pem(), Some("demo-client-token")),
    )?;
    Ok(Demo {
        api_server,
        gateway,
        kubeconfig,
    })
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
             (admin: http://{admin}/readyz)\n\n\
             Try:\n  \
             {k} get pods\n  \
             {k} get pods -w            # then create something in another terminal\n  \
             {k} create namespace prod\n  \
             {k} apply -f deployment.yaml\n  \
             {k} scale deployment web --replicas 3 -n prod\n  \
             {k} logs -f demo\n  \
             {k} exec demo -- echo hi\n  \
             echo hello | {k} exec -i demo -- cat\n  \
             {k} get --raw /api/v1/watch   # refused like the API server refuses it\n\n\
             Ctrl-C stops the demo.",
            gw = self.gateway.addr,
            api = self.api_server.url(),
            admin = self.gateway.admin_addr.map(|a| a.to_string()).unwrap_or_default(),
        )
    }
}
