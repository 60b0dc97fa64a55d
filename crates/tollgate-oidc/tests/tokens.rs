//! The token scenario table: each row is a token and what the API server
//! (or Tollgate, stricter, where said) does with it. Keys come from real
//! test issuers over HTTPS (discovery + JWKS).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tollgate_oidc::{Algorithm, ClaimMapping, Error, JwtAuthenticator, KeyCachePolicy, OwnerMapper, Verifier};
use tollgate_testkit::{SigningKey, TestIssuer};

const NOW: u64 = 1_800_000_000;

struct Fixture {
    a: TestIssuer,
    b: TestIssuer,
    keys: Keys,
    verifier: Verifier,
}

struct Keys {
    rs: SigningKey,
    ps: SigningKey,
    es256: SigningKey,
    es384: SigningKey,
    ed: SigningKey,
}

fn policy() -> KeyCachePolicy {
    let mut p = KeyCachePolicy::default();
    p.min_refetch_interval = Duration::from_millis(400);
    p
}

async fn fixture(refuse_unmapped: bool) -> Fixture {
    let a = TestIssuer::start(Algorithm::RS256).await.unwrap();
    let rs = a.key();
    let ps = a.add_key(Algorithm::PS256).unwrap();
    let es256 = a.add_key(Algorithm::ES256).unwrap();
    let es384 = a.add_key(Algorithm::ES384).unwrap();
    let ed = a.add_key(Algorithm::EdDSA).unwrap();
    let b = TestIssuer::start(Algorithm::ES256).await.unwrap();

    let mut ca = JwtAuthenticator::new(a.url(), "tollgate", "gh:");
    ca.audiences.push("other".to_owned());
    ca.certificate_authority = Some(a.ca_pem().to_owned());
    ca.groups = Some(claim("groups", "team:"));
    ca.claim_rules = vec![("repository_owner".to_owned(), "acme".to_owned())];
    ca.uid_claim = Some("repository_id".to_owned());
    let mut cb = JwtAuthenticator::new(b.url(), "b-aud", "");
    cb.certificate_authority = Some(b.ca_pem().to_owned());
    cb.username = claim("email", "");

    let owners = OwnerMapper::parse(
        &format!(
            "- name: payments\n  team: payments-platform\n  contact: pay@example.com\n  match:\n    issuer: {}\n    claims:\n      repository: acme/payments-*\n",
            a.url()
        ),
        "owners.yaml",
    )
    .unwrap();
    let verifier = Verifier::builder()
        .issuer(ca)
        .issuer(cb)
        .owners(owners)
        .refuse_unmapped(refuse_unmapped)
        .cache_capacity(0)
        .key_cache_policy(policy())
        .build()
        .unwrap();
    verifier.start().await;
    Fixture {
        a,
        b,
        keys: Keys {
            rs,
            ps,
            es256,
            es384,
            ed,
        },
        verifier,
    }
}

fn claim(c: &str, prefix: &str) -> ClaimMapping {
    // ClaimMapping is non_exhaustive; build it through the parser.
    let yaml = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n- issuer: {{url: 'https://x', audiences: [a]}}\n  claimMappings:\n    username: {{claim: {c}, prefix: '{prefix}'}}\n"
    );
    tollgate_oidc::parse_authentication_configuration(&yaml, "t")
        .unwrap()
        .jwt[0]
        .username
        .clone()
}

