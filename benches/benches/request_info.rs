//! What `RequestInfo` costs per request.
//!
//! Baseline, measured in the same run: what any proxy does anyway with a
//! request line: parse the URI and percent-decode its path. Reported:
//! `RequestInfo::parse` and the whole `RequestInfoLayer` (parse, body
//! classification, extensions) as ratios of that baseline.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Request, Response, Uri};
use http_body_util::Full;
use tollgate_kube::{RequestInfo, RequestInfoLayer};
use tower::{Service, ServiceBuilder, ServiceExt};

/// A mix of what kubectl and controllers send.
const URLS: &[(&str, &str)] = &[
    ("GET", "/api/v1/namespaces/default/pods?limit=500"),
    ("GET", "/api/v1/namespaces/default/pods/web-0"),
    (
        "GET",
        "/apis/apps/v1/namespaces/prod/deployments?watch=1&resourceVersion=12345&allowWatchBookmarks=true",
    ),
    ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web/scale"),
    (
        "GET",
        "/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dweb-0&labelSelector=app%3Dweb%2Ctier+in+(a,b)",
    ),
    (
        "GET",
        "/api/v1/namespaces/a/pods/p/exec?command=sh&command=-c&command=echo%20hi&stdin=true&stdout=true",
    ),
    ("DELETE", "/api/v1/namespaces/a/secrets"),
    ("GET", "/openapi/v3/apis/apps/v1?hash=abc"),
];

fn inputs() -> Vec<(Method, String)> {
    URLS.iter()
        .map(|(m, u)| (Method::from_bytes(m.as_bytes()).unwrap(), (*u).to_owned()))
        .collect()
}

fn baseline(reqs: &[(Method, String)]) -> usize {
    let mut n = 0;
    for (_, u) in reqs {
        let uri: Uri = u.parse().unwrap();
        n += percent_encoding::percent_decode_str(uri.path())
            .decode_utf8()
            .map(|c| c.len())
            .unwrap_or(0);
    }
    n
}

fn parse(reqs: &[(Method, String)]) -> usize {
    let mut n = 0;
    for (m, u) in reqs {
        let uri: Uri = u.parse().unwrap();
        n += RequestInfo::parse(m, &uri).map(|i| i.verb.len()).unwrap_or(0);
    }
    n
}

fn bench(c: &mut Criterion) {
    let reqs = inputs();
    let mut g = c.benchmark_group("request_info");
    g.bench_function("baseline_uri_parse_and_decode", |b| {
        b.iter(|| baseline(black_box(&reqs)))
    });
    g.bench_function("request_info_parse", |b| b.iter(|| parse(black_box(&reqs))));

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let bare = tower::service_fn(|_req: Request<Full<Bytes>>| async { Ok::<_, Infallible>(Response::new(())) });
    let layered = ServiceBuilder::new().layer(RequestInfoLayer::new()).service(bare);
    let run = |svc: &mut dyn FnMut(Request<Full<Bytes>>) -> usize| {
        let mut n = 0;
        for (m, u) in URLS {
            let req = Request::builder()
                .method(*m)
                .uri(*u)
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap();
            n += svc(req);
        }
        n
    };
    g.bench_function("service_bare", |b| {
        b.iter(|| {
            run(&mut |req| {
                let mut s = bare;
                rt.block_on(async { s.ready().await.unwrap().call(req).await.unwrap() });
                1
            })
        })
    });
    g.bench_function("service_with_request_info_layer", |b| {
        b.iter(|| {
            run(&mut |req| {
                let mut s = layered.clone();
                rt.block_on(async {
                    ServiceExt::<Request<Full<Bytes>>>::ready(&mut s)
                        .await
                        .unwrap()
                        .call(req)
                        .await
                        .unwrap()
                });
                1
            })
        })
    });
    g.finish();

    // The ratios, measured in this run (best of 5 rounds each).
    let time = |f: &mut dyn FnMut()| {
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
    let base = time(&mut || {
        black_box(baseline(black_box(&reqs)));
    });
    let ours = time(&mut || {
        black_box(parse(black_box(&reqs)));
    });
    let mut bare_svc = bare;
    let bare_t = time(&mut || {
        run(&mut |req| {
            rt.block_on(async {
                ServiceExt::<Request<Full<Bytes>>>::ready(&mut bare_svc)
                    .await
                    .unwrap()
                    .call(req)
                    .await
                    .unwrap()
            });
            1
        });
    });
    let mut layered_svc = layered.clone();
    let layered_t = time(&mut || {
        run(&mut |req| {
            rt.block_on(async {
                ServiceExt::<Request<Full<Bytes>>>::ready(&mut layered_svc)
                    .await
                    .unwrap()
                    .call(req)
                    .await
                    .unwrap()
            });
            1
        });
    });
    let per = |d: Duration| d.as_nanos() as f64 / (2000.0 * URLS.len() as f64);
    println!(
        "\nratio request_info_parse / baseline = {:.2} ({:.0} ns vs {:.0} ns per URL)",
        ours.as_secs_f64() / base.as_secs_f64(),
        per(ours),
        per(base)
    );
    println!(
        "ratio service_with_request_info_layer / service_bare = {:.2} (+{:.0} ns per request)",
        layered_t.as_secs_f64() / bare_t.as_secs_f64(),
        per(layered_t) - per(bare_t)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
