//! A test OIDC issuer: discovery and JWKS over HTTPS, keys of every
//! supported type, rotation on demand, and tokens with any claims
//! (GitHub Actions-shaped ones included). A fixture, not a product.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use jsonwebtoken::{Algorithm, EncodingKey};
use rcgen::KeyPair;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::Body;
use crate::{Error, TestCa, tls};

/// A signing key with its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    /// The `kid`.
    pub kid: String,
    /// The algorithm it signs with.
    pub alg: Algorithm,
    /// The private key, PKCS#8 PEM (so `tollgate token` can sign later).
    pub private_pem: String,
    encoding: EncodingKey,
    /// The public JWK.
    pub jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// Reads one DER length at `i`.
fn der_len(b: &[u8], i: &mut usize) -> Option<usize> {
    let first = *b.get(*i)?;
    *i += 1;
    if first < 0x80 {
        return Some(usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    let mut len = 0usize;
    for _ in 0..n {
        len = (len << 8) | usize::from(*b.get(*i)?);
        *i += 1;
    }
    Some(len)
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
fn rsa_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut i = 0;
    if *der.get(i)? != 0x30 {
        return None;
    }
    i += 1;
    der_len(der, &mut i)?;
    let mut int = || -> Option<Vec<u8>> {
        if *der.get(i)? != 0x02 {
            return None;
        }
        i += 1;
        let len = der_len(der, &mut i)?;
        let v = der.get(i..i + len)?.to_vec();
        i += len;
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        Some(v[start..].to_vec())
    };
    let n = int()?;
    let e = int()?;
    Some((n, e))
}

impl SigningKey {
    /// Generates a key for `alg` (RS*/PS* use RSA 2048, ES256 P-256,
    /// ES384 P-384, EdDSA Ed25519).
    ///
    /// # Errors
    /// When generation fails or `alg` is symmetric.
    pub fn generate(alg: Algorithm, kid: impl Into<String>) -> Result<Self, Error> {
        let e = |m: String| Error::Tls(m);
        let kid = kid.into();
        let (pair, jwk) = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                let pair = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                    .map_err(|x| e(x.to_string()))?;
                let (n, ex) = rsa_components(pair.public_key_raw())
                    .ok_or_else(|| e("cannot read the RSA public key".to_owned()))?;
                let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&ex)});
                (pair, jwk)
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let (ra, crv, size) = if alg == Algorithm::ES256 {
                    (&rcgen::PKCS_ECDSA_P256_SHA256, "P-256", 32)
                } else {
                    (&rcgen::PKCS_ECDSA_P384_SHA384, "P-384", 48)
                };
                let pair = KeyPair::generate_for(ra).map_err(|x| e(x.to_string()))?;
                let raw = pair.public_key_raw();
                if raw.len() != 1 + 2 * size {
                    return Err(e("unexpected EC point size".to_owned()));
                }
                let jwk = json!({"kty": "EC", "crv": crv, "x": b64(&raw[1..=size]), "y": b64(&raw[1 + size..])});
                (pair, jwk)
            }
            Algorithm::EdDSA => {
                let pair = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|x| e(x.to_string()))?;
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key_raw())});
                (pair, jwk)
            }
            other => return Err(e(format!("{other:?} is not an asymmetric algorithm"))),
        };
        let pem = pair.serialize_pem();
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(|x| e(x.to_string()))?;
        let mut jwk = jwk;
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(format!("{alg:?}"));
        Ok(SigningKey {
            kid,
            alg,
            private_pem: pem,
            encoding,
            jwk,
        })
    }

    /// Loads a key written by [`SigningKey::private_pem`].
    ///
    /// # Errors
    /// When the PEM does not fit the algorithm.
    pub fn from_pem(alg: Algorithm, kid: impl Into<String>, pem: &str) -> Result<Self, Error> {
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(|x| Error::Tls(x.to_string()))?;
        Ok(SigningKey {
            kid: kid.into(),
            alg,
            private_pem: pem.to_owned(),
            encoding,
            jwk: json!({}),
        })
    }

    /// Signs `claims` with a standard header (`alg`, `kid`, `typ: JWT`).
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": format!("{:?}", self.alg), "kid": self.kid, "typ": "JWT"});
        self.sign_with_header(&header, claims)
    }

    /// Signs `claims` under an arbitrary header (for hostile tokens), with
    /// this key's algorithm.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, self.alg).unwrap_or_default();
        format!("{input}.{sig}")
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Claims shaped like a GitHub Actions OIDC token for `repository`
/// (`owner/name`) on `refs/heads/main`, valid for `ttl` seconds.
///
/// ```
/// let c = tollgate_testkit::github_actions_claims("https://issuer", "acme/web", "tollgate", 300);
/// assert_eq!(c["sub"], "repo:acme/web:ref:refs/heads/main");
/// assert_eq!(c["repository_owner"], "acme");
/// ```
pub fn github_actions_claims(issuer: &str, repository: &str, audience: &str, ttl: u64) -> Value {
    let now = now();
    let owner = repository.split('/').next().unwrap_or(repository);
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": format!("repo:{repository}:ref:refs/heads/main"),
        "jti": format!("{:x}", now ^ 0x5eed),
        "iat": now,
        "nbf": now.saturating_sub(5),
        "exp": now + ttl,
        "ref": "refs/heads/main",
        "ref_type": "branch",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "repository": repository,
        "repository_id": "74829201",
        "repository_owner": owner,
        "repository_owner_id": "1342004",
        "repository_visibility": "private",
        "actor": "ci-bot",
        "actor_id": "12345",
        "workflow": "deploy",
        "workflow_ref": format!("{repository}/.github/workflows/deploy.yml@refs/heads/main"),
        "job_workflow_ref": format!("{repository}/.github/workflows/deploy.yml@refs/heads/main"),
        "event_name": "push",
        "environment": "production",
        "run_id": "6190000000",
        "run_number": "42",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
    })
}

