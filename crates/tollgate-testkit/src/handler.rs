//! Request routing of the test API server.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tollgate_kube::{BodyFormat, Reason, RequestBody, RequestInfo, Status};

use crate::body::Body;
use crate::resources::{self, ResourceDef};
use crate::store::Event;
use crate::{Shared, exec, logs, patch, spdy, table};

type Res = Response<Body>;

fn json_response(code: StatusCode, v: &Value) -> Res {
    let mut res = Response::new(Body::full(v.to_string()));
    *res.status_mut() = code;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn status_response(s: &Status) -> Res {
    let (parts, _) = s.to_response().into_parts();
    Response::from_parts(parts, Body::full(s.to_bytes()))
}

fn not_found_path() -> Res {
    status_response(&Status::failure(
        Reason::NotFound,
        "the server could not find the requested resource",
    ))
}

pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Res {
    shared.record(&req);
    if let Some(token) = &shared.config.token {
        let ok = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| t == token);
        if !ok {
            return status_response(&Status::unauthorized());
        }
    }
    let info = match RequestInfo::parse(req.method(), req.uri()) {
        Ok(i) => i,
        Err(e) => return status_response(&e.to_status()),
    };
    if !info.is_resource_request {
        return non_resource(&info);
    }
    let Some(def) = resources::find(&info.api_group, &info.api_version, &info.resource) else {
        return not_found_path();
    };
    if def.namespaced && info.resource == "namespaces" {
        return not_found_path();
    }
    let upgrade = tollgate_kube::is_upgrade_request(&req);
    if upgrade {
        return upgrade_request(&shared, def, &info, req).await;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let headers = req.headers().clone();
    let bytes = match Limited::new(req.into_body(), tollgate_kube::DEFAULT_MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(e) => return status_response(&Status::failure(Reason::BadRequest, e.to_string())),
    };
    if def.resource == "selfsubjectreviews" {
        // The body (protobuf from kubectl) says nothing the headers do not.
        return json_response(StatusCode::CREATED, &self_subject_review(&headers));
    }
    if def.group == "authorization.k8s.io" {
        return match self_subject_authorization(def, &bytes, content_type.as_deref()) {
            Ok(review) => json_response(StatusCode::CREATED, &review),
            Err(s) => status_response(&s),
        };
    }
    let body = RequestBody::new(bytes, content_type.as_deref());
    resource(&shared, def, &info, &body, &accept).await
}

fn non_resource(info: &RequestInfo) -> Res {
    let path = info.path.trim_end_matches('/');
    let doc = match path {
        "/version" => Some(resources::version()),
        "/api" => Some(resources::api_versions()),
        "/apis" => Some(resources::api_group_list()),
        "/api/v1" => resources::api_resource_list("", "v1"),
        p if p.starts_with("/apis/") => {
            let rest = &p["/apis/".len()..];
            match rest.split_once('/') {
                Some((group, version)) => resources::api_resource_list(group, version),
                None if resources::RESOURCES.iter().any(|r| r.group == rest) => Some(resources::api_group(rest)),
                None => None,
            }
        }
        "/openapi/v3" => Some(resources::openapi_v3_index()),
        p if p.starts_with("/openapi/v3/") => resources::openapi_v3_doc(&p["/openapi/v3".len()..]),
        "/healthz" | "/readyz" | "/livez" => {
            let mut res = Response::new(Body::full("ok"));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return res;
        }
        _ => None,
    };
    match doc {
        Some(d) => json_response(StatusCode::OK, &d),
        None => not_found_path(),
    }
}

/// Who the request runs as: the impersonated user if the (trusted) caller
/// asked for one, else the token's own user. Like the API server, groups
/// get `system:authenticated` unless they already say (un)authenticated.
pub(crate) fn user_info(h: &http::HeaderMap) -> Value {
    let all = |name: &str| -> Vec<String> {
        h.get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    };
    let Some(user) = h.get("impersonate-user").and_then(|v| v.to_str().ok()) else {
        return json!({"username": "testkit-admin", "groups": ["system:masters", "system:authenticated"]});
    };
    let mut groups = all("impersonate-group");
    if !groups
        .iter()
        .any(|g| g == "system:authenticated" || g == "system:unauthenticated")
    {
        groups.push(
            if user == "system:anonymous" {
                "system:unauthenticated"
            } else {
                "system:authenticated"
            }
            .to_owned(),
        );
    }
    let mut extra = serde_json::Map::new();
    for (name, value) in h {
        if let Some(key) = name.as_str().strip_prefix("impersonate-extra-") {
            let key = percent_decode(key);
            let entry = extra.entry(key).or_insert_with(|| json!([]));
            if let (Some(list), Ok(v)) = (entry.as_array_mut(), value.to_str()) {
                list.push(json!(v));
            }
        }
    }
    let mut info = json!({"username": user, "groups": groups});
    if let Some(uid) = h.get("impersonate-uid").and_then(|v| v.to_str().ok()) {
        info["uid"] = json!(uid);
    }
    if !extra.is_empty() {
        info["extra"] = Value::Object(extra);
    }
    info
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn self_subject_review(h: &http::HeaderMap) -> Value {
    json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"creationTimestamp": null}, "status": {"userInfo": user_info(h)}})
}

