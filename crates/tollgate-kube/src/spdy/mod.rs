//! SPDY/3.1 framing, as Kubernetes uses it for exec, attach and
//! port-forward: an incremental frame decoder (header blocks inflated with
//! the SPDY/3 zlib dictionary, one compression context per direction) and
//! the encoders the test API server needs.
//!
//! Like [`crate::websocket`], the gateway only *observes* these tunnels:
//! the decoder takes bytes in any chunking and never panics on input. It is
//! as strict as the API server's framer (`moby/spdystream`): version 3 only,
//! known frame types only, lowercase header names, no duplicate names,
//! non-zero stream ids.
//!
//! ```
//! use tollgate_kube::spdy::{Frame, FrameDecoder, FrameEncoder, Headers, data_frame};
//!
//! let mut enc = FrameEncoder::new()?;
//! let mut wire = enc.syn_stream(1, &Headers::new().with("streamtype", "stdout"), false)?;
//! wire.extend(data_frame(1, b"hello\n", true));
//!
//! let mut dec = FrameDecoder::new(1 << 20);
//! dec.push(&wire[..7]);
//! assert!(dec.next_frame()?.is_none());
//! dec.push(&wire[7..]);
//! let Some(Frame::SynStream { stream: 1, headers, .. }) = dec.next_frame()? else { panic!() };
//! assert_eq!(headers.get("streamType"), Some("stdout"));
//! let Some(Frame::Data { stream: 1, fin: true, payload }) = dec.next_frame()? else { panic!() };
//! assert_eq!(&payload[..], b"hello\n");
//! # Ok::<_, tollgate_kube::spdy::FrameError>(())
//! ```

mod dictionary;

