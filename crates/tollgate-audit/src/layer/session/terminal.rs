//! What a terminal session's decoded streams mean for its recording:
//! output, input (when asked), resizes and the exit status, whichever
//! framing (WebSocket channels or SPDY streams) carried them.

use serde_json::Value;

use super::cast::{Cast, utf8_chunk};

/// A terminal's recording state.
pub(super) struct Terminal {
    pub(super) cast: Option<Cast>,
    /// Record stdin.
    stdin: bool,
    stdout_carry: Vec<u8>,
    stderr_carry: Vec<u8>,
    /// The exit code (`"0"`, the code, or `"error"`), once known.
    pub(super) exit: Option<String>,
}

impl Terminal {
    pub(super) fn new(cast: Option<Cast>, stdin: bool) -> Self {
        Terminal {
            cast,
            stdin,
            stdout_carry: Vec::new(),
            stderr_carry: Vec::new(),
            exit: None,
        }
    }

    /// Bytes the user typed.
    pub(super) fn input(&mut self, data: &[u8]) {
        if self.stdin
            && !data.is_empty()
            && let Some(c) = self.cast.as_mut()
        {
            c.event("i", &String::from_utf8_lossy(data));
        }
    }

    /// stdout or stderr bytes; a character split across frames is kept
    /// whole.
    pub(super) fn output(&mut self, stderr: bool, data: &[u8]) {
        let Some(c) = self.cast.as_mut() else { return };
        let carry = if stderr {
            &mut self.stderr_carry
        } else {
            &mut self.stdout_carry
        };
        let t = utf8_chunk(carry, data);
        if !t.is_empty() {
            c.event("o", &t);
        }
    }

    /// One resize message, `{"Width":W,"Height":H}`.
    pub(super) fn resize(&mut self, v: &Value) {
        let w = v.get("Width").and_then(Value::as_u64).unwrap_or(80);
        let h = v.get("Height").and_then(Value::as_u64).unwrap_or(24);
        if let Some(c) = self.cast.as_mut() {
            c.event("r", &format!("{w}x{h}"));
        }
    }

    /// The error stream's message: a `metav1.Status` (v4 and later), or a
    /// plain error text (older protocols).
    pub(super) fn status(&mut self, data: &[u8]) {
        let code = match serde_json::from_slice::<Value>(data) {
            Ok(v) if v.get("status").and_then(Value::as_str) == Some("Success") => "0".to_owned(),
            Ok(v) => v
                .pointer("/details/causes")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))
                        .and_then(|c| c.get("message").and_then(Value::as_str))
                })
                .map_or_else(|| "error".to_owned(), str::to_owned),
            Err(_) if data.is_empty() => "0".to_owned(),
            Err(_) => "error".to_owned(),
        };
        if let Some(c) = self.cast.as_mut() {
            c.event("m", &format!("exit {code}"));
        }
        self.exit = Some(code);
    }
}