/// What this server, which does no authorization, says to `kubectl auth
/// can-i` (a `SelfSubjectAccessReview`) and `kubectl auth can-i --list`
/// (a `SelfSubjectRulesReview`): everything is allowed. A JSON body's
/// spec is checked as the API server checks it and echoed; kubectl's
/// protobuf body is not decoded (kubectl reads only the status).
fn self_subject_authorization(def: &ResourceDef, body: &[u8], content_type: Option<&str>) -> Result<Value, Status> {
    let json_body = content_type.is_some_and(|c| c.starts_with("application/json"));
    let spec = if json_body && !body.is_empty() {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| Status::failure(Reason::BadRequest, format!("the body is not JSON: {e}")))?;
        v.get("spec").cloned().unwrap_or_else(|| json!({}))
    } else {
        json!({})
    };
    let status = if def.resource == "selfsubjectaccessreviews" {
        if json_body && spec.get("resourceAttributes").is_some() == spec.get("nonResourceAttributes").is_some() {
            return Err(Status::failure(
                Reason::Invalid,
                format!(
                    "{}.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
                    def.kind
                ),
            ));
        }
        json!({"allowed": true, "reason": "the test API server authorizes every request (it has no RBAC)"})
    } else {
        json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false
        })
    };
    Ok(json!({"kind": def.kind, "apiVersion": "authorization.k8s.io/v1",
              "metadata": {"creationTimestamp": null}, "spec": spec, "status": status}))
}

fn list_kind(def: &ResourceDef) -> String {
    format!("{}List", def.kind)
}

/// `metadata.name=x`, `metadata.namespace=x` and `k=v` label equality.
fn matches_selectors(obj: &Value, info: &RequestInfo) -> bool {
    if !info.name.is_empty() && obj.pointer("/metadata/name").and_then(Value::as_str) != Some(info.name.as_str()) {
        return false;
    }
    for term in info.field_selector.split(',').filter(|t| !t.is_empty()) {
        let Some((k, v)) = term.split_once('=') else { continue };
        let v = v.trim_start_matches('=');
        let path = format!("/{}", k.replace('.', "/"));
        if obj.pointer(&path).and_then(Value::as_str).unwrap_or("") != v {
            return false;
        }
    }
    for term in info.label_selector.split(',').filter(|t| !t.is_empty()) {
        let labels = obj.pointer("/metadata/labels");
        let ok = match term.split_once("!=") {
            Some((k, v)) => labels.and_then(|l| l.get(k)).and_then(Value::as_str) != Some(v),
            None => match term.split_once('=') {
                Some((k, v)) => {
                    labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v.trim_start_matches('='))
                }
                None => labels.and_then(|l| l.get(term)).is_some(),
            },
        };
        if !ok {
            return false;
        }
    }
    true
}

fn dry_run(info: &RequestInfo) -> bool {
    info.query.first("dryRun") == Some("All")
}

