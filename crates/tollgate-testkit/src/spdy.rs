//! exec, attach and port-forward over SPDY/3.1 as a kubelet serves them
//! (and port-forward over SPDY tunnelled in WebSocket messages,
//! `SPDY/3.1+portforward.k8s.io`), so kubectl's SPDY paths run end to end.
//!
//! The client opens every stream (`SYN_STREAM` with a `streamtype` header);
//! each is accepted with a `SYN_REPLY`. An exec runs once the streams its
//! query asked for are open; its output goes to the stdout/stderr streams,
//! its `metav1.Status` to the error stream, and the connection closes. A
//! port-forward serves each data stream as a connection to the pod port: an
//! HTTP request gets a small answer, anything else is echoed.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tollgate_kube::spdy::{Frame, FrameDecoder, FrameEncoder, Headers, data_frame, header, ping, stream_type};
use tollgate_kube::websocket::{self, Opcode, channel, encode_frame};

use crate::exec::{self, ExecRequest};

/// What the SPDY connection is for.
#[derive(Debug, Clone)]
pub(crate) enum SpdyRequest {
    /// exec or attach, with the streams the query asked for.
    Exec {
        req: ExecRequest,
        stdout: bool,
        stderr: bool,
        tty: bool,
    },
    /// port-forward to the named pod.
    PortForward { pod: String },
}

/// The exec protocol the fixture speaks over SPDY.
pub(crate) const EXEC_PROTOCOL: &str = "v4.channel.k8s.io";
/// The port-forward protocol over SPDY.
pub(crate) const PORT_FORWARD_PROTOCOL: &str = "portforward.k8s.io";
/// The port-forward subprotocol of SPDY tunnelled in WebSocket.
pub(crate) const TUNNELLED_PORT_FORWARD_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Serves an upgraded SPDY connection.
pub(crate) async fn serve_upgraded(io: Upgraded, what: SpdyRequest) {
    serve(TokioIo::new(io), what).await;
}

/// Serves SPDY tunnelled in WebSocket binary messages.
pub(crate) async fn serve_in_websocket(io: Upgraded, what: SpdyRequest) {
    let (inner, outer) = tokio::io::duplex(64 * 1024);
    let bridge = tokio::spawn(bridge(TokioIo::new(io), outer));
    serve(inner, what).await;
    let _ = bridge.await;
}

/// Carries bytes between WebSocket messages (`ws`) and a byte stream.
async fn bridge<W, B>(ws: W, bytes: B)
where
    W: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    B: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut wr, mut ww) = tokio::io::split(ws);
    let (mut br, mut bw) = tokio::io::split(bytes);
    let (frames_tx, mut frames_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let pongs = frames_tx.clone();
    let writer = tokio::spawn(async move {
        while let Some(f) = frames_rx.recv().await {
            if ww.write_all(&f).await.is_err() || ww.flush().await.is_err() {
                break;
            }
        }
        let _ = ww.shutdown().await;
    });
    let outbound = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = br.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let _ = frames_tx.send(encode_frame(Opcode::Binary, &buf[..n], None));
        }
        let _ = frames_tx.send(encode_frame(Opcode::Close, &1000u16.to_be_bytes(), None));
    });
    let mut dec = websocket::FrameDecoder::new(16 << 20);
    let mut buf = vec![0u8; 16 * 1024];
    'read: while let Ok(n) = wr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        dec.push(&buf[..n]);
        while let Ok(Some(f)) = dec.next_frame() {
            match f.opcode {
                Opcode::Binary | Opcode::Text | Opcode::Continuation if bw.write_all(&f.payload).await.is_err() => {
                    break 'read;
                }
                Opcode::Ping => {
                    let _ = pongs.send(encode_frame(Opcode::Pong, &f.payload, None));
                }
                Opcode::Close => break 'read,
                _ => {}
            }
        }
    }
    let _ = bw.shutdown().await;
    drop(pongs);
    let _ = outbound.await;
    let _ = writer.await;
}

/// The stream ids of an exec, as the client opens them.
#[derive(Debug, Default)]
struct ExecStreams {
    error: Option<u32>,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<u32>,
}

