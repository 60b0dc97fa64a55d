//! Exec, attach and port-forward sessions: the bytes of the tunnel decoded
//! as they pass — WebSocket frames with the channel byte (and the base64
//! variants), SPDY/3.1 streams, and SPDY tunnelled in WebSocket messages
//! (`SPDY/3.1+portforward.k8s.io`). A terminal is written as an asciicast
//! v2 file (output, resizes, input when asked, the exit status) named with
//! its SHA-256 in the session's `ResponseComplete` record; a port-forward
//! is recorded with its connections and bytes per port.

mod cast;
mod spdy;
mod terminal;
mod websocket;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use tollgate_kube::websocket::{Opcode, channel, encode_frame};
use tollgate_kube::{Reason, Status};
use tollgate_proxy::{Tap, TunnelStats};

use self::cast::Cast;
use self::spdy::SpdySession;
use self::terminal::Terminal;
use self::websocket::WsDirection;
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
    /// Refuse a session that cannot be recorded (503), and close one whose
    /// stream stops being decodable.
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

/// What the session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// exec or attach: a terminal.
    Terminal,
    /// port-forward: connections to pod ports.
    PortForward,
}

/// How the tunnel frames its streams, from the `101` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// WebSocket messages starting with a channel byte (base64 variants:
    /// an ASCII digit and base64).
    Channels { base64: bool },
    /// SPDY/3.1 on the connection.
    Spdy,
    /// SPDY/3.1 inside binary WebSocket messages.
    WebSocketSpdy,
}

impl Transport {
    fn of(upgrade: Option<&str>, protocol: Option<&str>) -> Transport {
        let proto = protocol.unwrap_or("").to_ascii_lowercase();
        if upgrade.is_some_and(|u| u.to_ascii_lowercase().starts_with("spdy/")) {
            Transport::Spdy
        } else if proto.contains("spdy/") {
            Transport::WebSocketSpdy
        } else {
            Transport::Channels {
                base64: proto.contains("base64"),
            }
        }
    }
}

struct State {
    transport: Transport,
    purpose: Purpose,
    up: WsDirection,
    down: WsDirection,
    spdy: SpdySession,
    term: Terminal,
    /// Port-forward over WebSocket channels (no SPDY): bytes per channel,
    /// the port from each channel's first two bytes.
    channel_ports: BTreeMap<u8, (Option<u16>, u64)>,
    /// What the tunnel has sent the client ends on a frame boundary (a
    /// closing message of ours can follow).
    client_aligned: bool,
    decode_error: Option<String>,
}

/// Watches one exec/attach/port-forward tunnel.
pub(crate) struct SessionTap {
    shared: Arc<Shared>,
    /// A recording that must not degrade: a stream that cannot be decoded
    /// closes the session.
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
    /// A tap for a session; `header` is the asciicast header of a terminal
    /// to record. Fails when the file cannot be created.
    pub(crate) fn new(
        shared: Arc<Shared>,
        event: Event,
        purpose: Purpose,
        header: Option<Value>,
    ) -> Result<Arc<Self>, String> {
        let opts = shared.sessions.clone();
        let cast = match (header, &opts) {
            (Some(h), Some(o)) => {
                std::fs::create_dir_all(&o.dir).map_err(|e| format!("creating {}: {e}", o.dir.display()))?;
                Some(Cast::create(o.dir.join(format!("{}.cast", event.audit_id)), &h)?)
            }
            _ => None,
        };
        let required = opts.as_ref().is_some_and(|o| o.required) && (cast.is_some() || purpose == Purpose::PortForward);
        Ok(Arc::new(SessionTap {
            required,
            event: Mutex::new(Some(event)),
            state: Mutex::new(State {
                transport: Transport::Channels { base64: false },
                purpose,
                up: WsDirection::new(),
                down: WsDirection::new(),
                spdy: SpdySession::new(),
                term: Terminal::new(cast, opts.as_ref().is_some_and(|o| o.stdin)),
                channel_ports: BTreeMap::new(),
                client_aligned: true,
                decode_error: None,
            }),
            shared,
        }))
    }

