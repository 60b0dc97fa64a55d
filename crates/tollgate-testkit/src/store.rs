//! In-memory objects with resource versions, and watch fan-out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tollgate_kube::{Reason, Status};

use crate::resources::ResourceDef;

const HISTORY: usize = 10_000;

/// A change to an object, as a watch delivers it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) rv: u64,
    pub(crate) typ: &'static str,
    pub(crate) gr: String,
    pub(crate) namespace: String,
    pub(crate) object: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    gr: String,
    namespace: String,
    name: String,
}

#[derive(Debug, Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Event>,
}

/// Where a watch starts.
#[derive(Debug)]
pub(crate) struct WatchStart {
    pub(crate) initial: Vec<Event>,
    pub(crate) live: broadcast::Receiver<Event>,
}

#[derive(Debug)]
pub(crate) struct Store {
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
}

fn gr(def: &ResourceDef) -> String {
    format!("{}/{}", def.group, def.resource)
}

impl Store {
    pub(crate) fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        Store {
            state: Mutex::new(State {
                rv: 1000,
                ..State::default()
            }),
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-written
        // in a way that matters to a fixture; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub(crate) fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
        let key = Key {
            gr: gr(def),
            namespace: if def.namespaced { ns.to_owned() } else { String::new() },
            name: name.to_owned(),
        };
        self.lock().objects.get(&key).cloned()
    }

    pub(crate) fn namespace_exists(&self, ns: &str) -> bool {
        let key = Key {
            gr: "/namespaces".to_owned(),
            namespace: String::new(),
            name: ns.to_owned(),
        };
        self.lock().objects.contains_key(&key)
    }

    /// Objects of a resource, in one namespace or all; with the list's resourceVersion.
    pub(crate) fn list(&self, def: &ResourceDef, ns: &str) -> (Vec<Value>, u64) {
        let ns = if def.namespaced { ns } else { "" };
        let st = self.lock();
        let g = gr(def);
        let items = st
            .objects
            .iter()
            .filter(|(k, _)| k.gr == g && (ns.is_empty() || k.namespace == ns))
            .map(|(_, v)| v.clone())
            .collect();
        (items, st.rv)
    }

