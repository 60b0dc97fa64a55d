//! The Kubernetes protobuf encoding of built-in kinds, as kubectl's typed
//! clients and client-go send it, decoded into the JSON the API server would
//! see: the `k8s\0` envelope (`runtime.Unknown`: type meta and raw bytes),
//! then the object by a field table taken from the API's `generated.proto`
//! files (`schema.rs`: the workload, RBAC, Secret, ConfigMap, Namespace and
//! ServiceAccount kinds of core, apps, batch and rbac v1, and every message
//! they contain), with the API machinery's special types in their JSON forms
//! (`IntOrString`, `Quantity`, `Time`, `RawExtension`, `FieldsV1`).
//!
//! Fields the table does not know (a newer API server's) are skipped, so a
//! decoded object is what the request *says* for the fields Tollgate knows;
//! what the API server will *store* (defaulting, admission) only a dry run
//! shows — rules that read objects use the policy layer's preflight for
//! protobuf bodies; the audit record uses this decoder where no preflight
//! ran.
//!
//! ```
//! let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
//!     "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": true}}]}});
//! let wire = tollgate_kube::protobuf::encode(&pod).expect("a kind the table knows");
//! assert!(wire.starts_with(tollgate_kube::PROTOBUF_MAGIC));
//! assert_eq!(tollgate_kube::protobuf::decode(&wire), Some(pod));
//! ```

mod schema;

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use serde_json::{Map, Value, json};

use schema::MESSAGES;

/// The deepest message nesting decoded.
const MAX_DEPTH: usize = 64;

/// A message's fields: `(number, JSON name, type, repeated)`.
type Fields = &'static [(u32, &'static str, &'static str, bool)];

fn schema() -> &'static HashMap<&'static str, Fields> {
    static S: OnceLock<HashMap<&'static str, Fields>> = OnceLock::new();
    S.get_or_init(|| MESSAGES.iter().map(|(n, f)| (*n, *f)).collect())
}

struct Reader<'a> {
    b: &'a [u8],
}

/// One field's value on the wire.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.b.split_first()?;
            self.b = rest;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }

    /// The next field: `Some(None)` at the end, `None` on malformed input.
    fn next(&mut self) -> Option<Option<(u32, Wire<'a>)>> {
        if self.b.is_empty() {
            return Some(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).ok()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            2 => {
                let n = usize::try_from(self.varint()?).ok()?;
                Wire::Bytes(self.take(n)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().ok()?)),
            _ => return None,
        };
        Some(Some((number, wire)))
    }
}

fn fields(b: &[u8]) -> Option<Vec<(u32, Wire<'_>)>> {
    let mut r = Reader { b };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Some(out)
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

/// A scalar of type `ty` from one wire value.
fn scalar(ty: &str, w: Wire<'_>) -> Option<Value> {
    Some(match (ty, w) {
        ("string", Wire::Bytes(d)) => text(d),
        ("bytes", Wire::Bytes(d)) => json!(base64::engine::general_purpose::STANDARD.encode(d)),
        ("bool", Wire::Varint(v)) => json!(v != 0),
        // int32 travels sign-extended to 64 bits.
        ("int32", Wire::Varint(v)) => json!(i64::from(v as i64 as i32)),
        ("int64", Wire::Varint(v)) => json!(v as i64),
        ("double", Wire::Fixed64(v)) => json!(f64::from_bits(v)),
        ("float", Wire::Fixed32(v)) => json!(f32::from_bits(v)),
        _ => return None,
    })
}

/// The value of field `n` among `fs`.
fn get<'a>(fs: &[(u32, Wire<'a>)], n: u32) -> Option<Wire<'a>> {
    fs.iter().find(|(k, _)| *k == n).map(|(_, w)| *w)
}

/// The API machinery's types whose JSON form is not their message.
fn special(name: &str, b: &[u8]) -> Option<Option<Value>> {
    let f = || fields(b);
    Some(match name {
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => {
            let fs = f()?;
            match get(&fs, 1) {
                Some(Wire::Varint(1)) => get(&fs, 3).and_then(|w| scalar("string", w)),
                _ => Some(get(&fs, 2).and_then(|w| scalar("int32", w)).unwrap_or(json!(0))),
            }
        }
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => get(&f()?, 1).and_then(|w| scalar("string", w)),
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" | "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => {
            // The zero time is written by Go's encoder and means unset:
            // JSON null, as the API server writes it.
            match get(&f()?, 1) {
                Some(Wire::Varint(secs)) if secs != 0 => {
                    Some(json!(crate::time::format_time(std::time::Duration::from_secs(secs))))
                }
                _ => Some(Value::Null),
            }
        }
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => match get(&f()?, 1) {
            Some(Wire::Varint(ns)) => Some(json!(format!("{}s", ns as i64 / 1_000_000_000))),
            _ => None,
        },
        "k8s.io.apimachinery.pkg.runtime.RawExtension" | "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => {
            match get(&f()?, 1) {
                Some(Wire::Bytes(d)) => Some(serde_json::from_slice(d).unwrap_or_else(|_| text(d))),
                _ => None,
            }
        }
        _ => return None,
    })
}

