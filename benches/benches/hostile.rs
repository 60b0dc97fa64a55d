//! Issue 13's hostile inputs, each measured against a same-run baseline:
//! what one request can make the gateway's parsers, rules and masking cost
//! (CPU time and peak heap), with the bounds in place. Run with
//! `cargo bench -p tollgate-benches --bench hostile`; it prints a table of
//! ratios (the cost over parsing the same bytes with serde_json), never
//! asserts timings.
//!
//! The end-to-end reproductions (a refused deep patch, an unauthenticated
//! body, 414 before the shared connection, a replayed OSC 52) are tests:
//! `cargo test -p tollgate-gateway --test hostile`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tollgate_benches::peak_memory;
use tollgate_kube::{RequestBody, RequestInfo};
use tollgate_redact::Redactor;
use tollgate_rules::{RequestView, parse_policy};

const BASELINE: &str = include_str!("../../docs/policies/baseline.yaml");

fn best<T>(f: &mut dyn FnMut() -> T) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or(Duration::ZERO)
}

fn dom(bytes: &[u8]) -> Duration {
    best(&mut || serde_json::to_vec(&serde_json::from_slice::<Value>(bytes).unwrap_or(Value::Null)))
}

struct Row {
    what: &'static str,
    bytes: usize,
    cost: Duration,
    baseline: Duration,
    peak: usize,
    outcome: String,
}

fn row(what: &'static str, bytes: &[u8], outcome: String, f: &mut dyn FnMut()) -> Row {
    let baseline = dom(bytes);
    let ((), peak) = peak_memory(&mut *f);
    let cost = best(&mut *f);
    Row {
        what,
        bytes: bytes.len(),
        cost,
        baseline,
        peak,
        outcome,
    }
}

fn secret(keys: usize) -> Vec<u8> {
    let data: serde_json::Map<String, Value> = (0..keys)
        .map(|i| (format!("key-{i:06}"), Value::String("c2VjcmV0".to_owned())))
        .collect();
    serde_json::to_vec(&serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "many", "namespace": "default"}, "data": data})).unwrap_or_default()
}

