//! Where requests go: the API server's URL, how to trust it, and the
//! gateway's own credentials.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;
use http::uri::{Authority, Scheme, Uri};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::Error;
use crate::kubeconfig::{self, Resolved};

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The API server Tollgate forwards to, with the gateway's credentials.
///
/// ```no_run
/// use tollgate_proxy::Upstream;
/// let upstream = Upstream::from_kubeconfig("/etc/tollgate/kubeconfig".as_ref(), None)?;
/// println!("forwarding to {}", upstream.url());
/// # Ok::<_, tollgate_proxy::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Upstream {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// A path prefix (`https://host/k8s/clusters/c1`), without the trailing `/`.
    pub(crate) base_path: String,
    pub(crate) tls: Arc<ClientConfig>,
    pub(crate) server_name: Option<String>,
    pub(crate) credentials: Credentials,
    url: String,
}

impl Upstream {
    /// From a kubeconfig file and an optional context name (default: the
    /// file's `current-context`).
    ///
    /// # Errors
    /// [`Error::Config`] naming the file and field, [`Error::File`] for
    /// unreadable files.
    pub fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Self, Error> {
        let r = kubeconfig::load(path, context)?;
        Upstream::from_resolved(r, &path.display().to_string())
    }

    /// From the kubeconfig files kubectl would read
    /// ([`kubeconfig_files`](crate::kubeconfig_files)), merged as kubectl
    /// merges `$KUBECONFIG`, and an optional context.
    ///
    /// # Errors
    /// As [`Upstream::from_kubeconfig`]; none of the files readable.
    pub fn from_kubeconfig_files(files: &[PathBuf], context: Option<&str>) -> Result<Self, Error> {
        let r = kubeconfig::load_chain(files, context)?;
        let shown = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        Upstream::from_resolved(r, &shown)
    }

    /// From kubeconfig text; `name` is used in error messages and relative
    /// file paths are resolved against `base_dir`.
    ///
    /// ```
    /// use tollgate_proxy::Upstream;
    /// let text = "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n\
    ///             clusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443', insecure-skip-tls-verify: true}}]\n";
    /// let up = Upstream::from_kubeconfig_yaml(text, "inline", ".".as_ref(), None)?;
    /// assert_eq!(up.url(), "https://10.0.0.1:6443");
    /// # Ok::<_, tollgate_proxy::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming `name` and the field.
    pub fn from_kubeconfig_yaml(text: &str, name: &str, base_dir: &Path, context: Option<&str>) -> Result<Self, Error> {
        let r = kubeconfig::parse(text, name, base_dir, context)?;
        Upstream::from_resolved(r, name)
    }

    /// From the pod's service account: `KUBERNETES_SERVICE_HOST`/`PORT`,
    /// the mounted CA, and the token file (re-read when it rotates).
    ///
    /// # Errors
    /// When not running in a pod.
    pub fn in_cluster() -> Result<Self, Error> {
        Upstream::in_cluster_at(
            std::env::var("KUBERNETES_SERVICE_HOST").ok(),
            std::env::var("KUBERNETES_SERVICE_PORT").ok(),
            Path::new(SA_DIR),
        )
    }

    /// [`Upstream::in_cluster`] with explicit inputs (for tests).
    ///
    /// # Errors
    /// When the host or port is missing or the CA cannot be read.
    pub fn in_cluster_at(host: Option<String>, port: Option<String>, dir: &Path) -> Result<Self, Error> {
        let src = "in-cluster";
        let err = |field: &str, message: &str| Error::Config {
            source_name: src.to_owned(),
            field: field.to_owned(),
            message: message.to_owned(),
        };
        let host = host
            .filter(|h| !h.is_empty())
            .ok_or_else(|| err("KUBERNETES_SERVICE_HOST", "not set: not running in a pod"))?;
        let port = port
            .filter(|p| !p.is_empty())
            .ok_or_else(|| err("KUBERNETES_SERVICE_PORT", "not set: not running in a pod"))?;
        // IPv6 service hosts need brackets.
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let ca_path = dir.join("ca.crt");
        let ca = tollgate_kube::files::read_config(&ca_path).map_err(|e| Error::File {
            path: ca_path.display().to_string(),
            message: e.to_string(),
        })?;
        let r = Resolved {
            server: format!("https://{host}:{port}"),
            ca_pem: Some(ca),
            token_file: Some(dir.join("token")),
            ..Resolved::default()
        };
        Upstream::from_resolved(r, src)
    }