    pub(crate) fn create(&self, def: &ResourceDef, ns: &str, mut obj: Value, dry_run: bool) -> Result<Value, Status> {
        if !obj.is_object() {
            return Err(Status::failure(
                Reason::BadRequest,
                "the body of the request was not an object",
            ));
        }
        let mut st = self.lock();
        let mut name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(prefix) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .filter(|_| name.is_empty())
        {
            name = format!("{prefix}{:05x}", st.rv % 0xfffff);
        }
        if name.is_empty() {
            return Err(invalid(
                def,
                "",
                "metadata.name",
                "Required value: name or generateName is required",
            ));
        }
        let body_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        {
            if def.namespaced && !body_ns.is_empty() && body_ns != ns {
                return Err(Status::failure(
                    Reason::BadRequest,
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let key = Key {
            gr: gr(def),
            namespace: if def.namespaced { ns.to_owned() } else { String::new() },
            name: name.clone(),
        };
        if st.objects.contains_key(&key) {
            return Err(Status::already_exists(def.group, def.resource, &name));
        }
        let rv = st.rv + 1;
        let mut meta = metadata_of(&obj);
        meta.insert("name".into(), json!(name));
        if def.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uid(rv)));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(rfc3339(SystemTime::now())));
        meta.insert("generation".into(), json!(1));
        obj["metadata"] = Value::Object(meta);
        obj["kind"] = json!(def.kind);
        obj["apiVersion"] = json!(def.api_version());
        apply_defaults(def, &mut obj);
        if dry_run {
            return Ok(obj);
        }
        st.rv = rv;
        st.objects.insert(key.clone(), obj.clone());
        self.emit(&mut st, "ADDED", &key, obj.clone());
        Ok(obj)
    }

    /// Replaces an object; `expected_rv` (if the body carried one) must match.
    pub(crate) fn update(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, Status> {
        if !obj.is_object() {
            return Err(Status::failure(
                Reason::BadRequest,
                "the body of the request was not an object",
            ));
        }
        let body_name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(name);
        if body_name != name {
            return Err(Status::failure(
                Reason::BadRequest,
                format!("the name of the object ({body_name}) does not match the name on the URL ({name})"),
            ));
        }
        let mut st = self.lock();
        let key = Key {
            gr: gr(def),
            namespace: if def.namespaced { ns.to_owned() } else { String::new() },
            name: name.to_owned(),
        };
        let Some(current) = st.objects.get(&key).cloned() else {
            return Err(Status::not_found(def.group, def.resource, name));
        };
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        {
            if !rv.is_empty() && Some(rv) != current.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                let q = if def.group.is_empty() {
                    def.resource.to_owned()
                } else {
                    format!("{}.{}", def.resource, def.group)
                };
                return Err(Status::failure(
                    Reason::Conflict,
                    format!(
                        "Operation cannot be fulfilled on {q} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                ));
            }
        }
        let rv = st.rv + 1;
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            + i64::from(current.get("spec") != obj.get("spec"));
        let mut meta = metadata_of(&obj);
        for field in ["uid", "creationTimestamp"] {
            if let Some(v) = current.pointer(&format!("/metadata/{field}")) {
                meta.insert(field.into(), v.clone());
            }
        }
        meta.insert("name".into(), json!(name));
        if def.namespaced {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("generation".into(), json!(generation));
        obj["metadata"] = Value::Object(meta);
        obj["kind"] = json!(def.kind);
        obj["apiVersion"] = json!(def.api_version());
        apply_defaults(def, &mut obj);
        if dry_run {
            // As the API server's dry-run storage: nothing is written, so
            // the answer keeps the current object's resourceVersion.
            if let Some(current_rv) = current.pointer("/metadata/resourceVersion") {
                obj["metadata"]["resourceVersion"] = current_rv.clone();
            }
            return Ok(obj);
        }
        st.rv = rv;
        st.objects.insert(key.clone(), obj.clone());
        self.emit(&mut st, "MODIFIED", &key, obj.clone());
        Ok(obj)
    }

    pub(crate) fn delete(&self, def: &ResourceDef, ns: &str, name: &str, dry_run: bool) -> Result<Value, Status> {
        let mut st = self.lock();
        let key = Key {
            gr: gr(def),
            namespace: if def.namespaced { ns.to_owned() } else { String::new() },
            name: name.to_owned(),
        };
        let Some(obj) = st.objects.get(&key).cloned() else {
            return Err(Status::not_found(def.group, def.resource, name));
        };
        if dry_run {
            return Ok(obj);
        }
        st.objects.remove(&key);
        st.rv += 1;
        self.emit(&mut st, "DELETED", &key, obj.clone());
        if def.resource == "namespaces" {
            let inside: Vec<Key> = st.objects.keys().filter(|k| k.namespace == name).cloned().collect();
            for k in inside {
                if let Some(o) = st.objects.remove(&k) {
                    st.rv += 1;
                    self.emit(&mut st, "DELETED", &k, o);
                }
            }
        }
        Ok(obj)
    }

    /// Starts a watch: synthetic ADDED events for everything when `from` is
    /// `None`, else the history after `from` (410 if it is too old).
    pub(crate) fn watch(&self, def: &ResourceDef, ns: &str, from: Option<u64>) -> Result<WatchStart, Status> {
        let st = self.lock();
        let live = self.events.subscribe();
        let g = gr(def);
        let initial = match from {
            None => st
                .objects
                .iter()
                .filter(|(k, _)| k.gr == g && (ns.is_empty() || k.namespace == ns))
                .map(|(k, v)| Event {
                    rv: st.rv,
                    typ: "ADDED",
                    gr: k.gr.clone(),
                    namespace: k.namespace.clone(),
                    object: v.clone(),
                })
                .collect(),
            Some(rv) => {
                let oldest = st.history.front().map(|e| e.rv).unwrap_or(st.rv);
                if rv + 1 < oldest && rv < st.rv {
                    return Err(Status::failure(
                        Reason::Expired,
                        format!("too old resource version: {rv} ({oldest})"),
                    ));
                }
                st.history
                    .iter()
                    .filter(|e| e.rv > rv && e.gr == g && (ns.is_empty() || e.namespace == ns))
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart { initial, live })
    }

    fn emit(&self, st: &mut State, typ: &'static str, key: &Key, mut object: Value) {
        if typ == "DELETED" {
            object["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        }
        let ev = Event {
            rv: st.rv,
            typ,
            gr: key.gr.clone(),
            namespace: key.namespace.clone(),
            object,
        };
        st.history.push_back(ev.clone());
        while st.history.len() > HISTORY {
            st.history.pop_front();
        }
        // No receivers is fine.
        let _ = self.events.send(ev);
    }
}

fn metadata_of(obj: &Value) -> serde_json::Map<String, Value> {
    obj.get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn invalid(def: &ResourceDef, name: &str, field: &str, detail: &str) -> Status {
    let q = if def.group.is_empty() {
        def.kind.to_owned()
    } else {
        format!("{}.{}", def.kind, def.group)
    };
    Status::failure(Reason::Invalid, format!("{q} \"{name}\" is invalid: {field}: {detail}"))
}

/// What a real cluster's controllers would fill in, so kubectl shows
/// sensible tables.
fn apply_defaults(def: &ResourceDef, obj: &mut Value) {
    match def.resource {
        "namespaces" => obj["status"] = json!({"phase": "Active"}),
        "nodes" => {
            obj["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                                   "nodeInfo": {"kubeletVersion": "v1.31.0", "architecture": "amd64",
                                                "operatingSystem": "linux"}});
        }
        "services" => {
            if !obj["spec"].is_object() {
                obj["spec"] = json!({});
            }
            if obj.pointer("/spec/type").is_none() {
                obj["spec"]["type"] = json!("ClusterIP");
            }
            if obj.pointer("/spec/clusterIP").is_none() {
                obj["spec"]["clusterIP"] = json!("10.96.0.10");
            }
        }
        "pods" => {
            let containers = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "ready": true, "restartCount": 0, "started": true,
                               "state": {"running": {"startedAt": obj.pointer("/metadata/creationTimestamp")}}})
                })
                .collect();
            obj["status"] = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                                   "containerStatuses": statuses, "podIP": "10.0.0.10"});
        }
        "deployments" => {
            if obj.pointer("/spec/replicas").is_none() {
                if !obj["spec"].is_object() {
                    obj["spec"] = json!({});
                }
                obj["spec"]["replicas"] = json!(1);
            }
            let n = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
            let generation = obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
            obj["status"] = json!({"observedGeneration": generation, "replicas": n, "readyReplicas": n,
                                   "availableReplicas": n, "updatedReplicas": n});
        }
        "secrets" => {
            if let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
                if !obj["data"].is_object() {
                    obj["data"] = json!({});
                }
                for (k, v) in string_data {
                    let text = v.as_str().unwrap_or_default().to_owned();
                    obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
            if obj.get("type").is_none() {
                obj["type"] = json!("Opaque");
            }
        }
        _ => {}
    }
}

fn uid(seed: u64) -> String {
    let mut r = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut r).is_err() {
        r[..8].copy_from_slice(&seed.to_be_bytes());
    }
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        u32::from_be_bytes([r[0], r[1], r[2], r[3]]),
        u16::from_be_bytes([r[4], r[5]]),
        (u16::from_be_bytes([r[6], r[7]]) & 0x0fff) | 0x4000,
        (u16::from_be_bytes([r[8], r[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, r[10], r[11], r[12], r[13], r[14], r[15]])
    )
}

/// `2026-11-27T15:40:00Z`
pub(crate) fn rfc3339(t: SystemTime) -> String {
    tollgate_kube::time::format_time(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// Seconds since the epoch of an RFC 3339 timestamp.
pub(crate) fn parse_rfc3339(s: &str) -> Option<u64> {
    tollgate_kube::time::parse_timestamp(s).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_794_000);
        let s = rfc3339(t);
        assert_eq!(parse_rfc3339(&s), Some(1_795_794_000));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