async fn resource(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    info: &RequestInfo,
    body: &RequestBody,
    accept: &str,
) -> Res {
    let store = &shared.store;
    let ns = info.namespace.as_str();
    let as_table = table::wants_table(accept);
    let include = info.query.first("includeObject").unwrap_or("Metadata").to_owned();
    let json_body = || -> Result<Value, Status> {
        if body.format() == BodyFormat::Protobuf {
            return tollgate_kube::protobuf::decode(body.bytes()).ok_or_else(|| {
                Status::failure(
                    Reason::UnsupportedMediaType,
                    "the testkit could not decode this protobuf body",
                )
            });
        }
        match body.json() {
            Ok(Some(v)) => Ok(v.clone()),
            Ok(None) => Err(Status::failure(Reason::BadRequest, "the request body is empty")),
            Err(e) => Err(e.to_status()),
        }
    };
    let result: Result<(StatusCode, Value), Status> = match (info.verb.as_str(), info.subresource.as_str()) {
        ("list", "") => {
            if !shared.config.list_delay.is_zero() {
                tokio::time::sleep(shared.config.list_delay).await;
            }
            let (items, rv) = store.list(def, ns);
            let items: Vec<Value> = items.into_iter().filter(|o| matches_selectors(o, info)).collect();
            if as_table {
                Ok((StatusCode::OK, table::table(def, &items, rv, &include)))
            } else {
                Ok((
                    StatusCode::OK,
                    json!({"kind": list_kind(def), "apiVersion": def.api_version(),
                                           "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
                ))
            }
        }
        ("watch", "") => return watch(shared, def, info, as_table, &include),
        ("get", "" | "status") => match store.get(def, ns, &info.name) {
            Some(o) if as_table => Ok((
                StatusCode::OK,
                table::table(def, &[o], store.resource_version(), &include),
            )),
            Some(o) => Ok((StatusCode::OK, o)),
            None => Err(Status::not_found(def.group, def.resource, &info.name)),
        },
        ("create", "") => {
            if def.namespaced && !store.namespace_exists(ns) {
                Err(Status::not_found("", "namespaces", ns))
            } else {
                json_body()
                    .and_then(|o| store.create(def, ns, o, dry_run(info)))
                    .map(|o| (StatusCode::CREATED, o))
            }
        }
        ("update", "" | "status") => json_body()
            .and_then(|o| store.update(def, ns, &info.name, o, dry_run(info)))
            .map(|o| (StatusCode::OK, o)),
        ("patch", "" | "status") => patch_object(shared, def, info, body),
        ("delete", "") => store
            .delete(def, ns, &info.name, dry_run(info))
            .map(|o| (StatusCode::OK, o)),
        ("deletecollection", "") => {
            let (items, rv) = store.list(def, ns);
            let mut deleted = Vec::new();
            for o in items.into_iter().filter(|o| matches_selectors(o, info)) {
                let name = o
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let ns = o
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if let Ok(d) = store.delete(def, &ns, &name, dry_run(info)) {
                    deleted.push(d);
                }
            }
            Ok((
                StatusCode::OK,
                json!({"kind": list_kind(def), "apiVersion": def.api_version(),
                                       "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
            ))
        }
        (verb, "scale") if def.resource == "deployments" => scale(shared, def, info, verb, body),
        ("get", "log") if def.resource == "pods" => return pod_log(shared, def, info),
        ("create", "token") if def.resource == "serviceaccounts" => Ok((
            StatusCode::CREATED,
            json!({
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": info.name, "namespace": ns},
            "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600},
            "status": {"token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0a2l0In0.c2lnbmF0dXJl", "expirationTimestamp": "2030-01-01T00:00:00Z"}}),
        )),
        (verb, sub) => Err(Status::failure(
            Reason::MethodNotAllowed,
            format!(
                "the testkit does not serve verb {verb:?} on {}{}{sub}",
                def.resource,
                if sub.is_empty() { "" } else { "/" }
            ),
        )),
    };
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(s) => status_response(&s),
    }
}

fn patch_object(
    shared: &Arc<Shared>,
    def: &ResourceDef,
    info: &RequestInfo,
    body: &RequestBody,
) -> Result<(StatusCode, Value), Status> {
    let store = &shared.store;
    let patch = match body.json() {
        Ok(Some(v)) => v.clone(),
        Ok(None) => return Err(Status::failure(Reason::BadRequest, "the patch is empty")),
        Err(e) => return Err(e.to_status()),
    };
    let current = store.get(def, &info.namespace, &info.name);
    let mut obj = match (current, body.format()) {
        (Some(o), _) => o,
        (None, BodyFormat::ApplyPatchYaml) => {
            if info.query.first("fieldManager").unwrap_or("").is_empty() {
                return Err(Status::failure(
                    Reason::BadRequest,
                    "PATCH, application/apply-patch+yaml requests require fieldManager to be set",
                ));
            }
            let mut o = patch.clone();
            o["metadata"]["name"] = json!(info.name);
            return store
                .create(def, &info.namespace, o, dry_run(info))
                .map(|o| (StatusCode::CREATED, o));
        }
        (None, _) => return Err(Status::not_found(def.group, def.resource, &info.name)),
    };
    match body.format() {
        BodyFormat::MergePatch | BodyFormat::ApplyPatchYaml => patch::merge_patch(&mut obj, &patch),
        BodyFormat::StrategicMergePatch => patch::strategic_merge_patch(&mut obj, &patch),
        BodyFormat::JsonPatch => {
            patch::json_patch(&mut obj, &patch).map_err(|m| Status::failure(Reason::Invalid, m))?
        }
        other => {
            return Err(Status::failure(
                Reason::UnsupportedMediaType,
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other})"
                ),
            ));
        }
    }
    // A resourceVersion the patch set is a precondition, as the API server
    // treats it: the update below answers 409 if the object moved on.
    store
        .update(def, &info.namespace, &info.name, obj, dry_run(info))
        .map(|o| (StatusCode::OK, o))
}

