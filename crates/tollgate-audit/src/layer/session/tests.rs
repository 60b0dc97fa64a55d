use super::*;
use tollgate_kube::spdy::{FrameEncoder, Headers, data_frame};
use tollgate_kube::websocket::encode_frame;

fn tap_for(dir: &std::path::Path, purpose: Purpose, upgrade: &str, protocol: &str) -> Arc<SessionTap> {
    let recorder = crate::Recorder::new(crate::MemorySink::default(), crate::RecorderOptions::default());
    let mut opts = crate::SessionOptions::new(dir);
    opts.stdin = true;
    let shared = Arc::new(Shared {
        recorder,
        policy: std::sync::RwLock::new(Arc::new(crate::AuditPolicy::everything(crate::Level::Metadata))),
        redactor: Arc::new(tollgate_redact::Redactor::builder().build().unwrap()),
        capture_limit: 1 << 20,
        sessions: Some(opts),
        enabled: true,
        refusals: Arc::default(),
    });
    let e = Event::new("sess-1", crate::Level::Metadata, Stage::ResponseStarted);
    let header = (purpose == Purpose::Terminal).then(|| json!({"version": 2}));
    let t = SessionTap::new(shared, e, purpose, header).unwrap();
    t.set_protocol(Some(upgrade), Some(protocol));
    t
}

fn tap(dir: &std::path::Path) -> Arc<SessionTap> {
    tap_for(dir, Purpose::Terminal, "websocket", "v5.channel.k8s.io")
}

/// A server frame (unmasked), without or with FIN.
fn frame(op: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = encode_frame(op, payload, None);
    if !fin {
        f[0] &= 0x7f;
    }
    f
}

fn cast(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("sess-1.cast")).unwrap()
}

#[tokio::test]
async fn fragmented_messages_are_reassembled_into_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let t = tap(dir.path());
    // stdout "hello world" in three fragments, a ping in between.
    t.upstream_bytes(&frame(Opcode::Binary, false, b"\x01hello"));
    t.upstream_bytes(&frame(Opcode::Ping, true, b""));
    t.upstream_bytes(&frame(Opcode::Continuation, false, b" wor"));
    t.upstream_bytes(&frame(Opcode::Continuation, true, b"ld"));
    assert_eq!(t.must_close(), None);
    t.closed(TunnelStats::default());
    assert!(cast(dir.path()).contains("\"hello world\""));
}

#[tokio::test]
async fn an_undecodable_frame_in_a_required_recording_closes_the_session_with_a_status() {
    let dir = tempfile::tempdir().unwrap();
    let t = tap(dir.path());
    t.upstream_bytes(&frame(Opcode::Binary, true, b"\x01ok"));
    assert_eq!(t.must_close(), None);
    // Reserved bits set: the decoder cannot follow the stream.
    let mut bad = frame(Opcode::Binary, true, b"\x01hidden");
    bad[0] |= 0x40;
    t.upstream_bytes(&bad);
    let why = t.must_close().expect("the tunnel must close");
    assert!(why.contains("reserved bits"), "{why}");
    // The client is told why: a Status on the error channel, then a close.
    let bye = t.farewell().expect("a closing message");
    let mut dec = tollgate_kube::websocket::FrameDecoder::new(1 << 16);
    dec.push(&bye);
    let status = dec.next_frame().unwrap().unwrap();
    assert_eq!(status.payload[0], channel::ERROR);
    let s: Value = serde_json::from_slice(&status.payload[1..]).unwrap();
    assert_eq!(s["status"], "Failure");
    assert!(s["message"].as_str().unwrap().contains("recording is required"), "{s}");
    let close = dec.next_frame().unwrap().unwrap();
    assert_eq!(close.opcode, Opcode::Close);
    assert_eq!(&close.payload[..2], &1011u16.to_be_bytes());
}

#[tokio::test]
async fn no_closing_message_after_half_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    let t = tap(dir.path());
    let f = frame(Opcode::Binary, true, b"\x01hello");
    t.upstream_bytes(&f[..3]);
    t.client_bytes(&[0x82 | 0x40, 0x80, 0, 0, 0, 0]);
    assert!(t.must_close().is_some());
    assert_eq!(
        t.farewell(),
        None,
        "the client has half a frame: a message of ours would garble it"
    );
}