/// A map entry (`key` = 1, `value` = 2).
fn map_entry(b: &[u8], value_type: &str, depth: usize) -> Option<(String, Value)> {
    let mut key = String::new();
    let mut value = Value::Null;
    for (n, w) in fields(b)? {
        match (n, w) {
            (1, Wire::Bytes(d)) => key = String::from_utf8_lossy(d).into_owned(),
            (2, w) => value = one(value_type, w, depth)?.unwrap_or(Value::Null),
            _ => {}
        }
    }
    Some((key, value))
}

/// One value of type `ty`: `Ok(None)` for a type the table does not know
/// (skipped, as an API server of another version would).
fn one(ty: &str, w: Wire<'_>, depth: usize) -> Option<Option<Value>> {
    if ty == "unknown" {
        return Some(None);
    }
    if let Some(v) = scalar(ty, w) {
        return Some(Some(v));
    }
    let Wire::Bytes(d) = w else { return None };
    if let Some(v) = special(ty, d) {
        return Some(v);
    }
    message(ty, d, depth + 1).map(Some)
}

/// A message of type `name` as JSON.
fn message(name: &str, b: &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let def = schema().get(name)?;
    let mut obj = Map::new();
    for (n, w) in fields(b)? {
        let Some(&(_, json_name, ty, repeated)) = def.iter().find(|d| d.0 == n) else {
            continue;
        };
        if let Some(vt) = ty.strip_prefix("map:") {
            let Wire::Bytes(entry) = w else { return None };
            let (k, v) = map_entry(entry, vt, depth)?;
            if let Value::Object(m) = obj.entry(json_name).or_insert_with(|| Value::Object(Map::new())) {
                m.insert(k, v);
            }
            continue;
        }
        // A packed repeated number.
        if let (true, Wire::Bytes(d), "bool" | "int32" | "int64") = (repeated, w, ty) {
            let mut r = Reader { b: d };
            while !r.b.is_empty() {
                let v = scalar(ty, Wire::Varint(r.varint()?))?;
                push(&mut obj, json_name, v);
            }
            continue;
        }
        let Some(v) = one(ty, w, depth)? else { continue };
        // Go's encoder writes every non-pointer string, set or not; the
        // API server's JSON leaves the empty ones out (omitempty).
        if v.as_str() == Some("") || v.is_null() {
            continue;
        }
        if repeated {
            push(&mut obj, json_name, v);
        } else {
            obj.insert(json_name.to_owned(), v);
        }
    }
    Some(Value::Object(obj))
}

fn push(obj: &mut Map<String, Value>, name: &str, v: Value) {
    if let Value::Array(a) = obj.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
        a.push(v);
    }
}

/// The message of a group/version/kind.
fn message_name(api_version: &str, kind: &str) -> Option<String> {
    let package = match api_version {
        "v1" => "core",
        "apps/v1" => "apps",
        "batch/v1" => "batch",
        "rbac.authorization.k8s.io/v1" => "rbac",
        _ => return None,
    };
    Some(format!("k8s.io.api.{package}.v1.{kind}"))
}

/// Decodes a `k8s\0`-prefixed body of a built-in kind into JSON; `None`
/// for bytes that are not one, or a kind the table does not know.
pub fn decode(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(crate::PROTOBUF_MAGIC)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, w) in fields(envelope)? {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                for (n, w) in fields(tm)? {
                    match (n, w) {
                        (1, Wire::Bytes(d)) => api_version = String::from_utf8_lossy(d).into_owned(),
                        (2, Wire::Bytes(d)) => kind = String::from_utf8_lossy(d).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(d)) => raw = d,
            _ => {}
        }
    }
    let name = message_name(&api_version, &kind)?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    if let Value::Object(m) = message(&name, raw, 0)? {
        obj.extend(m);
    }
    Some(Value::Object(obj))
}

