//! The AuthnLayer driven with `oneshot`.

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tollgate_kube::Identity;
use tollgate_kube::Status;
use tollgate_oidc::{Algorithm, AuthnLayer, JwtAuthenticator, Verifier};
use tollgate_testkit::TestIssuer;
use tower::{Service, ServiceBuilder, ServiceExt};

async fn setup() -> (TestIssuer, Arc<Verifier>) {
    let issuer = TestIssuer::start(Algorithm::ES256).await.unwrap();
    let mut a = JwtAuthenticator::new(issuer.url(), "tollgate", "oidc:");
    a.certificate_authority = Some(issuer.ca_pem().to_owned());
    let v = Arc::new(Verifier::builder().issuer(a).build().unwrap());
    v.start().await;
    (issuer, v)
}

fn token(issuer: &TestIssuer) -> String {
    issuer.mint(&json!({"iss": issuer.url(), "aud": "tollgate", "sub": "bot", "exp": tollgate_testkit::now() + 60}))
}

/// `layer` around a service that answers with the identity's user name.
fn echo(
    layer: AuthnLayer,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<impl http_body::Body<Data = Bytes, Error = Infallible>>,
    Error = Infallible,
> {
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req: Request<Full<Bytes>>| async move {
            let who = req
                .extensions()
                .get::<Identity>()
                .map_or("<none>".to_owned(), |i| i.username.clone());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(who))))
        })
}

async fn run(layer: AuthnLayer, req: Request<Full<Bytes>>) -> (u16, String) {
    let svc = echo(layer);
    let res = svc.oneshot(req).await.unwrap();
    let code = res.status().as_u16();
    (
        code,
        String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned(),
    )
}

