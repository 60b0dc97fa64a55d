//! Every YAML and command block a user would copy from `README.md` and
//! `docs/` is checked, so the docs cannot drift from the code: gateway
//! configurations (and fragments of one) load, policies, audit policies,
//! `AuthenticationConfiguration`s and owner rules parse, other YAML is
//! YAML; each `tollgate …` command names a real subcommand whose help
//! lists every flag the docs use, and each `cargo … -p`/`--example` names a
//! real package or example.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `(file, language, text)` of every fenced block.
fn blocks() -> Vec<(String, String, String)> {
    let mut files = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.strip_prefix(root()).unwrap_or(&f).display().to_string();
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            let Some(lang) = l.trim_start().strip_prefix("```") else {
                continue;
            };
            if lang.is_empty() {
                // A closing fence of an unlabelled block, or an unlabelled block.
                continue;
            }
            let indent = l.len() - l.trim_start().len();
            let mut body = String::new();
            for b in lines.by_ref() {
                if b.trim_start().starts_with("```") {
                    break;
                }
                body.push_str(b.get(indent..).unwrap_or(b.trim_start()));
                body.push('\n');
            }
            out.push((name.clone(), lang.trim().to_owned(), body));
        }
    }
    out
}

const MINIMAL: [(&str, &str); 3] = [
    ("listen:", "listen: 127.0.0.1:0\n"),
    ("upstream:", "upstream: {kubeconfig: upstream.kubeconfig}\n"),
    ("authentication:", "authentication: {mode: none}\n"),
];

fn check_yaml(file: &str, text: &str) -> &'static str {
    let has = |key: &str| text.lines().any(|l| l.starts_with(key));
    if text.contains("apiVersion: apiserver.config.k8s.io/v1") {
        tollgate_oidc::parse_authentication_configuration(text, file).unwrap_or_else(|e| panic!("{e}\n{text}"));
        "AuthenticationConfiguration"
    } else if text.contains("apiVersion: tollgate.dev/v1alpha1") {
        tollgate_rules::parse_policy(text, file).unwrap_or_else(|e| panic!("{e}\n{text}"));
        "policy"
    } else if text.contains("apiVersion: audit.k8s.io/v1") {
        tollgate_audit::AuditPolicy::parse(text, file).unwrap_or_else(|e| panic!("{e}\n{text}"));
        "audit policy"
    } else if text.starts_with("- name:") && text.contains("\n  action:") {
        let policy = format!("apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n{text}");
        tollgate_rules::parse_policy(&policy, file).unwrap_or_else(|e| panic!("{e}\n{text}"));
        "policy rules"
    } else if text.starts_with("- name:") {
        tollgate_oidc::OwnerMapper::parse(text, file).unwrap_or_else(|e| panic!("{e}\n{text}"));
        "owner rules"
    } else if [
        "listen:",
        "authentication:",
        "audit:",
        "approval:",
        "policy:",
        "masking:",
        "limits:",
    ]
    .iter()
    .any(|k| has(k))
        && !has("images:")
    {
        // A configuration, or a fragment of one completed with the rest.
        let mut config = String::new();
        for (key, line) in MINIMAL {
            if !has(key) {
                config.push_str(line);
            }
        }
        config.push_str(text);
        tollgate_gateway::Config::parse(&config, file).unwrap_or_else(|e| panic!("{e}\n{config}"));
        "gateway configuration"
    } else {
        tollgate_kube::yaml_to_json(text).unwrap_or_else(|e| panic!("{file}: {e}\n{text}"));
        "YAML"
    }
}

/// `tollgate WORDS… --help` for the subcommand a documented line names;
/// its flags must be in the help.
fn check_tollgate(file: &str, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let sub: Vec<&str> = words[1..]
        .iter()
        .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-'))
        .copied()
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(&sub)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{file}: `tollgate {}` is not a command: {line}",
        sub.join(" ")
    );
    for flag in words.iter().filter_map(|w| {
        let w = w.trim_matches(|c| c == '[' || c == ']' || c == '|');
        w.starts_with("--").then(|| w.split('=').next().unwrap_or(w))
    }) {
        assert!(
            help.contains(flag),
            "{file}: `tollgate {}` has no {flag}: {line}\n{help}",
            sub.join(" ")
        );
    }
}