    fn from_resolved(r: Resolved, src: &str) -> Result<Self, Error> {
        let err = |field: &str, message: String| Error::Config {
            source_name: src.to_owned(),
            field: field.to_owned(),
            message,
        };
        let uri: Uri = r
            .server
            .parse()
            .map_err(|e| err("server", format!("{:?}: {e}", r.server)))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| err("server", "has no scheme".to_owned()))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| err("server", "has no host".to_owned()))?;
        let base_path = uri.path().trim_end_matches('/').to_owned();
        if let Some(name) = &r.tls_server_name {
            ServerName::try_from(name.clone()).map_err(|_| {
                err(
                    "tls-server-name",
                    format!("{name:?} is not a valid DNS name or IP address"),
                )
            })?;
        }

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| err("tls", e.to_string()))?;
        let builder = if r.insecure_skip_tls_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else if scheme == http::uri::Scheme::HTTP && r.ca_pem.is_none() {
            // Plain HTTP (a loopback audit receiver): no TLS to verify.
            builder.with_root_certificates(RootCertStore::empty())
        } else {
            let mut roots = RootCertStore::empty();
            let Some(ca) = &r.ca_pem else {
                return Err(err(
                    "certificate-authority",
                    "required: Tollgate trusts only the API server's own CA (or insecure-skip-tls-verify: true)"
                        .to_owned(),
                ));
            };
            let mut n = 0;
            for cert in CertificateDer::pem_slice_iter(ca) {
                let cert = cert.map_err(|e| err("certificate-authority", format!("not a PEM certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| err("certificate-authority", e.to_string()))?;
                n += 1;
            }
            if n == 0 {
                return Err(err("certificate-authority", "contains no PEM certificate".to_owned()));
            }
            builder.with_root_certificates(roots)
        };
        let tls = match (&r.client_cert_pem, &r.client_key_pem) {
            (Some(cert), Some(key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<_, _>>()
                    .map_err(|e| err("client-certificate", format!("not a PEM certificate: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| err("client-key", format!("not a PEM private key: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| err("client-key", e.to_string()))?
            }
            _ => builder.with_no_client_auth(),
        };
        let credentials = match (r.token, r.token_file) {
            (Some(t), _) => Credentials::token(&t).map_err(|m| err("token", m))?,
            (None, Some(path)) => Credentials::token_file(path),
            (None, None) => Credentials::None,
        };
        Ok(Upstream {
            url: format!("{scheme}://{authority}{base_path}"),
            scheme,
            authority,
            base_path,
            tls: Arc::new(tls),
            server_name: r.tls_server_name,
            credentials,
        })
    }

    /// A webhook receiver named by its URL alone (a Slack or Teams
    /// incoming webhook, any HTTPS endpoint): it trusts `ca_pem` when given,
    /// else the operating system's certificate store (`SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` are honoured, as OpenSSL does). Plain `http://` is
    /// accepted for loopback receivers only. No credentials are sent; the
    /// URL's path (a Slack webhook's secret) is kept out of [`Upstream::url`].
    ///
    /// ```
    /// use tollgate_proxy::Upstream;
    /// let hook = Upstream::webhook("http://127.0.0.1:9000/hooks/T0/B0/s3cret", None, "notify[0]")?;
    /// assert_eq!(hook.url(), "http://127.0.0.1:9000/…");
    /// assert!(Upstream::webhook("http://hooks.example.com/x", None, "n").is_err());
    /// # Ok::<_, tollgate_proxy::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming `name` and what is wrong: not a URL, not
    /// HTTPS to a non-loopback host, a CA that is not PEM, or no usable
    /// certificate in the system's store.
    pub fn webhook(url: &str, ca_pem: Option<&[u8]>, name: &str) -> Result<Self, Error> {
        let err = |field: &str, message: String| Error::Config {
            source_name: name.to_owned(),
            field: field.to_owned(),
            message,
        };
        let uri: Uri = url.parse().map_err(|e| err("url", format!("not a URL: {e}")))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| err("url", "has no scheme (https://…)".to_owned()))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| err("url", "has no host".to_owned()))?;
        if authority.as_str().contains('@') {
            return Err(err(
                "url",
                "user information in a webhook URL is not accepted".to_owned(),
            ));
        }
        let host = authority.host().trim_matches(|c| c == '[' || c == ']');
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if scheme == Scheme::HTTP && !loopback {
            return Err(err(
                "url",
                format!("http:// is accepted for loopback receivers only; {host} needs https://"),
            ));
        }
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(err("url", format!("{scheme}:// is not http(s)")));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        match ca_pem {
            Some(ca) => {
                for cert in CertificateDer::pem_slice_iter(ca) {
                    let cert = cert.map_err(|e| err("caFile", format!("not a PEM certificate: {e}")))?;
                    roots.add(cert).map_err(|e| err("caFile", e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(err("caFile", "contains no PEM certificate".to_owned()));
                }
            }
            None if scheme == Scheme::HTTPS => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map_or_else(|| "it holds no certificate".to_owned(), ToString::to_string);
                    return Err(err(
                        "url",
                        format!(
                            "the operating system's certificate store cannot be used ({why}): give caFile, or set SSL_CERT_FILE"
                        ),
                    ));
                }
            }
            None => {}
        }
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err("tls", e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let path = uri
            .path_and_query()
            .map_or("", |p| p.as_str())
            .trim_end_matches('/')
            .to_owned();
        Ok(Upstream {
            url: format!("{scheme}://{authority}/…"),
            scheme,
            authority,
            base_path: path,
            tls: Arc::new(tls),
            server_name: None,
            credentials: Credentials::None,
        })
    }

    /// The upstream URL, for logs.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The gateway's own credentials toward the API server.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// Client certificate only (or none).
    None,
    /// A fixed bearer token.
    Token(HeaderValue),
    /// A token file, re-read when it changes (projected service-account
    /// tokens rotate).
    TokenFile(Arc<TokenFile>),
}

impl Credentials {
    fn token(t: &str) -> Result<Self, String> {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", t.trim()))
            .map_err(|_| "contains characters not allowed in a header".to_owned())?;
        v.set_sensitive(true);
        Ok(Credentials::Token(v))
    }

    fn token_file(path: PathBuf) -> Self {
        Credentials::TokenFile(Arc::new(TokenFile {
            path,
            cached: Mutex::new(None),
        }))
    }

    /// The `Authorization` value to send, if any.
    pub(crate) fn authorization(&self) -> Result<Option<HeaderValue>, Error> {
        match self {
            Credentials::None => Ok(None),
            Credentials::Token(v) => Ok(Some(v.clone())),
            Credentials::TokenFile(f) => f.current().map(Some),
        }
    }
}

/// A token file with its last contents.
#[derive(Debug)]
pub(crate) struct TokenFile {
    path: PathBuf,
    cached: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    value: HeaderValue,
    modified: Option<SystemTime>,
    checked: Instant,
}

impl TokenFile {
    /// Re-reads at most once a second, and only when the file changed.
    fn current(&self) -> Result<HeaderValue, Error> {
        let mut guard = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = guard.as_ref()
            && c.checked.elapsed() < Duration::from_secs(1)
        {
            return Ok(c.value.clone());
        }
        let file_err = |message: String| Error::File {
            path: self.path.display().to_string(),
            message,
        };
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if let Some(c) = guard.as_mut()
            && modified.is_some()
            && c.modified == modified
        {
            c.checked = Instant::now();
            return Ok(c.value.clone());
        }
        let text = tollgate_kube::files::read_config_text(&self.path).map_err(|e| file_err(e.to_string()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(file_err("the token file is empty".to_owned()));
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| file_err("the token contains characters not allowed in a header".to_owned()))?;
        value.set_sensitive(true);
        *guard = Some(Cached {
            value: value.clone(),
            modified,
            checked: Instant::now(),
        });
        Ok(value)
    }
}

/// `insecure-skip-tls-verify: true`: signatures are still checked, the
/// certificate chain and name are not.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "one\n").unwrap();
        let c = Credentials::token_file(path.clone());
        assert_eq!(c.authorization().unwrap().unwrap(), "Bearer one");
        std::fs::write(&path, "two").unwrap();
        if let Credentials::TokenFile(f) = &c {
            // Force the next read past the once-a-second cache.
            if let Some(cached) = f.cached.lock().unwrap().as_mut() {
                cached.checked = Instant::now() - Duration::from_secs(5);
                cached.modified = None;
            }
        }
        assert_eq!(c.authorization().unwrap().unwrap(), "Bearer two");
    }

    #[test]
    fn in_cluster_needs_the_environment() {
        let e = Upstream::in_cluster_at(None, Some("443".into()), Path::new("/nonexistent")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "in-cluster: KUBERNETES_SERVICE_HOST: not set: not running in a pod"
        );
        let e = Upstream::in_cluster_at(Some("10.0.0.1".into()), Some("443".into()), Path::new("/nonexistent"))
            .unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/ca.crt: "), "{e}");
    }
}
