//! Reading the files an operator names — configurations, policies, owner
//! rules, kubeconfigs, certificates and keys, exports — whole, but
//! bounded: a path that names an endless stream (`/dev/zero`, a pipe that
//! never closes, a log by mistake) is refused with the bound named instead
//! of filling memory until the process is killed.
//!
//! ```
//! use tollgate_kube::files;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("policy.yaml");
//! std::fs::write(&path, "rules: []\n").unwrap();
//! assert_eq!(files::read_config_text(&path).unwrap(), "rules: []\n");
//!
//! let err = files::read_to_string(&path, 4).unwrap_err();
//! assert_eq!(err.to_string(), "larger than 4 bytes (a file read whole must be under that: is it the right file?)");
//! ```

use std::io::Read;
use std::path::Path;

/// The most bytes a configuration file (the gateway's, a policy, owner
/// rules, an `AuthenticationConfiguration`, an audit policy, a kubeconfig,
/// a certificate or key) may hold: 64 MiB, far above any real one (a
/// policy of 15,000 rules is ~1 MB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 64 << 20;

/// The most bytes an export read whole may hold (`tollgate review
/// --rbac`: a cluster's roles and bindings, `kubectl get … -o json`):
/// 256 MiB.
pub const MAX_EXPORT_BYTES: u64 = 256 << 20;

/// The bytes of `path`, at most `max` of them.
///
/// # Errors
/// What opening or reading gives, and `InvalidData` ("larger than …") for
/// a file or stream of more than `max` bytes — found from the file's size
/// when it has one, else after reading `max + 1` bytes.
pub fn read(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    if len.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let mut bytes = Vec::with_capacity(len.map_or(0, |n| usize::try_from(n).unwrap_or(0)));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(bytes)
}

/// The text of `path`, at most `max` bytes of it.
///
/// # Errors
/// As [`read`], and `InvalidData` for bytes that are not UTF-8 (as
/// [`std::fs::read_to_string`]).
pub fn read_to_string(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read(path, max)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"))
}

/// [`read`] of a configuration file or one it names, bounded by
/// [`MAX_CONFIG_FILE_BYTES`].
///
/// # Errors
/// As [`read`].
pub fn read_config(path: &Path) -> std::io::Result<Vec<u8>> {
    read(path, MAX_CONFIG_FILE_BYTES)
}

/// [`read_to_string`] of a configuration file or one it names, bounded by
/// [`MAX_CONFIG_FILE_BYTES`].
///
/// # Errors
/// As [`read_to_string`].
pub fn read_config_text(path: &Path) -> std::io::Result<String> {
    read_to_string(path, MAX_CONFIG_FILE_BYTES)
}

fn too_large(max: u64) -> std::io::Error {
    let size = match max {
        m if m >= 1 << 20 && m % (1 << 20) == 0 => format!("{} MiB", m >> 20),
        m if m >= 1 << 10 && m % (1 << 10) == 0 => format!("{} KiB", m >> 10),
        m => format!("{m} bytes"),
    };
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("larger than {size} (a file read whole must be under that: is it the right file?)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_the_bound_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 2048]).unwrap();
        assert_eq!(read(&path, 2048).unwrap().len(), 2048);
        let err = read(&path, 2047).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().starts_with("larger than 2047 bytes"), "{err}");
        assert!(
            read(&path, 1024)
                .unwrap_err()
                .to_string()
                .starts_with("larger than 1 KiB")
        );
    }

    /// An endless stream stops at the bound: no file size to go by.
    #[cfg(unix)]
    #[test]
    fn an_endless_stream_is_refused_at_the_bound() {
        let err = read(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "larger than 1 MiB (a file read whole must be under that: is it the right file?)"
        );
        let err = read_to_string(Path::new("/dev/zero"), MAX_CONFIG_FILE_BYTES).unwrap_err();
        assert!(err.to_string().starts_with("larger than 64 MiB"), "{err}");
    }

    #[test]
    fn text_must_be_utf8_and_a_missing_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_to_string(&path, 10).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
        let missing = read(&dir.path().join("none"), 10).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
