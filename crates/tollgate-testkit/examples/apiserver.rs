//! Runs the test API server alone and writes a kubeconfig for it.
//!
//! `cargo run -p tollgate-testkit --example apiserver -- /tmp/tk` then
//! `kubectl --kubeconfig /tmp/tk/kubeconfig get pods`.

use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "tollgate-testkit".to_owned()));
    std::fs::create_dir_all(&dir)?;
    let server = tollgate_testkit::ApiServer::builder()
        .token("testkit-token")
        .start()
        .await?;
    std::fs::write(dir.join("kubeconfig"), server.kubeconfig())?;
    println!(
        "test API server on {}; kubeconfig in {}",
        server.url(),
        dir.join("kubeconfig").display()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
