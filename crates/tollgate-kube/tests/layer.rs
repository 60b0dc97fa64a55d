//! RequestInfoLayer driven with `oneshot`.

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tollgate_kube::{BodyFormat, RequestBody, RequestInfo, RequestInfoLayer, Status};
use tower::{ServiceBuilder, ServiceExt};

async fn run(layer: RequestInfoLayer, req: Request<Full<Bytes>>) -> (u16, String) {
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req: Request<Full<Bytes>>| async move {
            let info = req.extensions().get::<RequestInfo>().cloned().unwrap();
            let body = req.extensions().get::<RequestBody>().cloned().unwrap();
            assert!(req.headers().get("content-encoding").is_none());
            let forwarded = req.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&forwarded, body.bytes(), "what is checked is what is forwarded");
            let text = format!("{} {} {}", info.verb, body.format(), body.bytes().len());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
        });
    let res = svc.oneshot(req).await.unwrap();
    let code = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

fn status(text: &str) -> Status {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn passes_and_classifies() {
    let req = Request::patch("/apis/apps/v1/namespaces/a/deployments/web/scale")
        .header("content-type", "application/merge-patch+json")
        .body(Full::new(Bytes::from_static(br#"{"spec":{"replicas":0}}"#)))
        .unwrap();
    assert_eq!(
        run(RequestInfoLayer::new(), req).await,
        (200, "patch merge-patch 23".into())
    );
}

#[tokio::test]
async fn refuses_unresolvable_urls_with_500() {
    let req = Request::get("/api/v1/watch").body(Full::default()).unwrap();
    let (code, body) = run(RequestInfoLayer::new(), req).await;
    assert_eq!(code, 500);
    let s = status(&body);
    assert_eq!(s.reason, "InternalError");
    assert!(
        s.message
            .starts_with("Internal Server Error: \"/api/v1/watch\": failed to create RequestInfo")
    );
}

#[tokio::test]
async fn refuses_bad_escapes_with_400() {
    let req = Request::get("/api/v1/namespaces/%zz/pods")
        .body(Full::default())
        .unwrap();
    let (code, body) = run(RequestInfoLayer::new(), req).await;
    assert_eq!((code, status(&body).reason.as_str()), (400, "BadRequest"));
}

#[tokio::test]
async fn enforces_the_body_limit() {
    let big = Bytes::from(vec![b' '; 2048]);
    let req = Request::post("/api/v1/namespaces/a/configmaps")
        .body(Full::new(big.clone()))
        .unwrap();
    let (code, body) = run(RequestInfoLayer::new().max_body_bytes(1024), req).await;
    assert_eq!(code, 413);
    assert_eq!(status(&body).message, "Request entity too large: limit is 1024");
    // declared length over the limit is refused before reading
    let req = Request::post("/api/v1/namespaces/a/configmaps")
        .header("content-length", "4096")
        .body(Full::new(big))
        .unwrap();
    assert_eq!(run(RequestInfoLayer::new().max_body_bytes(1024), req).await.0, 413);
}

#[tokio::test]
async fn decodes_gzip_bounded() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(br#"{"kind":"Secret"}"#).unwrap();
    let gz = Bytes::from(enc.finish().unwrap());
    let req = Request::post("/api/v1/namespaces/a/secrets")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(Full::new(gz))
        .unwrap();
    assert_eq!(run(RequestInfoLayer::new(), req).await, (200, "create json 17".into()));

    // a gzip bomb: 64 KiB of zeros in a few hundred bytes, limit 1 KiB
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 65536]).unwrap();
    let req = Request::post("/api/v1/namespaces/a/secrets")
        .header("content-encoding", "gzip")
        .body(Full::new(Bytes::from(enc.finish().unwrap())))
        .unwrap();
    assert_eq!(run(RequestInfoLayer::new().max_body_bytes(1024), req).await.0, 413);

    let req = Request::post("/api/v1/namespaces/a/secrets")
        .header("content-encoding", "br")
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    assert_eq!(run(RequestInfoLayer::new(), req).await.0, 415);
}

#[tokio::test]
async fn upgrades_carry_no_body() {
    let req = Request::get("/api/v1/namespaces/a/pods/p/exec?command=sh")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .body(Full::default())
        .unwrap();
    assert_eq!(run(RequestInfoLayer::new(), req).await, (200, "get empty 0".into()));
    let req = Request::post("/api/v1/namespaces/a/pods/p/exec?command=sh")
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .header("content-length", "3")
        .body(Full::new(Bytes::from_static(b"abc")))
        .unwrap();
    assert_eq!(run(RequestInfoLayer::new(), req).await.0, 400);
}

#[test]
fn protobuf_is_recognised() {
    let b = RequestBody::new(Bytes::from_static(b"k8s\0\n"), Some("application/json"));
    assert_eq!(b.format(), BodyFormat::Protobuf);
}

#[tokio::test(start_paused = true)]
async fn slow_bodies_time_out() {
    use http_body::Frame;
    use http_body_util::StreamBody;
    // A body that sends one byte and then nothing.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
    tx.send(Ok(Frame::data(Bytes::from_static(b"{")))).await.unwrap();
    let body = StreamBody::new(tokio_stream_from(rx));
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new().body_timeout(std::time::Duration::from_secs(5)))
        .service_fn(|_req: Request<Full<Bytes>>| async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) });
    let req = Request::post("/api/v1/namespaces/a/configmaps").body(body).unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 408);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        status(std::str::from_utf8(&body).unwrap()).message,
        "the request body did not arrive within 5s"
    );
    drop(tx);
}

