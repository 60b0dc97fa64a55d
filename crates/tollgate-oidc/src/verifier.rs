//! Verification: route by `iss`, check claims and signature as strictly as
//! the API server, map claims to an [`Identity`](tollgate_kube::Identity), find its [`Owner`](tollgate_kube::Owner).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::cache::{self, TokenCache};
use crate::jwks::{JwksSource, KeyCache, KeyCachePolicy};
use tollgate_kube::ConfigError;

use tollgate_kube::Identity;

use crate::{Error, JwtAuthenticator, OwnerMapper, UnverifiedJwt};

struct IssuerState {
    config: JwtAuthenticator,
    keys: KeyCache,
    /// Why the last discovery attempt failed (until one succeeds).
    last_error: std::sync::Mutex<Option<String>>,
}

/// Configures a [`Verifier`].
pub struct VerifierBuilder {
    issuers: Vec<(JwtAuthenticator, Option<Arc<dyn JwksSource>>)>,
    owners: OwnerMapper,
    refuse_unmapped: bool,
    nbf_leeway: Duration,
    cache_capacity: usize,
    key_policy: KeyCachePolicy,
    source_name: String,
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuers", &self.issuers.len())
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// Adds an issuer whose keys are fetched over HTTPS.
    pub fn issuer(mut self, a: JwtAuthenticator) -> Self {
        self.issuers.push((a, None));
        self
    }

    /// Adds an issuer with its own key source (tests, embedders).
    pub fn issuer_with_source(mut self, a: JwtAuthenticator, source: Arc<dyn JwksSource>) -> Self {
        self.issuers.push((a, Some(source)));
        self
    }

    /// The owner rules.
    pub fn owners(mut self, owners: OwnerMapper) -> Self {
        self.owners = owners;
        self
    }

    /// Refuse identities no owner rule maps (default: allow, flagged `unmapped`).
    pub fn refuse_unmapped(mut self, refuse: bool) -> Self {
        self.refuse_unmapped = refuse;
        self
    }

    /// Leeway for `nbf` (default 60 s, the API server's). `exp` has none.
    pub fn nbf_leeway(mut self, d: Duration) -> Self {
        self.nbf_leeway = d;
        self
    }

    /// How many verified tokens to remember (default 10 000; 0 disables).
    pub fn cache_capacity(mut self, n: usize) -> Self {
        self.cache_capacity = n;
        self
    }

    /// Key-set caching and refetch limits.
    pub fn key_cache_policy(mut self, p: KeyCachePolicy) -> Self {
        self.key_policy = p;
        self
    }

    /// The configuration file's name, for errors.
    pub fn source_name(mut self, name: impl Into<String>) -> Self {
        self.source_name = name.into();
        self
    }

    /// Builds the verifier. Call [`Verifier::start`] to fetch keys.
    ///
    /// # Errors
    /// When an issuer's HTTP source cannot be built (bad CA, URL), or, in a
    /// build without the `http` feature, an issuer has no
    /// [`JwksSource`] of its own.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        let mut issuers = HashMap::new();
        for (i, (a, source)) in self.issuers.into_iter().enumerate() {
            let source: Arc<dyn JwksSource> = match source {
                Some(s) => s,
                #[cfg(feature = "http")]
                None => Arc::new(crate::HttpJwksSource::new(&a, &self.source_name).map_err(|mut e| {
                    e.field = format!("jwt[{i}].{}", e.field);
                    e
                })?),
                #[cfg(not(feature = "http"))]
                None => {
                    return Err(ConfigError::new(
                        &self.source_name,
                        format!("jwt[{i}]"),
                        "this build fetches no keys (tollgate-oidc feature http): give the issuer a JwksSource",
                    ));
                }
            };
            let keys = KeyCache::new(a.url.clone(), source, self.key_policy);
            issuers.insert(
                a.url.clone(),
                Arc::new(IssuerState {
                    config: a,
                    keys,
                    last_error: std::sync::Mutex::new(Some("discovery has not been attempted yet".to_owned())),
                }),
            );
        }
        Ok(Verifier {
            issuers,
            cache: TokenCache::new(self.cache_capacity),
            owners: self.owners,
            refuse_unmapped: self.refuse_unmapped,
            nbf_leeway: self.nbf_leeway.as_secs(),
        })
    }
}

