//! What of a file is in the page cache, read with `fincore` (util-linux).

use std::path::Path;

/// Bytes of `path` in the page cache.
///
/// # Panics
/// When `fincore` cannot be run or prints something else than a number:
/// a test that asks cannot go on without the answer.
///
/// ```no_run
/// let cached = tollgate_testkit::resident_bytes(std::path::Path::new("/var/log/syslog"));
/// println!("{cached} bytes cached");
/// ```
pub fn resident_bytes(path: &Path) -> u64 {
    let out = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .expect("fincore (util-linux) is needed to see what is in the page cache");
    assert!(
        out.status.success(),
        "fincore failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("fincore printed {:?}: {e}", String::from_utf8_lossy(&out.stdout)))
}
