//! Masks secrets in one Kubernetes JSON document read from stdin, as it
//! arrives, with `tollgate-redact`'s streaming engine — no tower, no HTTP:
//!
//! ```sh
//! kubectl get secrets -o json | redact-stream > masked.json
//! ```
//!
//! A list is never held whole: the engine keeps one item (or Table row) at
//! a time, so memory stays at the size of the largest item. Secret `data`
//! and `stringData`, the last-applied annotation's copy of them,
//! credential-looking environment values and ConfigMap keys matching
//! `--configmap-keys REGEX` become `<redacted>`. Input that is not JSON is
//! refused with a message, and nothing after the error is written.

use std::io::{Read, Write};
use std::sync::Arc;

use tollgate_redact::{Redactor, StreamMasker};

/// The largest single item (list element) held at once.
const ITEM_LIMIT: usize = 16 << 20;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut builder = Redactor::builder();
    match args.as_slice() {
        [] => {}
        [flag, re] if flag == "--configmap-keys" => builder = builder.configmap_keys(re.as_str()),
        _ => return Err("usage: redact-stream [--configmap-keys REGEX] < document.json".to_owned()),
    }
    let redactor = Arc::new(builder.build().map_err(|e| e.to_string())?);
    let mut masker = StreamMasker::new(redactor, None, ITEM_LIMIT);
    let (mut stdin, mut stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut chunk = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = stdin.read(&mut chunk).map_err(|e| format!("reading stdin: {e}"))?;
        if n == 0 {
            break;
        }
        masker.push(&chunk[..n], &mut out).map_err(|e| e.to_string())?;
        stdout.write_all(&out).map_err(|e| format!("writing stdout: {e}"))?;
        out.clear();
    }
    masker.finish(&mut out).map_err(|e| e.to_string())?;
    stdout.write_all(&out).map_err(|e| format!("writing stdout: {e}"))?;
    stdout.flush().map_err(|e| format!("writing stdout: {e}"))
}
