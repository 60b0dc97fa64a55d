//! `meta.k8s.io/v1 Table`, which `kubectl get` asks for and prints.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::resources::ResourceDef;
use crate::store::parse_rfc3339;

/// Whether the `Accept` header asks for a Table.
pub(crate) fn wants_table(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

/// A column of text, as the API server describes it; only the pod's IP
/// is shown with `-o wide` alone (priority 1).
fn col(name: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    let priority = u8::from(name == "IP");
    json!({"name": name, "type": "string", "format": format, "description": name, "priority": priority})
}

fn columns(def: &ResourceDef) -> Vec<Value> {
    let names: &[&str] = match def.resource {
        "pods" => &["Name", "Ready", "Status", "Restarts", "Age", "IP"],
        "deployments" => &["Name", "Ready", "Up-to-date", "Available", "Age"],
        "secrets" => &["Name", "Type", "Data", "Age"],
        "configmaps" => &["Name", "Data", "Age"],
        "namespaces" => &["Name", "Status", "Age"],
        "serviceaccounts" => &["Name", "Secrets", "Age"],
        "nodes" => &["Name", "Status", "Roles", "Age", "Version"],
        "services" => &["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"],
        "events" => &["Last Seen", "Type", "Reason", "Object", "Message"],
        _ => &["Name", "Age"],
    };
    names.iter().map(|n| col(n)).collect()
}

fn cells(def: &ResourceDef, o: &Value) -> Vec<Value> {
    let name = o.pointer("/metadata/name").cloned().unwrap_or(json!(""));
    let age = json!(age(o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .unwrap_or("")));
    let count = |p: &str| o.pointer(p).and_then(Value::as_object).map_or(0, |m| m.len());
    let int = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    match def.resource {
        "pods" => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses.iter().filter(|s| s["ready"] == json!(true)).count();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            vec![
                name,
                json!(format!("{ready}/{total}")),
                o.pointer("/status/phase").cloned().unwrap_or(json!("Pending")),
                json!(0),
                age,
                o.pointer("/status/podIP").cloned().unwrap_or(json!("<none>")),
            ]
        }
        "deployments" => vec![
            name,
            json!(format!("{}/{}", int("/status/readyReplicas"), int("/spec/replicas"))),
            json!(int("/status/updatedReplicas")),
            json!(int("/status/availableReplicas")),
            age,
        ],
        "secrets" => vec![
            name,
            o.get("type").cloned().unwrap_or(json!("Opaque")),
            json!(count("/data")),
            age,
        ],
        "configmaps" => vec![name, json!(count("/data") + count("/binaryData")), age],
        "namespaces" => vec![
            name,
            o.pointer("/status/phase").cloned().unwrap_or(json!("Active")),
            age,
        ],
        "serviceaccounts" => vec![name, json!(0), age],
        "nodes" => {
            let ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == json!("Ready") && c["status"] == json!("True"))
                });
            vec![
                name,
                json!(if ready { "Ready" } else { "NotReady" }),
                json!("<none>"),
                age,
                o.pointer("/status/nodeInfo/kubeletVersion")
                    .cloned()
                    .unwrap_or(json!("")),
            ]
        }
        "services" => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name,
                o.pointer("/spec/type").cloned().unwrap_or(json!("ClusterIP")),
                o.pointer("/spec/clusterIP").cloned().unwrap_or(json!("<none>")),
                json!("<none>"),
                json!(if ports.is_empty() {
                    "<none>".to_owned()
                } else {
                    ports.join(",")
                }),
                age,
            ]
        }
        "events" => {
            let object = format!(
                "{}/{}",
                o.pointer("/involvedObject/kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_lowercase(),
                o.pointer("/involvedObject/name").and_then(Value::as_str).unwrap_or("")
            );
            vec![
                age,
                o.get("type").cloned().unwrap_or(json!("Normal")),
                o.get("reason").cloned().unwrap_or(json!("")),
                json!(object),
                o.get("message").cloned().unwrap_or(json!("")),
            ]
        }
        _ => vec![name, age],
    }
}

fn row_object(o: &Value, include: &str) -> Option<Value> {
    match include {
        "None" => None,
        "Object" => Some(o.clone()),
        _ => Some(json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})),
    }
}

/// A Table of `items`.
pub(crate) fn table(def: &ResourceDef, items: &[Value], rv: u64, include: &str) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(def, o)});
            if let Some(obj) = row_object(o, include) {
                row["object"] = obj;
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
           "columnDefinitions": columns(def), "rows": rows})
}

/// kubectl's short human duration.
fn age(created: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let Some(t) = parse_rfc3339(created) else {
        return "<unknown>".to_owned();
    };
    let s = now.saturating_sub(t);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
