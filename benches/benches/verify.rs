//! Token verification: a full RS256, ES256 and EdDSA verification (parse,
//! claims, signature, mapping) against a verified-token cache hit, same run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tollgate_oidc::{Algorithm, JwtAuthenticator, Verifier};
use tollgate_testkit::TestIssuer;

struct Case {
    name: &'static str,
    token: String,
    cold: Verifier,
    warm: Verifier,
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cases: Vec<(Case, TestIssuer)> = rt.block_on(async {
        let mut out = Vec::new();
        for (name, alg) in [
            ("RS256", Algorithm::RS256),
            ("ES256", Algorithm::ES256),
            ("EdDSA", Algorithm::EdDSA),
        ] {
            let issuer = TestIssuer::start(alg).await.unwrap();
            let mut a = JwtAuthenticator::new(issuer.url(), "tollgate", "bench:");
            a.certificate_authority = Some(issuer.ca_pem().to_owned());
            let cold = Verifier::builder().issuer(a.clone()).cache_capacity(0).build().unwrap();
            let warm = Verifier::builder().issuer(a).build().unwrap();
            cold.start().await;
            warm.start().await;
            let token = issuer.mint(
                &json!({"iss": issuer.url(), "aud": "tollgate", "sub": "repo:acme/web:ref:refs/heads/main",
                                             "exp": tollgate_testkit::now() + 3600, "groups": ["a", "b"]}),
            );
            warm.authenticate(&token).await.unwrap();
            out.push((
                Case {
                    name,
                    token,
                    cold,
                    warm,
                },
                issuer,
            ));
        }
        out
    });

    let mut g = c.benchmark_group("verify");
    for (case, _) in &cases {
        g.bench_function(format!("{}_full", case.name), |b| {
            b.iter(|| rt.block_on(async { black_box(case.cold.authenticate(black_box(&case.token)).await.unwrap()) }))
        });
        g.bench_function(format!("{}_cache_hit", case.name), |b| {
            b.iter(|| rt.block_on(async { black_box(case.warm.authenticate(black_box(&case.token)).await.unwrap()) }))
        });
    }
    g.finish();

    let time = |v: &Verifier, t: &str| {
        (0..5)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..300 {
                    rt.block_on(async { black_box(v.authenticate(t).await.unwrap()) });
                }
                start.elapsed() / 300
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    println!();
    for (case, _) in &cases {
        let full = time(&case.cold, &case.token);
        let hit = time(&case.warm, &case.token);
        println!(
            "ratio {} full / cache hit = {:.1} ({:.1} µs vs {:.2} µs)",
            case.name,
            full.as_secs_f64() / hit.as_secs_f64(),
            full.as_secs_f64() * 1e6,
            hit.as_secs_f64() * 1e6
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
