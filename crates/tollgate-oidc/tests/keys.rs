//! Issue 15: an issuer whose JWKS endpoint hangs after the cached key set's
//! lifetime ends costs nothing to tokens whose key is cached (they are
//! served from the cache while a single background refresh waits), and
//! nothing to another issuer's tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tollgate_oidc::{Algorithm, Fetched, JwksSource, JwtAuthenticator, KeyCachePolicy, Verifier};
use tollgate_testkit::TestIssuer;

const NOW: u64 = 1_800_000_000;

/// Serves the issuer's key set once, then hangs on every fetch.
struct HangsAfterFirst {
    jwks: Vec<u8>,
    fetches: AtomicUsize,
}

#[async_trait::async_trait]
impl JwksSource for HangsAfterFirst {
    async fn fetch(&self) -> Result<Fetched, String> {
        if self.fetches.fetch_add(1, Ordering::SeqCst) == 0 {
            return Ok(Fetched::new(self.jwks.clone(), None));
        }
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_jwks_endpoint_after_expiry_does_not_delay_cached_keys() {
    let issuer = TestIssuer::start(Algorithm::ES256).await.unwrap();
    let other = TestIssuer::start(Algorithm::EdDSA).await.unwrap();
    let source = Arc::new(HangsAfterFirst {
        jwks: serde_json::to_vec(&issuer.jwks()).unwrap(),
        fetches: AtomicUsize::new(0),
    });
    let mut policy = KeyCachePolicy::default();
    policy.default_ttl = Duration::from_millis(50);
    policy.min_refetch_interval = Duration::from_millis(10);
    let a = JwtAuthenticator::new(issuer.url(), "tollgate", "");
    let mut b = JwtAuthenticator::new(other.url(), "tollgate", "");
    b.certificate_authority = Some(other.ca_pem().to_owned());
    let v = Verifier::builder()
        .issuer_with_source(a, source.clone())
        .issuer(b)
        .cache_capacity(0)
        .key_cache_policy(policy)
        .build()
        .unwrap();
    v.start().await;
    let claims = |iss: &str, sub: &str| json!({"iss": iss, "aud": "tollgate", "sub": sub, "exp": NOW + 600});
    v.authenticate_at(&issuer.mint(&claims(issuer.url(), "first")), NOW)
        .await
        .unwrap();
    // The key set's lifetime ends; the next fetch will hang forever.
    tokio::time::sleep(Duration::from_millis(120)).await;
    for i in 0..20 {
        // A bound that detects a hang, not a timing: without
        // stale-while-revalidate this waits on the hung fetch forever.
        let id = tokio::time::timeout(
            Duration::from_secs(10),
            v.authenticate_at(&issuer.mint(&claims(issuer.url(), &format!("ci-{i}"))), NOW),
        )
        .await
        .expect("served from the cached keys while the refresh hangs")
        .unwrap();
        assert_eq!(id.subject, format!("ci-{i}"));
    }
    // One background refresh (spawned: it may not have started yet),
    // however many tokens arrived meanwhile.
    tollgate_testkit::eventually(|| source.fetches.load(Ordering::SeqCst) >= 2).await;
    v.authenticate_at(&issuer.mint(&claims(issuer.url(), "late")), NOW)
        .await
        .unwrap();
    assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    // The other issuer's tokens are untouched.
    tokio::time::timeout(
        Duration::from_secs(10),
        v.authenticate_at(&other.mint(&claims(other.url(), "bot")), NOW),
    )
    .await
    .expect("another issuer is not delayed")
    .unwrap();
}
