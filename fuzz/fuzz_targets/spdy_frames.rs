//! The incremental SPDY/3.1 frame decoder (header blocks inflated with the
//! SPDY/3 dictionary) on arbitrary bytes in arbitrary chunks, optionally
//! after a valid header block so the compression context is live: never
//! panics, never yields a data frame over the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_kube::spdy::{Frame, FrameDecoder, FrameEncoder, Headers};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let mut dec = FrameDecoder::new(4096);
    if cut & 1 == 1 {
        let Ok(mut enc) = FrameEncoder::new() else { return };
        let Ok(first) = enc.syn_stream(1, &Headers::new().with("streamtype", "error"), false) else {
            return;
        };
        dec.push(&first);
        assert!(matches!(dec.next_frame(), Ok(Some(Frame::SynStream { stream: 1, .. }))));
    }
    let cut = usize::from(cut >> 1).max(1);
    for chunk in rest.chunks(cut) {
        dec.push(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(Frame::Data { payload, .. })) => assert!(payload.len() <= 4096),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
