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
/// [`Error::MalformedJwks`] when the document is not `{"keys": [...]}`.
pub fn parse_jwks(bytes: &[u8]) -> Result<Vec<Key>, Error> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::MalformedJwks(format!("the JWKS is not JSON: {e}")))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::MalformedJwks("the JWKS has no \"keys\" list".to_owned()))?;
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
    /// At most one refetch per this interval (counted from the end of the
    /// last attempt), however many unknown `kid`s arrive.
    pub min_refetch_interval: Duration,
    /// How long past its lifetime a key set is still used while a refresh
    /// runs in the background (stale-while-revalidate); past it, requests
    /// wait for the refresh.
    pub max_stale: Duration,
}

impl Default for KeyCachePolicy {
    fn default() -> Self {
        KeyCachePolicy {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(24 * 3600),
            min_refetch_interval: Duration::from_secs(10),
            max_stale: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    keys: Vec<Key>,
    expires: Option<Instant>,
    last_attempt: Option<Instant>,
    /// When the keys in use were fetched.
    fetched_at: Option<Instant>,
    initialized: bool,
    /// Fetches that succeeded and failed (for metrics).
    fetches_ok: u64,
    fetches_failed: u64,
}

/// An issuer's keys: cached; when their lifetime ends, still used while a
/// refresh runs in the background (up to `max_stale`); only an unknown
/// `kid` (or keys past `max_stale`) waits for a fetch — one at a time, and
/// at most one per `min_refetch_interval` after the last attempt ended. An
/// issuer that hangs costs its own unknown-`kid` tokens at most the fetch
/// timeout, and nobody else's tokens anything.
pub(crate) struct KeyCache {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    source: Arc<dyn JwksSource>,
    policy: KeyCachePolicy,
    state: RwLock<State>,
    fetching: Mutex<()>,
    revalidating: std::sync::atomic::AtomicBool,
}

/// What the cache holds for one `kid` and algorithm.
struct Lookup {
    keys: Vec<Key>,
    fresh: bool,
    /// Past its lifetime but within `max_stale`.
    usable_stale: bool,
}

impl KeyCache {
    pub(crate) fn new(issuer: String, source: Arc<dyn JwksSource>, policy: KeyCachePolicy) -> Self {
        KeyCache {
            inner: Arc::new(Inner {
                issuer,
                source,
                policy,
                state: RwLock::new(State::default()),
                fetching: Mutex::new(()),
                revalidating: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn initialized(&self) -> bool {
        self.inner.state.read().map(|s| s.initialized).unwrap_or(false)
    }

    /// Fetches that succeeded, that failed, and the age of the keys in use.
    pub(crate) fn fetch_counts(&self) -> (u64, u64, Option<std::time::Duration>) {
        self.inner
            .state
            .read()
            .map(|s| (s.fetches_ok, s.fetches_failed, s.fetched_at.map(|t| t.elapsed())))
            .unwrap_or_default()
    }

    /// Keys that may verify a token with this `kid` and `alg`.
    pub(crate) async fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<Key>, Error> {
        let found = self.inner.lookup(kid, alg);
        if !found.keys.is_empty() && found.fresh {
            return Ok(found.keys);
        }
        if !found.keys.is_empty() && found.usable_stale {
            self.revalidate_in_background();
            return Ok(found.keys);
        }
        // An unknown kid (or keys too stale): wait. Single flight: whoever
        // holds the lock fetches; the others re-check after.
        let inner = &self.inner;
        let _guard = inner.fetching.lock().await;
        let found = inner.lookup(kid, alg);
        if !found.keys.is_empty() && found.fresh {
            return Ok(found.keys);
        }
        if inner.attempted_recently() {
            return Ok(found.keys);
        }
        match inner.refresh_locked().await {
            Ok(()) => Ok(inner.lookup(kid, alg).keys),
            // A failed fetch keeps the old keys, as go-oidc does.
            Err(e) if !found.keys.is_empty() => {
                tracing::warn!(issuer = %inner.issuer, error = %e, "JWKS refetch failed; keeping the cached keys");
                Ok(found.keys)
            }
            Err(e) => Err(e),
        }
    }

    /// One background refresh at a time, within the refetch rate limit.
    fn revalidate_in_background(&self) {
        use std::sync::atomic::Ordering;
        let inner = self.inner.clone();
        if inner.revalidating.swap(true, Ordering::AcqRel) {
            return;
        }
        if inner.attempted_recently() {
            inner.revalidating.store(false, Ordering::Release);
            return;
        }
        tokio::spawn(async move {
            {
                let _guard = inner.fetching.lock().await;
                if !inner.attempted_recently()
                    && let Err(e) = inner.refresh_locked().await
                {
                    tracing::warn!(issuer = %inner.issuer, error = %e, "JWKS refresh failed; serving the cached keys");
                }
            }
            inner.revalidating.store(false, Ordering::Release);
        });
    }

    /// Fetches now (initial discovery and the background retry).
    pub(crate) async fn refresh(&self) -> Result<(), Error> {
        let _guard = self.inner.fetching.lock().await;
        self.inner.refresh_locked().await
    }
}

impl Inner {
    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
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
        let now = Instant::now();
        Lookup {
            keys,
            fresh: st.expires.is_some_and(|e| now < e),
            usable_stale: st.expires.is_some_and(|e| now < e + self.policy.max_stale),
        }
    }

    /// Whether the last attempt ended less than `min_refetch_interval` ago.
    fn attempted_recently(&self) -> bool {
        self.state
            .read()
            .ok()
            .and_then(|s| s.last_attempt)
            .is_some_and(|t| t.elapsed() < self.policy.min_refetch_interval)
    }

    async fn refresh_locked(&self) -> Result<(), Error> {
        let result = self.source.fetch().await;
        // The rate limit counts from the end of the attempt: a hung issuer
        // is asked again only an interval after it answered (or timed out).
        if let Ok(mut st) = self.state.write() {
            st.last_attempt = Some(Instant::now());
        }
        let fetched = result
            .map_err(|message| Error::KeyFetch {
                issuer: self.issuer.clone(),
                message,
            })
            .and_then(|f| {
                let keys = parse_jwks(&f.jwks).map_err(|e| Error::KeyFetch {
                    issuer: self.issuer.clone(),
                    message: e.to_string(),
                })?;
                Ok((f, keys))
            });
        let (fetched, keys) = match fetched {
            Ok(ok) => ok,
            Err(e) => {
                if let Ok(mut st) = self.state.write() {
                    st.fetches_failed += 1;
                }
                return Err(e);
            }
        };
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
        st.fetched_at = Some(Instant::now());
        st.fetches_ok += 1;
        st.initialized = true;
        Ok(())
    }
}