/// A `Stream` over an mpsc receiver.
fn tokio_stream_from<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn buffered_bodies_share_a_budget_and_give_it_back() {
    // Issue 15: bodies count against a gateway-wide budget besides the
    // per-request limit; over it, 429 with Retry-After before reading.
    let layer = RequestInfoLayer::new().max_buffered_bytes(1000);
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |req: Request<Full<Bytes>>| {
            let keep = keep.clone();
            async move {
                // A body still in use (a request in flight) holds its bytes.
                keep.lock()
                    .unwrap()
                    .push(req.extensions().get::<RequestBody>().cloned().unwrap());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }
        });
    let post = |n: usize| {
        Request::post("/api/v1/namespaces/a/configmaps")
            .header("content-type", "application/json")
            .header("content-length", n.to_string())
            .body(Full::new(Bytes::from(vec![b' '; n])))
            .unwrap()
    };
    assert_eq!(svc.clone().oneshot(post(600)).await.unwrap().status(), 200);
    let res = svc.clone().oneshot(post(600)).await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status(std::str::from_utf8(&body).unwrap())
            .message
            .contains("limit is 1000")
    );
    // A read without a body holds nothing: bodies held by others (slow
    // clients included) never turn it away.
    let read = Request::get("/api/v1/namespaces/a/configmaps")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(svc.clone().oneshot(read).await.unwrap().status(), 200);
    // Once the first request lets go of its body, there is room again.
    held.lock().unwrap().clear();
    assert_eq!(svc.clone().oneshot(post(600)).await.unwrap().status(), 200);
}

/// A request whose body has ended before it arrives (a GET) goes on at
/// once, with the same facts as one whose body is read: its RequestInfo
/// and an empty RequestBody in the request and in the notes, an empty
/// body forwarded, and a declared `Content-Length: 0` kept.
#[tokio::test]
async fn a_request_without_a_body_carries_the_same_facts() {
    for declared in [false, true] {
        let notes = tollgate_kube::Notes::default();
        let mut b = Request::get("/api/v1/namespaces/a/pods/web-0");
        if declared {
            b = b.header("content-length", "0");
        }
        let mut req = b.body(Full::default()).unwrap();
        req.extensions_mut().insert(notes.clone());
        let svc =
            ServiceBuilder::new()
                .layer(RequestInfoLayer::new())
                .service_fn(|req: Request<Full<Bytes>>| async move {
                    let cl = req
                        .headers()
                        .get("content-length")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let body = req.extensions().get::<RequestBody>().cloned().unwrap();
                    let info = req.extensions().get::<RequestInfo>().cloned().unwrap();
                    let forwarded = req.into_body().collect().await.unwrap().to_bytes();
                    let text = format!(
                        "{} {} {} {} {:?}",
                        info.verb,
                        info.name,
                        body.bytes().len(),
                        forwarded.len(),
                        cl
                    );
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
                });
        let res = svc.oneshot(req).await.unwrap();
        let text = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned();
        let cl = if declared { "Some(\"0\")" } else { "None" };
        assert_eq!(text, format!("get web-0 0 0 {cl}"));
        assert_eq!(
            notes.get::<std::sync::Arc<RequestInfo>>().map(|i| i.name.clone()),
            Some("web-0".to_owned())
        );
        assert_eq!(notes.get::<RequestBody>().map(|b| b.bytes().len()), Some(0));
    }
}

/// With `info_copy(false)` the parsed `RequestInfo` is in the extensions
/// only as the `Arc` it shares with the notes, for GETs and for requests
/// whose body is read first; a by-value one an outer layer put in is taken
/// out, so `RequestInfo::of` never reads it instead. With the default the
/// copy is there too, and replaces it.
#[tokio::test]
async fn info_copy_off_leaves_only_the_shared_info() {
    use std::sync::Arc;
    for copy in [false, true] {
        for (method, body) in [("GET", ""), ("POST", "{\"kind\":\"Pod\"}")] {
            let notes = tollgate_kube::Notes::default();
            let outer = notes.clone();
            let svc = ServiceBuilder::new()
                .map_request(move |mut req: Request<Full<Bytes>>| {
                    req.extensions_mut().insert(outer.clone());
                    let forged = RequestInfo::parse(&http::Method::GET, &"/healthz".parse().unwrap()).unwrap();
                    req.extensions_mut().insert(forged);
                    req
                })
                .layer(RequestInfoLayer::new().info_copy(copy))
                .service_fn(|req: Request<Full<Bytes>>| async move {
                    let ext = req.extensions();
                    let seen = format!(
                        "{} {} {}",
                        ext.get::<RequestInfo>().map_or("-", |i| i.verb.as_str()),
                        ext.get::<Arc<RequestInfo>>().map_or("-", |i| i.verb.as_str()),
                        RequestInfo::of(ext).map_or("-", |i| i.verb.as_str()),
                    );
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(seen))))
                });
            let req = Request::builder()
                .method(method)
                .uri("/api/v1/namespaces/a/pods")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            let res = svc.oneshot(req).await.unwrap();
            let text = res.into_body().collect().await.unwrap().to_bytes();
            let verb = if method == "GET" { "list" } else { "create" };
            let want = if copy {
                format!("{verb} {verb} {verb}")
            } else {
                format!("- {verb} {verb}")
            };
            assert_eq!(String::from_utf8_lossy(&text), want, "copy {copy}, {method}");
            // The notes hold the same one, shared.
            let noted = notes.get::<Arc<RequestInfo>>().map(|i| i.verb.clone());
            assert_eq!(noted.as_deref(), Some(verb), "copy {copy}, {method}");
        }
    }
}
