//! `pods/exec` and `pods/attach` over WebSocket (`v5.channel.k8s.io`,
//! `v4.channel.k8s.io`), with a tiny command runner: `echo`, `env`, `cat`
//! of stdin, `ls` (a fixed listing), `true`, `false`, `exit N`, and `sh -c`
//! of those joined with `;` or `&&`.

use base64::Engine;
use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tollgate_kube::websocket::{FrameDecoder, Opcode, channel, encode_frame};

/// The protocols the testkit speaks, most preferred first.
pub(crate) const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455).
///
/// ```
/// assert_eq!(tollgate_testkit::websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn websocket_accept(key: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

/// Picks the first offered protocol the testkit speaks.
pub(crate) fn choose_protocol(offered: &str) -> Option<&'static str> {
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    PROTOCOLS.into_iter().find(|p| offered.contains(p))
}

/// What the pod's "container" sees.
#[derive(Debug, Clone)]
pub(crate) struct ExecRequest {
    pub(crate) argv: Vec<String>,
    pub(crate) stdin: bool,
    pub(crate) env: Vec<(String, String)>,
}

/// Channel-numbered output of a running command (`channel::STDOUT`,
/// `channel::STDERR`); each transport frames it its own way.
pub(crate) type Output = mpsc::Sender<(u8, Vec<u8>)>;

/// Runs the command with its stdin (when asked for); returns the final
/// `metav1.Status` the error stream carries.
pub(crate) async fn run_to_status(req: &ExecRequest, stdin: Option<mpsc::Receiver<Bytes>>, out: Output) -> Vec<u8> {
    let code = run(req, stdin, &out).await;
    drop(out);
    let status = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure",
               "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", req.argv.join(" ")),
               "reason": "NonZeroExitCode",
               "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
    };
    status.to_string().into_bytes()
}

/// Runs the session on an upgraded WebSocket connection until the command
/// ends.
pub(crate) async fn serve(io: Upgraded, req: ExecRequest) {
    let io = TokioIo::new(io);
    let (mut rd, mut wr) = tokio::io::split(io);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
            let _ = wr.flush().await;
        }
        let _ = wr.shutdown().await;
    });

    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(64);
    let pong_tx = out_tx.clone();
    let reader = tokio::spawn(async move {
        let mut stdin_tx = Some(stdin_tx);
        let mut dec = FrameDecoder::new(1 << 20);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            dec.push(&buf[..n]);
            loop {
                let frame = match dec.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(_) => return,
                };
                match frame.opcode {
                    Opcode::Binary | Opcode::Text => match frame.payload.first() {
                        Some(&channel::STDIN) => {
                            if let Some(tx) = &stdin_tx {
                                let _ = tx.send(frame.payload.slice(1..)).await;
                            }
                        }
                        Some(&channel::CLOSE) if frame.payload.get(1) == Some(&channel::STDIN) => {
                            stdin_tx = None;
                        }
                        _ => {}
                    },
                    Opcode::Ping => {
                        let _ = pong_tx.send(encode_frame(Opcode::Pong, &frame.payload, None)).await;
                    }
                    Opcode::Close => return,
                    _ => {}
                }
            }
        }
    });

    // A container runtime takes a moment to start the process. client-go
    // creates its stream handlers after the upgrade and discards frames for
    // streams it does not know yet ("Unknown stream id"), so output sent the
    // instant the upgrade completes could be lost; real kubelets never win
    // that race, and neither does this fixture.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let (ch_tx, mut ch_rx) = mpsc::channel::<(u8, Vec<u8>)>(64);
    let frames = out_tx.clone();
    let framing = tokio::spawn(async move {
        while let Some((ch, data)) = ch_rx.recv().await {
            let mut msg = Vec::with_capacity(data.len() + 1);
            msg.push(ch);
            msg.extend_from_slice(&data);
            let _ = frames.send(encode_frame(Opcode::Binary, &msg, None)).await;
        }
    });
    let status = run_to_status(&req, if req.stdin { Some(stdin_rx) } else { None }, ch_tx).await;
    let _ = framing.await;
    let mut msg = vec![channel::ERROR];
    msg.extend_from_slice(&status);
    let _ = out_tx.send(encode_frame(Opcode::Binary, &msg, None)).await;
    let _ = out_tx
        .send(encode_frame(Opcode::Close, &1000u16.to_be_bytes(), None))
        .await;
    drop(out_tx);
    let _ = writer.await;
    reader.abort();
}

async fn send(out: &Output, ch: u8, data: &[u8]) {
    let _ = out.send((ch, data.to_vec())).await;
}

/// Runs argv; returns the exit code.
async fn run(req: &ExecRequest, mut stdin: Option<mpsc::Receiver<Bytes>>, out: &Output) -> i32 {
    let argv: Vec<&str> = req.argv.iter().map(String::as_str).collect();
    match argv.as_slice() {
        ["sh" | "/bin/sh" | "bash", "-c", script, ..] => {
            let mut code = 0;
            for part in script.split([';', '\n']) {
                for (i, cmd) in part.split("&&").enumerate() {
                    if i > 0 && code != 0 {
                        break;
                    }
                    let words: Vec<&str> = cmd.split_whitespace().collect();
                    if words.is_empty() {
                        continue;
                    }
                    if let ["exit", n] = words.as_slice() {
                        return n.parse().unwrap_or(2);
                    }
                    code = simple(&words, &req.env, &mut stdin, out).await;
                }
            }
            code
        }
        [] => {
            send(out, channel::STDERR, b"no command given\n").await;
            1
        }
        words => simple(words, &req.env, &mut stdin, out).await,
    }
}

async fn simple(
    words: &[&str],
    env: &[(String, String)],
    stdin: &mut Option<mpsc::Receiver<Bytes>>,
    out: &Output,
) -> i32 {
    match words {
        ["echo", rest @ ..] => {
            let line = format!(
                "{}\n",
                rest.iter()
                    .map(|w| w.trim_matches(['"', '\'']))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            send(out, channel::STDOUT, line.as_bytes()).await;
            0
        }
        ["env"] => {
            let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            send(out, channel::STDOUT, text.as_bytes()).await;
            0
        }
        ["cat"] => {
            if let Some(rx) = stdin.as_mut() {
                while let Some(chunk) = rx.recv().await {
                    send(out, channel::STDOUT, &chunk).await;
                }
            }
            0
        }
        ["ls", ..] => {
            send(out, channel::STDOUT, b"bin\netc\nhome\ntmp\nusr\nvar\n").await;
            0
        }
        ["true"] => 0,
        ["false"] => 1,
        [cmd, ..] => {
            send(out, channel::STDERR, format!("sh: {cmd}: not found\n").as_bytes()).await;
            127
        }
        [] => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_from_rfc6455() {
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn protocol_choice() {
        assert_eq!(
            choose_protocol("v4.channel.k8s.io, v5.channel.k8s.io"),
            Some("v5.channel.k8s.io")
        );
        assert_eq!(choose_protocol("channel.k8s.io"), None);
    }
}
