//! One direction of a WebSocket tunnel: frames decoded incrementally and
//! fragmented messages reassembled (control frames may come in between).

use tollgate_kube::websocket::{FrameDecoder, Opcode};

/// The largest message (frames reassembled) a session decodes.
const MAX_MESSAGE: usize = 16 << 20;

/// A decoded message: whether it was text, and its payload.
pub(super) type Message = (bool, Vec<u8>);

/// One direction's decoder.
pub(super) struct WsDirection {
    frames: FrameDecoder,
    /// A fragmented message being reassembled: (text, data).
    partial: Option<Message>,
}

impl WsDirection {
    pub(super) fn new() -> Self {
        WsDirection {
            frames: FrameDecoder::new(MAX_MESSAGE),
            partial: None,
        }
    }

    /// Whether everything received so far ends on a message boundary (a
    /// frame of our own can be sent in this direction now).
    pub(super) fn at_boundary(&self) -> bool {
        self.frames.buffered() == 0 && self.partial.is_none()
    }

    /// Decodes `bytes`, returning the whole data messages they complete.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Message>, String> {
        self.frames.push(bytes);
        let mut out = Vec::new();
        while let Some(frame) = self.frames.next_frame().map_err(|e| e.to_string())? {
            let message = match (frame.opcode, frame.fin, self.partial.take()) {
                (Opcode::Binary | Opcode::Text, true, None) => (frame.opcode == Opcode::Text, frame.payload.to_vec()),
                (Opcode::Binary | Opcode::Text, false, None) => {
                    self.partial = Some((frame.opcode == Opcode::Text, frame.payload.to_vec()));
                    continue;
                }
                (Opcode::Continuation, fin, Some((text, mut data))) => {
                    if data.len() + frame.payload.len() > MAX_MESSAGE {
                        return Err(format!("a fragmented message over {MAX_MESSAGE} bytes"));
                    }
                    data.extend_from_slice(&frame.payload);
                    if !fin {
                        self.partial = Some((text, data));
                        continue;
                    }
                    (text, data)
                }
                (op, _, held) if op.is_control() => {
                    self.partial = held;
                    continue;
                }
                (op, _, _) => return Err(format!("a WebSocket {op:?} frame out of sequence")),
            };
            out.push(message);
        }
        Ok(out)
    }
}
