//! Structure-aware inputs shaped like issue 13's attacks — JSON patches with
//! deep pointers and many ops, YAML with anchors and aliases, Secrets with
//! many keys, arbitrary deep JSON objects — through body decoding, the
//! baseline pack, masking and the approval fingerprint. Each bound is an
//! asserted property: no panic, a refusal that names its limit, and output
//! no larger than the bound allows.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tollgate_kube::{RequestBody, RequestInfo, limits};
use tollgate_redact::Redactor;
use tollgate_rules::{Policy, RequestView, parse_policy};

/// A JSON tree the fuzzer builds (bounded only by the input's size).
#[derive(Debug, Arbitrary)]
enum Tree {
    Null,
    Bool(bool),
    Num(i32),
    Str(String),
    Arr(Vec<Tree>),
    Obj(Vec<(Key, Tree)>),
    /// A chain of one-member objects, `depth` deep (cheap depth).
    Deep(u16, Key, Box<Tree>),
}

/// Keys that the baseline and the redactor care about, and any other.
#[derive(Debug, Arbitrary)]
enum Key {
    Known(u8),
    Other(String),
}

const KNOWN: [&str; 14] = [
    "spec",
    "containers",
    "securityContext",
    "privileged",
    "hostNetwork",
    "env",
    "name",
    "value",
    "data",
    "stringData",
    "metadata",
    "annotations",
    "kind",
    "items",
];

impl Key {
    fn text(&self) -> String {
        match self {
            Key::Known(i) => KNOWN[usize::from(*i) % KNOWN.len()].to_owned(),
            Key::Other(s) => s.clone(),
        }
    }
}

