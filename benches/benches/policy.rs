//! 50 rules per request: a policy of the baseline pack plus generated rules
//! (a mix of verbs, resources, namespaces, identities and conditions),
//! evaluated for typical requests. Baseline, same run: `RequestInfo::parse`
//! of the same requests, which every request pays anyway.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Uri};
use tollgate_kube::{Identity, Owner};
use tollgate_kube::{RequestBody, RequestInfo};
use tollgate_rules::{Policy, RequestView, parse_policy};

fn policy_of_50() -> Policy {
    let mut text = include_str!("../../docs/policies/baseline.yaml").to_owned();
    let verbs = ["get", "list", "create", "update", "patch", "delete"];
    let resources = [
        "configmaps",
        "services",
        "pods/log",
        "ingresses",
        "jobs",
        "cronjobs",
        "leases",
        "events",
    ];
    let mut i = 0;
    while text.matches("\n- name: ").count() < 50 {
        let extra = match i % 3 {
            0 => "\n  when:\n  - {object: $.metadata.labels.team, equals: payments}",
            1 => {
                "\n  when:\n  - cel: 'request.userInfo.username.startsWith(\"github:\") && request.namespace != \"kube-system\"'"
            }
            _ => "",
        };
        text.push_str(&format!(
            "\n- name: generated-{i}\n  match:\n    verbs: [{v}]\n    resources: [{{group: \"*\", resources: [{r}]}}]\n    namespaces: [\"team-{i}-*\"]\n    owners: [\"owner-{i}\"]{extra}\n  action: warn\n  message: generated rule {i}\n",
            v = verbs[i % verbs.len()],
            r = resources[i % resources.len()],
        ));
        i += 1;
    }
    parse_policy(&text, "bench.yaml").unwrap()
}

fn bench(c: &mut Criterion) {
    let policy = policy_of_50();
    assert_eq!(policy.rules.len(), 50);
    let mut id = Identity::anonymous();
    id.username = "github:repo:acme/payments-api:ref:refs/heads/main".to_owned();
    id.owner = Owner::new("payments", "payments-platform", "");
    let body = RequestBody::new(
        Bytes::from_static(br#"{"spec":{"replicas":3}}"#),
        Some("application/merge-patch+json"),
    );
    let requests: Vec<(Method, Uri, bool)> = [
        ("GET", "/api/v1/namespaces/default/pods?limit=500", false),
        ("GET", "/api/v1/namespaces/default/pods/web-0", false),
        ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web/scale", true),
        ("DELETE", "/apis/apps/v1/namespaces/staging/deployments/web", false),
        ("GET", "/api/v1/namespaces/default/pods/web-0/exec?command=ls", false),
        ("GET", "/api/v1/namespaces/default/secrets", false),
    ]
    .iter()
    .map(|(m, u, b)| (Method::from_bytes(m.as_bytes()).unwrap(), u.parse().unwrap(), *b))
    .collect();
    let infos: Vec<(RequestInfo, bool)> = requests
        .iter()
        .map(|(m, u, b)| (RequestInfo::parse(m, u).unwrap(), *b))
        .collect();

    let eval = || {
        for (info, with_body) in &infos {
            let view = RequestView::new(info, Some(&id), with_body.then_some(&body));
            black_box(policy.evaluate(black_box(&view)).unwrap());
        }
    };
    let parse = || {
        for (m, u, _) in &requests {
            black_box(RequestInfo::parse(m, u).unwrap());
        }
    };
    let mut g = c.benchmark_group("policy");
    g.bench_function("baseline_request_info_parse_x6", |b| b.iter(parse));
    g.bench_function("evaluate_50_rules_x6", |b| b.iter(eval));
    g.finish();

    let time = |f: &dyn Fn()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..2000 {
                    f();
                }
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    // One condition, JSONPath against CEL, on the same patch of a deployment.
    let one = |when: &str| {
        parse_policy(
            &format!(
                "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: r\n  match: {{verbs: [patch]}}\n  when:\n  - {when}\n  action: warn\n  message: m\n"
            ),
            "one.yaml",
        )
        .unwrap()
    };
    let jsonpath = one("{object: $.spec.replicas, gt: 2}");
    let cel = one("cel: 'has(object.spec.replicas) && object.spec.replicas > 2'");
    let patch = &infos[2].0;
    let cond = |p: &Policy| {
        let view = RequestView::new(patch, Some(&id), Some(&body));
        black_box(p.evaluate(black_box(&view)).unwrap());
    };
    g = c.benchmark_group("condition");
    g.bench_function("jsonpath", |b| b.iter(|| cond(&jsonpath)));
    g.bench_function("cel", |b| b.iter(|| cond(&cel)));
    g.finish();

    let (p, e) = (time(&parse), time(&eval));
    let per = |d: Duration| d.as_nanos() as f64 / (2000.0 * infos.len() as f64);
    println!(
        "\nratio evaluate(50 rules) / RequestInfo::parse = {:.2} ({:.0} ns vs {:.0} ns per request)",
        e.as_secs_f64() / p.as_secs_f64(),
        per(e),
        per(p)
    );
    let (j, k) = (time(&|| cond(&jsonpath)), time(&|| cond(&cel)));
    println!(
        "ratio one CEL condition / one JSONPath condition = {:.2} ({:.0} ns vs {:.0} ns per request)",
        k.as_secs_f64() / j.as_secs_f64(),
        k.as_nanos() as f64 / 2000.0,
        j.as_nanos() as f64 / 2000.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