/// A `cargo` line's packages, examples and binaries exist.
fn check_cargo(file: &str, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    for pair in words.windows(2) {
        match pair[0] {
            "-p" => {
                let manifests = ["crates", "examples"]
                    .iter()
                    .flat_map(|d| std::fs::read_dir(root().join(d)).unwrap())
                    .filter_map(Result::ok)
                    .map(|e| e.path().join("Cargo.toml"))
                    .chain([root().join("benches/Cargo.toml")]);
                let wanted = format!("name = \"{}\"", pair[1]);
                let found = manifests
                    .filter_map(|m| std::fs::read_to_string(m).ok())
                    .any(|t| t.contains(&wanted));
                assert!(found, "{file}: no package {}: {line}", pair[1]);
            }
            "--example" => {
                let found = ["examples/gateway/examples", "benches/examples"].iter().any(|d| {
                    let dir = root().join(d);
                    dir.join(format!("{}.rs", pair[1])).exists() || dir.join(pair[1]).join("main.rs").exists()
                });
                assert!(found, "{file}: no example {}: {line}", pair[1]);
            }
            "--bin" => assert!(
                ["tollgate", "policy-only", "audit-sidecar", "redact-stream"].contains(&pair[1]),
                "{file}: no binary {}: {line}",
                pair[1]
            ),
            _ => {}
        }
    }
}

/// Every `--flag` of a harness command line in the docs is one the
/// harness reads (its sources compare arguments to the quoted flag).
fn check_harness_flags(file: &str, line: &str, args: &str) {
    let dir = root().join("examples/gateway/examples/hostile_load");
    let sources: String = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    for flag in args.split_whitespace().filter(|w| w.starts_with("--")) {
        assert!(
            sources.contains(&format!("\"{flag}\"")),
            "{file}: the harness reads no {flag}: {line}"
        );
    }
}

#[test]
fn every_yaml_and_command_block_in_the_docs_is_real() {
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for (file, lang, text) in blocks() {
        match lang.as_str() {
            "yaml" => *checked.entry(check_yaml(&file, &text)).or_default() += 1,
            "sh" | "console" | "bash" => {
                for line in text.lines() {
                    let line = line.split(" #").next().unwrap_or(line).trim();
                    let line = line.strip_prefix("$ ").unwrap_or(line);
                    if line.starts_with("tollgate ") {
                        check_tollgate(&file, line);
                        *checked.entry("tollgate command").or_default() += 1;
                    } else if line.starts_with("cargo ") {
                        check_cargo(&file, line);
                        *checked.entry("cargo command").or_default() += 1;
                    } else if let Some(args) = line.strip_prefix("target/release/examples/hostile_load") {
                        check_harness_flags(&file, line, args);
                        *checked.entry("harness command").or_default() += 1;
                    } else if let Some(path) = line.strip_prefix("scripts/") {
                        let script = path.split_whitespace().next().unwrap_or("");
                        assert!(root().join("scripts").join(script).exists(), "{file}: {line}");
                    }
                }
            }
            _ => {}
        }
    }
    for kind in [
        "gateway configuration",
        "policy",
        "policy rules",
        "owner rules",
        "AuthenticationConfiguration",
        "tollgate command",
        "cargo command",
        "harness command",
    ] {
        assert!(
            checked.get(kind).is_some_and(|n| *n > 0),
            "no {kind} checked: {checked:?}"
        );
    }
}

/// `scripts/pgo-build --dry-run` (named in `docs/performance.md`) checks
/// its tools and prints its steps: the builds name packages, binaries and
/// examples that exist, and the harness runs use flags the harness reads.
#[test]
fn the_pgo_build_script_runs_what_exists() {
    let out = Command::new("bash")
        .arg(root().join("scripts/pgo-build"))
        .arg("--dry-run")
        .output()
        .unwrap();
    let steps = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{steps}");
    let (mut builds, mut runs, mut merges) = (0, 0, 0);
    for line in steps.lines().filter_map(|l| l.strip_prefix("+ ")) {
        if let Some(cargo) = line.find("cargo build") {
            check_cargo("scripts/pgo-build", &line[cargo..]);
            assert!(line.contains("-Cprofile-"), "{line}");
            builds += 1;
        } else if let Some(at) = line.find("/examples/hostile_load ") {
            check_harness_flags("scripts/pgo-build", line, &line[at + "/examples/hostile_load".len()..]);
            runs += 1;
        } else if line.contains(" merge -o ") {
            merges += 1;
        }
    }
    assert_eq!((builds, runs, merges), (2, 2, 1), "{steps}");
}

/// The binary stays wiring: its `src/` without the demo is under 1,200
/// lines (issue 16); logic goes into the crates.
#[test]
fn the_binary_stays_thin() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut lines = 0;
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") && p.file_name().is_some_and(|n| n != "demo.rs") {
            lines += std::fs::read_to_string(&p).unwrap().lines().count();
        }
    }
    assert!(lines < 1200, "examples/gateway/src without demo.rs: {lines} lines");
}