/// Verifies bearer tokens from the configured issuers.
///
/// ```no_run
/// use tollgate_oidc::{JwtAuthenticator, Verifier};
/// # async fn run(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder()
///     .issuer(JwtAuthenticator::new("https://token.actions.githubusercontent.com", "tollgate", "github:"))
///     .build()?;
/// verifier.start().await;
/// let who = verifier.authenticate(token).await?;
/// println!("{} (owner {})", who.username, who.owner.name);
/// # Ok(()) }
/// ```
pub struct Verifier {
    issuers: HashMap<String, Arc<IssuerState>>,
    cache: TokenCache,
    owners: OwnerMapper,
    refuse_unmapped: bool,
    nbf_leeway: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Error> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| Error::Claim {
            claim: name.to_owned(),
            reason: "is not a number".to_owned(),
        }),
        Some(_) => Err(Error::Claim {
            claim: name.to_owned(),
            reason: "is not a number".to_owned(),
        }),
    }
}

impl Verifier {
    /// A builder with no issuers.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder {
            issuers: Vec::new(),
            owners: OwnerMapper::default(),
            refuse_unmapped: false,
            nbf_leeway: Duration::from_secs(60),
            cache_capacity: 10_000,
            key_policy: KeyCachePolicy::default(),
            source_name: "authentication".to_owned(),
        }
    }

    /// Starts discovery for every issuer at once and waits up to 5 s for
    /// them. Issuers that have not answered keep being retried in the
    /// background every 10 s (their tokens get 401 until then). Never
    /// fails: an unreachable issuer must not stop the gateway.
    pub async fn start(&self) {
        for state in self.issuers.values() {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    let result = state.keys.refresh().await;
                    let error = result.as_ref().err().map(ToString::to_string);
                    if let Ok(mut last) = state.last_error.lock() {
                        last.clone_from(&error);
                    }
                    match error {
                        None => {
                            tracing::info!(issuer = %state.config.url, "OIDC discovery succeeded");
                            return;
                        }
                        Some(e) => {
                            tracing::warn!(issuer = %state.config.url, error = %e, "OIDC discovery failed; retrying in 10s")
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            });
        }
        let all_ready = async {
            while !self.issuers.values().all(|s| s.keys.initialized()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), all_ready).await;
    }

    /// Each issuer and whether its discovery and key fetch have succeeded
    /// at least once (`Ok`), else why the last attempt failed: what
    /// `/readyz` reports.
    pub fn readiness(&self) -> Vec<(&str, Result<(), String>)> {
        let mut out: Vec<_> = self
            .issuers
            .values()
            .map(|s| {
                let ready = if s.keys.initialized() {
                    Ok(())
                } else {
                    let why = s.last_error.lock().ok().and_then(|e| e.clone());
                    Err(why.unwrap_or_else(|| "discovery has not succeeded yet".to_owned()))
                };
                (s.config.url.as_str(), ready)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Per issuer: key-set fetches that succeeded and failed, and how old
    /// the keys in use are (for metrics).
    pub fn key_fetches(&self) -> Vec<(&str, u64, u64, Option<Duration>)> {
        let mut out: Vec<_> = self
            .issuers
            .values()
            .map(|s| {
                let (ok, failed, age) = s.keys.fetch_counts();
                (s.config.url.as_str(), ok, failed, age)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// The identity `token` was verified as, if that verification is
    /// cached and the token has not expired: what
    /// [`authenticate`](Self::authenticate) would return at once, without
    /// a future. `None` means "verify it", never "refused".
    pub fn cached(&self, token: &str) -> Option<Arc<Identity>> {
        self.cache.get(&cache::key(token), now_unix())
    }

    /// Verifies `token` now.
    ///
    /// # Errors
    /// Why it was refused.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Identity>, Error> {
        self.authenticate_at(token, now_unix()).await
    }

    /// Verifies `token` as of `now` (seconds since the epoch).
    ///
    /// # Errors
    /// Why it was refused.
    pub async fn authenticate_at(&self, token: &str, now: u64) -> Result<Arc<Identity>, Error> {
        let k = cache::key(token);
        if let Some(id) = self.cache.get(&k, now) {
            return Ok(id);
        }
        let jwt = UnverifiedJwt::parse(token)?;
        let iss = jwt
            .issuer()
            .ok_or_else(|| Error::Malformed("no string iss claim".to_owned()))?;
        let iss = if iss == "accounts.google.com" {
            "https://accounts.google.com"
        } else {
            iss
        };
        let state = self
            .issuers
            .get(iss)
            .ok_or_else(|| Error::UnknownIssuer(iss.to_owned()))?;
        let cfg = &state.config;
        if !state.keys.initialized() {
            return Err(Error::NotInitialized(cfg.url.clone()));
        }

        // Claims first, like go-oidc: an expired token costs no signature check.
        let aud: Vec<&str> = match jwt.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !aud.iter().any(|a| cfg.audiences.iter().any(|c| c == a)) {
            return Err(Error::Audience(aud.join(",")));
        }
        let exp = numeric_date(&jwt.claims, "exp")?.ok_or(Error::Expired)?;
        if (now as f64) > exp {
            return Err(Error::Expired);
        }
        if let Some(nbf) = numeric_date(&jwt.claims, "nbf")?
            && ((now + self.nbf_leeway) as f64) < nbf
        {
            return Err(Error::NotYetValid);
        }

        let alg = cfg
            .algorithms
            .iter()
            .copied()
            .find(|a| format!("{a:?}") == jwt.alg)
            .ok_or_else(|| Error::UnsupportedAlgorithm(jwt.alg.clone()))?;
        let keys = state.keys.keys_for(jwt.kid.as_deref(), alg).await?;
        if keys.is_empty() {
            return Err(Error::NoMatchingKey {
                kid: jwt.kid.clone(),
                alg: jwt.alg.clone(),
            });
        }
        if !keys.iter().any(|key| key.verify(jwt.signing_input, jwt.signature, alg)) {
            return Err(Error::BadSignature);
        }

        let identity = self.map_claims(cfg, jwt.claims, exp)?;
        let identity = Arc::new(identity);
        self.cache.insert(k, identity.clone(), now);
        Ok(identity)
    }

    fn map_claims(&self, cfg: &JwtAuthenticator, claims: Map<String, Value>, exp: f64) -> Result<Identity, Error> {
        let claim_err = |claim: &str, reason: &str| Error::Claim {
            claim: claim.to_owned(),
            reason: reason.to_owned(),
        };
        let cel_err = |e: tollgate_kube::cel::CelError| Error::Claim {
            claim: "(CEL)".to_owned(),
            reason: e.to_string(),
        };
        // The claims as CEL sees them, only when an expression needs them.
        let claims = Value::Object(claims);
        let vars = [("claims", &claims)];
        let Value::Object(map) = &claims else {
            return Err(claim_err("(token)", "claims are not an object"));
        };
        // The API server's order: claim validation rules, then the mappings,
        // then the user validation rules.
        for (claim, required) in &cfg.claim_rules {
            match map.get(claim) {
                Some(Value::String(s)) if s == required => {}
                Some(Value::String(_)) => {
                    return Err(Error::ClaimRule(format!("{claim} does not equal the required value")));
                }
                Some(_) => return Err(Error::ClaimRule(format!("{claim} is not a string"))),
                None => return Err(Error::ClaimRule(format!("{claim} is missing"))),
            }
        }
        for rule in &cfg.cel.claim_rules {
            if !rule.expression.evaluate_bool(&vars).map_err(cel_err)? {
                return Err(Error::ClaimRule(rule.message.clone()));
            }
        }
        let username = match &cfg.cel.username {
            Some(e) => {
                let u = e.evaluate_string(&vars).map_err(cel_err)?;
                if u.is_empty() {
                    return Err(claim_err(
                        "claimMappings.username.expression",
                        "evaluated to an empty string: a username is required",
                    ));
                }
                u
            }
            None => {
                let u = &cfg.username;
                let user_value = match map.get(&u.claim) {
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => return Err(claim_err(&u.claim, "is not a string")),
                    None => return Err(claim_err(&u.claim, "is missing")),
                };
                if u.claim == "email" {
                    match map.get("email_verified") {
                        None | Some(Value::Bool(true)) => {}
                        Some(Value::Bool(false)) => return Err(Error::EmailNotVerified),
                        Some(_) => return Err(claim_err("email_verified", "is not a boolean")),
                    }
                }
                format!("{}{user_value}", u.prefix)
            }
        };
        let mut groups = Vec::new();
        if let Some(e) = &cfg.cel.groups {
            groups = e.evaluate_strings(&vars).map_err(cel_err)?;
        } else if let Some(g) = &cfg.groups {
            match map.get(&g.claim) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => groups.push(format!("{}{s}", g.prefix)),
                Some(Value::Array(a)) => {
                    for x in a {
                        let s = x
                            .as_str()
                            .ok_or_else(|| claim_err(&g.claim, "is not a string or a list of strings"))?;
                        groups.push(format!("{}{s}", g.prefix));
                    }
                }
                Some(_) => return Err(claim_err(&g.claim, "is not a string or a list of strings")),
            }
        }
        let uid = match (&cfg.cel.uid, &cfg.uid_claim) {
            (Some(e), _) => e.evaluate_string(&vars).map_err(cel_err)?,
            (None, None) => String::new(),
            (None, Some(c)) => match map.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(claim_err(c, "is not a string")),
            },
        };
        let mut extra = BTreeMap::new();
        if let Some(Value::String(jti)) = map.get("jti") {
            extra.insert(
                "authentication.kubernetes.io/credential-id".to_owned(),
                vec![format!("JTI={jti}")],
            );
        }
        for (key, e) in &cfg.cel.extra {
            let values = e.evaluate_strings(&vars).map_err(cel_err)?;
            if !values.is_empty() {
                extra.insert(key.clone(), values);
            }
        }
        if !cfg.cel.user_rules.is_empty() {
            let user = serde_json::json!({"username": username, "uid": uid, "groups": groups, "extra": extra});
            for rule in &cfg.cel.user_rules {
                if !rule.expression.evaluate_bool(&[("user", &user)]).map_err(cel_err)? {
                    return Err(Error::ClaimRule(rule.message.clone()));
                }
            }
        }
        let Value::Object(claims) = claims else {
            return Err(claim_err("(token)", "claims are not an object"));
        };
        let owner = self.owners.owner_for(&cfg.url, &claims);
        if !owner.mapped && self.refuse_unmapped {
            return Err(Error::Unmapped(username));
        }
        let mut who = Identity::new(username);
        who.issuer = cfg.url.clone();
        who.subject = claims.get("sub").and_then(Value::as_str).unwrap_or("").to_owned();
        who.uid = uid;
        who.groups = groups;
        who.extra = extra;
        who.claims = std::sync::Arc::new(claims);
        who.owner = owner;
        // `exp` was checked to be a number >= now >= 0.
        who.expires_at = exp.max(0.0).floor() as u64;
        Ok(who)
    }

    /// The issuers, by URL.
    pub fn issuer_urls(&self) -> Vec<&str> {
        self.issuers.keys().map(String::as_str).collect()
    }

    /// The allowed algorithms of an issuer.
    pub fn algorithms(&self, issuer: &str) -> Option<&[Algorithm]> {
        self.issuers.get(issuer).map(|s| s.config.algorithms.as_slice())
    }
}
