//! What the end-to-end tests share: a real `kubectl` pointed at a demo.

use std::path::Path;

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
