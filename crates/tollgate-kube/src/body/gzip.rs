//! Bounded gzip decoding: a small body must not expand past the limit.

use std::io::Read;

use bytes::Bytes;
use flate2::read::MultiGzDecoder;

use crate::Error;

/// Decompresses `input`, refusing output larger than `limit` bytes.
pub(crate) fn gunzip_bounded(input: &[u8], limit: usize) -> Result<Bytes, Error> {
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(limit));
    let mut decoder = MultiGzDecoder::new(input).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| Error::InvalidGzip { message: e.to_string() })?;
    if out.len() > limit {
        return Err(Error::BodyTooLarge { limit });
    }
    Ok(Bytes::from(out))
}
