//! Terminal sessions: the bytes of an exec/attach tunnel decoded as they
//! pass (WebSocket frames, the channel byte, the base64 variants) and
//! written as an asciicast v2 file — output, resizes, input when asked,
//! and the exit status — with the session's `ResponseComplete` record
//! naming the file and its SHA-256.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use tollgate_kube::websocket::{FrameDecoder, Opcode, channel};
use tollgate_proxy::{Tap, TunnelStats};

use super::record::Shared;
use crate::{Event, Stage};

/// Where and how terminal sessions are recorded.
///
/// ```
/// let s = tollgate_audit::SessionOptions::new("/var/lib/tollgate/sessions");
/// assert!(!s.stdin && s.required);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// The directory of the `.cast` files.
    pub dir: PathBuf,
    /// Record what the user typed (off by default: it may hold secrets).
    pub stdin: bool,
    /// Refuse a session that cannot be recorded (503).
    pub required: bool,
}

impl SessionOptions {
    /// Sessions recorded into `dir`, stdin off, recording required.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SessionOptions {
            dir: dir.into(),
            stdin: false,
            required: true,
        }
    }
}

/// The asciicast file being written, with its running digest.
struct Cast {
    path: PathBuf,
    out: BufWriter<File>,
    digest: aws_lc_rs::digest::Context,
    start: Instant,
    failed: Option<String>,
}

impl Cast {
    fn line(&mut self, v: &Value) {
        let mut l = v.to_string();
        l.push('\n');
        self.digest.update(l.as_bytes());
        if let Err(e) = self.out.write_all(l.as_bytes())
            && self.failed.is_none()
        {
            self.failed = Some(e.to_string());
        }
    }

    fn event(&mut self, code: &str, data: &str) {
        let t = self.start.elapsed().as_secs_f64();
        self.line(&json!([(t * 1e6).round() / 1e6, code, data]));
    }
}

/// Splits off the longest valid UTF-8 prefix, keeping an unfinished
/// character for the next frame.
fn utf8_chunk(carry: &mut Vec<u8>, data: &[u8]) -> String {
    carry.extend_from_slice(data);
    let valid = match std::str::from_utf8(carry) {
        Ok(_) => carry.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => carry.len(),
    };
    let rest = carry.split_off(valid);
    let text = String::from_utf8_lossy(carry).into_owned();
    *carry = rest;
    text
}

struct State {
    cast: Option<Cast>,
    up: FrameDecoder,
    down: FrameDecoder,
    protocol: Option<String>,
    stdout_carry: Vec<u8>,
    stderr_carry: Vec<u8>,
    exit: Option<String>,
    decode_error: Option<String>,
    /// A fragmented message being reassembled, per direction: (text, data).
    partial_up: Option<(bool, Vec<u8>)>,
    partial_down: Option<(bool, Vec<u8>)>,
}

/// The largest message (frames reassembled) a session decodes; as the
/// frame limit.
const MAX_MESSAGE: usize = 16 << 20;

/// Watches one exec/attach/port-forward tunnel.
pub(crate) struct SessionTap {
    shared: Arc<Shared>,
    stdin: bool,
    /// A terminal recording that must not degrade: a stream that cannot be
    /// decoded closes the session.
    required: bool,
    event: Mutex<Option<Event>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for SessionTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTap").finish_non_exhaustive()
    }
}

impl SessionTap {
    /// A tap for a session; `cast` says whether a terminal recording is
    /// made (exec and attach), with its header. Fails when the file cannot
    /// be created.
    pub(crate) fn new(shared: Arc<Shared>, event: Event, header: Option<Value>) -> Result<Arc<Self>, String> {
        let opts = shared.sessions.clone();
        let cast = match (header, &opts) {
            (Some(h), Some(o)) => {
                std::fs::create_dir_all(&o.dir).map_err(|e| format!("creating {}: {e}", o.dir.display()))?;
                let path = o.dir.join(format!("{}.cast", event.audit_id));
                let file = File::create(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
                let mut c = Cast {
                    path,
                    out: BufWriter::new(file),
                    digest: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
                    start: Instant::now(),
                    failed: None,
                };
                c.line(&h);
                Some(c)
            }
            _ => None,
        };
        let required = cast.is_some() && opts.as_ref().is_some_and(|o| o.required);
        Ok(Arc::new(SessionTap {
            required,
            stdin: opts.as_ref().is_some_and(|o| o.stdin),
            shared,
            event: Mutex::new(Some(event)),
            state: Mutex::new(State {
                cast,
                up: FrameDecoder::new(16 << 20),
                down: FrameDecoder::new(16 << 20),
                protocol: None,
                stdout_carry: Vec::new(),
                stderr_carry: Vec::new(),
                exit: None,
                decode_error: None,
                partial_up: None,
                partial_down: None,
            }),
        }))
    }

    /// The subprotocol the upstream chose (from the 101 response).
    pub(crate) fn set_protocol(&self, p: Option<String>) {
        self.lock().protocol = p;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The asciicast header for a session.
pub(crate) fn cast_header(event: &Event, info: &tollgate_kube::RequestInfo, command: &str) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "version": 2,
        "width": 80,
        "height": 24,
        "timestamp": now,
        "title": command,
        "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"},
        "tollgate": {
            "auditID": event.audit_id,
            "pod": info.name,
            "namespace": info.namespace,
            "container": info.query.first("container").unwrap_or(""),
            "command": info.query.all("command").collect::<Vec<_>>(),
            "subresource": info.subresource,
            "user": event.user.username,
            "owner": event.tollgate("owner").unwrap_or(""),
            "issuer": event.tollgate("issuer").unwrap_or(""),
        }
    })
}