impl Tree {
    fn value(&self, budget: &mut usize) -> Value {
        if *budget == 0 {
            return Value::Null;
        }
        *budget -= 1;
        match self {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Num(n) => Value::from(*n),
            Tree::Str(s) => Value::String(s.clone()),
            Tree::Arr(a) => Value::Array(a.iter().map(|t| t.value(budget)).collect()),
            Tree::Obj(o) => Value::Object(
                o.iter()
                    .map(|(k, t)| (k.text(), t.value(budget)))
                    .collect::<Map<_, _>>(),
            ),
            Tree::Deep(d, k, t) => {
                let mut v = t.value(budget);
                for _ in 0..usize::from(*d % 300) {
                    let mut m = Map::new();
                    m.insert(k.text(), v);
                    v = Value::Object(m);
                }
                v
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Case {
    /// A JSON patch: ops with pointers of `depth` segments from known keys.
    Patch {
        ops: Vec<(u8, u16, Vec<u8>, Tree)>,
        repeat: u16,
    },
    /// YAML: a scalar anchored, then `levels` of lists of `fanout` aliases.
    Yaml {
        scalar: u16,
        levels: u8,
        fanout: u8,
        tail: String,
    },
    /// A Secret with `keys` keys.
    Secret { keys: u16, value: String },
    /// Any object, as a create body.
    Object { tree: Tree, content_type: u8 },
}

static BASELINE: OnceLock<Policy> = OnceLock::new();
static REDACTOR: OnceLock<Option<Redactor>> = OnceLock::new();

fn evaluate(method: &str, uri: &str, ct: &str, body: Vec<u8>) {
    let policy = BASELINE.get_or_init(|| {
        parse_policy(include_str!("../../docs/policies/baseline.yaml"), "baseline")
            .unwrap_or_else(|_| Policy::allow_all())
    });
    let (Ok(m), Ok(u)) = (method.parse::<http::Method>(), uri.parse::<http::Uri>()) else {
        return;
    };
    let Ok(info) = RequestInfo::parse(&m, &u) else { return };
    let body = RequestBody::new(Bytes::from(body), Some(ct));
    let view = RequestView::new(&info, None, Some(&body));
    if let Err(e) = policy.evaluate(&view) {
        let s = e.to_status();
        assert!(matches!(s.code, 400 | 415), "{}", s.message);
        assert!(
            s.message.len() < 4096,
            "a refusal echoes its input: {} bytes",
            s.message.len()
        );
    }
    let fp = tollgate_approval::fingerprint(&tollgate_kube::Identity::anonymous(), &info, Some(&body));
    assert_eq!(fp.len(), 64);
}

fuzz_target!(|case: Case| {
    match case {
        Case::Patch { ops, repeat } => {
            let mut list = Vec::new();
            for (kind, depth, segs, value) in ops.iter().take(64) {
                let depth = usize::from(*depth % 400);
                let mut path = String::new();
                for i in 0..depth {
                    let s = segs.get(i % segs.len().max(1)).copied().unwrap_or(0);
                    path.push('/');
                    match s % 4 {
                        0 => path.push_str(&(s / 4).to_string()),
                        1 => path.push('-'),
                        _ => path.push_str(KNOWN[usize::from(s) % KNOWN.len()]),
                    }
                }
                let op = ["add", "replace", "remove", "move", "copy", "test"][usize::from(*kind) % 6];
                let mut o = Map::new();
                o.insert("op".into(), op.into());
                o.insert("path".into(), path.clone().into());
                o.insert("from".into(), path.into());
                o.insert("value".into(), value.value(&mut 2_000));
                list.push(Value::Object(o));
            }
            let n = list.len();
            let times = usize::from(repeat % 200).max(1);
            let all: Vec<Value> = (0..times).flat_map(|_| list.iter().cloned()).collect();
            let deepest = all
                .iter()
                .filter_map(|o| o["path"].as_str())
                .map(|p| p.matches('/').count())
                .max()
                .unwrap_or(0);
            let body = serde_json::to_vec(&Value::Array(all)).unwrap_or_default();
            let parsed = RequestBody::new(Bytes::from(body.clone()), Some("application/json-patch+json"));
            match parsed.json() {
                Ok(_) => assert!(deepest <= limits::MAX_POINTER_DEPTH && n * times <= limits::MAX_PATCH_OPS),
                Err(e) => assert_eq!(e.to_status().code, 400),
            }
            evaluate(
                "PATCH",
                "/api/v1/namespaces/default/pods/p",
                "application/json-patch+json",
                body,
            );
        }
        Case::Yaml {
            scalar,
            levels,
            fanout,
            tail,
        } => {
            let mut doc = format!("a: &a \"{}\"\n", "x".repeat(usize::from(scalar)));
            let mut prev = "a".to_owned();
            for i in 0..usize::from(levels % 24) {
                let name = format!("l{i}");
                let aliases = vec![format!("*{prev}"); usize::from(fanout % 12).max(1)].join(", ");
                doc.push_str(&format!("{name}: &{name} [{aliases}]\n"));
                prev = name;
            }
            doc.push_str(&tail);
            if let Ok(v) = tollgate_kube::yaml_to_json(&doc) {
                // What decoded stays within the expansion bound (plus the
                // JSON punctuation around it).
                let size = serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0);
                assert!(
                    size <= 4 * limits::MAX_YAML_EXPANDED_BYTES,
                    "{size} bytes from {} bytes",
                    doc.len()
                );
            }
            evaluate(
                "POST",
                "/api/v1/namespaces/default/pods",
                "application/yaml",
                doc.into_bytes(),
            );
        }
        Case::Secret { keys, value } => {
            let Some(r) = REDACTOR.get_or_init(|| Redactor::builder().build().ok()) else {
                return;
            };
            let planted = format!("PLANTED{value}");
            let data: Map<String, Value> = (0..usize::from(keys))
                .map(|i| (format!("k{i}"), Value::String(planted.clone())))
                .collect();
            let doc =
                serde_json::json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "data": data});
            let bytes = serde_json::to_vec(&doc).unwrap_or_default();
            let mut out = Vec::new();
            if r.redact_bytes(&bytes, None, &mut out).is_ok() && keys > 0 {
                let masked: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
                let left = masked["data"].as_object().map_or(0, |m| {
                    m.values().filter(|v| v.as_str() == Some(planted.as_str())).count()
                });
                assert_eq!(left, 0, "a Secret value was left unmasked");
            }
            evaluate("PUT", "/api/v1/namespaces/default/secrets/s", "application/json", bytes);
        }
        Case::Object { tree, content_type } => {
            let v = tree.value(&mut 20_000);
            let body = serde_json::to_vec(&v).unwrap_or_default();
            let ct = [
                "application/json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ][usize::from(content_type) % 4];
            if let Some(r) = REDACTOR.get_or_init(|| Redactor::builder().build().ok()) {
                let mut out = Vec::new();
                let _ = r.redact_bytes(&body, Some("Pod"), &mut out);
            }
            evaluate("POST", "/api/v1/namespaces/default/pods", ct, body);
        }
    }
});
