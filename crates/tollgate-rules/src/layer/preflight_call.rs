//! A request whose object only the API server can work out: a dry run,
//! the rules on what it returns, then the write with a precondition, again
//! (at most three times) when the object moved on in between.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tollgate_kube::Identity;
use tollgate_kube::{Reason, RequestBody, RequestInfo, ResponseBody, Status, WARNING};
use tower_service::Service;

use super::service::enforce;
use crate::preflight::dry_run_uri;
use crate::{PolicyStore, Preflight, RequestView};

/// The most attempts (dry run and write) when the gateway's own
/// precondition fails because another writer got in between.
const MAX_ATTEMPTS: u32 = 3;

pub(super) struct Run<S> {
    pub(super) inner: S,
    pub(super) client: Arc<dyn Preflight>,
    pub(super) store: PolicyStore,
    pub(super) approval_available: bool,
    pub(super) preflights: Arc<AtomicU64>,
    pub(super) why: &'static str,
    pub(super) info: RequestInfo,
}

fn refuse<B>(status: Status) -> Response<ResponseBody<B>> {
    ResponseBody::from_status_response(status.to_response())
}

/// The request again, with `body` (`Parts` is not `Clone`).
fn rebuild<B>(parts: &http::request::Parts, body: B) -> Request<B> {
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    *req.extensions_mut() = parts.extensions.clone();
    req
}

/// The same request as a dry run that asks for JSON, with the original's
/// extensions (the verified identity among them).
fn dry_run(parts: &http::request::Parts, body: &Bytes) -> Request<Bytes> {
    let mut req = rebuild(parts, body.clone());
    if let Ok(uri) = dry_run_uri(&parts.uri).parse() {
        *req.uri_mut() = uri;
    }
    req.headers_mut()
        .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    req
}

/// The API server's refusal of the dry run, naming why the gateway asked.
fn refused_dry_run(answer: &Response<Bytes>, why: &str) -> Status {
    let mut status = serde_json::from_slice::<Status>(answer.body()).unwrap_or_else(|_| {
        Status::failure(
            Reason::BadGateway,
            format!("the API server answered {} without a Status", answer.status()),
        )
    });
    if status.code == 0 {
        status.code = answer.status().as_u16();
    }
    status.message = format!(
        "Tollgate rules must see the object the API server would store ({why}), and its dry run was refused: {}",
        status.message
    );
    status
}

impl<S> Run<S> {
    pub(super) async fn call<B, ResBody>(mut self, req: Request<B>) -> Result<Response<ResponseBody<ResBody>>, S::Error>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
        B: From<Bytes>,
    {
        let (parts, _) = req.into_parts();
        let original = parts.extensions.get::<RequestBody>().cloned().unwrap_or_default();
        let sent = original.bytes().clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.preflights.fetch_add(1, Ordering::Relaxed);
            // 1. What the API server would store.
            let answer = match self.client.dry_run(dry_run(&parts, &sent)).await {
                Ok(a) => a,
                Err(e) => {
                    return Ok(refuse(Status::failure(
                        Reason::ServiceUnavailable,
                        format!(
                            "Tollgate rules must see the object the API server would store ({}), and its dry run failed: {e}",
                            self.why
                        ),
                    )));
                }
            };
            if !answer.status().is_success() {
                return Ok(refuse(refused_dry_run(&answer, self.why)));
            }
            let object: serde_json::Value = match serde_json::from_slice(answer.body()) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(refuse(Status::failure(
                        Reason::BadGateway,
                        format!("the API server's dry run answered something that is not JSON: {e}"),
                    )));
                }
            };
            let seen_rv = object
                .pointer("/metadata/resourceVersion")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned();
            let stored = RequestBody::new(
                serde_json::to_vec(&object).map(Bytes::from).unwrap_or_default(),
                Some("application/json"),
            );
            // 2. The rules on it.
            let policy = self.store.current();
            let view = RequestView::new(&self.info, Identity::of(&parts.extensions), Some(&stored));
            let mut decision = match policy.evaluate(&view) {
                Ok(d) => d,
                Err(e) => return Ok(refuse(e.to_status())),
            };
            decision.preflight = Some(format!(
                "{}; {attempt} attempt{}",
                self.why,
                if attempt == 1 { "" } else { "s" }
            ));
            tollgate_kube::note(&parts.extensions, decision.clone());
            let warnings = match enforce(&self.info, &decision, self.approval_available) {
                Ok(w) => w,
                Err(status) => return Ok(refuse(status)),
            };
            // 3. The write, bound to the version the rules saw.
            let with_precondition = crate::with_precondition(&original, &seen_rv);
            let added = with_precondition.is_some();
            let bytes = with_precondition.unwrap_or_else(|| sent.clone());
            let mut req = rebuild(&parts, B::from(bytes.clone()));
            if added {
                req.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            }
            // Later layers (approval, the audit record) see what the API
            // server sees: the patch as forwarded, or for protobuf and CBOR
            // the object the dry run returned.
            let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let seen = if original.format().is_textual() {
                RequestBody::new(bytes, ct)
            } else {
                stored
            };
            req.extensions_mut().insert(seen);
            if decision.mask {
                req.extensions_mut().insert(tollgate_kube::Mask);
            }
            req.extensions_mut().insert(decision);
            std::future::poll_fn(|cx| self.inner.poll_ready(cx)).await?;
            let mut res = self.inner.call(req).await?;
            if res.status() == StatusCode::CONFLICT && added && attempt < MAX_ATTEMPTS {
                tracing::info!(attempt, "the object changed between the preflight and the write: again");
                continue;
            }
            for w in warnings {
                res.headers_mut().append(WARNING, w);
            }
            return Ok(res.map(ResponseBody::inner));
        }
    }
}
