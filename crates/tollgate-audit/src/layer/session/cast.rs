//! The asciicast v2 file a terminal session is written to, with its running
//! SHA-256.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
}

impl Cast {
    /// Creates the file and writes its header line.
    pub(super) fn create(path: PathBuf, header: &Value) -> Result<Cast, String> {
        let file = File::create(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
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
        };
        c.line(header);
        Ok(c)
    }

    fn line(&mut self, v: &Value) {
        let mut l = v.to_string();
        l.push('\n');
        self.digest.update(l.as_bytes());
        if let Err(e) = self.out.write_all(l.as_bytes())
            && self.failed.is_none()
        {
            self.failed = Some(e.to_string());
        }
        self.written += l.len() as u64;
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

    /// One event: `o` output, `i` input, `r` resize, `m` marker.
    pub(super) fn event(&mut self, code: &str, data: &str) {
        let t = self.start.elapsed().as_secs_f64();
        self.line(&json!([(t * 1e6).round() / 1e6, code, data]));
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

/// Splits off the longest valid UTF-8 prefix, keeping an unfinished
/// character for the next frame.
pub(super) fn utf8_chunk(carry: &mut Vec<u8>, data: &[u8]) -> String {
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
