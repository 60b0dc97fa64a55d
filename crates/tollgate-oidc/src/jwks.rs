//! Keys: parsing a JWKS, fetching it (discovery + `jwks_uri` over rustls),
//! and caching it with single-flight, rate-limited refetches.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::Error;

/// One verification key from a JWKS.
#[derive(Clone)]
pub struct Key {
    /// The `kid`.
    pub kid: Option<String>,
    /// Algorithms this key may verify (its type decides; `alg`, if the JWK
    /// sets it, narrows it to one).
    pub algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Verifies a signature over `signing_input`.
    pub(crate) fn verify(&self, signing_input: &str, signature: &str, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
            && jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &self.key, alg).unwrap_or(false)
    }
}

/// Parses a JWKS document. Keys that are not signature keys, or whose type
/// Tollgate cannot use, are skipped (an issuer may publish encryption keys).
///
/// # Errors
/// When the document is not `{"keys": [...]}`.
pub fn parse_jwks(bytes: &[u8]) -> Result<Vec<Key>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no \"keys\" list")?;
    Ok(keys.iter().filter_map(parse_jwk).collect())
}

fn parse_jwk(v: &Value) -> Option<Key> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let (algorithms, key) = match (s("kty")?, s("crv")) {
        ("RSA", _) => (
            vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            DecodingKey::from_rsa_components(s("n")?, s("e")?).ok()?,
        ),
        ("EC", Some("P-256")) => (
            vec![Algorithm::ES256],
            DecodingKey::from_ec_components(s("x")?, s("y")?).ok()?,
        ),
        ("EC", Some("P-384")) => (
            vec![Algorithm::ES384],
            DecodingKey::from_ec_components(s("x")?, s("y")?).ok()?,
        ),
        ("OKP", Some("Ed25519")) => (vec![Algorithm::EdDSA], DecodingKey::from_ed_components(s("x")?).ok()?),
        _ => return None,
    };
    let algorithms = match s("alg") {
        None => algorithms,
        Some(a) => algorithms.into_iter().filter(|x| format!("{x:?}") == a).collect(),
    };
    if algorithms.is_empty() {
        return None;
    }
    Some(Key {
        kid: s("kid").map(str::to_owned),
        algorithms,
        key,
    })
}

/// A fetched key set and how long it may be cached.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Fetched {
    /// The JWKS document.
    pub jwks: Vec<u8>,
    /// `Cache-Control: max-age`, if the issuer sent one.
    pub max_age: Option<Duration>,
}

impl Fetched {
    /// A fetched document.
    pub fn new(jwks: Vec<u8>, max_age: Option<Duration>) -> Self {
        Fetched { jwks, max_age }
    }
}

/// Where an issuer's keys come from: HTTP in production, memory in tests.
#[async_trait::async_trait]
pub trait JwksSource: Send + Sync + 'static {
    /// Fetches the current key set.
    async fn fetch(&self) -> Result<Fetched, String>;
}

/// Cache bounds for key sets.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct KeyCachePolicy {
    /// Used when the issuer sends no `max-age`.
    pub default_ttl: Duration,
    /// `max-age` is raised to at least this.
    pub min_ttl: Duration,
    /// and lowered to at most this.
    pub max_ttl: Duration,
    /// At most one refetch per this interval, however many unknown `kid`s arrive.
    pub min_refetch_interval: Duration,
}

impl Default for KeyCachePolicy {
    fn default() -> Self {
        KeyCachePolicy {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(24 * 3600),
            min_refetch_interval: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    keys: Vec<Key>,
    expires: Option<Instant>,
    last_attempt: Option<Instant>,
    initialized: bool,
}

/// An issuer's keys: cached, refetched on expiry or an unknown `kid` —
/// one fetch at a time and at most one per `min_refetch_interval`.
pub(crate) struct KeyCache {
    issuer: String,
    source: Arc<dyn JwksSource>,
    policy: KeyCachePolicy,
    state: RwLock<State>,
    fetching: Mutex<()>,
}

impl KeyCache {
    pub(crate) fn new(issuer: String, source: Arc<dyn JwksSource>, policy: KeyCachePolicy) -> Self {
        KeyCache {
            issuer,
            source,
            policy,
            state: RwLock::new(State::default()),
            fetching: Mutex::new(()),
        }
    }

    pub(crate) fn initialized(&self) -> bool {
        self.state.read().map(|s| s.initialized).unwrap_or(false)
    }

    fn matching(&self, kid: Option<&str>, alg: Algorithm) -> (Vec<Key>, bool) {
        let st = match self.state.read() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let keys: Vec<Key> = st
            .keys
            .iter()
            .filter(|k| k.algorithms.contains(&alg) && (kid.is_none() || k.kid.as_deref() == kid))
            .cloned()
            .collect();
        let fresh = st.expires.is_some_and(|e| Instant::now() < e);
        (keys, fresh)
    }

    /// Keys that may verify a token with this `kid` and `alg`.
    pub(crate) async fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<Key>, Error> {
        let (keys, fresh) = self.matching(kid, alg);
        if !keys.is_empty() && fresh {
            return Ok(keys);
        }
        // Single flight: whoever holds the lock fetches; the others re-check after.
        let _guard = self.fetching.lock().await;
        let (keys, fresh) = self.matching(kid, alg);
        if !keys.is_empty() && fresh {
            return Ok(keys);
        }
        let recently = self
            .state
            .read()
            .ok()
            .and_then(|s| s.last_attempt)
            .is_some_and(|t| t.elapsed() < self.policy.min_refetch_interval);
        if recently {
            return Ok(keys);
        }
        match self.refresh_locked().await {
            Ok(()) => Ok(self.matching(kid, alg).0),
            // A failed fetch keeps the old keys, as go-oidc does.
            Err(e) if !keys.is_empty() => {
                tracing::warn!(issuer = %self.issuer, error = %e, "JWKS refetch failed; keeping the cached keys");
                Ok(keys)
            }
            Err(e) => Err(e),
        }
    }

    /// Fetches now (initial discovery and the background retry).
    pub(crate) async fn refresh(&self) -> Result<(), Error> {
        let _guard = self.fetching.lock().await;
        self.refresh_locked().await
    }

    async fn refresh_locked(&self) -> Result<(), Error> {
        if let Ok(mut st) = self.state.write() {
            st.last_attempt = Some(Instant::now());
        }
        let fetched = self.source.fetch().await.map_err(|message| Error::KeyFetch {
            issuer: self.issuer.clone(),
            message,
        })?;
        let keys = parse_jwks(&fetched.jwks).map_err(|message| Error::KeyFetch {
            issuer: self.issuer.clone(),
            message,
        })?;
        let ttl = fetched.max_age.map_or(self.policy.default_ttl, |m| {
            m.clamp(self.policy.min_ttl, self.policy.max_ttl)
        });
        let mut st = match self.state.write() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        tracing::debug!(issuer = %self.issuer, keys = keys.len(), ttl_secs = ttl.as_secs(), "JWKS fetched");
        st.keys = keys;
        st.expires = Some(Instant::now() + ttl);
        st.initialized = true;
        Ok(())
    }
}