impl State {
    fn websocket(&self) -> bool {
        self.protocol.as_deref().is_some_and(|p| p.contains("channel.k8s.io")) || self.protocol.is_none()
    }

    fn base64(&self) -> bool {
        self.protocol.as_deref().is_some_and(|p| p.contains("base64"))
    }

    /// Channel and payload of one message.
    fn message(&self, payload: &[u8], text: bool) -> Option<(u8, Vec<u8>)> {
        let (&first, rest) = payload.split_first()?;
        if self.base64() || text {
            let ch = first.checked_sub(b'0')?;
            let data = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            Some((ch, data))
        } else {
            Some((first, rest.to_vec()))
        }
    }

    fn frames(&mut self, from_client: bool, stdin: bool) {
        loop {
            let dec = if from_client { &mut self.up } else { &mut self.down };
            let frame = match dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    self.decode_error = Some(e.to_string());
                    return;
                }
            };
            // A message may come in fragments: a data frame without FIN,
            // continuation frames, the last with FIN (control frames may
            // come in between and are not part of it).
            let partial = if from_client {
                &mut self.partial_up
            } else {
                &mut self.partial_down
            };
            let (text, payload) = match (frame.opcode, frame.fin, partial.take()) {
                (Opcode::Binary | Opcode::Text, true, None) => (frame.opcode == Opcode::Text, frame.payload.to_vec()),
                (Opcode::Binary | Opcode::Text, false, None) => {
                    *partial = Some((frame.opcode == Opcode::Text, frame.payload.to_vec()));
                    continue;
                }
                (Opcode::Continuation, fin, Some((text, mut data))) => {
                    if data.len() + frame.payload.len() > MAX_MESSAGE {
                        self.decode_error = Some(format!("a fragmented message over {MAX_MESSAGE} bytes"));
                        return;
                    }
                    data.extend_from_slice(&frame.payload);
                    if !fin {
                        *partial = Some((text, data));
                        continue;
                    }
                    (text, data)
                }
                (op, _, held) if op.is_control() => {
                    *partial = held;
                    continue;
                }
                (op, _, _) => {
                    self.decode_error = Some(format!("a WebSocket {op:?} frame out of sequence"));
                    return;
                }
            };
            let Some((ch, data)) = self.message(&payload, text) else {
                continue;
            };
            self.channel(from_client, ch, &data, stdin);
        }
    }

    fn channel(&mut self, from_client: bool, ch: u8, data: &[u8], stdin: bool) {
        match (from_client, ch) {
            (true, channel::STDIN) if stdin => {
                let t = String::from_utf8_lossy(data).into_owned();
                if let Some(c) = self.cast.as_mut() {
                    c.event("i", &t);
                }
            }
            (true, channel::RESIZE) => {
                if let Ok(v) = serde_json::from_slice::<Value>(data) {
                    let w = v.get("Width").and_then(Value::as_u64).unwrap_or(80);
                    let h = v.get("Height").and_then(Value::as_u64).unwrap_or(24);
                    if let Some(c) = self.cast.as_mut() {
                        c.event("r", &format!("{w}x{h}"));
                    }
                }
            }
            (false, channel::STDOUT | channel::STDERR) => {
                let carry = if ch == channel::STDOUT {
                    &mut self.stdout_carry
                } else {
                    &mut self.stderr_carry
                };
                let t = utf8_chunk(carry, data);
                if let Some(c) = self.cast.as_mut()
                    && !t.is_empty()
                {
                    c.event("o", &t);
                }
            }
            (false, channel::ERROR) => {
                if let Ok(v) = serde_json::from_slice::<Value>(data) {
                    let code = if v.get("status").and_then(Value::as_str) == Some("Success") {
                        "0".to_owned()
                    } else {
                        v.pointer("/details/causes")
                            .and_then(Value::as_array)
                            .and_then(|cs| {
                                cs.iter()
                                    .find(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))
                                    .and_then(|c| c.get("message").and_then(Value::as_str))
                            })
                            .map_or_else(|| "error".to_owned(), str::to_owned)
                    };
                    if let Some(c) = self.cast.as_mut() {
                        c.event("m", &format!("exit {code}"));
                    }
                    self.exit = Some(code);
                }
            }
            _ => {}
        }
    }
}

