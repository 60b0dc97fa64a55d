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

/// Chromium as the system packages install it, or `None` (the test then
/// says it was skipped and why).
fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Issue 19: the HTML review rendered by a real browser, and looked at:
/// every suggested Role keeps its lines (it was one line inside `<pre>`),
/// the page runs its script without an error, and a click on a column
/// header sorts the table. Where Chromium is not installed
/// (`apt-get install chromium`; `scripts/test` installs it), it is skipped
/// with a message.
#[test]
fn the_html_report_renders_in_chromium_with_the_roles_on_their_own_lines() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: no Chromium (apt-get install chromium) — the HTML review was not rendered");
        return;
    };
    let html = report("html");
    let roles: Vec<usize> = html
        .split("<pre>")
        .skip(1)
        .map(|p| p.split("</pre>").next().unwrap_or("").lines().count())
        .collect();
    assert!(
        !roles.is_empty() && roles.iter().all(|n| *n > 3),
        "suggested Roles with several lines: {roles:?}"
    );
    // What the browser made of it, written into the page by a probe script
    // that runs after the report's own.
    let probe = r#"<script>
window.__errors = window.__errors || [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const lines = [...document.querySelectorAll('pre')].map(p => {
    const h = p.getBoundingClientRect().height, lh = parseFloat(getComputedStyle(p).lineHeight) || 16;
    return Math.round(h / lh);
  });
  const table = [...document.querySelectorAll('table')].find(t => t.tBodies[0] && t.tBodies[0].rows.length > 2);
  let sorted = 'no table';
  if (table) {
    const th = table.tHead.rows[0].cells[0];
    const col = () => [...table.tBodies[0].rows].map(r => r.cells[0].textContent);
    th.click();
    const a = col();
    th.click();
    const b = col();
    sorted = JSON.stringify(a) !== JSON.stringify(b) && JSON.stringify(a) === JSON.stringify([...b].reverse()) ? 'sorts' : 'does not sort: ' + JSON.stringify([a, b]);
  }
  document.body.setAttribute('data-probe', JSON.stringify({lines, sorted, errors: window.__errors}));
});
</script>"#;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("review.html");
    let probed = html.replacen(
        "<head>",
        &format!("<head>{}", probe.replace("<script>", "<script>/*probe*/")),
        1,
    );
    assert_ne!(probed, html, "the report has a <head>");
    std::fs::write(&page, &probed).unwrap();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
    ];
    let profile = format!("--user-data-dir={}", dir.path().join("profile").display());
    let out = std::process::Command::new(&browser)
        .args(flags)
        .arg(&profile)
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let probe = dom
        .split("data-probe=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("the probe did not run: {}", String::from_utf8_lossy(&out.stderr)))
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let seen: serde_json::Value = serde_json::from_str(&probe).unwrap();
    assert_eq!(
        seen["errors"],
        serde_json::json!([]),
        "the page's script failed: {seen}"
    );
    let rendered: Vec<usize> = seen["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(rendered, roles, "each Role is drawn on as many lines as it has");
    assert_eq!(seen["sorted"], "sorts", "{seen}");
    // And a picture, to look at (kept beside the test's other output).
    let shot = std::env::temp_dir().join("tollgate-review-chromium.png");
    let _ = std::process::Command::new(&browser)
        .args(flags)
        .arg(&profile)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2400")
        .arg(format!("file://{}", dir.path().join("review.html").display()))
        .output();
}

/// Issue 19: an empty or mistyped trail is an error naming it, not a
/// report saying nothing needs a decision.
#[test]
fn an_empty_or_mistyped_trail_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = ReviewArgs::default();
    args.format = "md".to_owned();
    args.audit = vec![dir.path().to_path_buf()];
    let e = review(&args).unwrap_err().to_string();
    assert!(
        e.contains(&dir.path().display().to_string()) && e.contains("no audit log"),
        "{e}"
    );
    std::fs::write(dir.path().join("audit.log"), "").unwrap();
    let e = review(&args).unwrap_err().to_string();
    assert!(e.contains("holds no audit records"), "{e}");
    args.audit = vec![dir.path().join("adit.log")];
    let e = review(&args).unwrap_err().to_string();
    assert!(e.contains("adit.log"), "{e}");
}

/// Issue 19: refusals are named by their cause, not "forbidden".
#[test]
fn refusals_are_named_by_their_cause() {
    use tollgate_audit::{Event, Level, Stage};
    let refused = |message: &str, rule: Option<&str>, decision: Option<&str>| {
        let mut e = Event::new("a", Level::Metadata, Stage::ResponseComplete);
        e.response_status = Some(serde_json::json!({"code": 403, "message": message}));
        if let Some(r) = rule {
            e.annotations.insert("tollgate.dev/rule".into(), r.into());
        }
        if let Some(d) = decision {
            e.annotations.insert("tollgate.dev/decision".into(), d.into());
        }
        tollgate_review::refusal_cause(&e, 403)
    };
    assert_eq!(
        refused("blocked", Some("no-namespace-delete"), Some("deny")),
        "no-namespace-delete"
    );
    assert_eq!(
        refused(
            "impersonation headers are not allowed (impersonate-user): …",
            None,
            None
        ),
        "impersonation refused by Tollgate"
    );
    assert_eq!(
        refused(
            "pods is forbidden: User \"x\" cannot list resource \"pods\"",
            None,
            Some("allow")
        ),
        "refused by the cluster's RBAC"
    );
}