fn message(body: &str) -> String {
    serde_json::from_str::<Status>(body).unwrap().message
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_header_any_case() {
    let (issuer, v) = setup().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let req = Request::get("/api")
            .header("authorization", format!("{scheme} {}", token(&issuer)))
            .body(Full::default())
            .unwrap();
        assert_eq!(run(AuthnLayer::new(v.clone()), req).await, (200, "oidc:bot".to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_bearer_subprotocol() {
    let (issuer, v) = setup().await;
    let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token(&issuer));
    let req = Request::get("/api/v1/namespaces/a/pods/p/exec")
        .header(
            "sec-websocket-protocol",
            format!("base64url.bearer.authorization.k8s.io.{enc}, v5.channel.k8s.io"),
        )
        .body(Full::default())
        .unwrap();
    assert_eq!(run(AuthnLayer::new(v), req).await, (200, "oidc:bot".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_401_statuses() {
    let (issuer, v) = setup().await;
    let t = token(&issuer);
    let cases: Vec<(Request<Full<Bytes>>, &str)> = vec![
        (
            Request::get("/api").body(Full::default()).unwrap(),
            "Unauthorized: no bearer token",
        ),
        (
            Request::get("/api")
                .header("authorization", "Basic dTpw")
                .body(Full::default())
                .unwrap(),
            "Unauthorized: malformed token",
        ),
        (
            Request::get("/api")
                .header("authorization", format!("Bearer {t}"))
                .header("authorization", format!("Bearer {t}"))
                .body(Full::default())
                .unwrap(),
            "Unauthorized: malformed token",
        ),
        (
            Request::get("/api")
                .header("authorization", "Bearer ")
                .body(Full::default())
                .unwrap(),
            "Unauthorized: no bearer token",
        ),
        (
            Request::get("/api")
                .header("sec-websocket-protocol", "base64url.bearer.authorization.k8s.io.!!!")
                .body(Full::default())
                .unwrap(),
            "Unauthorized: malformed token",
        ),
    ];
    for (req, want) in cases {
        let (code, body) = run(AuthnLayer::new(v.clone()), req).await;
        assert_eq!((code, message(&body).as_str()), (401, want));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_only_when_allowed() {
    let (_issuer, v) = setup().await;
    let req = || Request::get("/version").body(Full::default()).unwrap();
    assert_eq!(run(AuthnLayer::new(v.clone()), req()).await.0, 401);
    assert_eq!(
        run(AuthnLayer::new(v).allow_anonymous(true), req()).await,
        (200, "system:anonymous".to_owned())
    );
    assert_eq!(run(AuthnLayer::disabled(), req()).await, (200, "<none>".to_owned()));
}

/// `anonymous.enabled` reloaded: a service the layer made before (a
/// connection already open) follows the change, both ways; a clone of the
/// layer too.
#[tokio::test(flavor = "multi_thread")]
async fn anonymous_access_follows_a_reload() {
    let (_issuer, v) = setup().await;
    let layer = AuthnLayer::new(v).allow_anonymous(true);
    let kept = layer.clone();
    let mut svc = echo(layer.clone());
    let mut send = async || {
        let req = Request::get("/api/v1/namespaces/default/pods")
            .body(Full::default())
            .unwrap();
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        let code = res.status().as_u16();
        (
            code,
            String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned(),
        )
    };
    assert_eq!(send().await, (200, "system:anonymous".to_owned()));
    assert!(kept.set_anonymous(false));
    let (code, body) = send().await;
    assert_eq!((code, message(&body).as_str()), (401, "Unauthorized: no bearer token"));
    assert!(layer.set_anonymous(true));
    assert_eq!(send().await, (200, "system:anonymous".to_owned()));
}

/// A token verified once is admitted from the verifier's cache: the same
/// identity (the cached one itself in the notes, a copy in the request),
/// while a token differing in its signature alone is verified, and
/// refused, and a cached token past its `exp` is refused too.
#[tokio::test(flavor = "multi_thread")]
async fn a_cached_token_is_admitted_as_verified_and_nothing_else_is() {
    let (issuer, v) = setup().await;
    let good = token(&issuer);
    assert!(v.cached(&good).is_none(), "nothing is cached before the first request");
    let call = |t: String| {
        let v = v.clone();
        async move {
            let notes = tollgate_kube::Notes::default();
            let mut req = Request::get("/api")
                .header("authorization", format!("Bearer {t}"))
                .body(Full::default())
                .unwrap();
            req.extensions_mut().insert(notes.clone());
            let got = run(AuthnLayer::new(v), req).await;
            (got, notes.get::<Arc<Identity>>())
        }
    };
    let (first, noted_first) = call(good.clone()).await;
    assert_eq!(first, (200, "oidc:bot".to_owned()));
    let cached = v.cached(&good).expect("verified, so cached");
    let (second, noted_second) = call(good.clone()).await;
    assert_eq!(second, (200, "oidc:bot".to_owned()));
    let noted_second = noted_second.expect("the identity is noted");
    assert!(
        Arc::ptr_eq(&noted_second, &cached),
        "the note is the cached identity, not a copy"
    );
    assert_eq!(
        noted_first.expect("noted on the first request too").username,
        "oidc:bot"
    );

    // The same header and claims, another signature: not the cached token.
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &sig[1..]);
    assert!(v.cached(&forged).is_none());
    let ((code, body), noted) = call(forged).await;
    assert_eq!(code, 401, "{body}");
    assert!(noted.is_none(), "a refused token notes no identity");

    // Cached, then expired: refused, as a fresh verification would be.
    let short = issuer
        .mint(&json!({"iss": issuer.url(), "aud": "tollgate", "sub": "brief", "exp": tollgate_testkit::now() + 2}));
    assert_eq!(call(short.clone()).await.0, (200, "oidc:brief".to_owned()));
    assert!(v.cached(&short).is_some());
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        v.cached(&short).is_none(),
        "an expired token is not answered from the cache"
    );
    assert_eq!(call(short).await.0.0, 401);
}

/// One copy of the service (as the gateway keeps one per connection)
/// remembers the last token it let in: the same bytes pass again, while any
/// other token, the same one past its `exp`, or any token after the
/// verifier was replaced is verified afresh.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_remembers_its_last_token_and_nothing_else() {
    use tower::Service;
    let (issuer, v) = setup().await;
    let layer = AuthnLayer::new(v.clone());
    let mut svc = echo(layer.clone());
    // Each value is one Authorization header.
    let mut send = async |values: Vec<String>| {
        let mut req = Request::get("/api").body(Full::default()).unwrap();
        for v in &values {
            req.headers_mut().append("authorization", v.parse().unwrap());
        }
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        let code = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (code, String::from_utf8_lossy(&body).into_owned())
    };
    let good = token(&issuer);
    assert_eq!(send(bearer(&good)).await, (200, "oidc:bot".to_owned()));
    assert_eq!(send(bearer(&good)).await, (200, "oidc:bot".to_owned()));

    // The remembered header twice: two Authorization headers are refused.
    let twice = [bearer(&good), bearer(&good)].concat();
    assert_eq!(send(twice).await.0, 401);
    // The same token in other bytes (the scheme's case): verified, let in.
    assert_eq!(send(vec![format!("bearer {good}")]).await.0, 200);

    // Another signature, a longer token, a shorter one: each is verified.
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    for other in [
        format!("{head}.{flipped}{}", &sig[1..]),
        format!("{good}A"),
        good[..good.len() - 1].to_owned(),
    ] {
        assert_eq!(send(bearer(&other)).await.0, 401, "{other}");
        assert_eq!(send(bearer(&good)).await.0, 200);
    }

    // Remembered, then expired: refused.
    let short = issuer
        .mint(&json!({"iss": issuer.url(), "aud": "tollgate", "sub": "brief", "exp": tollgate_testkit::now() + 2}));
    assert_eq!(send(bearer(&short)).await, (200, "oidc:brief".to_owned()));
    assert_eq!(send(bearer(&short)).await, (200, "oidc:brief".to_owned()));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(send(bearer(&short)).await.0, 401);

    // Remembered, then the verifier is replaced by one that does not trust
    // this issuer: refused at once.
    assert_eq!(send(bearer(&good)).await.0, 200);
    let (_other_issuer, other) = setup().await;
    assert!(layer.replace_verifier(other));
    assert_eq!(send(bearer(&good)).await.0, 401);
}

fn bearer(t: &str) -> Vec<String> {
    vec![format!("Bearer {t}")]
}

/// With `identity_copy(false)` the identity is in the extensions only as
/// the shared `Arc<Identity>`, on every path a token takes (verified now,
/// from the cache, remembered by the connection's service); a by-value
/// `Identity` an outer layer put in is taken out, so `Identity::of` never
/// reads it instead of the verified one. With the default the copy is
/// there too, and replaces it.
#[tokio::test(flavor = "multi_thread")]
async fn identity_copy_off_leaves_only_the_shared_identity() {
    let (issuer, v) = setup().await;
    let t = token(&issuer);
    for copy in [false, true] {
        let mut svc = ServiceBuilder::new()
            .map_request(|mut req: Request<Full<Bytes>>| {
                req.extensions_mut().insert(Identity::new("mallory"));
                req
            })
            .layer(AuthnLayer::new(v.clone()).identity_copy(copy))
            .service_fn(|req: Request<Full<Bytes>>| async move {
                let ext = req.extensions();
                let seen = format!(
                    "{} {} {}",
                    ext.get::<Identity>().map_or("-", |i| i.username.as_str()),
                    ext.get::<Arc<Identity>>().map_or("-", |i| i.username.as_str()),
                    Identity::of(ext).map_or("-", |i| i.username.as_str()),
                );
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(seen))))
            });
        // Three requests on one service: verified (or cached, for the
        // second round), then remembered.
        for _ in 0..3 {
            let req = Request::get("/api")
                .header("authorization", format!("Bearer {t}"))
                .body(Full::default())
                .unwrap();
            let res = svc.ready().await.unwrap().call(req).await.unwrap();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let want = if copy {
                "oidc:bot oidc:bot oidc:bot"
            } else {
                "- oidc:bot oidc:bot"
            };
            assert_eq!(String::from_utf8_lossy(&body), want, "copy {copy}");
        }
    }
}
