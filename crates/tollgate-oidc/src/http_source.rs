//! Discovery and JWKS over HTTPS (rustls with the issuer's CA, or the
//! web PKI roots when none is configured).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

use crate::jwks::{Fetched, JwksSource};
use tollgate_kube::ConfigError;

use crate::JwtAuthenticator;

const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// The most a discovery or JWKS fetch (each of its requests and bodies)
/// may take: a hung issuer delays its own unknown-`kid` tokens this long at
/// most, and nobody else's.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches an issuer's keys: `GET {issuer}/.well-known/openid-configuration`
/// (or `discoveryURL`), checks that the document's `issuer` equals the
/// configured URL exactly, then `GET jwks_uri`.
pub struct HttpJwksSource {
    issuer: String,
    discovery: Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for HttpJwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpJwksSource")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl HttpJwksSource {
    /// A source for this authenticator.
    ///
    /// # Errors
    /// When the discovery URL or the CA is invalid.
    pub fn new(a: &JwtAuthenticator, file: &str) -> Result<Self, ConfigError> {
        let discovery = match &a.discovery_url {
            Some(d) => d.clone(),
            None => format!("{}/.well-known/openid-configuration", a.url.trim_end_matches('/')),
        };
        let discovery: Uri = discovery
            .parse()
            .map_err(|e| ConfigError::new(file, "issuer.discoveryURL", format!("{discovery:?}: {e}")))?;
        let mut roots = RootCertStore::empty();
        match &a.certificate_authority {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert
                        .map_err(|e| ConfigError::new(file, "issuer.certificateAuthority", format!("not PEM: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| ConfigError::new(file, "issuer.certificateAuthority", e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(ConfigError::new(
                        file,
                        "issuer.certificateAuthority",
                        "contains no certificate",
                    ));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::new(file, "issuer", e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        Ok(HttpJwksSource {
            issuer: a.url.clone(),
            discovery,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    async fn get(&self, uri: Uri) -> Result<(Bytes, Option<Duration>), String> {
        let req = Request::get(uri.clone())
            .header(header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let res = tokio::time::timeout(TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| format!("GET {uri}: timed out"))?
            .map_err(|e| format!("GET {uri}: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("GET {uri}: HTTP {}", res.status()));
        }
        let max_age = res
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let body = tokio::time::timeout(TIMEOUT, Limited::new(res.into_body(), MAX_DOCUMENT_BYTES).collect())
            .await
            .map_err(|_| format!("GET {uri}: body timed out"))?
            .map_err(|e| format!("GET {uri}: {e}"))?
            .to_bytes();
        Ok((body, max_age))
    }
}

/// `max-age=N` from a `Cache-Control` value (`no-store`/`no-cache` → 0).
pub(crate) fn max_age(v: &str) -> Option<Duration> {
    let mut out = None;
    for d in v.split(',').map(str::trim) {
        let lower = d.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            out = n.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    out
}

#[async_trait::async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self) -> Result<Fetched, String> {
        let (doc, _) = self.get(self.discovery.clone()).await?;
        let doc: Value =
            serde_json::from_slice(&doc).map_err(|e| format!("the discovery document is not JSON: {e}"))?;
        let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
        if issuer != self.issuer {
            return Err(format!(
                "the discovery document's issuer {issuer:?} is not {:?}",
                self.issuer
            ));
        }
        let jwks_uri: Uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("the discovery document has no jwks_uri")?
            .parse()
            .map_err(|e| format!("jwks_uri: {e}"))?;
        if jwks_uri.scheme_str() != Some("https") {
            return Err("jwks_uri must be https".to_owned());
        }
        let (jwks, max_age) = self.get(jwks_uri).await?;
        Ok(Fetched::new(jwks.to_vec(), max_age))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        assert_eq!(max_age("public, max-age=3600"), Some(Duration::from_secs(3600)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }
}