use bytes::{Buf, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

pub use dictionary::DICTIONARY;

/// The protocol version this module speaks.
pub const VERSION: u16 = 3;

/// The largest inflated header block accepted. Kubernetes' blocks are a few
/// dozen bytes; zlib can expand ~1000:1, so this bounds the work a small
/// frame can cause.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// The `streamtype` header values of exec, attach and port-forward streams
/// (`k8s.io/api/core/v1` `StreamType*`).
pub mod stream_type {
    /// Exec/attach: error stream, the final `metav1.Status`.
    pub const ERROR: &str = "error";
    /// Exec/attach: stdin, client to server.
    pub const STDIN: &str = "stdin";
    /// Exec/attach: stdout, server to client.
    pub const STDOUT: &str = "stdout";
    /// Exec/attach: stderr, server to client.
    pub const STDERR: &str = "stderr";
    /// Exec/attach: terminal resizes, client to server.
    pub const RESIZE: &str = "resize";
    /// Port-forward: a connection's bytes.
    pub const DATA: &str = "data";
}

/// Header names Kubernetes puts on its streams (lowercase, as on the wire).
pub mod header {
    /// `streamType`: which stream this is.
    pub const STREAM_TYPE: &str = "streamtype";
    /// Port-forward: the pod port.
    pub const PORT: &str = "port";
    /// Port-forward: pairs an error stream with its data stream.
    pub const REQUEST_ID: &str = "requestid";
}

/// `RST_STREAM` status codes used here.
pub mod rst {
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// CANCEL.
    pub const CANCEL: u32 = 5;
    /// INTERNAL_ERROR.
    pub const INTERNAL_ERROR: u32 = 6;
}

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;
const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// A stream's headers: lowercase names, in order; a name appears once and
/// may carry several values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, Vec<String>)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Adds a value to `name` (lowercased), builder style.
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, vs)) => vs.push(value.to_owned()),
            None => self.0.push((name, vec![value.to_owned()])),
        }
        self
    }

    /// The first value of `name`, whatever its case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, vs)| vs.first())
            .map(String::as_str)
    }

    /// Every name with its values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(n, vs)| (n.as_str(), vs.as_slice()))
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&u32_len(self.0.len()).to_be_bytes());
        for (name, values) in &self.0 {
            let value = values.join("\0");
            out.extend_from_slice(&u32_len(name.len()).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&u32_len(value.len()).to_be_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    fn decode(block: &[u8]) -> Result<Headers, FrameError> {
        let mut b = block;
        let count = take_u32(&mut b).ok_or(FrameError::HeaderBlock("truncated header count"))?;
        // Each pair takes at least 8 bytes: no allocation beyond the input.
        if count as usize > b.len() / 8 {
            return Err(FrameError::HeaderBlock("more headers than the block holds"));
        }
        let mut h = Headers::default();
        for _ in 0..count {
            let name = take_str(&mut b).ok_or(FrameError::HeaderBlock("truncated or non-UTF-8 header name"))?;
            if name.bytes().any(|c| c.is_ascii_uppercase()) {
                return Err(FrameError::HeaderBlock("header name not lowercase"));
            }
            if h.0.iter().any(|(n, _)| n == name) {
                return Err(FrameError::HeaderBlock("the same header name twice"));
            }
            let value = take_str(&mut b).ok_or(FrameError::HeaderBlock("truncated or non-UTF-8 header value"))?;
            h.0.push((name.to_owned(), value.split('\0').map(str::to_owned).collect()));
        }
        if !b.is_empty() {
            return Err(FrameError::HeaderBlock("bytes after the last header"));
        }
        Ok(h)
    }
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn take_u32(b: &mut &[u8]) -> Option<u32> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    *b = rest;
    Some(u32::from_be_bytes(*head))
}

fn take_str<'a>(b: &mut &'a [u8]) -> Option<&'a str> {
    let len = take_u32(b)? as usize;
    if b.len() < len {
        return None;
    }
    let (s, rest) = b.split_at(len);
    *b = rest;
    std::str::from_utf8(s).ok()
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// Stream bytes.
    Data {
        /// The stream.
        stream: u32,
        /// The sender's last frame on this stream (half-close).
        fin: bool,
        /// The bytes.
        payload: Bytes,
    },
    /// A new stream (kubectl opens every stream).
    SynStream {
        /// The new stream's id.
        stream: u32,
        /// The stream it is associated with (0 for none).
        associated: u32,
        /// Opened and half-closed at once.
        fin: bool,
        /// The receiver may not send on it.
        unidirectional: bool,
        /// Its headers (`streamtype`, `port`, `requestid`).
        headers: Headers,
    },
    /// The peer accepted a stream.
    SynReply {
        /// The stream.
        stream: u32,
        /// Accepted and half-closed at once.
        fin: bool,
        /// Reply headers.
        headers: Headers,
    },
    /// A stream aborted.
    RstStream {
        /// The stream.
        stream: u32,
        /// Why (see [`rst`]).
        status: u32,
    },
    /// Connection settings (ignored by Kubernetes).
    Settings,
    /// A ping, answered with the same id.
    Ping {
        /// The ping's id.
        id: u32,
    },
    /// The connection is ending.
    GoAway {
        /// The last stream the sender processed.
        last_stream: u32,
        /// Why.
        status: u32,
    },
    /// More headers for a stream.
    Headers {
        /// The stream.
        stream: u32,
        /// Half-closes the stream.
        fin: bool,
        /// The headers.
        headers: Headers,
    },
    /// Flow-control credit.
    WindowUpdate {
        /// The stream (0 for the connection).
        stream: u32,
        /// Additional bytes allowed.
        delta: u32,
    },
}

