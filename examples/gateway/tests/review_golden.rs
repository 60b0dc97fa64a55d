//! Golden outputs: `tollgate review` over a fixed trail recorded through the
//! real gateway (kubectl against the demo; see `review.rs`, which rewrites
//! the fixture when run with `TOLLGATE_REGENERATE_FIXTURE=1`). The trail is
//! a rotated, gzip-compressed file and the current one; the RBAC is the
//! demo's; the configuration no longer holds two of the three issuers.
//!
//! After a deliberate change to the report, refresh the golden files with
//! `TOLLGATE_BLESS=1 cargo test -p tollgate-gateway --test review_golden`
//! and read the diff.

use std::path::{Path, PathBuf};

use tollgate_review::cli::{ReviewArgs, review};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/review")
}

fn report(format: &str) -> String {
    let mut args = ReviewArgs::default();
    args.audit = vec![fixture()];
    args.rbac = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/review/demo-rbac.yaml")];
    args.owners = vec![fixture().join("authn.yaml")];
    args.format = format.to_owned();
    review(&args).unwrap()
}

fn golden(name: &str, got: &str) {
    let path = fixture().join(name);
    if std::env::var_os("TOLLGATE_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
        panic!(
            "{} differs from the report at line {}:\n  golden: {:?}\n  report: {:?}\n(after a deliberate change: TOLLGATE_BLESS=1 and read the diff)",
            path.display(),
            line + 1,
            want.lines().nth(line).unwrap_or("(end)"),
            got.lines().nth(line).unwrap_or("(end)")
        );
    }
}

#[test]
fn the_json_report_matches_its_golden_file() {
    let json = report("json");
    golden("review.json", &json);
    // What the golden file must hold, so a bless cannot quietly lose it.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let payments = &v["owners"]["payments"];
    assert!(payments["denials"]["no-namespace-delete"] == 1);
    assert!(payments["dry_run_hits"]["trial-no-configmap-writes"] == 1);
    assert_eq!(
        payments["approval_states"],
        serde_json::json!({"approved": 1, "denied": 1})
    );
    assert_eq!(payments["sessions_total"], 1);
    assert!(v["owners"]["unmapped"]["mapped"] == false);
    assert!(v["owners"]["platform"]["identities"].as_object().unwrap().len() == 2);
    assert_eq!(v["unaccountable"]["unknown_issuers"].as_object().unwrap().len(), 2);
    assert!(!v["unaccountable"]["unauthenticated"].as_object().unwrap().is_empty());
    let access = v["access"].as_array().unwrap();
    assert!(
        access
            .iter()
            .any(|c| !c["unused_grants"].as_array().unwrap().is_empty())
    );
    assert!(
        access
            .iter()
            .any(|c| c["not_granted"].as_array().unwrap().iter().any(|n| n == "get /metrics")),
        "a non-resource URL no grant covers"
    );
}

#[test]
fn the_markdown_report_matches_its_golden_file() {
    golden("review.md", &report("md"));
}

#[test]
fn every_format_reads_the_rotated_and_compressed_files() {
    let one = {
        let mut args = ReviewArgs::default();
        args.audit = vec![fixture().join("audit.log")];
        args.format = "json".to_owned();
        review(&args).unwrap()
    };
    let both: serde_json::Value = serde_json::from_str(&report("json")).unwrap();
    let one: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert!(
        both["requests"].as_u64().unwrap() > one["requests"].as_u64().unwrap(),
        "the .gz file counts"
    );
    let csv = report("csv");
    assert!(csv.starts_with("section,owner,mapped,item,count,first_seen,last_seen,detail\n"));
    assert!(csv.contains("\napproval,payments,true,apr-"), "{csv}");
    assert!(csv.contains("\nunknown_issuer,,,"), "{csv}");
    let html = report("html");
    assert!(html.contains("2 issuers on the records no longer configured"), "{html}");
}