fn scale_of(d: &Value) -> Value {
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
           "metadata": {"name": d["metadata"]["name"], "namespace": d["metadata"]["namespace"],
                        "uid": d["metadata"]["uid"], "resourceVersion": d["metadata"]["resourceVersion"],
                        "creationTimestamp": d["metadata"]["creationTimestamp"]},
           "spec": {"replicas": d.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
           "status": {"replicas": d.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": ""}})
}

fn scale(
    shared: &Arc<Shared>,
    def: &ResourceDef,
    info: &RequestInfo,
    verb: &str,
    body: &RequestBody,
) -> Result<(StatusCode, Value), Status> {
    let store = &shared.store;
    let Some(mut d) = store.get(def, &info.namespace, &info.name) else {
        return Err(Status::not_found(def.group, def.resource, &info.name));
    };
    if verb == "get" {
        return Ok((StatusCode::OK, scale_of(&d)));
    }
    let mut s = scale_of(&d);
    let input = match body.json() {
        Ok(Some(v)) => v.clone(),
        Ok(None) => return Err(Status::failure(Reason::BadRequest, "the request body is empty")),
        Err(e) => return Err(e.to_status()),
    };
    match (verb, body.format()) {
        ("update", _) => s = input,
        ("patch", BodyFormat::JsonPatch) => {
            patch::json_patch(&mut s, &input).map_err(|m| Status::failure(Reason::Invalid, m))?
        }
        ("patch", _) => patch::merge_patch(&mut s, &input),
        _ => {
            return Err(Status::failure(
                Reason::MethodNotAllowed,
                format!("verb {verb} is not allowed on scale"),
            ));
        }
    }
    let Some(replicas) = s.pointer("/spec/replicas").and_then(Value::as_i64).filter(|r| *r >= 0) else {
        return Err(Status::failure(
            Reason::Invalid,
            format!(
                "Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: must be greater than or equal to 0",
                info.name
            ),
        ));
    };
    d["spec"]["replicas"] = json!(replicas);
    let updated = store.update(def, &info.namespace, &info.name, d, dry_run(info))?;
    Ok((StatusCode::OK, scale_of(&updated)))
}

fn pod_log(shared: &Arc<Shared>, def: &ResourceDef, info: &RequestInfo) -> Res {
    let Some(pod) = shared.store.get(def, &info.namespace, &info.name) else {
        return status_response(&Status::not_found("", "pods", &info.name));
    };
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let container = match info.query.first("container") {
        Some(c) if containers.iter().any(|x| x == c) => c.to_owned(),
        Some(c) => {
            return status_response(&Status::failure(
                Reason::BadRequest,
                format!("container {c} is not valid for pod {}", info.name),
            ));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return status_response(&Status::failure(
                Reason::BadRequest,
                format!(
                    "a container name must be specified for pod {}, choose one of: {containers:?}",
                    info.name
                ),
            ));
        }
    };
    let follow = info.query.first("follow").is_some_and(|v| v == "true" || v == "1");
    let mut res = if follow {
        let (tx, body) = Body::channel();
        let (more, interval) = (shared.config.log_follow_lines, shared.config.log_follow_interval);
        tokio::spawn(logs::follow(tx, info.name.clone(), container, more, interval));
        Response::new(body)
    } else {
        let text: String = (1..=logs::INITIAL_LINES)
            .map(|n| logs::line(&info.name, &container, n))
            .collect();
        Response::new(Body::full(text))
    };
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

fn watch(shared: &Arc<Shared>, def: &'static ResourceDef, info: &RequestInfo, as_table: bool, include: &str) -> Res {
    let from = match info.query.first("resourceVersion") {
        None | Some("" | "0") => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return status_response(&Status::failure(
                    Reason::BadRequest,
                    format!("invalid resource version: {v}"),
                ));
            }
        },
    };
    let start = match shared.store.watch(def, &info.namespace, from) {
        Ok(s) => s,
        Err(s) => return status_response(&s),
    };
    let timeout = info.query.first("timeoutSeconds").and_then(|t| t.parse::<u64>().ok());
    let (tx, body) = Body::channel();
    let info = info.clone();
    let include = include.to_owned();
    let gr = format!("{}/{}", def.group, def.resource);
    tokio::spawn(async move {
        let encode = |ev: &Event| -> Bytes {
            let object = if as_table {
                table::table(def, std::slice::from_ref(&ev.object), ev.rv, &include)
            } else {
                ev.object.clone()
            };
            Bytes::from(format!("{}\n", json!({"type": ev.typ, "object": object})))
        };
        let deadline = timeout.map(|t| tokio::time::Instant::now() + Duration::from_secs(t));
        for ev in &start.initial {
            if matches_selectors(&ev.object, &info) && tx.send(encode(ev)).await.is_err() {
                return;
            }
        }
        let mut live = start.live;
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, live.recv()).await {
                    Ok(r) => r,
                    Err(_) => return,
                },
                None => live.recv().await,
            };
            match next {
                Ok(ev) => {
                    let wanted = ev.gr == gr
                        && (info.namespace.is_empty() || ev.namespace == info.namespace)
                        && matches_selectors(&ev.object, &info);
                    if wanted && tx.send(encode(&ev)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let s = Status::failure(Reason::Expired, "watch fell behind; resource version too old");
                    let _ = tx
                        .send(Bytes::from(format!("{}\n", json!({"type": "ERROR", "object": s}))))
                        .await;
                    return;
                }
                Err(_) => return,
            }
        }
    });
    let mut res = Response::new(body);
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

