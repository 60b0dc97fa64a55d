//! An incremental RFC 6455 frame decoder and encoder, and the Kubernetes
//! stream-channel framing carried inside (exec, attach, port-forward).
//!
//! The gateway only *observes* WebSocket tunnels, so this is a decoder that
//! takes bytes in arbitrary chunks and yields frames, never panicking on
//! input. The test API server also speaks it.
//!
//! ```
//! use tollgate_kube::websocket::{FrameDecoder, Opcode, encode_frame};
//!
//! let wire = encode_frame(Opcode::Binary, b"\x01hello\n", Some([1, 2, 3, 4]));
//! let mut dec = FrameDecoder::new(1 << 20);
//! dec.push(&wire[..3]);
//! assert!(dec.next_frame()?.is_none());
//! dec.push(&wire[3..]);
//! let frame = dec.next_frame()?.expect("a whole frame");
//! assert_eq!(frame.opcode, Opcode::Binary);
//! assert_eq!(&frame.payload[..], b"\x01hello\n");
//! # Ok::<_, tollgate_kube::websocket::FrameError>(())
//! ```

use bytes::{Buf, Bytes, BytesMut};

/// Kubernetes channel numbers (the first byte of each binary message).
pub mod channel {
    /// stdin, client to server.
    pub const STDIN: u8 = 0;
    /// stdout, server to client.
    pub const STDOUT: u8 = 1;
    /// stderr, server to client.
    pub const STDERR: u8 = 2;
    /// The final `metav1.Status`, server to client.
    pub const ERROR: u8 = 3;
    /// Terminal resize `{"Width":W,"Height":H}`, client to server.
    pub const RESIZE: u8 = 4;
    /// v5: `[255, stream]` closes that stream (stdin EOF).
    pub const CLOSE: u8 = 255;
}

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Opcode {
    /// 0x0
    Continuation,
    /// 0x1
    Text,
    /// 0x2
    Binary,
    /// 0x8
    Close,
    /// 0x9
    Ping,
    /// 0xA
    Pong,
}

impl Opcode {
    fn from_u8(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// One decoded frame, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The FIN bit.
    pub fin: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// Whether the frame was masked (client frames must be).
    pub masked: bool,
    /// The unmasked payload.
    pub payload: Bytes,
}

/// Protocol violations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// RSV bits set without a negotiated extension.
    #[error("reserved bits set in a WebSocket frame header")]
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    #[error("unknown WebSocket opcode {0:#x}")]
    UnknownOpcode(u8),
    /// A control frame fragmented or over 125 bytes.
    #[error("invalid WebSocket control frame")]
    InvalidControlFrame,
    /// A payload over the configured maximum.
    #[error("WebSocket frame payload of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The declared length.
        len: u64,
        /// The limit.
        limit: usize,
    },
}

/// Decodes frames from bytes pushed in any chunking.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_payload: usize,
}

impl FrameDecoder {
    /// A decoder refusing frames with payloads over `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_payload,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A [`FrameError`] on a protocol violation; the stream is then unusable.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        if b[0] & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        let opcode = Opcode::from_u8(b[0] & 0x0f).ok_or(FrameError::UnknownOpcode(b[0] & 0x0f))?;
        let masked = b[1] & 0x80 != 0;
        let (len, mut pos) = match b[1] & 0x7f {
            126 => {
                if b.len() < 4 {
                    return Ok(None);
                }
                (u64::from(u16::from_be_bytes([b[2], b[3]])), 4)
            }
            127 => {
                if b.len() < 10 {
                    return Ok(None);
                }
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            n => (u64::from(n), 2),
        };
        if opcode.is_control() && (!fin || len > 125) {
            return Err(FrameError::InvalidControlFrame);
        }
        if len > self.max_payload as u64 {
            return Err(FrameError::TooLarge {
                len,
                limit: self.max_payload,
            });
        }
        let mut mask = [0u8; 4];
        if masked {
            if b.len() < pos + 4 {
                return Ok(None);
            }
            mask.copy_from_slice(&b[pos..pos + 4]);
            pos += 4;
        }
        // `len` is bounded by `max_payload`, a usize.
        let len = len as usize;
        if b.len() < pos + len {
            return Ok(None);
        }
        self.buf.advance(pos);
        let mut payload = self.buf.split_to(len);
        if masked {
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[i % 4];
            }
        }
        Ok(Some(Frame {
            fin,
            opcode,
            masked,
            payload: payload.freeze(),
        }))
    }
}

/// Encodes one final frame; `mask` is required for client-to-server frames.
pub fn encode_frame(opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode.as_u8());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_and_errors() {
        for n in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![7u8; n];
            let wire = encode_frame(Opcode::Binary, &payload, None);
            let mut d = FrameDecoder::new(1 << 20);
            d.push(&wire);
            let f = d.next_frame().unwrap().unwrap();
            assert_eq!(f.payload.len(), n);
            assert!(!f.masked);
            assert_eq!(d.buffered(), 0);
        }
        let mut d = FrameDecoder::new(10);
        d.push(&encode_frame(Opcode::Binary, &[0; 11], None));
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
        let mut d = FrameDecoder::new(10);
        d.push(&[0x83, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownOpcode(3)));
        let mut d = FrameDecoder::new(10);
        d.push(&[0x09, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::InvalidControlFrame));
        let mut d = FrameDecoder::new(10);
        d.push(&[0xc2, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::ReservedBits));
    }

    proptest! {
        #[test]
        fn round_trip_any_chunking(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..5),
                                   mask in any::<Option<[u8; 4]>>(),
                                   cut in 1usize..50) {
            let wire: Vec<u8> = msgs.iter().flat_map(|m| encode_frame(Opcode::Binary, m, mask)).collect();
            let mut d = FrameDecoder::new(1 << 16);
            let mut got = Vec::new();
            for chunk in wire.chunks(cut) {
                d.push(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f.payload.to_vec());
                }
            }
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut d = FrameDecoder::new(1024);
            d.push(&bytes);
            while let Ok(Some(_)) = d.next_frame() {}
        }
    }
}
