//! The `limits` section of a `tollgate.yaml`: bounds on each request (read
//! by the RequestInfo layer) and on connections (the listener's), with
//! [`LimitsConfig::serve_options`] for [`serve_with`](crate::serve_with).
//!
//! ```
//! let l: tollgate_proxy::LimitsConfig = tollgate_kube::from_yaml("maxConnectionsPerIp: 50\n", "t.yaml")?;
//! l.validate("t.yaml")?;
//! assert_eq!(l.serve_options().max_connections_per_ip, 50);
//! # Ok::<(), tollgate_kube::ConfigError>(())
//! ```

use std::time::Duration;

use serde::Deserialize;
use tollgate_kube::ConfigError;

use crate::ServeOptions;

/// Limits: on each request (read by the RequestInfo layer) and on
/// connections (the server's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// The request body bound.
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive.
    pub body_timeout_seconds: u64,
    /// The longest request URI served (414 beyond it).
    pub max_uri_bytes: usize,
    /// The most header bytes served, as HTTP/2 counts them (431 beyond it).
    pub max_header_bytes: usize,
    /// The most request-body bytes buffered at once across all requests
    /// (429 with Retry-After beyond it).
    pub max_buffered_bytes: usize,
    /// Open connections at most, all clients together.
    pub max_connections: usize,
    /// Open connections at most from one IP address.
    pub max_connections_per_ip: usize,
    /// TLS handshakes in progress at most.
    pub max_handshakes: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout_seconds: u64,
    /// How long a connection with no request in flight stays open.
    pub idle_timeout_seconds: u64,
    /// Concurrent streams per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Long-running requests (watches, logs, proxy, exec, attach,
    /// port-forward) under way at once ([`ProxyBuilder::max_long_running`](crate::ProxyBuilder::max_long_running)).
    pub max_long_running: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let serve = ServeOptions::default();
        LimitsConfig {
            max_body_bytes: tollgate_kube::DEFAULT_MAX_BODY_BYTES,
            body_timeout_seconds: sixty(),
            max_uri_bytes: tollgate_kube::limits::DEFAULT_MAX_URI_BYTES,
            max_header_bytes: tollgate_kube::limits::DEFAULT_MAX_HEADER_BYTES,
            max_buffered_bytes: 64 * 1024 * 1024,
            max_connections: serve.max_connections,
            max_connections_per_ip: serve.max_connections_per_ip,
            max_handshakes: serve.max_handshakes,
            header_read_timeout_seconds: 30,
            idle_timeout_seconds: serve.idle_timeout.as_secs(),
            max_concurrent_streams: serve.max_concurrent_streams,
            max_long_running: crate::DEFAULT_MAX_LONG_RUNNING,
        }
    }
}

fn sixty() -> u64 {
    60
}

impl LimitsConfig {
    /// Checks the bounds against each other; errors name `limits.…`
    /// fields of `file`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let err = |field: &str, message: String| Err(ConfigError::new(file, field, message));
        if self.max_body_bytes == 0 {
            return err("limits.maxBodyBytes", "must be greater than 0".to_owned());
        }
        if self.max_buffered_bytes < self.max_body_bytes {
            return err(
                "limits.maxBufferedBytes",
                format!(
                    "must be at least limits.maxBodyBytes ({}): otherwise no body of the largest size could ever be read",
                    self.max_body_bytes
                ),
            );
        }
        if self.max_uri_bytes < 256 {
            return err("limits.maxUriBytes", "must be at least 256".to_owned());
        }
        if self.max_header_bytes < 1024 {
            return err("limits.maxHeaderBytes", "must be at least 1024".to_owned());
        }
        if self.max_long_running == 0 {
            return err(
                "limits.maxLongRunning",
                "must be greater than 0: otherwise no watch, logs or exec could ever run".to_owned(),
            );
        }
        Ok(())
    }

    /// The listener's options with these connection limits (and the
    /// defaults for the rest: drain, stats).
    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_handshakes: self.max_handshakes,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_seconds),
            idle_timeout: Duration::from_secs(self.idle_timeout_seconds),
            max_concurrent_streams: self.max_concurrent_streams,
            ..ServeOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<LimitsConfig, ConfigError> {
        let l: LimitsConfig = tollgate_kube::from_yaml(yaml, "t.yaml")?;
        l.validate("t.yaml")?;
        Ok(l)
    }

    #[test]
    fn long_running_requests_are_bounded_by_default_and_never_by_zero() {
        assert_eq!(
            parse("{}").map(|l| l.max_long_running).ok(),
            Some(crate::DEFAULT_MAX_LONG_RUNNING)
        );
        assert_eq!(
            parse("maxLongRunning: 500\n").map(|l| l.max_long_running).ok(),
            Some(500)
        );
        let e = parse("maxLongRunning: 0\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("t.yaml: limits.maxLongRunning: must be greater than 0"),
            "{e}"
        );
        let e = parse("maxLongRunning: -1\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("maxLongRunning") || e.contains("invalid value"), "{e}");
    }
}
