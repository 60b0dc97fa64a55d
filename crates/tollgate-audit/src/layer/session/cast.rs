//! The asciicast v2 file a terminal session is written to, with its running
//! SHA-256.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::page_cache::{Rounds, release};

/// How often a long recording hands what it wrote back to the OS (as the
/// audit log does every `syncIntervalMs`): at most every 100 ms, and only
/// once a MiB more has been written.
const ADVICE_EVERY: Duration = Duration::from_millis(100);
const ADVICE_BYTES: u64 = 1 << 20;

/// The asciicast file being written, with its running digest.
pub(super) struct Cast {
    pub(super) path: PathBuf,
    out: BufWriter<File>,
    digest: aws_lc_rs::digest::Context,
    start: Instant,
    failed: Option<String>,
    /// Bytes handed to `out`.
    written: u64,
    /// The page-cache advice: the rounds, when the last one was and at how
    /// many bytes, and whether the file still takes it.
    rounds: Rounds,
    last_round: (Instant, u64),
    advise: bool,
    /// The line being written, reused from event to event.
    line: Vec<u8>,
}

/// The most capacity the line buffer keeps between events.
const LINE_KEEP: usize = 1 << 20;

impl Cast {
    /// Creates the file and writes its header line. The file must be new:
    /// whatever already has its name (a file, or a link someone put in a
    /// shared directory) is neither written through nor truncated.
    pub(super) fn create(path: PathBuf, header: &Value) -> Result<Cast, String> {
        let file = File::create_new(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        let mut c = Cast {
            path,
            out: BufWriter::new(file),
            digest: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
            start: Instant::now(),
            failed: None,
            written: 0,
            rounds: Rounds::default(),
            last_round: (Instant::now(), 0),
            advise: true,
            line: Vec::new(),
        };
        let mut line = std::mem::take(&mut c.line);
        if let Err(e) = serde_json::to_writer(&mut line, header) {
            c.failed = Some(e.to_string());
        }
        c.write_line(line);
        Ok(c)
    }

    /// Writes `line` (a JSON value) as the next line of the file, into
    /// the digest, and keeps its buffer for the next one.
    fn write_line(&mut self, mut line: Vec<u8>) {
        line.push(b'\n');
        self.digest.update(&line);
        if let Err(e) = self.out.write_all(&line)
            && self.failed.is_none()
        {
            self.failed = Some(e.to_string());
        }
        self.written += line.len() as u64;
        line.clear();
        if line.capacity() <= LINE_KEEP {
            self.line = line;
        }
        if self.advise
            && self.written - self.last_round.1 >= ADVICE_BYTES
            && self.last_round.0.elapsed() >= ADVICE_EVERY
        {
            self.hand_back();
        }
    }

    /// A round of page-cache advice (see [`Rounds`]): what a terminal
    /// session writes is read later, if at all, so a long one (a large
    /// `kubectl cp` is an exec) does not fill the page cache.
    fn hand_back(&mut self) {
        self.last_round = (Instant::now(), self.written);
        if self.out.flush().is_err() {
            // Kept in `failed` by the next write or by `finish`.
            return;
        }
        let (from, to) = self.rounds.next(self.written);
        if release(self.out.get_ref(), from, to).is_err() {
            self.advise = false;
        }
    }

    /// One event: `o` output, `i` input, `r` resize, `m` marker, written
    /// as `serde_json` writes `[time, code, data]` (the time in seconds,
    /// rounded to the microsecond), without building the value.
    pub(super) fn event(&mut self, code: &str, data: &str) {
        let mut line = std::mem::take(&mut self.line);
        event_line(self.start.elapsed().as_secs_f64(), code, data, &mut line);
        self.write_line(line);
    }

    /// Flushes the file; its path, hex SHA-256, and the first write error.
    pub(super) fn finish(mut self) -> (PathBuf, String, Option<String>) {
        let flushed = self.out.flush();
        if self.advise && flushed.is_ok() {
            // The whole file: its write-back starts, and what is already
            // clean leaves the page cache.
            let _ = release(self.out.get_ref(), 0, self.written);
        }
        let hex: String = self
            .digest
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let err = self.failed.or_else(|| flushed.err().map(|e| e.to_string()));
        (self.path, hex, err)
    }
}

/// Appends the event `[seconds, code, data]` to `line` as `serde_json`
/// writes it, the time rounded to the microsecond.
fn event_line(seconds: f64, code: &str, data: &str, line: &mut Vec<u8>) {
    line.reserve(data.len() + code.len() + 24);
    line.push(b'[');
    let t = (seconds * 1e6).round() / 1e6;
    if t.is_finite() {
        // `ryu`'s shortest form, as `serde_json` writes a float.
        let _ = serde_json::to_writer(&mut *line, &t);
    } else {
        line.extend_from_slice(b"null");
    }
    line.push(b',');
    crate::json_line::string(code, line);
    line.push(b',');
    crate::json_line::string(data, line);
    line.push(b']');
}

/// Splits off the longest valid UTF-8 prefix, keeping an unfinished
/// character for the next frame; invalid bytes become U+FFFD. A frame of
/// valid text with nothing carried over is given back as it is.
pub(super) fn utf8_chunk<'a>(carry: &mut Vec<u8>, data: &'a [u8]) -> Cow<'a, str> {
    if carry.is_empty() {
        match std::str::from_utf8(data) {
            Ok(text) => return Cow::Borrowed(text),
            Err(e) if e.error_len().is_none() => {
                // Valid up to an unfinished character at the end.
                let (text, rest) = data.split_at(e.valid_up_to());
                if let Ok(text) = std::str::from_utf8(text) {
                    carry.extend_from_slice(rest);
                    return Cow::Borrowed(text);
                }
            }
            // Invalid bytes inside: replaced below.
            Err(_) => {}
        }
    }
    Cow::Owned(through_carry(carry, data))
}