fn evaluate(policy: &tollgate_rules::Policy, method: &str, uri: &str, ct: &str, body: &[u8]) -> String {
    let info = match RequestInfo::parse(&method.parse().unwrap_or_default(), &uri.parse().unwrap_or_default()) {
        Ok(i) => i,
        Err(e) => return e.to_string(),
    };
    let body = RequestBody::new(Bytes::copy_from_slice(body), Some(ct));
    match policy.evaluate(&RequestView::new(&info, None, Some(&body))) {
        Ok(d) => format!("{} ({})", d.action.as_str(), d.rule.unwrap_or_default()),
        Err(e) => {
            let s = e.to_status();
            format!("{} {}", s.code, s.message.chars().take(60).collect::<String>())
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let baseline = match parse_policy(BASELINE, "baseline.yaml") {
        Ok(p) => p,
        Err(e) => return eprintln!("{e}"),
    };
    let redactor = match Redactor::builder().build() {
        Ok(r) => r,
        Err(e) => return eprintln!("{e}"),
    };
    let mut rows = Vec::new();

    // Point 4: masking a Secret of 60,000 keys (949 KB), both engines.
    for keys in [60_000, 150_000] {
        let s = secret(keys);
        let mut out = Vec::new();
        let what: &'static str = if keys == 60_000 {
            "mask Secret, 60,000 keys (bytes engine)"
        } else {
            "mask Secret, 150,000 keys (bytes engine)"
        };
        rows.push(row(what, &s, "masked".to_owned(), &mut || {
            out.clear();
            let _ = redactor.redact_bytes(&s, None, &mut out);
        }));
        let what: &'static str = if keys == 60_000 {
            "mask Secret, 60,000 keys (reference engine)"
        } else {
            "mask Secret, 150,000 keys (reference engine)"
        };
        rows.push(row(what, &s, "masked".to_owned(), &mut || {
            let mut v: Value = serde_json::from_slice(&s).unwrap_or(Value::Null);
            black_box(redactor.redact_as(&mut v, None));
        }));
    }

    // Point 1: the deep patch, and the deepest one allowed.
    let deep = format!(r#"[{{"op":"add","path":"/spec{}","value":1}}]"#, "/a".repeat(15_000)).into_bytes();
    let outcome = evaluate(
        &baseline,
        "PATCH",
        "/api/v1/namespaces/default/pods/demo",
        "application/json-patch+json",
        &deep,
    );
    rows.push(row("JSON patch, 15,000-segment pointer", &deep, outcome, &mut || {
        black_box(evaluate(
            &baseline,
            "PATCH",
            "/api/v1/namespaces/default/pods/demo",
            "application/json-patch+json",
            &deep,
        ));
    }));

    // Point 2: a YAML alias bomb of scalars.
    let mut bomb = format!("a: &a \"{}\"\n", "x".repeat(30_000));
    let mut prev = "a".to_owned();
    for i in 0..12 {
        let name = format!("l{i}");
        bomb.push_str(&format!("{name}: &{name} [*{prev}, *{prev}]\n"));
        prev = name;
    }
    let bomb = bomb.into_bytes();
    let outcome = match RequestBody::new(Bytes::copy_from_slice(&bomb), Some("application/yaml")).json() {
        Ok(_) => "decoded".to_owned(),
        Err(e) => format!(
            "{} {}",
            e.to_status().code,
            e.to_string().chars().take(60).collect::<String>()
        ),
    };
    let mut r = row(
        "YAML aliases expanding to 64 MiB (baseline: plain YAML of its size)",
        &bomb,
        outcome,
        &mut || {
            black_box(
                RequestBody::new(Bytes::copy_from_slice(&bomb), Some("application/yaml"))
                    .json()
                    .is_ok(),
            );
        },
    );
    let plain: String = (0..bomb.len() / 12).map(|i| format!("k{i:07}: v\n")).collect();
    r.baseline = best(&mut || tollgate_kube::yaml_to_json(&plain).is_ok());
    rows.push(r);

    // Point 3: hostNetwork nested 120 levels around a 100,000-element array.
    let array = format!("[{}]", vec!["1"; 100_000].join(","));
    let spec = format!("{}{array}{}", "{\"hostNetwork\":".repeat(118), "}".repeat(118));
    let pod = format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p"}},"spec":{spec}}}"#).into_bytes();
    let outcome = evaluate(
        &baseline,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        &pod,
    );
    rows.push(row(
        "Pod, 120 levels around 100,000 elements",
        &pod,
        outcome,
        &mut || {
            black_box(evaluate(
                &baseline,
                "POST",
                "/api/v1/namespaces/default/pods",
                "application/json",
                &pod,
            ));
        },
    ));

    // Point 7: the largest `[ab]*a[ab]{N}c` under the regex size limit, on
    // a field of the body limit's size.
    let mut n = 3000;
    let policy = loop {
        let text = format!(
            "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n  - name: slow\n    action: deny\n    message: m\n    when:\n      - object: $.data.x\n        matches: \"[ab]*a[ab]{{{n}}}c\"\n"
        );
        match parse_policy(&text, "p.yaml") {
            Ok(p) => break p,
            Err(_) if n > 1 => n = n * 9 / 10,
            Err(e) => return eprintln!("{e}"),
        }
    };
    let field: String = (0..tollgate_kube::DEFAULT_MAX_BODY_BYTES - 100)
        .map(|i| if (i * 7919) % 3 == 0 { 'a' } else { 'b' })
        .collect();
    let cm = serde_json::to_vec(&serde_json::json!({"kind": "ConfigMap", "data": {"x": field}})).unwrap_or_default();
    let outcome = format!(
        "[ab]{{{n}}} accepted: {}",
        evaluate(
            &policy,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            &cm
        )
    );
    rows.push(row(
        "worst regex under the limit, 3 MiB field",
        &cm,
        outcome,
        &mut || {
            black_box(evaluate(
                &policy,
                "POST",
                "/api/v1/namespaces/default/configmaps",
                "application/json",
                &cm,
            ));
        },
    ));

    // Point 7: loading 15,000 rules (baseline: parsing the same YAML alone).
    let mut text = String::from("apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n");
    for i in 0..15_000 {
        text.push_str(&format!(
            "  - name: r{i}\n    action: warn\n    message: m\n    match: {{verbs: [get]}}\n"
        ));
    }
    let yaml_alone = best(&mut || tollgate_kube::yaml_to_json(&text).is_ok());
    let ((), peak) = peak_memory(|| {
        black_box(parse_policy(&text, "big.yaml").is_ok());
    });
    rows.push(Row {
        what: "load a policy of 15,000 rules (baseline: its YAML alone)",
        bytes: text.len(),
        cost: best(&mut || parse_policy(&text, "big.yaml").is_ok()),
        baseline: yaml_alone,
        peak,
        outcome: "loaded".to_owned(),
    });

    println!("| input | bytes | cost | baseline (serde_json parse+write) | ratio | peak heap | outcome |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1}× | {:.1} MB | {} |",
            r.what,
            r.bytes,
            r.cost.as_secs_f64() * 1e3,
            r.baseline.as_secs_f64() * 1e3,
            r.cost.as_secs_f64() / r.baseline.as_secs_f64().max(1e-9),
            r.peak as f64 / 1e6,
            r.outcome.replace('|', "/")
        );
    }
}
