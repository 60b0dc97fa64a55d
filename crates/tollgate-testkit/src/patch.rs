//! Patches: JSON merge (RFC 7386), enough of strategic merge for kubectl's
//! client-side apply, and JSON patch (RFC 6902) add/remove/replace/test.

use serde_json::{Map, Value};

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The merge keys of the lists kubectl's apply patches touch.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => "name",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        _ => return None,
    })
}

/// Strategic merge: like a merge patch, but lists with a merge key are merged
/// element by element, `$patch: delete` removes an element, and the
/// `$setElementOrder/…`, `$retainKeys` and `$deleteFromPrimitiveList/…`
/// directives are honoured as far as a test server needs (ignored, except
/// deletion).
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (merge_key(k), v) {
            (Some(key), Value::Array(items)) => {
                let slot = t.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(existing) = slot {
                    for item in items {
                        let id = item.get(key).cloned();
                        let pos = existing.iter().position(|e| id.is_some() && e.get(key) == id.as_ref());
                        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                        match (pos, delete) {
                            (Some(i), true) => {
                                existing.remove(i);
                            }
                            (Some(i), false) => strategic_merge_patch(&mut existing[i], item),
                            (None, false) => {
                                let mut fresh = Value::Object(Map::new());
                                strategic_merge_patch(&mut fresh, item);
                                existing.push(fresh);
                            }
                            (None, true) => {}
                        }
                    }
                }
            }
            _ => strategic_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v),
        }
    }
}

/// RFC 6902: `add` (inserting into arrays), `remove`, `replace`, `move`,
/// `copy` and `test`.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("a JSON patch must be an array of operations")?;
    for op in ops {
        // move and copy are a remove (for move) and an add of what `from` holds.
        let op = match op.get("op").and_then(Value::as_str) {
            Some(kind @ ("move" | "copy")) => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("a {kind} operation without \"from\""))?;
                let path = op.get("path").cloned().unwrap_or(Value::Null);
                let value = target
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("path {from} does not exist"))?;
                if kind == "move" {
                    if path.as_str().is_some_and(|p| p.starts_with(&format!("{from}/"))) {
                        return Err(format!("cannot move {from} into itself"));
                    }
                    json_patch(target, &serde_json::json!([{"op": "remove", "path": from}]))?;
                }
                serde_json::json!({"op": "add", "path": path, "value": value})
            }
            _ => op.clone(),
        };
        let op = &op;
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("an operation without \"op\"")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("an operation without \"path\"")?;
        let (parent_path, last) = path.rsplit_once('/').ok_or("a path must start with /")?;
        let last = last.replace("~1", "/").replace("~0", "~");
        match kind {
            "test" => {
                if target.pointer(path) != op.get("value") {
                    return Err(format!("test operation at {path} failed"));
                }
            }
            "remove" | "add" | "replace" => {
                let parent = target
                    .pointer_mut(parent_path)
                    .ok_or_else(|| format!("path {parent_path} does not exist"))?;
                let value = op.get("value").cloned();
                match parent {
                    Value::Object(m) => match kind {
                        "remove" => {
                            m.remove(&last).ok_or_else(|| format!("path {path} does not exist"))?;
                        }
                        "replace" if !m.contains_key(&last) => return Err(format!("path {path} does not exist")),
                        _ => {
                            m.insert(last, value.ok_or("missing value")?);
                        }
                    },
                    Value::Array(a) => {
                        let idx = if last == "-" {
                            a.len()
                        } else {
                            last.parse::<usize>().map_err(|_| format!("bad index in {path}"))?
                        };
                        match kind {
                            "remove" if idx < a.len() => {
                                a.remove(idx);
                            }
                            "replace" if idx < a.len() => a[idx] = value.ok_or("missing value")?,
                            "add" if idx <= a.len() => a.insert(idx, value.ok_or("missing value")?),
                            _ => return Err(format!("index out of range in {path}")),
                        }
                    }
                    _ => return Err(format!("path {parent_path} is not a container")),
                }
            }
            other => return Err(format!("unsupported JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_has_all_six_operations() {
        let mut t =
            json!({"metadata": {"annotations": {"x": {"privileged": true}}}, "spec": {"containers": [{"name": "a"}]}});
        json_patch(
            &mut t,
            &json!([
                {"op": "add", "path": "/spec/containers/0", "value": {"name": "sidecar"}},
                {"op": "move", "from": "/metadata/annotations/x", "path": "/spec/containers/1/securityContext"},
                {"op": "copy", "from": "/spec/containers/0/name", "path": "/spec/containers/-"},
                {"op": "test", "path": "/spec/containers/1/name", "value": "a"}
            ]),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"metadata": {"annotations": {}}, "spec": {"containers": [
                {"name": "sidecar"}, {"name": "a", "securityContext": {"privileged": true}}, "sidecar"]}})
        );
        assert!(json_patch(&mut t, &json!([{"op": "move", "from": "/spec", "path": "/spec/x"}])).is_err());
        assert!(json_patch(&mut t, &json!([{"op": "copy", "from": "/nope", "path": "/x"}])).is_err());
    }

    #[test]
    fn merge() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 5}}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}}));
    }

    #[test]
    fn strategic() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        strategic_merge_patch(
            &mut t,
            &json!({"$setElementOrder/containers": [], "spec": {"containers": [{"name": "b", "image": "z"}, {"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(t, json!({"spec": {"containers": [{"name": "b", "image": "z"}]}}));
    }

    #[test]
    fn jsonpatch() {
        let mut t = json!({"data": {"a": "1"}, "l": [1, 2]});
        json_patch(&mut t, &json!([{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/l/0"}, {"op": "replace", "path": "/data/a", "value": "3"}])).unwrap();
        assert_eq!(t, json!({"data": {"a": "3", "b": "2"}, "l": [2]}));
        assert!(json_patch(&mut t, &json!([{"op": "test", "path": "/data/a", "value": "no"}])).is_err());
    }
}