/// [`utf8_chunk`] the long way: `data` after what was carried, split
/// before an unfinished character at the end, the rest converted lossily.
fn through_carry(carry: &mut Vec<u8>, data: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    proptest::proptest! {
        /// Any bytes (invalid ones, characters cut anywhere), any frames:
        /// the same text and the same carry as through the carry buffer.
        #[test]
        fn utf8_chunks_match_the_carry_buffer_way(
            bytes in proptest::collection::vec(proptest::prop_oneof![proptest::num::u8::ANY, 0x80u8..0xc0, 0xe0u8..0xf0], 0..40),
            cuts in proptest::collection::vec(0usize..40, 0..5),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let (mut carry, mut reference) = (Vec::new(), Vec::new());
            let mut at = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                let frame = &bytes[at..c.max(at)];
                proptest::prop_assert_eq!(utf8_chunk(&mut carry, frame).into_owned(), through_carry(&mut reference, frame));
                proptest::prop_assert_eq!(&carry, &reference);
                at = c.max(at);
            }
        }

        /// An event line is what `serde_json` writes for `[t, code, data]`.
        #[test]
        fn event_lines_are_serde_jsons(seconds in 0f64..1e7, code in "[a-z]", data in proptest::prelude::any::<String>()) {
            let mut line = Vec::new();
            event_line(seconds, &code, &data, &mut line);
            let t = (seconds * 1e6).round() / 1e6;
            proptest::prop_assert_eq!(String::from_utf8(line).unwrap(), serde_json::json!([t, code, data]).to_string());
        }
    }

    #[test]
    fn utf8_split_across_frames_is_kept_whole() {
        let mut carry = Vec::new();
        let s = "héllo";
        let b = s.as_bytes();
        let a = utf8_chunk(&mut carry, &b[..2]);
        let rest = utf8_chunk(&mut carry, &b[2..]);
        assert_eq!(a.into_owned() + &rest, s);
        assert!(carry.is_empty());
    }
}
