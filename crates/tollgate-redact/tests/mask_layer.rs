//! MaskLayer with `oneshot`: watch events flushed one by one, whole JSON
//! masked, unreadable responses refused.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use tollgate_kube::Mask;
use tollgate_kube::{RequestInfo, Status};
use tollgate_redact::{MaskLayer, Redactor};
use tower::{ServiceBuilder, ServiceExt};

fn request(uri: &str) -> Request<()> {
    let mut req = Request::get(uri)
        .header("accept", "application/vnd.kubernetes.protobuf, application/json")
        .header("accept-encoding", "gzip")
        .body(())
        .unwrap();
    let info = RequestInfo::parse(req.method(), req.uri()).unwrap();
    req.extensions_mut().insert(info);
    req.extensions_mut().insert(Mask);
    req
}

#[tokio::test]
async fn watch_events_are_masked_one_at_a_time() {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    let body = StreamBody::new(futures_stream(rx));
    let cell = std::sync::Mutex::new(Some(body));
    let svc = ServiceBuilder::new()
        .layer(MaskLayer::new(Redactor::builder().build().unwrap()))
        .service_fn(move |req: Request<()>| {
            assert_eq!(
                req.headers()["accept"],
                "application/json",
                "protobuf is never asked for"
            );
            assert_eq!(
                req.headers()["accept-encoding"],
                "gzip",
                "the client's gzip preference is kept"
            );
            let body = cell.lock().unwrap().take().unwrap();
            async move {
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(body)
                        .unwrap(),
                )
            }
        });
    let res = svc
        .oneshot(request("/api/v1/namespaces/a/secrets?watch=1"))
        .await
        .unwrap();
    let mut body = res.into_body();
    // The first event is split across two chunks.
    tx.send(Ok(Frame::data(Bytes::from_static(
        br#"{"type":"ADDED","object":{"kind":"Secret","data":{"k":"c2Vj"#,
    ))))
    .await
    .unwrap();
    tx.send(Ok(Frame::data(Bytes::from_static(b"cmV0\"}}}\n{\"type\":"))))
        .await
        .unwrap();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(
        &first[..],
        &b"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Secret\",\"data\":{\"k\":\"<redacted>\"}}}\n"[..],
        "flushed before the stream ends"
    );
    tx.send(Ok(Frame::data(Bytes::from_static(
        br#""DELETED","object":{"data":{"k":"eA=="}}}"#,
    ))))
    .await
    .unwrap();
    drop(tx);
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(
        &rest[..],
        br#"{"type":"DELETED","object":{"data":{"k":"<redacted>"}}}"#,
        "the watch's resource implies the kind"
    );
}

fn futures_stream<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn unreadable_responses_are_refused_and_others_pass() {
    let svc = |ct: &'static str, body: &'static [u8]| {
        ServiceBuilder::new()
            .layer(MaskLayer::new(Redactor::builder().build().unwrap()))
            .service_fn(move |_req: Request<()>| async move {
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", ct)
                        .header("content-length", body.len())
                        .body(Full::new(Bytes::from_static(body)))
                        .unwrap(),
                )
            })
    };
    let res = svc("application/vnd.kubernetes.protobuf", b"k8s\0...")
        .oneshot(request("/api/v1/namespaces/a/secrets/x"))
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let s: Status = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(s.message.contains("Tollgate must mask this response"), "{}", s.message);

    let res = svc("application/json", br#"{"kind":"Secret","data":{"k":"c2VjcmV0"}}"#)
        .oneshot(request("/api/v1/namespaces/a/secrets/x"))
        .await
        .unwrap();
    assert!(res.headers().get("content-length").is_none(), "the length changes");
    assert_eq!(
        &res.into_body().collect().await.unwrap().to_bytes()[..],
        br#"{"kind":"Secret","data":{"k":"<redacted>"}}"#
    );

    // Requests without the Mask extension pass untouched.
    let mut plain = request("/api/v1/namespaces/a/secrets/x");
    plain.extensions_mut().remove::<Mask>();
    let res = svc("application/json", br#"{"kind":"Secret","data":{"k":"c2VjcmV0"}}"#)
        .oneshot(plain)
        .await
        .unwrap();
    assert_eq!(res.headers()["content-length"], "41");
    assert!(String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).contains("c2VjcmV0"));
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn gzip_is_decoded_masked_and_encoded_again() {
    let secret = br#"{"kind":"SecretList","items":[{"data":{"k":"c2VjcmV0"}},{"data":{"j":"c2VjcmV0"}}]}"#;
    let compressed = Bytes::from(gz(secret));
    let svc = |body: Bytes| {
        ServiceBuilder::new()
            .layer(MaskLayer::new(Redactor::builder().build().unwrap()))
            .service_fn(move |_req: Request<()>| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .header("content-encoding", "gzip")
                            .body(Full::new(body))
                            .unwrap(),
                    )
                }
            })
    };
    let res = svc(compressed.clone())
        .oneshot(request("/api/v1/namespaces/a/secrets"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let out = gunzip(&res.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(
        &out[..],
        br#"{"kind":"SecretList","items":[{"data":{"k":"<redacted>"}},{"data":{"j":"<redacted>"}}]}"#
    );

    // Without masking, gzip passes through byte for byte.
    let mut plain = request("/api/v1/namespaces/a/secrets");
    plain.extensions_mut().remove::<Mask>();
    let res = svc(compressed.clone()).oneshot(plain).await.unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), compressed);

    // Other encodings cannot be masked: refused.
    let svc_br = ServiceBuilder::new()
        .layer(MaskLayer::new(Redactor::builder().build().unwrap()))
        .service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .header("content-encoding", "br")
                    .body(Full::new(Bytes::from_static(b"xx")))
                    .unwrap(),
            )
        });
    assert_eq!(
        svc_br
            .oneshot(request("/api/v1/namespaces/a/secrets"))
            .await
            .unwrap()
            .status(),
        502
    );
}