impl Tap for SessionTap {
    fn client_bytes(&self, bytes: &[u8]) {
        let mut st = self.lock();
        if st.websocket() && st.decode_error.is_none() {
            st.up.push(bytes);
            st.frames(true, self.stdin);
        }
    }

    fn upstream_bytes(&self, bytes: &[u8]) {
        let mut st = self.lock();
        if st.websocket() && st.decode_error.is_none() {
            st.down.push(bytes);
            st.frames(false, self.stdin);
        }
    }

    fn must_close(&self) -> Option<String> {
        if !self.required {
            return None;
        }
        self.lock()
            .decode_error
            .as_ref()
            .map(|e| format!("the session's recording is required and its stream could not be decoded: {e}"))
    }

    fn closed(&self, stats: TunnelStats) {
        let Some(mut e) = self.event.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return;
        };
        let mut st = self.lock();
        e.stage = Stage::ResponseComplete;
        e.stage_timestamp = crate::micro_time(SystemTime::now());
        e.response_status = Some(json!({"metadata": {}, "code": 101}));
        let a = &mut e.annotations;
        a.insert("tollgate.dev/client-bytes".to_owned(), stats.client_bytes.to_string());
        a.insert(
            "tollgate.dev/upstream-bytes".to_owned(),
            stats.upstream_bytes.to_string(),
        );
        if let Some(code) = &st.exit {
            a.insert("tollgate.dev/exit-code".to_owned(), code.clone());
        }
        if let Some(err) = &st.decode_error {
            a.insert(
                "tollgate.dev/recording-error".to_owned(),
                format!("the stream could not be decoded: {err}"),
            );
        }
        if let Some(mut c) = st.cast.take() {
            let flushed = c.out.flush();
            let hex: String = c.digest.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
            a.insert("tollgate.dev/recording".to_owned(), c.path.display().to_string());
            a.insert("tollgate.dev/recording-sha256".to_owned(), hex);
            if let Some(err) = c.failed.or_else(|| flushed.err().map(|e| e.to_string())) {
                a.insert("tollgate.dev/recording-error".to_owned(), err);
            }
        } else if !st.websocket() {
            a.insert(
                "tollgate.dev/recording".to_owned(),
                format!(
                    "not recorded as a terminal: the session used {}; its metadata and byte counts are recorded",
                    st.protocol.as_deref().unwrap_or("SPDY/3.1")
                ),
            );
        }
        drop(st);
        self.shared.recorder.record_later(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_kube::websocket::encode_frame;

    fn tap(dir: &std::path::Path) -> Arc<SessionTap> {
        let recorder = crate::Recorder::new(crate::MemorySink::default(), crate::RecorderOptions::default());
        let shared = Arc::new(Shared {
            recorder,
            policy: Arc::new(crate::AuditPolicy::everything(crate::Level::Metadata)),
            redactor: Arc::new(tollgate_redact::Redactor::builder().build().unwrap()),
            capture_limit: 1 << 20,
            sessions: Some(crate::SessionOptions::new(dir)),
            enabled: true,
            refusals: Arc::default(),
        });
        let e = Event::new("sess-1", crate::Level::Metadata, Stage::ResponseStarted);
        let t = SessionTap::new(shared, e, Some(json!({"version": 2}))).unwrap();
        t.set_protocol(Some("v5.channel.k8s.io".to_owned()));
        t
    }

    /// A server frame (unmasked), without or with FIN.
    fn frame(op: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = encode_frame(op, payload, None);
        if !fin {
            f[0] &= 0x7f;
        }
        f
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
        let cast = std::fs::read_to_string(dir.path().join("sess-1.cast")).unwrap();
        assert!(cast.contains("\"hello world\""), "{cast}");
    }

    #[tokio::test]
    async fn an_undecodable_frame_in_a_required_recording_closes_the_session() {
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
    }

    proptest::proptest! {
        #[test]
        fn utf8_chunks_rebuild_the_text_under_any_split(text in "\\PC{0,30}", cuts in proptest::collection::vec(0usize..40, 0..5)) {
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut carry = Vec::new();
            let mut out = String::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                out.push_str(&utf8_chunk(&mut carry, &bytes[at..c.max(at)]));
                at = c.max(at);
            }
            proptest::prop_assert_eq!(out, text);
            proptest::prop_assert!(carry.is_empty());
        }
    }

    #[test]
    fn utf8_split_across_frames_is_kept_whole() {
        let mut carry = Vec::new();
        let s = "héllo";
        let b = s.as_bytes();
        let a = utf8_chunk(&mut carry, &b[..2]);
        let rest = utf8_chunk(&mut carry, &b[2..]);
        assert_eq!(a + &rest, s);
        assert!(carry.is_empty());
    }
}