/// Protocol violations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A control frame of another SPDY version.
    #[error("SPDY control frame of version {0}, expected 3")]
    UnsupportedVersion(u16),
    /// A control frame type SPDY/3 does not define.
    #[error("unknown SPDY control frame type {0}")]
    UnknownFrameType(u16),
    /// A frame over the configured maximum.
    #[error("SPDY frame of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The declared length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A frame whose fields do not fit its type.
    #[error("invalid SPDY frame: {0}")]
    Invalid(&'static str),
    /// A header block that does not inflate or parse.
    #[error("invalid SPDY header block: {0}")]
    HeaderBlock(&'static str),
    /// The header compressor failed (encoding side).
    #[error("SPDY header compression failed: {0}")]
    Compression(String),
}

/// Decodes one direction of a SPDY/3.1 connection from bytes pushed in any
/// chunking. Every header block must pass through the same decoder, in
/// order: the compression context spans the connection.
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame: usize,
    inflate: Decompress,
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("buffered", &self.buf.len())
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

impl FrameDecoder {
    /// A decoder refusing frames whose payload is over `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_frame,
            inflate: Decompress::new(true),
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet decoded (0: at a frame boundary).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A [`FrameError`] on a protocol violation; the connection is then
    /// unusable (as it is for the API server).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let Some(head) = self.buf.first_chunk::<8>() else {
            return Ok(None);
        };
        let first = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let flags = head[4];
        let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        if len > self.max_frame {
            return Err(FrameError::TooLarge {
                len,
                limit: self.max_frame,
            });
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        self.buf.advance(8);
        let body = self.buf.split_to(len).freeze();
        if first & 0x8000_0000 == 0 {
            let stream = first & 0x7fff_ffff;
            if stream == 0 {
                return Err(FrameError::Invalid("a data frame on stream 0"));
            }
            return Ok(Some(Frame::Data {
                stream,
                fin: flags & FLAG_FIN != 0,
                payload: body,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        self.control((first & 0xffff) as u16, flags, &body).map(Some)
    }

    fn control(&mut self, kind: u16, flags: u8, body: &[u8]) -> Result<Frame, FrameError> {
        let fin = flags & FLAG_FIN != 0;
        let mut b = body;
        let mut word = |what: &'static str| take_u32(&mut b).ok_or(FrameError::Invalid(what));
        let frame = match kind {
            TYPE_SYN_STREAM => {
                let stream = word("SYN_STREAM too short")? & 0x7fff_ffff;
                let associated = word("SYN_STREAM too short")? & 0x7fff_ffff;
                // Priority (3 bits), unused, slot.
                let _ = body.get(8..10).ok_or(FrameError::Invalid("SYN_STREAM too short"))?;
                let headers = self.headers(&body[10..])?;
                nonzero(stream, "SYN_STREAM on stream 0")?;
                Frame::SynStream {
                    stream,
                    associated,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                let stream = word("SYN_REPLY/HEADERS too short")? & 0x7fff_ffff;
                let headers = self.headers(&body[4..])?;
                nonzero(stream, "SYN_REPLY/HEADERS on stream 0")?;
                if kind == TYPE_SYN_REPLY {
                    Frame::SynReply { stream, fin, headers }
                } else {
                    Frame::Headers { stream, fin, headers }
                }
            }
            TYPE_RST_STREAM => {
                exact(body, 8, "RST_STREAM must be 8 bytes")?;
                let stream = word("")? & 0x7fff_ffff;
                let status = word("")?;
                nonzero(stream, "RST_STREAM on stream 0")?;
                Frame::RstStream { stream, status }
            }
            TYPE_SETTINGS => {
                let n = word("SETTINGS too short")? as usize;
                if n.checked_mul(8) != Some(body.len() - 4) {
                    return Err(FrameError::Invalid("SETTINGS length does not match its entries"));
                }
                Frame::Settings
            }
            TYPE_PING => {
                exact(body, 4, "PING must be 4 bytes")?;
                Frame::Ping { id: word("")? }
            }
            TYPE_GOAWAY => {
                exact(body, 8, "GOAWAY must be 8 bytes")?;
                Frame::GoAway {
                    last_stream: word("")? & 0x7fff_ffff,
                    status: word("")?,
                }
            }
            TYPE_WINDOW_UPDATE => {
                exact(body, 8, "WINDOW_UPDATE must be 8 bytes")?;
                Frame::WindowUpdate {
                    stream: word("")? & 0x7fff_ffff,
                    delta: word("")? & 0x7fff_ffff,
                }
            }
            other => return Err(FrameError::UnknownFrameType(other)),
        };
        Ok(frame)
    }

    /// Inflates one header block (the context continues from the last).
    fn headers(&mut self, compressed: &[u8]) -> Result<Headers, FrameError> {
        let mut out = Vec::with_capacity((compressed.len() * 4).clamp(64, MAX_HEADER_BLOCK));
        let mut input = compressed;
        loop {
            let (in_before, out_before) = (self.inflate.total_in(), out.len());
            let res = self.inflate.decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = usize::try_from(self.inflate.total_in() - in_before).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or_default();
            match res {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(DICTIONARY).map_err(|_| {
                        FrameError::HeaderBlock("the block was not compressed with the SPDY/3 dictionary")
                    })?;
                    continue;
                }
                Err(_) => return Err(FrameError::HeaderBlock("corrupt zlib data")),
            }
            if out.len() < out.capacity() {
                if input.is_empty() {
                    break;
                }
                if used == 0 && out.len() == out_before {
                    return Err(FrameError::HeaderBlock("zlib data ends early"));
                }
            } else {
                if out.len() >= MAX_HEADER_BLOCK {
                    return Err(FrameError::HeaderBlock("inflates to more than 64 KiB"));
                }
                out.reserve((out.len()).min(MAX_HEADER_BLOCK - out.len()));
            }
        }
        Headers::decode(&out)
    }
}

fn nonzero(stream: u32, what: &'static str) -> Result<(), FrameError> {
    if stream == 0 {
        Err(FrameError::Invalid(what))
    } else {
        Ok(())
    }
}

fn exact(body: &[u8], len: usize, what: &'static str) -> Result<(), FrameError> {
    if body.len() == len {
        Ok(())
    } else {
        Err(FrameError::Invalid(what))
    }
}

/// Encodes the frames that carry header blocks, with one compression
/// context (a connection's sending side).
pub struct FrameEncoder {
    deflate: Compress,
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder").finish_non_exhaustive()
    }
}

impl FrameEncoder {
    /// A fresh compression context primed with [`DICTIONARY`].
    ///
    /// # Errors
    /// [`FrameError::Compression`] if the zlib backend refuses the dictionary.
    pub fn new() -> Result<Self, FrameError> {
        let mut deflate = Compress::new(Compression::best(), true);
        deflate
            .set_dictionary(DICTIONARY)
            .map_err(|e| FrameError::Compression(e.to_string()))?;
        Ok(FrameEncoder { deflate })
    }

    /// A `SYN_STREAM` opening `stream`.
    ///
    /// # Errors
    /// [`FrameError::Compression`] when compression fails.
    pub fn syn_stream(&mut self, stream: u32, headers: &Headers, fin: bool) -> Result<Vec<u8>, FrameError> {
        let mut body = Vec::new();
        body.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(&[0, 0]);
        body.extend(self.compress(&headers.encode())?);
        Ok(control(TYPE_SYN_STREAM, u8::from(fin), &body))
    }

    /// A `SYN_REPLY` accepting `stream`.
    ///
    /// # Errors
    /// [`FrameError::Compression`] when compression fails.
    pub fn syn_reply(&mut self, stream: u32, headers: &Headers, fin: bool) -> Result<Vec<u8>, FrameError> {
        let mut body = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
        body.extend(self.compress(&headers.encode())?);
        Ok(control(TYPE_SYN_REPLY, u8::from(fin), &body))
    }

    fn compress(&mut self, block: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut input = block;
        loop {
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| FrameError::Compression(e.to_string()))?;
            let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or_default();
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            out.reserve(256);
        }
    }
}

fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&u32_len(body.len()).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// A data frame; `fin` half-closes the stream.
pub fn data_frame(stream: u32, payload: &[u8], fin: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.push(u8::from(fin));
    out.extend_from_slice(&u32_len(payload.len()).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

/// A `RST_STREAM` aborting `stream` with `status` (see [`rst`]).
pub fn rst_stream(stream: u32, status: u32) -> Vec<u8> {
    let mut body = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
    body.extend_from_slice(&status.to_be_bytes());
    control(TYPE_RST_STREAM, 0, &body)
}

/// A `PING` (also its answer: the same id).
pub fn ping(id: u32) -> Vec<u8> {
    control(TYPE_PING, 0, &id.to_be_bytes())
}

/// A `GOAWAY` after `last_stream`.
pub fn goaway(last_stream: u32, status: u32) -> Vec<u8> {
    let mut body = (last_stream & 0x7fff_ffff).to_be_bytes().to_vec();
    body.extend_from_slice(&status.to_be_bytes());
    control(TYPE_GOAWAY, 0, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    #[test]
    fn the_dictionary_is_spdy3s() {
        assert_eq!(adler32(DICTIONARY), 0xe3c6_a7c2);
        // The first header block names the dictionary in its zlib header.
        let mut enc = FrameEncoder::new().unwrap();
        let f = enc.syn_reply(1, &Headers::new(), false).unwrap();
        assert_eq!(f[12] & 0x0f, 8, "deflate");
        assert_ne!(f[13] & 0x20, 0, "FDICT set");
        assert_eq!(&f[14..18], &0xe3c6_a7c2u32.to_be_bytes());
    }

    #[test]
    fn header_blocks_share_one_context() {
        let mut enc = FrameEncoder::new().unwrap();
        let mut dec = FrameDecoder::new(1 << 16);
        for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")] {
            let h = Headers::new()
                .with("streamType", kind)
                .with("port", "80")
                .with("port", "81");
            dec.push(&enc.syn_stream(id, &h, false).unwrap());
            let Some(Frame::SynStream { stream, headers, .. }) = dec.next_frame().unwrap() else {
                panic!("a SYN_STREAM")
            };
            assert_eq!(stream, id);
            assert_eq!(headers.get("streamtype"), Some(kind));
            let ports: Vec<_> = headers.iter().find(|(n, _)| *n == "port").unwrap().1.to_vec();
            assert_eq!(ports, ["80", "81"]);
        }
    }

    #[test]
    fn control_frames_and_errors() {
        let mut d = FrameDecoder::new(1 << 10);
        d.push(&ping(7));
        d.push(&rst_stream(3, rst::CANCEL));
        d.push(&goaway(9, 0));
        assert_eq!(d.next_frame().unwrap(), Some(Frame::Ping { id: 7 }));
        assert_eq!(d.next_frame().unwrap(), Some(Frame::RstStream { stream: 3, status: 5 }));
        assert_eq!(
            d.next_frame().unwrap(),
            Some(Frame::GoAway {
                last_stream: 9,
                status: 0
            })
        );
        assert_eq!(d.buffered(), 0);

        let mut d = FrameDecoder::new(1 << 10);
        d.push(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
        assert_eq!(d.next_frame(), Err(FrameError::UnsupportedVersion(2)));
        let mut d = FrameDecoder::new(1 << 10);
        d.push(&[0x80, 3, 0, 42, 0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownFrameType(42)));
        let mut d = FrameDecoder::new(4);
        d.push(&data_frame(1, b"hello", false));
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { len: 5, limit: 4 })));
        let mut d = FrameDecoder::new(1 << 10);
        d.push(&data_frame(0, b"x", false));
        assert!(matches!(d.next_frame(), Err(FrameError::Invalid(_))));
        // A header block not deflated with the dictionary.
        let mut d = FrameDecoder::new(1 << 10);
        d.push(&control(TYPE_SYN_REPLY, 0, &[0, 0, 0, 1, 0x78, 0x9c, 0xff, 0xff]));
        assert!(matches!(d.next_frame(), Err(FrameError::HeaderBlock(_))));
    }

    #[test]
    fn an_inflation_bomb_is_refused() {
        // One header whose value is 1 MiB of zeros: a few KiB compressed.
        let big = "\0".repeat(1 << 20);
        let mut enc = FrameEncoder::new().unwrap();
        let frame = enc.syn_reply(1, &Headers::new().with("x", &big), false).unwrap();
        assert!(frame.len() < 8 << 10, "{}", frame.len());
        let mut d = FrameDecoder::new(1 << 16);
        d.push(&frame);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::HeaderBlock("inflates to more than 64 KiB"))
        );
    }

    #[test]
    fn uppercase_and_duplicate_names_are_refused() {
        let block = |pairs: &[(&str, &str)]| {
            let mut b = u32_len(pairs.len()).to_be_bytes().to_vec();
            for (n, v) in pairs {
                b.extend_from_slice(&u32_len(n.len()).to_be_bytes());
                b.extend_from_slice(n.as_bytes());
                b.extend_from_slice(&u32_len(v.len()).to_be_bytes());
                b.extend_from_slice(v.as_bytes());
            }
            b
        };
        assert!(Headers::decode(&block(&[("a", "1")])).is_ok());
        assert!(Headers::decode(&block(&[("A", "1")])).is_err());
        assert!(Headers::decode(&block(&[("a", "1"), ("a", "2")])).is_err());
        let mut b = block(&[("a", "1")]);
        b.push(0);
        assert!(Headers::decode(&b).is_err());
        assert!(Headers::decode(&[0, 0, 0, 200, 0, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn round_trip_any_chunking(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
            values in proptest::collection::vec("[a-z0-9.]{0,20}", 1..6),
            cut in 1usize..40,
        ) {
            let mut enc = FrameEncoder::new().unwrap();
            let mut wire = Vec::new();
            for (i, (p, v)) in payloads.iter().zip(values.iter().cycle()).enumerate() {
                let id = 2 * u32::try_from(i).unwrap() + 1;
                wire.extend(enc.syn_stream(id, &Headers::new().with("streamtype", v), false).unwrap());
                wire.extend(data_frame(id, p, true));
            }
            let mut d = FrameDecoder::new(1 << 16);
            let (mut got, mut names) = (Vec::new(), Vec::new());
            for chunk in wire.chunks(cut) {
                d.push(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    match f {
                        Frame::Data { payload, .. } => got.push(payload.to_vec()),
                        Frame::SynStream { headers, .. } => names.push(headers.get("streamtype").unwrap().to_owned()),
                        other => prop_assert!(false, "{other:?}"),
                    }
                }
            }
            prop_assert_eq!(got, payloads.clone());
            let want: Vec<String> = values.iter().cycle().take(payloads.len()).cloned().collect();
            prop_assert_eq!(names, want);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut d = FrameDecoder::new(1024);
            d.push(&bytes);
            while let Ok(Some(_)) = d.next_frame() {}
        }
    }
}