    /// The upgrade and subprotocol the upstream chose (from the `101`).
    pub(crate) fn set_protocol(&self, upgrade: Option<&str>, protocol: Option<&str>) {
        self.lock().transport = Transport::of(upgrade, protocol);
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
    fn push(&mut self, from_client: bool, bytes: &[u8]) {
        if self.decode_error.is_some() {
            return;
        }
        match self.decode(from_client, bytes) {
            Ok(()) if !from_client => self.client_aligned = self.client_side_at_boundary(),
            Ok(()) => {}
            Err(e) => self.decode_error = Some(e),
        }
    }

    fn client_side_at_boundary(&self) -> bool {
        match self.transport {
            Transport::Channels { .. } => self.down.at_boundary(),
            Transport::Spdy => self.spdy.client_side_at_boundary(),
            Transport::WebSocketSpdy => self.down.at_boundary() && self.spdy.client_side_at_boundary(),
        }
    }

    fn decode(&mut self, from_client: bool, bytes: &[u8]) -> Result<(), String> {
        match self.transport {
            Transport::Spdy => self.spdy.push(from_client, bytes, &mut self.term),
            Transport::WebSocketSpdy => {
                let dir = if from_client { &mut self.up } else { &mut self.down };
                for (_, payload) in dir.push(bytes)? {
                    self.spdy.push(from_client, &payload, &mut self.term)?;
                }
                Ok(())
            }
            Transport::Channels { base64 } => {
                let dir = if from_client { &mut self.up } else { &mut self.down };
                for (text, payload) in dir.push(bytes)? {
                    let Some((ch, data)) = channel_message(&payload, base64 || text) else {
                        continue;
                    };
                    self.channel(from_client, ch, &data);
                }
                Ok(())
            }
        }
    }

    fn channel(&mut self, from_client: bool, ch: u8, data: &[u8]) {
        if self.purpose == Purpose::PortForward {
            let (port, bytes) = self.channel_ports.entry(ch).or_default();
            match (*port, data) {
                (None, [lo, hi, rest @ ..]) => {
                    *port = Some(u16::from_le_bytes([*lo, *hi]));
                    *bytes += rest.len() as u64;
                }
                _ => *bytes += data.len() as u64,
            }
            return;
        }
        match (from_client, ch) {
            (true, channel::STDIN) => self.term.input(data),
            (true, channel::RESIZE) => {
                if let Ok(v) = serde_json::from_slice::<Value>(data) {
                    self.term.resize(&v);
                }
            }
            (false, channel::STDOUT) => self.term.output(false, data),
            (false, channel::STDERR) => self.term.output(true, data),
            (false, channel::ERROR) => self.term.status(data),
            _ => {}
        }
    }

    /// What tells the client why its session is closed: a `metav1.Status`
    /// on the error channel or stream (kubectl prints its message) and, over
    /// WebSocket, a close frame. Nothing when what the client received so
    /// far stops mid-frame (it would be garbled).
    fn farewell(&self, why: &str) -> Option<Vec<u8>> {
        if !self.client_aligned {
            return None;
        }
        let status = serde_json::to_vec(&Status::failure(Reason::InternalError, why)).ok()?;
        let close = || {
            let mut payload = 1011u16.to_be_bytes().to_vec();
            let reason = "recording failed: session closed";
            payload.extend_from_slice(reason.as_bytes());
            encode_frame(Opcode::Close, &payload, None)
        };
        match self.transport {
            Transport::Channels { base64 } => {
                let mut msg = Vec::new();
                if base64 {
                    msg.push(b'0' + channel::ERROR);
                    msg.extend(base64::engine::general_purpose::STANDARD.encode(&status).into_bytes());
                } else {
                    msg.push(channel::ERROR);
                    msg.extend_from_slice(&status);
                }
                let mut out = encode_frame(Opcode::Binary, &msg, None);
                out.extend(close());
                Some(out)
            }
            Transport::Spdy => Some(self.spdy.farewell(&status, why)),
            Transport::WebSocketSpdy => {
                let mut out = encode_frame(Opcode::Binary, &self.spdy.farewell(&status, why), None);
                out.extend(close());
                Some(out)
            }
        }
    }
}

/// Channel and payload of one channel-framed message.
fn channel_message(payload: &[u8], base64: bool) -> Option<(u8, Vec<u8>)> {
    let (&first, rest) = payload.split_first()?;
    if base64 {
        let ch = first.checked_sub(b'0')?;
        let data = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        Some((ch, data))
    } else {
        Some((first, rest.to_vec()))
    }
}

impl Tap for SessionTap {
    fn client_bytes(&self, bytes: &[u8]) {
        self.lock().push(true, bytes);
    }

    fn upstream_bytes(&self, bytes: &[u8]) {
        self.lock().push(false, bytes);
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

    fn farewell(&self) -> Option<Vec<u8>> {
        let why = self.must_close()?;
        self.lock().farewell(&why)
    }

    fn closed(&self, stats: TunnelStats) {
        let Some(mut e) = self.event.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return;
        };
        let mut st = self.lock();
        let st = &mut *st;
        st.spdy.finish(&mut st.term);
        e.stage = Stage::ResponseComplete;
        e.stage_timestamp = crate::micro_time(SystemTime::now());
        e.response_status = Some(json!({"metadata": {}, "code": 101}));
        let a = &mut e.annotations;
        a.insert("tollgate.dev/client-bytes".to_owned(), stats.client_bytes.to_string());
        a.insert(
            "tollgate.dev/upstream-bytes".to_owned(),
            stats.upstream_bytes.to_string(),
        );
        if let Some(code) = &st.term.exit {
            a.insert("tollgate.dev/exit-code".to_owned(), code.clone());
        }
        if st.purpose == Purpose::PortForward {
            let ports: Vec<Value> = if st.spdy.ports.is_empty() {
                // Channels 0, 2, 4… carry data; odd ones errors.
                st.channel_ports
                    .iter()
                    .filter(|(ch, _)| *ch % 2 == 0)
                    .map(|(_, (port, bytes))| json!({"port": port.map(|p| p.to_string()), "bytes": bytes}))
                    .collect()
            } else {
                st.spdy
                    .ports
                    .iter()
                    .map(|(port, p)| {
                        json!({"port": port, "connections": p.connections,
                               "clientBytes": p.client_bytes, "podBytes": p.pod_bytes})
                    })
                    .collect()
            };
            a.insert("tollgate.dev/port-forward".to_owned(), Value::Array(ports).to_string());
        }
        if let Some(err) = &st.decode_error {
            a.insert(
                "tollgate.dev/recording-error".to_owned(),
                format!("the stream could not be decoded: {err}"),
            );
        }
        if let Some(c) = st.term.cast.take() {
            let (path, hex, failed) = c.finish();
            a.insert("tollgate.dev/recording".to_owned(), path.display().to_string());
            a.insert("tollgate.dev/recording-sha256".to_owned(), hex);
            if let Some(err) = failed {
                a.insert("tollgate.dev/recording-error".to_owned(), err);
            }
        }
        self.shared.recorder.record_later(e);
    }
}

#[cfg(test)]
mod tests;