/// What kubectl sends to open an exec over SPDY, and the kubelet's answers.
fn spdy_exec(client: &mut FrameEncoder, server: &mut FrameEncoder) -> (Vec<u8>, Vec<u8>) {
    let mut up = Vec::new();
    let mut down = Vec::new();
    for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr"), (9, "resize")] {
        up.extend(
            client
                .syn_stream(id, &Headers::new().with("streamType", kind), false)
                .unwrap(),
        );
        down.extend(server.syn_reply(id, &Headers::new(), false).unwrap());
    }
    (up, down)
}

#[tokio::test]
async fn a_spdy_terminal_is_recorded_like_a_websocket_one() {
    let dir = tempfile::tempdir().unwrap();
    let t = tap_for(dir.path(), Purpose::Terminal, "SPDY/3.1", "v4.channel.k8s.io");
    let (mut c, mut s) = (FrameEncoder::new().unwrap(), FrameEncoder::new().unwrap());
    let (up, down) = spdy_exec(&mut c, &mut s);
    // Bytes in awkward chunks.
    for chunk in up.chunks(5) {
        t.client_bytes(chunk);
    }
    t.upstream_bytes(&down);
    t.client_bytes(&data_frame(3, b"x\n", false));
    t.client_bytes(&data_frame(3, b"", true));
    t.client_bytes(&data_frame(9, br#"{"Width":120,"#, false));
    t.client_bytes(&data_frame(9, b"\"Height\":40}\n", false));
    t.upstream_bytes(&data_frame(5, "h\u{e9}".as_bytes()[..2].as_ref(), false));
    t.upstream_bytes(&data_frame(5, &"h\u{e9}".as_bytes()[2..], false));
    t.upstream_bytes(&data_frame(7, b"warn\n", true));
    let status = br#"{"metadata":{},"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
    t.upstream_bytes(&data_frame(1, &status[..20], false));
    t.upstream_bytes(&data_frame(1, &status[20..], true));
    assert_eq!(t.must_close(), None);
    t.closed(TunnelStats::default());
    let c = cast(dir.path());
    for want in [
        "\"i\",\"x\\n\"",
        "\"r\",\"120x40\"",
        "\"o\",\"\u{e9}\"",
        "\"o\",\"warn\\n\"",
        "\"m\",\"exit 3\"",
    ] {
        assert!(c.contains(want), "{want} in {c}");
    }
}

#[tokio::test]
async fn a_broken_spdy_terminal_is_closed_with_a_status_on_its_error_stream() {
    let dir = tempfile::tempdir().unwrap();
    let t = tap_for(dir.path(), Purpose::Terminal, "SPDY/3.1", "v4.channel.k8s.io");
    let (mut c, mut s) = (FrameEncoder::new().unwrap(), FrameEncoder::new().unwrap());
    let (up, down) = spdy_exec(&mut c, &mut s);
    t.client_bytes(&up);
    t.upstream_bytes(&down);
    // A control frame of SPDY version 2: the decoder cannot follow.
    t.upstream_bytes(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
    assert!(t.must_close().unwrap().contains("version 2"));
    let bye = t.farewell().unwrap();
    let mut dec = tollgate_kube::spdy::FrameDecoder::new(1 << 16);
    dec.push(&bye);
    let Some(tollgate_kube::spdy::Frame::Data {
        stream: 1,
        fin: true,
        payload,
    }) = dec.next_frame().unwrap()
    else {
        panic!("a Status on the error stream")
    };
    let s: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(s["status"], "Failure");
}

#[tokio::test]
async fn port_forward_over_websocket_tunnelled_spdy_counts_bytes_per_port() {
    let dir = tempfile::tempdir().unwrap();
    let t = tap_for(
        dir.path(),
        Purpose::PortForward,
        "websocket",
        "SPDY/3.1+portforward.k8s.io",
    );
    let (mut c, mut s) = (FrameEncoder::new().unwrap(), FrameEncoder::new().unwrap());
    let ws_up = |b: &[u8]| encode_frame(Opcode::Binary, b, Some([9, 8, 7, 6]));
    let ws_down = |b: &[u8]| encode_frame(Opcode::Binary, b, None);
    for (id, kind) in [(1, "error"), (3, "data")] {
        let h = Headers::new()
            .with("streamType", kind)
            .with("port", "80")
            .with("requestID", "0");
        t.client_bytes(&ws_up(&c.syn_stream(id, &h, false).unwrap()));
        t.upstream_bytes(&ws_down(&s.syn_reply(id, &Headers::new(), false).unwrap()));
    }
    t.client_bytes(&ws_up(&data_frame(3, b"GET / HTTP/1.1\r\n\r\n", false)));
    t.upstream_bytes(&ws_down(&data_frame(3, b"HTTP/1.1 200 OK\r\n\r\nhi", true)));
    assert_eq!(t.must_close(), None);
    t.closed(TunnelStats::default());
    let st = t.lock();
    let p = st.spdy.ports.get("80").expect("port 80 on record");
    assert_eq!((p.connections, p.client_bytes, p.pod_bytes), (1, 18, 21));
}

/// A long recording (a large `kubectl cp` is an exec) hands what it wrote
/// back to the OS as it goes, while a file written beside it the same way
/// stays cached (so the measurement can fail).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_long_recording_leaves_the_page_cache() {
    use std::io::Write;
    // Under `target/`, not a `/tmp` that may be tmpfs, which keeps pages.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/tmp");
    std::fs::create_dir_all(root).unwrap();
    let dir = tempfile::tempdir_in(root).unwrap();
    let t = tap(dir.path());
    let mut control = std::fs::File::create(dir.path().join("control")).unwrap();
    let stdout = [&[1u8][..], &[b'x'; 256 << 10][..]].concat();
    for _ in 0..12 {
        for _ in 0..4 {
            t.upstream_bytes(&frame(Opcode::Binary, true, &stdout));
            control.write_all(&stdout[1..]).unwrap();
        }
        // A round at most every 100 ms.
        std::thread::sleep(std::time::Duration::from_millis(110));
    }
    t.closed(TunnelStats::default());
    let path = dir.path().join("sess-1.cast");
    let total = std::fs::metadata(&path).unwrap().len();
    assert!(total >= 12 << 20, "the cast holds {total} bytes");
    let start = std::time::Instant::now();
    let mut left = tollgate_testkit::resident_bytes(&path);
    while left > 4 << 20 && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = tollgate_testkit::resident_bytes(&path);
    }
    let kept = tollgate_testkit::resident_bytes(&dir.path().join("control"));
    assert!(
        kept >= 11 << 20,
        "the control file has only {kept} bytes cached: nothing is measured"
    );
    assert!(
        left <= 4 << 20,
        "{left} of the recording's {total} bytes are still cached"
    );
}

/// A recording is a new file: whatever already has its name — a file, or a
/// link someone put there to aim the recording at a file of their choosing
/// — is not written through or truncated: the recording is refused
/// instead (and its request, where `sessions.required` says so).
#[cfg(target_os = "linux")]
#[test]
fn a_recording_never_writes_through_what_already_has_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let (victim, _) = crate::test_victim_and_shared_dir(dir.path());
    std::os::unix::fs::symlink(&victim, dir.path().join("sess-1.cast")).unwrap();
    let recorder = crate::Recorder::new(crate::MemorySink::default(), crate::RecorderOptions::default());
    let shared = Arc::new(Shared {
        recorder,
        policy: std::sync::RwLock::new(Arc::new(crate::AuditPolicy::everything(crate::Level::Metadata))),
        redactor: Arc::new(tollgate_redact::Redactor::builder().build().unwrap()),
        capture_limit: 1 << 20,
        sessions: Some(crate::SessionOptions::new(dir.path())),
        enabled: true,
        refusals: Arc::default(),
    });
    let e = Event::new("sess-1", crate::Level::Metadata, Stage::ResponseStarted);
    let refused = SessionTap::new(shared, e, Purpose::Terminal, Some(json!({"version": 2})));
    let e = refused.expect_err("a recording over an existing name is refused");
    assert!(e.contains("sess-1.cast"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), crate::TEST_VICTIM);
}
