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
