//! Exec and port-forward through the demo with the real kubectl, over
//! WebSocket and over SPDY/3.1 (issue 15): a terminal leaves the same
//! asciicast either way, a port-forward its ports and bytes, and a session
//! whose stream cannot be decoded while recording is required is closed
//! with a reason.

use std::time::Duration;

use tollgate_audit::{Event, Stage};

mod common;

use common::DemoEnv as Env;

/// The `ResponseComplete` records of `subresource` sessions, oldest first,
/// once there are `n`.
async fn sessions(env: &Env, log: &std::path::Path, subresource: &str, n: usize) -> Vec<Event> {
    let is = |e: &Event| {
        e.stage == Stage::ResponseComplete && e.object_ref.as_ref().is_some_and(|o| o.subresource == subresource)
    };
    for _ in 0..400 {
        let all: Vec<Event> = tollgate_audit::read_log(log)
            .map(|r| r.filter_map(Result::ok).filter(is).collect())
            .unwrap_or_default();
        if all.len() >= n {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "fewer than {n} {subresource} sessions on record in {}",
        env.log().display()
    );
}

/// The events of a session's asciicast (after its header).
fn cast_events(e: &Event) -> Vec<(f64, String, String)> {
    let path = e.tollgate("recording").expect("a recording");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_over_spdy_prints_and_is_recorded_like_websocket() {
    let env = Env::start().await;
    for websockets in ["true", "false"] {
        let out = env
            .kubectl_with(
                &["exec", "demo", "--", "echo", "hi"],
                &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", websockets)],
                None,
            )
            .await;
        assert_eq!((out.code, out.stdout.as_str()), (0, "hi\n"), "{}", out.stderr);
    }
    let done = sessions(&env, &env.log(), "exec", 2).await;
    // WebSocket is a GET (verb get), SPDY a POST (verb create).
    assert_eq!(done[0].verb, "get");
    assert_eq!(done[1].verb, "create");
    for e in &done {
        assert_eq!(e.tollgate("exit-code"), Some("0"), "{e:?}");
        assert_eq!(e.tollgate("recording-error"), None);
        let events = cast_events(e);
        assert!(events.iter().any(|(_, c, d)| c == "o" && d == "hi\n"), "{events:?}");
        assert!(events.iter().any(|(_, c, d)| c == "m" && d == "exit 0"), "{events:?}");
    }
    // A failing command's code is on record over SPDY too.
    let out = env
        .kubectl_with(
            &["exec", "demo", "--", "sh", "-c", "exit 3"],
            &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
            None,
        )
        .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let done = sessions(&env, &env.log(), "exec", 3).await;
    assert_eq!(done[2].tollgate("exit-code"), Some("3"));
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_is_recorded_over_both_protocols_when_asked() {
    let env = Env::start().await;
    // A second gateway on the demo's files, recording stdin.
    let dir = env.dir.path();
    let yaml = std::fs::read_to_string(dir.join("tollgate.yaml"))
        .unwrap()
        .replace(&format!("listen: {}", env.demo.gateway.addr), "listen: 127.0.0.1:0")
        .replace("path: audit/audit.log", "path: audit-stdin/audit.log")
        .replace("    dir: sessions\n", "    dir: sessions-stdin\n    stdin: true\n");
    assert!(yaml.contains("stdin: true"), "{yaml}");
    std::fs::write(dir.join("stdin.yaml"), &yaml).unwrap();
    let config = tollgate_gateway::Config::load(&dir.join("stdin.yaml")).unwrap();
    let gateway = tollgate_gateway::start(&config).await.unwrap();
    let kubeconfig = dir.join("stdin.kubeconfig");
    let kc = std::fs::read_to_string(&env.demo.kubeconfig)
        .unwrap()
        .replace(&env.demo.gateway.addr.to_string(), &gateway.addr.to_string());
    std::fs::write(&kubeconfig, kc).unwrap();
    for (websockets, text) in [("true", "x\n"), ("false", "y\n")] {
        let out = common::kubectl_at(
            &kubeconfig,
            dir,
            &["exec", "-i", "demo", "--", "cat"],
            &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", websockets)],
            Some(text),
        )
        .await;
        assert_eq!((out.code, out.stdout.as_str()), (0, text), "{}", out.stderr);
    }
    let done = sessions(&env, &dir.join("audit-stdin/audit.log"), "exec", 2).await;
    for (e, text) in done.iter().zip(["x\n", "y\n"]) {
        let events = cast_events(e);
        assert!(events.iter().any(|(_, c, d)| c == "i" && d == text), "{events:?}");
        assert!(events.iter().any(|(_, c, d)| c == "o" && d == text), "{events:?}");
    }
}

/// Forwards `local` to the demo pod's port 80 with kubectl, sends an HTTP
/// request and a line to echo, and stops kubectl.
async fn forward(env: &Env, local: u16, websockets: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = common::kubectl(
        &env.demo.kubeconfig,
        env.dir.path(),
        &["port-forward", "demo", &format!("{local}:80")],
    );
    c.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", websockets)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let first = common::read(&mut lines).await;
    assert!(
        first.starts_with(&format!("Forwarding from 127.0.0.1:{local} -> 80")),
        "{first}"
    );
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("hello from pod demo port 80\n"), "{answer}");
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    s.write_all(b"ping\n").await.unwrap();
    let mut buf = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"ping\n");
    drop(s);
    child.kill().await.unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn port_forward_over_websocket_and_spdy_forwards_bytes_and_is_on_record() {
    let env = Env::start().await;
    forward(&env, free_port(), "true").await;
    forward(&env, free_port(), "false").await;
    let done = sessions(&env, &env.log(), "portforward", 2).await;
    assert_eq!(done[0].verb, "get", "WebSocket first");
    assert_eq!(done[1].verb, "create", "then SPDY");
    for e in &done {
        let ports: serde_json::Value =
            serde_json::from_str(e.tollgate("port-forward").expect("ports on record")).unwrap();
        let p = &ports[0];
        assert_eq!(p["port"], "80", "{ports}");
        assert_eq!(p["connections"], 2, "{ports}");
        // The HTTP request and the echoed line, both ways.
        assert_eq!(p["clientBytes"], 30 + 5, "{ports}");
        assert!(p["podBytes"].as_u64().unwrap() > 5 + 28, "{ports}");
        assert_eq!(e.tollgate("recording-error"), None);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spdy_session_that_cannot_be_decoded_is_closed_with_a_reason() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tollgate_kube::spdy::{Frame, FrameDecoder, FrameEncoder, Headers};
    let env = Env::start().await;
    let mut s = env.tls().await;
    let req = format!(
        "POST /api/v1/namespaces/default/pods/demo/exec?command=cat&container=app&stdin=true&stdout=true&stderr=true HTTP/1.1\r\n\
         Host: gateway\r\nAuthorization: Bearer {}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
         X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n",
        env.token()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // The streams kubectl opens, then a frame the recorder cannot follow
    // (a control frame of SPDY version 2) hiding a keystroke.
    let mut enc = FrameEncoder::new().unwrap();
    for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")] {
        s.write_all(
            &enc.syn_stream(id, &Headers::new().with("streamtype", kind), false)
                .unwrap(),
        )
        .await
        .unwrap();
    }
    let mut dec = FrameDecoder::new(1 << 20);
    let mut replies = 0;
    let mut buf = vec![0u8; 4096];
    while replies < 4 {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(n, 0, "closed early");
        dec.push(&buf[..n]);
        while let Some(f) = dec.next_frame().unwrap() {
            replies += usize::from(matches!(f, Frame::SynReply { .. }));
        }
    }
    s.write_all(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]).await.unwrap();
    // The gateway answers with a Status on the error stream and closes.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .expect("closed");
    dec.push(&rest);
    let mut status = None;
    while let Ok(Some(f)) = dec.next_frame() {
        if let Frame::Data { stream: 1, payload, .. } = f {
            status = Some(serde_json::from_slice::<serde_json::Value>(&payload).unwrap());
        }
    }
    let status = status.expect("a Status on the error stream");
    assert_eq!(status["status"], "Failure");
    assert!(
        status["message"].as_str().unwrap().contains("recording is required"),
        "{status}"
    );
    let done = sessions(&env, &env.log(), "exec", 1).await;
    let why = done[0].tollgate("recording-error").expect("the record says why");
    assert!(why.contains("version 2"), "{why}");
}
