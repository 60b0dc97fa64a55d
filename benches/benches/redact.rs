//! Redaction on ~10 MB fixtures — a PodList with managedFields and
//! last-applied annotations, a SecretList, a stream of watch events —
//! against same-run baselines: `serde_json` parse + serialize of the same
//! bytes (the DOM baseline) and `memcpy`. Peak memory of the streaming
//! engine is measured with a counting allocator.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tollgate_redact::{LAST_APPLIED, Redactor, StreamMasker};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn pod(i: usize) -> Value {
    let spec = json!({"containers": [{"name": "app", "image": "registry.example/app:1.2.3", "ports": [{"containerPort": 8080}],
        "env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "MODE", "value": "production"}, {"name": "REGION", "value": "eu-west-1"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}], "serviceAccountName": "app", "nodeName": format!("node-{}", i % 50)});
    let applied = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("web-{i}"), "namespace": "prod"}, "spec": spec}).to_string();
    json!({"metadata": {"name": format!("web-{i}"), "namespace": "prod", "uid": format!("00000000-0000-4000-8000-{i:012}"), "resourceVersion": format!("{}", 1000 + i),
        "labels": {"app": "web", "pod-template-hash": "5d8f7c9b6"}, "annotations": {LAST_APPLIED: applied},
        "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {}}}}}}]},
        "spec": spec, "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", i / 250, i % 250), "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn secret(i: usize) -> Value {
    json!({"metadata": {"name": format!("s-{i}"), "namespace": "prod", "resourceVersion": format!("{i}")}, "type": "Opaque",
           "data": {"username": b64("admin"), "password": b64(&format!("pw-{i}-{}", "x".repeat(40))), "tls.key": b64(&"k".repeat(400))}})
}

fn fixture(kind: &str, make: fn(usize) -> Value, target: usize) -> Vec<u8> {
    let one = serde_json::to_vec(&make(0)).map(|v| v.len()).unwrap_or(1000);
    let n = target / one + 1;
    serde_json::to_vec(&json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "99"}, "items": (0..n).map(make).collect::<Vec<_>>()})).unwrap()
}

fn best(f: &mut dyn FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or(Duration::ZERO)
}

fn stream_once(r: &Arc<Redactor>, bytes: &[u8]) -> usize {
    let mut m = StreamMasker::new(r.clone(), None, 1 << 24);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut total = 0;
    for chunk in bytes.chunks(64 * 1024) {
        m.push(chunk, &mut out).unwrap();
        total += out.len();
        out.clear();
    }
    m.finish(&mut out).unwrap();
    total + out.len()
}

fn bench(c: &mut Criterion) {
    let r = Arc::new(Redactor::builder().build().unwrap());
    let pods = fixture("PodList", pod, 10 << 20);
    let secrets = fixture("SecretList", secret, 10 << 20);
    let events: Vec<Vec<u8>> = (0..2000).map(|i| serde_json::to_vec(&json!({"type": "MODIFIED", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": pod(i)["metadata"], "spec": pod(i)["spec"]}})).unwrap()).collect();

    let mut g = c.benchmark_group("redact");
    g.sample_size(10);
    for (name, bytes) in [("podlist_10mb", &pods), ("secretlist_10mb", &secrets)] {
        g.bench_function(format!("{name}/dom_parse_serialize"), |b| {
            b.iter(|| black_box(serde_json::to_vec(&serde_json::from_slice::<Value>(bytes).unwrap()).unwrap()))
        });
        g.bench_function(format!("{name}/reference"), |b| {
            b.iter(|| {
                let mut v: Value = serde_json::from_slice(bytes).unwrap();
                r.redact(&mut v);
                black_box(serde_json::to_vec(&v).unwrap())
            })
        });
        g.bench_function(format!("{name}/streaming"), |b| {
            b.iter(|| black_box(stream_once(&r, bytes)))
        });
        g.bench_function(format!("{name}/memcpy"), |b| b.iter(|| black_box(bytes.to_vec())));
    }
    g.finish();

    println!();
    for (name, bytes) in [("PodList", &pods), ("SecretList", &secrets)] {
        let mb = bytes.len() as f64 / 1e6;
        let dom = best(&mut || {
            black_box(serde_json::to_vec(&serde_json::from_slice::<Value>(bytes).unwrap()).unwrap());
        });
        let reference = best(&mut || {
            let mut v: Value = serde_json::from_slice(bytes).unwrap();
            r.redact(&mut v);
            black_box(serde_json::to_vec(&v).unwrap());
        });
        let streaming = best(&mut || {
            black_box(stream_once(&r, bytes));
        });
        let memcpy = best(&mut || {
            black_box(bytes.to_vec());
        });
        let speed = |d: Duration| mb / d.as_secs_f64();
        println!(
            "{name} {mb:.1} MB: streaming {:.0} MB/s, reference {:.0} MB/s, DOM baseline {:.0} MB/s, memcpy {:.0} MB/s; streaming/DOM = {:.2}×, streaming/memcpy = {:.3}×",
            speed(streaming),
            speed(reference),
            speed(dom),
            speed(memcpy),
            dom.as_secs_f64() / streaming.as_secs_f64(),
            memcpy.as_secs_f64() / streaming.as_secs_f64(),
        );
    }
    let per_event_reference = best(&mut || {
        for e in &events {
            let mut v: Value = serde_json::from_slice(e).unwrap();
            r.redact(&mut v);
            black_box(serde_json::to_vec(&v).unwrap());
        }
    }) / events.len() as u32;
    let mut out = Vec::with_capacity(1 << 16);
    let per_event = best(&mut || {
        for e in &events {
            out.clear();
            r.redact_bytes(e, Some("Pod"), &mut out).unwrap();
            black_box(&out);
        }
    }) / events.len() as u32;
    println!(
        "watch event (a Pod, ~{} bytes): {:.1} µs each (reference engine {:.1} µs)",
        events[0].len(),
        per_event.as_secs_f64() * 1e6,
        per_event_reference.as_secs_f64() * 1e6
    );

    // Peak extra memory streaming a ~100 MB PodList in 64 KiB chunks (the input itself excluded).
    let big = fixture("PodList", pod, 100 << 20);
    let (_, peak) = tollgate_benches::peak_memory(|| black_box(stream_once(&r, &big)));
    println!(
        "peak extra memory streaming {:.0} MB: {:.2} MB",
        big.len() as f64 / 1e6,
        peak as f64 / 1e6
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