fn base(iss: &str) -> Value {
    json!({
        "iss": iss, "aud": "tollgate", "sub": "repo:acme/payments-api:ref:refs/heads/main",
        "exp": NOW + 300, "nbf": NOW - 5, "iat": NOW - 5,
        "repository": "acme/payments-api", "repository_owner": "acme", "repository_id": "74829201",
        "groups": ["deployers", "ci"], "jti": "abc123",
    })
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    if val.is_null() {
        v.as_object_mut().unwrap().remove(key);
    } else {
        v[key] = val;
    }
    v
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// What a row expects.
enum Want {
    User(&'static str),
    Err(fn(&Error) -> bool),
}

async fn check(f: &Fixture, name: &str, token: String, want: Want) {
    let got = f.verifier.authenticate_at(&token, NOW).await;
    match (want, got) {
        (Want::User(u), Ok(id)) => assert_eq!(id.username, u, "{name}"),
        (Want::Err(p), Err(e)) => assert!(p(&e), "{name}: unexpected error {e:?}"),
        (Want::User(_), Err(e)) => panic!("{name}: refused: {e}"),
        (Want::Err(_), Ok(id)) => panic!("{name}: accepted as {}", id.username),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_table() {
    let f = fixture(false).await;
    let a = f.a.url().to_owned();
    let ok = Want::User("gh:repo:acme/payments-api:ref:refs/heads/main");
    let ok2 = || Want::User("gh:repo:acme/payments-api:ref:refs/heads/main");
    let k = &f.keys;
    let mut n = 0;
    macro_rules! row {
        ($name:expr, $token:expr, $want:expr) => {{
            n += 1;
            check(&f, $name, $token, $want).await;
        }};
    }
    // Algorithms and key types.
    row!("RS256", k.rs.sign(&base(&a)), ok);
    row!("PS256", k.ps.sign(&base(&a)), ok2());
    row!("ES256", k.es256.sign(&base(&a)), ok2());
    row!("ES384", k.es384.sign(&base(&a)), ok2());
    row!("EdDSA", k.ed.sign(&base(&a)), ok2());
    row!(
        "no kid: every key is tried",
        k.es256.sign_with_header(&json!({"alg": "ES256"}), &base(&a)),
        ok2()
    );
    row!(
        "alg none, empty signature",
        format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&base(&a).to_string())),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    row!(
        "alg none, any signature",
        format!("{}.{}.eA", b64(r#"{"alg":"none"}"#), b64(&base(&a).to_string())),
        Want::Err(|e| matches!(e, Error::UnsupportedAlgorithm(_)))
    );
    let hs_key = jsonwebtoken::EncodingKey::from_secret(f.a.jwks().to_string().as_bytes());
    let hs_input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": k.rs.kid}).to_string()),
        b64(&base(&a).to_string())
    );
    let hs = format!(
        "{hs_input}.{}",
        jsonwebtoken::crypto::sign(hs_input.as_bytes(), &hs_key, Algorithm::HS256).unwrap()
    );
    row!(
        "HS256 signed with the public key bytes",
        hs,
        Want::Err(|e| matches!(e, Error::UnsupportedAlgorithm(a) if a == "HS256"))
    );
    row!(
        "header ES256 with the kid of an RSA key",
        k.rs.sign_with_header(&json!({"alg": "ES256", "kid": k.rs.kid}), &base(&a)),
        Want::Err(|e| matches!(e, Error::NoMatchingKey { .. }))
    );
    row!(
        "header RS256 with the kid of an EC key",
        k.rs.sign_with_header(&json!({"alg": "RS256", "kid": k.es256.kid}), &base(&a)),
        Want::Err(|e| matches!(e, Error::NoMatchingKey { .. }))
    );
    row!(
        "RS256 key used under PS256",
        k.rs.sign_with_header(&json!({"alg": "PS256", "kid": k.rs.kid}), &base(&a)),
        Want::Err(|e| matches!(e, Error::NoMatchingKey { .. } | Error::BadSignature))
    );
    // Signature.
    let good = k.rs.sign(&base(&a));
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = b64(&with(base(&a), "sub", json!("repo:evil/x:ref:refs/heads/main")).to_string());
    parts[1] = &forged;
    row!(
        "payload swapped under a valid signature",
        parts.join("."),
        Want::Err(|e| matches!(e, Error::BadSignature))
    );
    let sig_of_other = k.es256.sign(&base(&a));
    let other_sig = sig_of_other.rsplit('.').next().unwrap();
    row!(
        "signature of another token",
        format!("{}.{other_sig}", good.rsplit_once('.').unwrap().0),
        Want::Err(|e| matches!(e, Error::BadSignature))
    );
    // Shapes.
    row!(
        "two segments",
        good.rsplit_once('.').unwrap().0.to_owned(),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    row!(
        "four segments",
        format!("{good}.x"),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    row!(
        "malformed base64",
        format!(
            "{}.!!!.{}",
            good.split('.').next().unwrap(),
            good.rsplit('.').next().unwrap()
        ),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    row!(
        "malformed JSON",
        format!("{}.{}.c2ln", b64(r#"{"alg":"RS256""#), b64("{}")),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    row!(
        "oversized",
        format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), "A".repeat(20_000)),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    row!(
        "JWS JSON serialization",
        r#"{"payload":"e30","signatures":[]}"#.to_owned(),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    row!(
        "crit header",
        k.rs.sign_with_header(&json!({"alg": "RS256", "kid": k.rs.kid, "crit": ["exp"]}), &base(&a)),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    // Time.
    row!(
        "expired",
        k.rs.sign(&with(base(&a), "exp", json!(NOW - 1))),
        Want::Err(|e| matches!(e, Error::Expired))
    );
    row!(
        "exp exactly now (no leeway, not yet past)",
        k.rs.sign(&with(base(&a), "exp", json!(NOW))),
        ok2()
    );
    row!(
        "exp missing",
        k.rs.sign(&with(base(&a), "exp", Value::Null)),
        Want::Err(|e| matches!(e, Error::Expired))
    );
    row!(
        "exp as a string",
        k.rs.sign(&with(base(&a), "exp", json!("1900000000"))),
        Want::Err(|e| matches!(e, Error::Claim { .. }))
    );
    row!(
        "nbf in the future beyond the leeway",
        k.rs.sign(&with(base(&a), "nbf", json!(NOW + 120))),
        Want::Err(|e| matches!(e, Error::NotYetValid))
    );
    row!(
        "nbf in the future within the leeway",
        k.rs.sign(&with(base(&a), "nbf", json!(NOW + 30))),
        ok2()
    );
    row!(
        "iat in the future is not checked",
        k.rs.sign(&with(base(&a), "iat", json!(NOW + 9999))),
        ok2()
    );
    // Issuer.
    row!(
        "unknown iss",
        k.rs.sign(&with(base(&a), "iss", json!("https://evil.example"))),
        Want::Err(|e| matches!(e, Error::UnknownIssuer(_)))
    );
    row!(
        "iss with a trailing slash",
        k.rs.sign(&with(base(&a), "iss", json!(format!("{a}/")))),
        Want::Err(|e| matches!(e, Error::UnknownIssuer(_)))
    );
    row!(
        "iss missing",
        k.rs.sign(&with(base(&a), "iss", Value::Null)),
        Want::Err(|e| matches!(e, Error::Malformed(_)))
    );
    row!(
        "issuer A's key under issuer B's iss",
        k.rs.sign(&with(with(base(&a), "iss", json!(f.b.url())), "aud", json!("b-aud"))),
        Want::Err(|e| matches!(e, Error::NoMatchingKey { .. } | Error::BadSignature))
    );
    // Audience.
    row!(
        "aud as an array containing ours",
        k.rs.sign(&with(base(&a), "aud", json!(["x", "other"]))),
        ok2()
    );
    row!(
        "aud as an array without ours",
        k.rs.sign(&with(base(&a), "aud", json!(["x", "y"]))),
        Want::Err(|e| matches!(e, Error::Audience(_)))
    );
    row!(
        "aud wrong",
        k.rs.sign(&with(base(&a), "aud", json!("kubernetes"))),
        Want::Err(|e| matches!(e, Error::Audience(_)))
    );
    row!(
        "aud missing",
        k.rs.sign(&with(base(&a), "aud", Value::Null)),
        Want::Err(|e| matches!(e, Error::Audience(_)))
    );
    // Username, groups, uid, rules.
    row!(
        "username claim missing",
        k.rs.sign(&with(base(&a), "sub", Value::Null)),
        Want::Err(|e| matches!(e, Error::Claim { claim, .. } if claim == "sub"))
    );
    row!(
        "username claim not a string",
        k.rs.sign(&with(base(&a), "sub", json!(42))),
        Want::Err(|e| matches!(e, Error::Claim { .. }))
    );
    row!(
        "groups not strings",
        k.rs.sign(&with(base(&a), "groups", json!([1, 2]))),
        Want::Err(|e| matches!(e, Error::Claim { claim, .. } if claim == "groups"))
    );
    row!(
        "claim rule value differs",
        k.rs.sign(&with(base(&a), "repository_owner", json!("evil"))),
        Want::Err(|e| matches!(e, Error::ClaimRule(_)))
    );
    row!(
        "claim rule claim missing",
        k.rs.sign(&with(base(&a), "repository_owner", Value::Null)),
        Want::Err(|e| matches!(e, Error::ClaimRule(_)))
    );
    row!(
        "claim rule claim not a string",
        k.rs.sign(&with(base(&a), "repository_owner", json!(["acme"]))),
        Want::Err(|e| matches!(e, Error::ClaimRule(_)))
    );
    row!(
        "uid claim not a string",
        k.rs.sign(&with(base(&a), "repository_id", json!(74829201))),
        Want::Err(|e| matches!(e, Error::Claim { .. }))
    );
    // Issuer B: username from email.
    let b = f.b.url().to_owned();
    let bclaims = json!({"iss": b, "aud": "b-aud", "sub": "u-1", "email": "bot@example.com", "exp": NOW + 60});
    let bkey = f.b.key();
    row!(
        "second issuer, email username",
        bkey.sign(&bclaims),
        Want::User("bot@example.com")
    );
    row!(
        "email_verified true",
        bkey.sign(&with(bclaims.clone(), "email_verified", json!(true))),
        Want::User("bot@example.com")
    );
    row!(
        "email_verified false",
        bkey.sign(&with(bclaims.clone(), "email_verified", json!(false))),
        Want::Err(|e| matches!(e, Error::EmailNotVerified))
    );
    row!(
        "email_verified \"true\" (a string)",
        bkey.sign(&with(bclaims.clone(), "email_verified", json!("true"))),
        Want::Err(|e| matches!(e, Error::Claim { claim, .. } if claim == "email_verified"))
    );
    row!(
        "second issuer, wrong audience",
        bkey.sign(&with(bclaims.clone(), "aud", json!("tollgate"))),
        Want::Err(|e| matches!(e, Error::Audience(_)))
    );
    assert!(n >= 40, "{n} scenarios");
}

#[tokio::test(flavor = "multi_thread")]
async fn mapping_prefixes_groups_owner_and_extra() {
    let f = fixture(false).await;
    let a = f.a.url().to_owned();
    let id = f
        .verifier
        .authenticate_at(&f.keys.rs.sign(&base(&a)), NOW)
        .await
        .unwrap();
    assert_eq!(id.groups, ["team:deployers", "team:ci"]);
    assert_eq!(id.uid, "74829201");
    assert_eq!(id.subject, "repo:acme/payments-api:ref:refs/heads/main");
    assert_eq!(id.issuer, a);
    assert_eq!(id.owner.name, "payments");
    assert_eq!(id.owner.contact, "pay@example.com");
    assert!(id.owner.mapped);
    assert_eq!(id.extra["authentication.kubernetes.io/credential-id"], ["JTI=abc123"]);
    assert_eq!(id.claims["repository"], "acme/payments-api");
    let single = f
        .verifier
        .authenticate_at(&f.keys.rs.sign(&with(base(&a), "groups", json!("solo"))), NOW)
        .await
        .unwrap();
    assert_eq!(single.groups, ["team:solo"]);
    let none = f
        .verifier
        .authenticate_at(&f.keys.rs.sign(&with(base(&a), "groups", Value::Null)), NOW)
        .await
        .unwrap();
    assert!(none.groups.is_empty());
    let other = with(base(&a), "repository", json!("acme/web"));
    let unmapped = f.verifier.authenticate_at(&f.keys.rs.sign(&other), NOW).await.unwrap();
    assert_eq!(unmapped.owner.name, "unmapped");
    assert!(!unmapped.owner.mapped);

    let strict = fixture(true).await;
    let e = strict
        .verifier
        .authenticate_at(
            &strict
                .keys
                .rs
                .sign(&with(base(strict.a.url()), "repository", json!("acme/web"))),
            NOW,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unmapped(_)));
    assert_eq!(e.to_status().code, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_without_restart_and_rate_limited_refetch() {
    let f = fixture(false).await;
    let a = f.a.url().to_owned();
    let fetches = f.a.jwks_fetches();
    // A flood of bogus kids: one refetch at most per interval.
    for i in 0..25 {
        let t = f
            .keys
            .rs
            .sign_with_header(&json!({"alg": "RS256", "kid": format!("bogus-{i}")}), &base(&a));
        let e = f.verifier.authenticate_at(&t, NOW).await.unwrap_err();
        assert!(matches!(e, Error::NoMatchingKey { .. }), "{e:?}");
    }
    assert!(
        f.a.jwks_fetches() - fetches <= 1,
        "{} fetches for 25 unknown kids",
        f.a.jwks_fetches() - fetches
    );

    // The issuer rotates; after the refetch interval, the new kid is fetched and accepted.
    let new = f.a.rotate(Algorithm::ES256).unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let id = f.verifier.authenticate_at(&new.sign(&base(&a)), NOW).await.unwrap();
    assert_eq!(id.owner.name, "payments");
    // The old keys are gone from the issuer, and the cache followed.
    let e = f
        .verifier
        .authenticate_at(&f.keys.rs.sign(&base(&a)), NOW)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoMatchingKey { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_never_outlives_exp() {
    let issuer = TestIssuer::start(Algorithm::EdDSA).await.unwrap();
    let mut a = JwtAuthenticator::new(issuer.url(), "tollgate", "");
    a.certificate_authority = Some(issuer.ca_pem().to_owned());
    let v = Verifier::builder().issuer(a).build().unwrap();
    v.start().await;
    let claims = json!({"iss": issuer.url(), "aud": "tollgate", "sub": "bot", "exp": NOW + 10});
    let t = issuer.mint(&claims);
    let first = v.authenticate_at(&t, NOW).await.unwrap();
    let second = v.authenticate_at(&t, NOW + 1).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second), "a cache hit");
    assert!(matches!(v.authenticate_at(&t, NOW + 11).await, Err(Error::Expired)));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_issuer_does_not_stop_start_up() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let a = JwtAuthenticator::new(format!("https://{dead}"), "tollgate", "");
    let v = Verifier::builder().issuer(a).build().unwrap();
    tokio::time::timeout(Duration::from_secs(40), v.start())
        .await
        .expect("start returns");
    let key = SigningKey::generate(Algorithm::ES256, "k").unwrap();
    let t = key.sign(&json!({"iss": format!("https://{dead}"), "aud": "tollgate", "sub": "x", "exp": NOW + 60}));
    let e = v.authenticate_at(&t, NOW).await.unwrap_err();
    assert!(matches!(e, Error::NotInitialized(_)), "{e:?}");
    assert_eq!(e.to_status().code, 401);
}
