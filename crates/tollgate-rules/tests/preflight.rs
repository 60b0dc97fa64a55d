//! The preflight (issue 14): where the request alone cannot show the object
//! the API server will store, the policy layer asks for a dry run, judges
//! what comes back, and writes with a precondition — never an unchecked
//! write, and 409 when another writer keeps getting in between.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tollgate_kube::{RequestInfoLayer, Status};
use tollgate_rules::{PolicyLayer, PolicyStore, Preflight, PreflightFuture, parse_policy};
use tower::{ServiceBuilder, ServiceExt};

const BASELINE: &str = include_str!("../../../docs/policies/baseline.yaml");

/// The API server in miniature: one Deployment, its resourceVersion, JSON
/// patches applied as the API server would (only what these tests send).
#[derive(Debug, Default)]
struct Cluster {
    object: Mutex<Value>,
    /// Dry runs answered so far.
    dry_runs: AtomicU32,
    /// Writes received (forwarded requests).
    writes: Mutex<Vec<Value>>,
    /// Another writer changes the object right after this many dry runs.
    race_after: AtomicU32,
}

impl Cluster {
    fn new() -> Arc<Self> {
        let c = Cluster::default();
        *c.object.lock().unwrap() = json!({"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web", "namespace": "team", "resourceVersion": "10"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}}});
        Arc::new(c)
    }

    fn rv(&self) -> String {
        self.object.lock().unwrap()["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Applies the JSON patch (add with array insert, replace, move) to a copy.
    fn patched(&self, ops: &Value) -> Value {
        let mut o = self.object.lock().unwrap().clone();
        for op in ops.as_array().unwrap() {
            let path = op["path"].as_str().unwrap();
            let (parent, last) = path.rsplit_once('/').unwrap();
            let value = match op["op"].as_str().unwrap() {
                "move" => {
                    let from = op["from"].as_str().unwrap();
                    let (fp, fl) = from.rsplit_once('/').unwrap();
                    o.pointer_mut(fp).unwrap().as_object_mut().unwrap().remove(fl).unwrap()
                }
                _ => op["value"].clone(),
            };
            match o.pointer_mut(parent).unwrap() {
                Value::Array(a) => {
                    let i = last.parse::<usize>().unwrap();
                    if op["op"] == "replace" {
                        a[i] = value
                    } else {
                        a.insert(i, value)
                    }
                }
                Value::Object(m) => {
                    m.insert(last.to_owned(), value);
                }
                _ => panic!("not a container"),
            }
        }
        o
    }
}

impl Preflight for Cluster {
    fn dry_run(&self, req: Request<Bytes>) -> PreflightFuture {
        assert!(req.uri().query().unwrap_or("").contains("dryRun=All"), "{}", req.uri());
        assert_eq!(req.headers()["accept"], "application/json");
        let ops: Value = serde_json::from_slice(req.body()).unwrap();
        let answer = self.patched(&ops);
        let n = self.dry_runs.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.race_after.load(Ordering::SeqCst) {
            // Another writer gets in after the dry run.
            let mut o = self.object.lock().unwrap();
            let next = o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                + 1;
            o["metadata"]["resourceVersion"] = json!(next.to_string());
        }
        let body = Bytes::from(serde_json::to_vec(&answer).unwrap());
        Box::pin(async move { Ok(Response::new(body)) })
    }
}

/// Sends a JSON patch through RequestInfo → Policy (with the cluster as
/// preflight client) → the cluster's write.
async fn patch(cluster: &Arc<Cluster>, ops: &str) -> (u16, String, u64) {
    let layer =
        PolicyLayer::new(PolicyStore::new(parse_policy(BASELINE, "baseline.yaml").unwrap())).preflight(cluster.clone());
    let c = cluster.clone();
    let svc = ServiceBuilder::new()
        .layer(RequestInfoLayer::new())
        .layer(layer.clone())
        .service_fn(move |req: Request<Full<Bytes>>| {
            let c = c.clone();
            async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let ops: Value = serde_json::from_slice(&body).unwrap();
                c.writes.lock().unwrap().push(ops.clone());
                let result = c.patched(&ops);
                let code = if result["metadata"]["resourceVersion"].as_str() == Some(c.rv().as_str()) {
                    *c.object.lock().unwrap() = result;
                    StatusCode::OK
                } else {
                    StatusCode::CONFLICT
                };
                let mut res = Response::new(Full::new(Bytes::from_static(b"{}")));
                *res.status_mut() = code;
                Ok::<_, Infallible>(res)
            }
        });
    let req = Request::patch("/apis/apps/v1/namespaces/team/deployments/web")
        .header("content-type", "application/json-patch+json")
        .body(Full::new(Bytes::from(ops.to_owned())))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let code = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let message = serde_json::from_slice::<Status>(&body)
        .map(|s| s.message)
        .unwrap_or_default();
    (code, message, layer.preflights())
}