/// Encodes JSON as the API server's protobuf would (for tests that send
/// what client-go sends): the inverse of [`decode`] for the fields the
/// table knows.
pub fn encode(obj: &Value) -> Option<Vec<u8>> {
    let api_version = obj.get("apiVersion")?.as_str()?;
    let kind = obj.get("kind")?.as_str()?;
    let name = message_name(api_version, kind)?;
    let raw = encode_message(&name, obj, 0)?;
    let mut tm = Vec::new();
    put_bytes(&mut tm, 1, api_version.as_bytes());
    put_bytes(&mut tm, 2, kind.as_bytes());
    let mut out = crate::PROTOBUF_MAGIC.to_vec();
    put_bytes(&mut out, 1, &tm);
    put_bytes(&mut out, 2, &raw);
    Some(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, n: u32, d: &[u8]) {
    put_varint(out, (u64::from(n) << 3) | 2);
    put_varint(out, d.len() as u64);
    out.extend_from_slice(d);
}

fn encode_one(out: &mut Vec<u8>, n: u32, ty: &str, v: &Value, depth: usize) -> Option<()> {
    match ty {
        "string" => put_bytes(out, n, v.as_str()?.as_bytes()),
        "bytes" => put_bytes(
            out,
            n,
            &base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok()?,
        ),
        "bool" => {
            put_varint(out, u64::from(n) << 3);
            put_varint(out, u64::from(v.as_bool()?));
        }
        "int32" | "int64" => {
            put_varint(out, u64::from(n) << 3);
            put_varint(out, v.as_i64()? as u64);
        }
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => {
            let mut q = Vec::new();
            put_bytes(&mut q, 1, v.as_str()?.as_bytes());
            put_bytes(out, n, &q);
        }
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => {
            let mut q = Vec::new();
            match v {
                Value::String(s) => {
                    put_varint(&mut q, 1 << 3);
                    put_varint(&mut q, 1);
                    put_bytes(&mut q, 3, s.as_bytes());
                }
                _ => {
                    put_varint(&mut q, 2 << 3);
                    put_varint(&mut q, v.as_i64()? as u64);
                }
            }
            put_bytes(out, n, &q);
        }
        msg if schema().contains_key(msg) => put_bytes(out, n, &encode_message(msg, v, depth + 1)?),
        _ => {}
    }
    Some(())
}

fn encode_message(name: &str, v: &Value, depth: usize) -> Option<Vec<u8>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let def = schema().get(name)?;
    let obj = v.as_object()?;
    let mut out = Vec::new();
    for &(n, json_name, ty, repeated) in def.iter() {
        let Some(v) = obj.get(json_name) else { continue };
        if let Some(vt) = ty.strip_prefix("map:") {
            for (k, x) in v.as_object()? {
                let mut e = Vec::new();
                put_bytes(&mut e, 1, k.as_bytes());
                encode_one(&mut e, 2, vt, x, depth)?;
                put_bytes(&mut out, n, &e);
            }
        } else if repeated {
            for x in v.as_array()? {
                encode_one(&mut out, n, ty, x, depth)?;
            }
        } else {
            encode_one(&mut out, n, ty, v, depth)?;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_through_the_wire_form() {
        for obj in [
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"team": "a"}}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "d"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"hostPID": true, "containers": [
                                {"name": "app", "image": "nginx", "command": ["sh", "-c", "x"],
                                 "resources": {"limits": {"cpu": "100m"}},
                                 "securityContext": {"privileged": true, "runAsUser": -1}}]}}}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "aGk="}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "x"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                   "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u"}]}),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                   "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}),
        ] {
            let wire = encode(&obj).unwrap();
            assert!(wire.starts_with(b"k8s\0"));
            assert_eq!(decode(&wire).unwrap(), obj);
        }
        assert!(decode(b"k8s\0\xff").is_none());
        assert!(decode(b"k8s\0").is_none(), "no type: not understood");
        // Time is seconds (and nanos) on the wire, RFC 3339 in JSON.
        let mut time = Vec::new();
        put_varint(&mut time, 1 << 3);
        put_varint(&mut time, 1_796_216_405);
        let mut meta = Vec::new();
        put_bytes(&mut meta, 8, &time);
        let v = message("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", &meta, 0).unwrap();
        assert_eq!(v, json!({"creationTimestamp": "2026-12-02T13:00:05Z"}));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_or_not_without_panicking(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let mut body = b"k8s\0".to_vec();
            body.extend(b);
            let _ = decode(&body);
        }
    }
}
