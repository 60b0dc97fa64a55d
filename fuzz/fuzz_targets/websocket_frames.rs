//! The incremental WebSocket frame decoder on arbitrary bytes in arbitrary
//! chunks: never panics, and never yields a payload over the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_kube::websocket::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let cut = usize::from(cut).max(1);
    let mut dec = FrameDecoder::new(4096);
    for chunk in rest.chunks(cut) {
        dec.push(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => assert!(f.payload.len() <= 4096),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
