//! Just enough of the Kubernetes protobuf encoding to accept what kubectl's
//! typed clients send (`create namespace`, `create configmap`, `create
//! secret`, `create serviceaccount`): the `k8s\0` envelope, `ObjectMeta`'s
//! name, namespace, labels and annotations, and ConfigMap/Secret data.

use base64::Engine;
use serde_json::{Map, Value, json};

struct Reader<'a> {
    b: &'a [u8],
}

enum Field<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
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

    fn next(&mut self) -> Option<Option<(u64, Field<'a>)>> {
        if self.b.is_empty() {
            return Some(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => {
                self.varint()?;
                Field::Varint
            }
            1 => {
                self.b = self.b.get(8..)?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let (data, rest) = (self.b.get(..len)?, self.b.get(len..)?);
                self.b = rest;
                Field::Bytes(data)
            }
            5 => {
                self.b = self.b.get(4..)?;
                Field::Fixed
            }
            _ => return None,
        };
        Some(Some((key >> 3, field)))
    }
}

fn fields(b: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut r = Reader { b };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Some(out)
}

fn text(b: &[u8]) -> Value {
    json!(String::from_utf8_lossy(b))
}

fn map_entry(b: &[u8], binary: bool) -> Option<(String, Value)> {
    let mut key = String::new();
    let mut value = json!("");
    for (n, f) in fields(b)? {
        if let Field::Bytes(d) = f {
            match n {
                1 => key = String::from_utf8_lossy(d).into_owned(),
                2 if binary => value = json!(base64::engine::general_purpose::STANDARD.encode(d)),
                2 => value = text(d),
                _ => {}
            }
        }
    }
    Some((key, value))
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (n, f) in fields(b)? {
        if let Field::Bytes(d) = f {
            match n {
                1 => {
                    m.insert("name".into(), text(d));
                }
                2 => {
                    m.insert("generateName".into(), text(d));
                }
                3 => {
                    m.insert("namespace".into(), text(d));
                }
                11 => {
                    let (k, v) = map_entry(d, false)?;
                    labels.insert(k, v);
                }
                12 => {
                    let (k, v) = map_entry(d, false)?;
                    annotations.insert(k, v);
                }
                _ => {}
            }
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    Some(Value::Object(m))
}

/// Decodes a `k8s\0`-prefixed body into JSON, or `None` if it is not one
/// this fixture understands.
pub(crate) fn decode(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(tollgate_kube::PROTOBUF_MAGIC)?;
    let mut api_version = json!("");
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(envelope)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm)? {
                    match (n, f) {
                        (1, Field::Bytes(d)) => api_version = text(d),
                        (2, Field::Bytes(d)) => kind = String::from_utf8_lossy(d).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(d)) => raw = d,
            _ => {}
        }
    }
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    let mut data = Map::new();
    let mut binary_data = Map::new();
    for (n, f) in fields(raw)? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(d)) => obj["metadata"] = object_meta(d)?,
            ("ConfigMap", 2, Field::Bytes(d)) => {
                let (k, v) = map_entry(d, false)?;
                data.insert(k, v);
            }
            ("ConfigMap", 3, Field::Bytes(d)) => {
                let (k, v) = map_entry(d, true)?;
                binary_data.insert(k, v);
            }
            ("Secret", 2, Field::Bytes(d)) => {
                let (k, v) = map_entry(d, true)?;
                data.insert(k, v);
            }
            ("Secret", 3, Field::Bytes(d)) => obj["type"] = text(d),
            (_, _, Field::Varint | Field::Fixed | Field::Bytes(_)) => {}
        }
    }
    if !data.is_empty() {
        obj["data"] = Value::Object(data);
    }
    if !binary_data.is_empty() {
        obj["binaryData"] = Value::Object(binary_data);
    }
    Some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(n: u8, d: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3) | 2, d.len() as u8];
        v.extend_from_slice(d);
        v
    }

    #[test]
    fn namespace_envelope() {
        let meta = [ld(1, b"prod"), ld(11, &[ld(1, b"team"), ld(2, b"a")].concat())].concat();
        let raw = ld(1, &meta);
        let tm = [ld(1, b"v1"), ld(2, b"Namespace")].concat();
        let body = [b"k8s\0".to_vec(), ld(1, &tm), ld(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"team": "a"}}})
        );
        assert!(decode(b"k8s\0\xff").is_none());
    }
}
