//! `audit-sidecar UPSTREAM_KUBECONFIG AUDIT_LOG [LISTEN]`: records every
//! request (see the library docs) until Ctrl-C.

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kubeconfig, log, rest @ ..] = args.as_slice() else {
        return Err("usage: audit-sidecar UPSTREAM_KUBECONFIG AUDIT_LOG [LISTEN, default 127.0.0.1:8002]".to_owned());
    };
    let listen = rest
        .first()
        .map_or("127.0.0.1:8002", String::as_str)
        .parse()
        .map_err(|e| format!("the listen address: {e}"))?;
    let running = tollgate_example_audit_sidecar::serve(kubeconfig.as_ref(), log.as_ref(), listen).await?;
    println!("audit-sidecar: listening on http://{}", running.addr);
    let _ = tokio::signal::ctrl_c().await;
    let _ = running.stop.send(());
    let _ = running.task.await;
    Ok(())
}