/// Serves one SPDY connection until the exec ends or the client leaves.
async fn serve<IO>(io: IO, what: SpdyRequest)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    // Every frame goes out through one ordered queue.
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            if wr.write_all(&f).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let Ok(mut enc) = FrameEncoder::new() else { return };
    let mut dec = FrameDecoder::new(16 << 20);
    // Where each stream's data goes; dropped at the client's FIN.
    let mut inbound: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    let mut exec_streams = ExecStreams::default();
    let mut stdin_rx = None;
    let mut port_errors: HashMap<String, u32> = HashMap::new();
    let (done_tx, mut done_rx) = oneshot::channel::<()>();
    let mut done_tx = Some(done_tx);
    let mut deadline = Some(Box::pin(tokio::time::sleep(Duration::from_secs(5))));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = rd.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
            _ = &mut done_rx => break,
            () = async { if let Some(d) = deadline.as_mut() { d.await } else { std::future::pending().await } } => {
                // The streams did not all come: run with what there is.
                deadline = None;
                start_exec(&what, &mut exec_streams, &mut stdin_rx, &tx, &mut done_tx, true);
                continue;
            }
        };
        dec.push(&buf[..n]);
        loop {
            let frame = match dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "testkit: bad SPDY frame");
                    let _ = tx.send(tollgate_kube::spdy::goaway(0, 1));
                    drop(tx);
                    let _ = writer.await;
                    return;
                }
            };
            match frame {
                Frame::SynStream { stream, headers, .. } => {
                    let Ok(reply) = enc.syn_reply(stream, &Headers::new(), false) else {
                        return;
                    };
                    let _ = tx.send(reply);
                    let kind = headers.get(header::STREAM_TYPE).unwrap_or("").to_owned();
                    match &what {
                        SpdyRequest::Exec { .. } => {
                            let slot = match kind.as_str() {
                                stream_type::ERROR => &mut exec_streams.error,
                                stream_type::STDIN => &mut exec_streams.stdin,
                                stream_type::STDOUT => &mut exec_streams.stdout,
                                stream_type::STDERR => &mut exec_streams.stderr,
                                stream_type::RESIZE => &mut exec_streams.resize,
                                _ => continue,
                            };
                            *slot = Some(stream);
                            if kind == stream_type::STDIN {
                                let (stx, srx) = mpsc::channel(64);
                                inbound.insert(stream, stx);
                                stdin_rx = Some(srx);
                            }
                            if start_exec(&what, &mut exec_streams, &mut stdin_rx, &tx, &mut done_tx, false) {
                                deadline = None;
                            }
                        }
                        SpdyRequest::PortForward { pod } => {
                            let request_id = headers.get(header::REQUEST_ID).unwrap_or("").to_owned();
                            let port = headers.get(header::PORT).unwrap_or("").to_owned();
                            deadline = None;
                            if kind == stream_type::ERROR {
                                port_errors.insert(request_id, stream);
                            } else if kind == stream_type::DATA {
                                let (dtx, drx) = mpsc::channel(64);
                                inbound.insert(stream, dtx);
                                let error = port_errors.remove(&request_id);
                                tokio::spawn(pod_port(pod.clone(), port, drx, tx.clone(), stream, error));
                            }
                        }
                    }
                }
                Frame::Data { stream, fin, payload } => {
                    if let Some(s) = inbound.get(&stream)
                        && !payload.is_empty()
                    {
                        let _ = s.send(payload).await;
                    }
                    if fin {
                        inbound.remove(&stream);
                    }
                }
                Frame::RstStream { stream, .. } => {
                    inbound.remove(&stream);
                }
                Frame::Ping { id } => {
                    let _ = tx.send(ping(id));
                }
                Frame::GoAway { .. } => break,
                _ => {}
            }
        }
    }
    drop(inbound);
    drop(tx);
    let _ = writer.await;
}

/// Starts the exec once its streams are open (or `anyway`, at the
/// deadline). Returns whether it started.
fn start_exec(
    what: &SpdyRequest,
    s: &mut ExecStreams,
    stdin_rx: &mut Option<mpsc::Receiver<Bytes>>,
    tx: &mpsc::UnboundedSender<Vec<u8>>,
    done: &mut Option<oneshot::Sender<()>>,
    anyway: bool,
) -> bool {
    let SpdyRequest::Exec {
        req,
        stdout,
        stderr,
        tty,
    } = what
    else {
        return false;
    };
    let ready = s.error.is_some()
        && (!req.stdin || s.stdin.is_some())
        && (!stdout || s.stdout.is_some())
        && (!stderr || *tty || s.stderr.is_some())
        && (!tty || s.resize.is_some());
    if !(ready || anyway) {
        return false;
    }
    let Some(done) = done.take() else { return false };
    let (error, out, err) = (s.error, s.stdout, s.stderr.or(s.stdout));
    let stdin = if req.stdin { stdin_rx.take() } else { None };
    let req = req.clone();
    let tx = tx.clone();
    tokio::spawn(async move {
        let (ch_tx, mut ch_rx) = mpsc::channel::<(u8, Vec<u8>)>(64);
        let frames = tx.clone();
        let framing = tokio::spawn(async move {
            while let Some((ch, data)) = ch_rx.recv().await {
                let id = if ch == channel::STDERR { err } else { out };
                if let Some(id) = id {
                    let _ = frames.send(data_frame(id, &data, false));
                }
            }
        });
        let status = exec::run_to_status(&req, stdin, ch_tx).await;
        let _ = framing.await;
        for id in [out, err].into_iter().flatten() {
            let _ = tx.send(data_frame(id, b"", true));
        }
        if let Some(id) = error {
            let _ = tx.send(data_frame(id, &status, true));
        }
        // The kubelet closes the connection when the command has ended.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = done.send(());
    });
    true
}

/// One forwarded connection to a pod port.
async fn pod_port(
    pod: String,
    port: String,
    mut rx: mpsc::Receiver<Bytes>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    data: u32,
    error: Option<u32>,
) {
    let mut seen = Vec::new();
    let http = loop {
        let Some(chunk) = rx.recv().await else { break false };
        seen.extend_from_slice(&chunk);
        let is_http = ["GET ", "HEAD ", "POST ", "PUT "]
            .iter()
            .any(|m| seen.starts_with(m.as_bytes()));
        if !is_http {
            let _ = tx.send(data_frame(data, &seen, false));
            seen.clear();
            while let Some(chunk) = rx.recv().await {
                let _ = tx.send(data_frame(data, &chunk, false));
            }
            break false;
        }
        if seen.windows(4).any(|w| w == b"\r\n\r\n") {
            break true;
        }
    };
    if http {
        let body = format!("hello from pod {pod} port {port}\n");
        let res = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tx.send(data_frame(data, res.as_bytes(), false));
    }
    let _ = tx.send(data_frame(data, b"", true));
    if let Some(e) = error {
        let _ = tx.send(data_frame(e, b"", true));
    }
}