#[derive(Debug)]
struct Keys {
    current: SigningKey,
    older: Vec<SigningKey>,
}

/// A running test issuer. Stops when dropped.
#[derive(Debug)]
pub struct TestIssuer {
    url: String,
    ca: TestCa,
    keys: Arc<Mutex<Keys>>,
    fetches: Arc<AtomicUsize>,
    /// While set, every endpoint answers 503 (an issuer that is down).
    down: Arc<std::sync::atomic::AtomicBool>,
    stop: watch::Sender<bool>,
    next_kid: AtomicUsize,
}

impl TestIssuer {
    /// Starts an issuer on `127.0.0.1:0` with one key for `alg`.
    ///
    /// # Errors
    /// When TLS setup or binding fails.
    pub async fn start(alg: Algorithm) -> Result<Self, Error> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), alg).await
    }

    /// Starts an issuer on `addr`.
    ///
    /// # Errors
    /// When TLS setup or binding fails.
    pub async fn start_on(addr: SocketAddr, alg: Algorithm) -> Result<Self, Error> {
        let ca = TestCa::new("tollgate-testkit issuer CA")?;
        let cert = ca.server_cert(&["localhost", "127.0.0.1"])?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(&cert)?);
        let listener = TcpListener::bind(addr).await?;
        let url = format!("https://{}", listener.local_addr()?);
        let keys = Arc::new(Mutex::new(Keys {
            current: SigningKey::generate(alg, "key-1")?,
            older: Vec::new(),
        }));
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(serve(
            listener,
            acceptor,
            url.clone(),
            keys.clone(),
            (fetches.clone(), down.clone()),
            stop_rx,
        ));
        Ok(TestIssuer {
            url,
            ca,
            keys,
            fetches,
            down,
            stop,
            next_kid: AtomicUsize::new(2),
        })
    }

    /// The issuer URL (`iss`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA of its HTTPS certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca.cert_pem
    }

    /// The current signing key (the newest).
    pub fn key(&self) -> SigningKey {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).current.clone()
    }

    /// Adds a new key for `alg` next to the old ones; returns it.
    ///
    /// # Errors
    /// When generation fails.
    pub fn add_key(&self, alg: Algorithm) -> Result<SigningKey, Error> {
        let kid = format!("key-{}", self.next_kid.fetch_add(1, Ordering::SeqCst));
        let key = SigningKey::generate(alg, kid)?;
        let mut k = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let old = std::mem::replace(&mut k.current, key.clone());
        k.older.push(old);
        Ok(key)
    }

    /// Replaces all keys with a new one for `alg`; returns it.
    ///
    /// # Errors
    /// When generation fails.
    pub fn rotate(&self, alg: Algorithm) -> Result<SigningKey, Error> {
        let key = self.add_key(alg)?;
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).older.clear();
        Ok(key)
    }

    /// Signs `claims` with the current key.
    pub fn mint(&self, claims: &Value) -> String {
        self.key().sign(claims)
    }

    /// The JWKS document it serves.
    pub fn jwks(&self) -> Value {
        jwks_of(&self.keys.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the issuer down (every endpoint answers 503) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// An `AuthenticationConfiguration` `jwt` entry (YAML) for this issuer.
    pub fn authentication_yaml(&self, audience: &str, username_prefix: &str) -> String {
        format!(
            "- issuer:\n    url: {url}\n    audiences: [{audience}]\n    certificateAuthority: |\n{ca}  claimMappings:\n    username: {{claim: sub, prefix: \"{username_prefix}\"}}\n    groups: {{claim: groups, prefix: \"\"}}\n",
            url = self.url,
            ca = self
                .ca
                .cert_pem
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>(),
        )
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn jwks_of(k: &Keys) -> Value {
    let keys: Vec<Value> = k
        .older
        .iter()
        .chain(std::iter::once(&k.current))
        .map(|k| k.jwk.clone())
        .collect();
    json!({ "keys": keys })
}

async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    url: String,
    keys: Arc<Mutex<Keys>>,
    (fetches, down): (Arc<AtomicUsize>, Arc<std::sync::atomic::AtomicBool>),
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let tcp = tokio::select! {
            r = listener.accept() => match r { Ok((t, _)) => t, Err(_) => continue },
            _ = stop.changed() => return,
        };
        let (acceptor, url, keys, fetches, down) = (
            acceptor.clone(),
            url.clone(),
            keys.clone(),
            fetches.clone(),
            down.clone(),
        );
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else { return };
            let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let (url, keys, fetches, down) = (url.clone(), keys.clone(), fetches.clone(), down.clone());
                async move {
                    let path = if down.load(Ordering::SeqCst) {
                        "(down)"
                    } else {
                        req.uri().path()
                    };
                    let (code, body, cache) = match path {
                        "(down)" => (StatusCode::SERVICE_UNAVAILABLE, json!({"error": "down"}), None),
                        "/.well-known/openid-configuration" => (
                            StatusCode::OK,
                            json!({"issuer": url, "jwks_uri": format!("{url}/.well-known/jwks"),
                                   "id_token_signing_alg_values_supported": ["RS256", "ES256", "ES384", "EdDSA"],
                                   "response_types_supported": ["id_token"], "subject_types_supported": ["public"]}),
                            None,
                        ),
                        "/.well-known/jwks" => {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            let jwks = jwks_of(&keys.lock().unwrap_or_else(|p| p.into_inner()));
                            (StatusCode::OK, jwks, Some("public, max-age=3600"))
                        }
                        _ => (StatusCode::NOT_FOUND, json!({"error": "not found"}), None),
                    };
                    let mut res = Response::new(Body::full(Bytes::from(body.to_string())));
                    *res.status_mut() = code;
                    res.headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    if let Some(c) = cache {
                        res.headers_mut()
                            .insert(header::CACHE_CONTROL, HeaderValue::from_static(c));
                    }
                    Ok::<_, std::convert::Infallible>(res)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_type_sign() {
        for alg in [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ] {
            let k = SigningKey::generate(alg, "k").unwrap();
            let t = k.sign(&json!({"sub": "x"}));
            assert_eq!(t.split('.').count(), 3);
            assert!(t.rsplit('.').next().is_some_and(|s| !s.is_empty()), "{alg:?} signed");
        }
    }
}