async fn upgrade_request(
    shared: &Arc<Shared>,
    def: &ResourceDef,
    info: &RequestInfo,
    mut req: Request<Incoming>,
) -> Res {
    let sub = info.subresource.as_str();
    if def.resource != "pods" || !matches!(sub, "exec" | "attach" | "portforward") {
        return status_response(&Status::failure(
            Reason::BadRequest,
            format!("the testkit does not serve upgrades on {}", info.resource_path()),
        ));
    }
    let Some(pod) = shared.store.get(def, &info.namespace, &info.name) else {
        return status_response(&Status::not_found("", "pods", &info.name));
    };
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let flag = |name: &str| info.query.first(name).is_some_and(|v| v == "true" || v == "1");
    let argv: Vec<String> = if sub == "attach" {
        vec!["cat".to_owned()]
    } else {
        info.query.all("command").map(str::to_owned).collect()
    };
    let env = vec![
        (
            "PATH".to_owned(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        ),
        ("HOSTNAME".to_owned(), info.name.clone()),
        (
            "POD_NAMESPACE".to_owned(),
            pod.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ),
    ];
    let exec_req = exec::ExecRequest {
        argv,
        stdin: flag("stdin"),
        env,
    };
    let what = if sub == "portforward" {
        spdy::SpdyRequest::PortForward { pod: info.name.clone() }
    } else {
        spdy::SpdyRequest::Exec {
            req: exec_req.clone(),
            stdout: flag("stdout"),
            stderr: flag("stderr"),
            tty: flag("tty"),
        }
    };
    if upgrade == "spdy/3.1" {
        // httpstream.Handshake: the client offers protocols, one per header.
        let offered: Vec<String> = req
            .headers()
            .get_all("x-stream-protocol-version")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect();
        let want = if sub == "portforward" {
            spdy::PORT_FORWARD_PROTOCOL
        } else {
            spdy::EXEC_PROTOCOL
        };
        if offered.is_empty() {
            return status_response(&Status::failure(
                Reason::BadRequest,
                "missing X-Stream-Protocol-Version",
            ));
        }
        if !offered.iter().any(|p| p == want) {
            let mut res = status_response(&Status::failure(
                Reason::Forbidden,
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [{want}]"
                ),
            ));
            res.headers_mut()
                .insert("x-accepted-stream-protocol-versions", HeaderValue::from_static(want));
            return res;
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on_upgrade.await {
                spdy::serve_upgraded(up, what).await;
            }
        });
        let mut res = Response::new(Body::full(Bytes::new()));
        *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = res.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        h.insert("x-stream-protocol-version", HeaderValue::from_static(want));
        return res;
    }
    if upgrade != "websocket" || req.method() != Method::GET {
        return status_response(&Status::failure(Reason::BadRequest, "unsupported upgrade"));
    }
    let key = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let offered = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let protocol = if sub == "portforward" {
        offered
            .split(',')
            .map(str::trim)
            .any(|p| p == spdy::TUNNELLED_PORT_FORWARD_PROTOCOL)
            .then_some(spdy::TUNNELLED_PORT_FORWARD_PROTOCOL)
    } else {
        exec::choose_protocol(&offered)
    };
    let Some(protocol) = protocol else {
        return status_response(&Status::failure(
            Reason::BadRequest,
            format!("unable to upgrade: no supported subprotocol in {offered:?}"),
        ));
    };
    if key.is_empty() {
        return status_response(&Status::failure(Reason::BadRequest, "missing Sec-WebSocket-Key"));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(up) = on_upgrade.await {
            if matches!(what, spdy::SpdyRequest::PortForward { .. }) {
                spdy::serve_in_websocket(up, what).await;
            } else {
                exec::serve(up, exec_req).await;
            }
        }
    });
    let mut res = Response::new(Body::full(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&exec::websocket_accept(&key)) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(resource: &str) -> &'static ResourceDef {
        resources::find("authorization.k8s.io", "v1", resource).expect("served")
    }

    #[test]
    fn an_access_review_is_allowed_and_its_json_spec_echoed() {
        let body = br#"{"spec":{"resourceAttributes":{"verb":"get","resource":"pods","namespace":"dev"}}}"#;
        let review = self_subject_authorization(def("selfsubjectaccessreviews"), body, Some("application/json"))
            .expect("a valid review");
        assert_eq!(review["kind"], "SelfSubjectAccessReview");
        assert_eq!(review["status"]["allowed"], true);
        assert_eq!(review["spec"]["resourceAttributes"]["namespace"], "dev");
        // kubectl's protobuf body is not read: the answer is the same.
        let review = self_subject_authorization(
            def("selfsubjectaccessreviews"),
            b"k8s\0\x0a",
            Some("application/vnd.kubernetes.protobuf"),
        )
        .expect("a protobuf review");
        assert_eq!(review["status"]["allowed"], true);
    }

    #[test]
    fn an_access_review_needs_exactly_one_kind_of_attributes() {
        for body in [
            &br#"{"spec":{}}"#[..],
            br#"{"spec":{"resourceAttributes":{},"nonResourceAttributes":{"path":"/x","verb":"get"}}}"#,
        ] {
            let err = self_subject_authorization(def("selfsubjectaccessreviews"), body, Some("application/json"))
                .expect_err("refused");
            assert_eq!(err.code, 422, "{err:?}");
            assert!(err.message.contains("exactly one of"), "{}", err.message);
        }
        let err = self_subject_authorization(def("selfsubjectaccessreviews"), b"{", Some("application/json"))
            .expect_err("not JSON");
        assert_eq!(err.code, 400);
    }

    #[test]
    fn a_rules_review_allows_everything() {
        let review = self_subject_authorization(
            def("selfsubjectrulesreviews"),
            br#"{"spec":{"namespace":"dev"}}"#,
            Some("application/json"),
        )
        .expect("a rules review");
        assert_eq!(review["status"]["resourceRules"][0]["verbs"][0], "*");
        assert_eq!(review["status"]["incomplete"], false);
        assert_eq!(review["spec"]["namespace"], "dev");
    }
}