#[tokio::test]
async fn an_array_insert_that_shifts_a_privileged_container_into_place_is_refused() {
    // Issue 14, point 2: judged on the ops alone, the second add overwrote
    // containers[0] and the privileged securityContext vanished.
    let cluster = Cluster::new();
    let (code, message, preflights) = patch(
        &cluster,
        r#"[{"op":"add","path":"/spec/template/spec/containers/0/securityContext","value":{"privileged":true}},{"op":"add","path":"/spec/template/spec/containers/0","value":{"name":"sidecar","image":"busybox"}}]"#,
    )
    .await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("no-privileged-containers"), "{message}");
    assert_eq!(preflights, 1);
    assert!(cluster.writes.lock().unwrap().is_empty(), "never written");
}

#[tokio::test]
async fn a_move_into_security_context_is_refused() {
    let cluster = Cluster::new();
    cluster.object.lock().unwrap()["metadata"]["annotations"] = json!({"x": {"privileged": true}});
    let (code, message, _) = patch(
        &cluster,
        r#"[{"op":"move","from":"/metadata/annotations/x","path":"/spec/template/spec/containers/0/securityContext"}]"#,
    )
    .await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("no-privileged-containers"), "{message}");
}

#[tokio::test]
async fn an_allowed_patch_is_written_with_the_version_the_rules_saw() {
    let cluster = Cluster::new();
    let (code, message, _) = patch(
        &cluster,
        r#"[{"op":"add","path":"/spec/template/spec/containers/0","value":{"name":"sidecar","image":"busybox"}}]"#,
    )
    .await;
    assert_eq!(code, 200, "{message}");
    let writes = cluster.writes.lock().unwrap();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        writes[0].as_array().unwrap().last().unwrap(),
        &json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "10"})
    );
}

#[tokio::test]
async fn a_writer_in_between_means_another_attempt_then_409() {
    // Once: the second attempt sees the new version and succeeds.
    let cluster = Cluster::new();
    cluster.race_after.store(1, Ordering::SeqCst);
    let ops =
        r#"[{"op":"add","path":"/spec/template/spec/containers/0","value":{"name":"sidecar","image":"busybox"}}]"#;
    let (code, message, preflights) = patch(&cluster, ops).await;
    assert_eq!(code, 200, "{message}");
    assert_eq!(preflights, 2);
    assert_eq!(cluster.writes.lock().unwrap().len(), 2);
    // Every time: three attempts, then the client gets the 409; the object
    // was never written unchecked.
    let cluster = Cluster::new();
    cluster.race_after.store(u32::MAX, Ordering::SeqCst);
    let (code, _, preflights) = patch(&cluster, ops).await;
    assert_eq!(code, 409);
    assert_eq!(preflights, 3);
    assert_eq!(cluster.writes.lock().unwrap().len(), 3);
    assert_eq!(
        cluster.object.lock().unwrap()["spec"]["template"]["spec"]["containers"][0]["name"],
        "app"
    );
}
