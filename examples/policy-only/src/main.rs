//! `policy-only UPSTREAM_KUBECONFIG POLICY_FILE [LISTEN]`: serves the
//! smallest Tollgate stack (see the library docs) until Ctrl-C.

use tollgate_example_policy_only::Stack;

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kubeconfig, policy, rest @ ..] = args.as_slice() else {
        return Err("usage: policy-only UPSTREAM_KUBECONFIG POLICY_FILE [LISTEN, default 127.0.0.1:8001]".to_owned());
    };
    let listen = rest
        .first()
        .map_or("127.0.0.1:8001", String::as_str)
        .parse()
        .map_err(|e| format!("the listen address: {e}"))?;
    let running = Stack::load(kubeconfig.as_ref(), policy.as_ref())?.serve(listen).await?;
    println!("policy-only: listening on http://{}", running.addr);
    let _ = tokio::signal::ctrl_c().await;
    let _ = running.stop.send(());
    let _ = running.task.await;
    Ok(())
}
