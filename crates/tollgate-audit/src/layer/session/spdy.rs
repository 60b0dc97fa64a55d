//! A SPDY/3.1 session (exec, attach or port-forward; raw or tunnelled in
//! WebSocket messages): both directions decoded, streams told apart by
//! their `streamtype` header, terminal streams fed to the recording and
//! port-forward bytes counted per port.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tollgate_kube::spdy::{Frame, FrameDecoder, data_frame, header, stream_type};

use super::terminal::Terminal;

/// The largest SPDY frame decoded (the protocol's own maximum is 16 MiB).
const MAX_FRAME: usize = 16 << 20;
/// Streams open at once; kubectl opens at most five per terminal and two
/// per forwarded connection.
const MAX_STREAMS: usize = 1024;
/// The error and resize streams carry small JSON documents.
const MAX_CONTROL_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Stdin,
    Stdout,
    Stderr,
    Error,
    Resize,
    Data(String),
    PortError(String),
    Other,
}

struct Stream {
    kind: Kind,
    /// The error or resize stream's bytes not yet parsed.
    buf: Vec<u8>,
    fin_client: bool,
    fin_server: bool,
}

/// Bytes forwarded for one pod port.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PortStats {
    pub(super) connections: u64,
    pub(super) client_bytes: u64,
    pub(super) pod_bytes: u64,
}

/// Both directions of one SPDY connection.
pub(super) struct SpdySession {
    up: FrameDecoder,
    down: FrameDecoder,
    streams: HashMap<u32, Stream>,
    pub(super) ports: BTreeMap<String, PortStats>,
}

impl SpdySession {
    pub(super) fn new() -> Self {
        SpdySession {
            up: FrameDecoder::new(MAX_FRAME),
            down: FrameDecoder::new(MAX_FRAME),
            streams: HashMap::new(),
            ports: BTreeMap::new(),
        }
    }

    /// Whether the client-bound bytes so far end on a frame boundary.
    pub(super) fn client_side_at_boundary(&self) -> bool {
        self.down.buffered() == 0
    }

    /// Decodes bytes from one side; terminal streams go to `term`.
    pub(super) fn push(&mut self, from_client: bool, bytes: &[u8], term: &mut Terminal) -> Result<(), String> {
        self.decoder(from_client).push(bytes);
        while let Some(frame) = self.decoder(from_client).next_frame().map_err(|e| e.to_string())? {
            self.frame(from_client, frame, term)?;
        }
        Ok(())
    }

    fn decoder(&mut self, from_client: bool) -> &mut FrameDecoder {
        if from_client { &mut self.up } else { &mut self.down }
    }

    fn frame(&mut self, from_client: bool, frame: Frame, term: &mut Terminal) -> Result<(), String> {
        match frame {
            Frame::SynStream {
                stream, headers, fin, ..
            } => {
                if self.streams.len() >= MAX_STREAMS {
                    return Err(format!("more than {MAX_STREAMS} SPDY streams open at once"));
                }
                let port = headers.get(header::PORT).unwrap_or("").to_owned();
                let kind = match headers.get(header::STREAM_TYPE).unwrap_or("") {
                    stream_type::STDIN => Kind::Stdin,
                    stream_type::STDOUT => Kind::Stdout,
                    stream_type::STDERR => Kind::Stderr,
                    stream_type::RESIZE => Kind::Resize,
                    stream_type::ERROR if headers.get(header::PORT).is_some() => Kind::PortError(port),
                    stream_type::ERROR => Kind::Error,
                    stream_type::DATA => {
                        self.ports.entry(port.clone()).or_default().connections += 1;
                        Kind::Data(port)
                    }
                    _ => Kind::Other,
                };
                self.streams.insert(
                    stream,
                    Stream {
                        kind,
                        buf: Vec::new(),
                        fin_client: from_client && fin,
                        fin_server: !from_client && fin,
                    },
                );
            }
            Frame::Data { stream, fin, payload } => {
                // Data on a stream never opened is dropped by the API
                // server too.
                let Some(s) = self.streams.get_mut(&stream) else {
                    return Ok(());
                };
                match (&s.kind, from_client) {
                    (Kind::Stdin, true) => term.input(&payload),
                    (Kind::Stdout, false) => term.output(false, &payload),
                    (Kind::Stderr, false) => term.output(true, &payload),
                    (Kind::Error, false) => {
                        buffer(&mut s.buf, &payload, "error")?;
                        if fin {
                            term.status(&std::mem::take(&mut s.buf));
                        }
                    }
                    (Kind::Resize, true) => {
                        buffer(&mut s.buf, &payload, "resize")?;
                        resizes(&mut s.buf, term);
                    }
                    (Kind::Data(port), _) => {
                        let p = self.ports.entry(port.clone()).or_default();
                        let n = payload.len() as u64;
                        if from_client {
                            p.client_bytes += n;
                        } else {
                            p.pod_bytes += n;
                        }
                    }
                    _ => {}
                }
                if fin {
                    self.half_close(stream, from_client);
                }
            }
            Frame::SynReply { stream, fin: true, .. } | Frame::Headers { stream, fin: true, .. } => {
                self.half_close(stream, from_client);
            }
            Frame::RstStream { stream, .. } => {
                self.streams.remove(&stream);
            }
            _ => {}
        }
        Ok(())
    }

    fn half_close(&mut self, stream: u32, from_client: bool) {
        if let Some(s) = self.streams.get_mut(&stream) {
            if from_client {
                s.fin_client = true;
            } else {
                s.fin_server = true;
            }
            // A terminal's error stream is kept until the end: its status
            // may come without a FIN.
            if s.fin_client && s.fin_server && s.kind != Kind::Error {
                self.streams.remove(&stream);
            }
        }
    }

    /// At the end: an error stream that never saw its FIN still says how
    /// the command ended.
    pub(super) fn finish(&mut self, term: &mut Terminal) {
        for s in self.streams.values_mut() {
            if s.kind == Kind::Error && !s.buf.is_empty() && term.exit.is_none() {
                term.status(&std::mem::take(&mut s.buf));
            }
        }
    }

    /// Frames telling the client why the session ends: `status` on the
    /// terminal's error stream, or `text` on every forwarded connection's
    /// error stream, each half-closed.
    pub(super) fn farewell(&self, status: &[u8], text: &str) -> Vec<u8> {
        let mut ids: Vec<(u32, &Kind)> = self.streams.iter().map(|(id, s)| (*id, &s.kind)).collect();
        ids.sort_unstable_by_key(|(id, _)| *id);
        let mut out = Vec::new();
        for (id, kind) in ids {
            match kind {
                Kind::Error => out.extend(data_frame(id, status, true)),
                Kind::PortError(_) => out.extend(data_frame(id, text.as_bytes(), true)),
                _ => {}
            }
        }
        out
    }
}

fn buffer(buf: &mut Vec<u8>, data: &[u8], what: &str) -> Result<(), String> {
    if buf.len() + data.len() > MAX_CONTROL_BYTES {
        return Err(format!("the {what} stream carried more than {MAX_CONTROL_BYTES} bytes"));
    }
    buf.extend_from_slice(data);
    Ok(())
}

/// Parses every whole JSON document in `buf` (client-go writes one resize
/// per `json.Encoder.Encode`), keeping an unfinished one.
fn resizes(buf: &mut Vec<u8>, term: &mut Terminal) {
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    let mut used = 0;
    while let Some(Ok(v)) = it.next() {
        term.resize(&v);
        used = it.byte_offset();
    }
    buf.drain(..used);
}
