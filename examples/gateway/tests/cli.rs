//! The `tollgate` binary as an operator meets it.

use std::process::Command;

fn tollgate(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `text` written to `dir/name`; its path.
fn write_in(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A kubeconfig whose API server nothing listens on (start-up fails first).
const UNREACHABLE_UPSTREAM: &str = "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'http://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\n";

#[test]
fn bad_configs_stop_start_up_with_file_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| write_in(dir.path(), name, text);
    let cases = [
        (
            "public.yaml",
            "listen: 0.0.0.0:8443\nupstream: {kubeconfig: k}\nauthentication: {mode: none}\n",
            "public.yaml: tls: required: plaintext is allowed only on a loopback address",
        ),
        (
            "noauth.yaml",
            "listen: 127.0.0.1:0\nupstream: {kubeconfig: k}\n",
            "noauth.yaml: authentication: required",
        ),
        (
            "typo.yaml",
            "listen: 127.0.0.1:0\nupstream: {kubeconfg: k}\nauthentication: {mode: none}\n",
            // Located: file, line, and serde's message naming the field.
            "typo.yaml:2: (syntax): error: line 2 column 12: unknown field `kubeconfg`",
        ),
        (
            "missing.yaml",
            "listen: 127.0.0.1:0\nupstream: {kubeconfig: nope.kubeconfig}\nauthentication: {mode: none}\n",
            "nope.kubeconfig: No such file",
        ),
        (
            "workers.yaml",
            "listen: 127.0.0.1:0\nworkers: all\nupstream: {kubeconfig: k}\nauthentication: {mode: none}\n",
            "workers.yaml:2: (syntax): error: line 2 column 10: expected `auto` or a number of worker threads (0: none), got `all`",
        ),
        (
            "many.yaml",
            "listen: 127.0.0.1:0\nworkers: 5000\nupstream: {kubeconfig: k}\nauthentication: {mode: none}\n",
            "many.yaml:2: (syntax): error: line 2 column 10: 5000 workers: at most 1024",
        ),
        (
            "negative.yaml",
            "listen: 127.0.0.1:0\nworkers: -1\nupstream: {kubeconfig: k}\nauthentication: {mode: none}\n",
            "negative.yaml:2: (syntax): error: line 2 column 10: expected `auto` or a number of worker threads (0: none), got -1",
        ),
        (
            "flag.yaml",
            "listen: 127.0.0.1:0\nworkers: true\nupstream: {kubeconfig: k}\nauthentication: {mode: none}\n",
            "invalid type: boolean `true`, expected `auto` or a number of worker threads (0: none)",
        ),
    ];
    for (name, text, expected) in cases {
        let path = write(name, text);
        let (code, stderr) = tollgate(&["serve", "--config", &path]);
        assert_eq!(code, 1, "{name}: {stderr}");
        assert!(stderr.starts_with("tollgate: "), "{stderr}");
        assert!(stderr.contains(expected), "{name}: expected {expected:?} in {stderr:?}");
    }
    let kc = write(
        "exec.kubeconfig",
        "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://10.0.0.1', certificate-authority-data: eA==}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n",
    );
    let path = write(
        "exec.yaml",
        &format!("listen: 127.0.0.1:0\nupstream: {{kubeconfig: {kc}}}\nauthentication: {{mode: none}}\n"),
    );
    let (code, stderr) = tollgate(&["serve", "--config", &path]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("exec.kubeconfig: users[0].user.exec: not supported by Tollgate"),
        "{stderr}"
    );
    let (code, _) = tollgate(&["serve", "--config", "/nonexistent/tollgate.yaml"]);
    assert_eq!(code, 1);
}

/// A path that names an endless stream — the configuration itself, or a
/// file it names — is refused with the path and the bound, at once,
/// instead of growing the process until it is killed (before: 2.7 GB
/// resident after 8 s of `--config /dev/zero`).
#[cfg(unix)]
#[test]
fn files_that_never_end_are_refused_with_the_bound_named() {
    let bound = "larger than 64 MiB (a file read whole must be under that: is it the right file?)";
    let (code, stderr) = tollgate(&["serve", "--config", "/dev/zero"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("tollgate: /dev/zero") && stderr.contains(bound),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| write_in(dir.path(), name, text);
    let kc = write("up.kubeconfig", UNREACHABLE_UPSTREAM);
    let cases = [
        (
            "kubeconfig.yaml",
            "upstream: {kubeconfig: /dev/zero}\nauthentication: {mode: none}\n".to_owned(),
        ),
        (
            "policy.yaml",
            format!("upstream: {{kubeconfig: {kc}}}\nauthentication: {{mode: none}}\npolicy: {{file: /dev/zero}}\n"),
        ),
        (
            "audit.yaml",
            format!(
                "upstream: {{kubeconfig: {kc}}}\nauthentication: {{mode: none}}\naudit: {{policy: /dev/zero, stdout: true}}\n"
            ),
        ),
    ];
    for (name, rest) in cases {
        let path = write(name, &format!("listen: 127.0.0.1:0\n{rest}"));
        let (code, stderr) = tollgate(&["serve", "--config", &path]);
        assert_eq!(code, 1, "{name}: {stderr}");
        assert!(
            stderr.contains("/dev/zero") && stderr.contains(bound),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn policy_check_names_rules_that_can_be_walked_around() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.yaml");
    std::fs::write(
        &p,
        "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: no-deploy-delete\n  match: {verbs: [delete], resources: [{group: apps, resources: [deployments]}]}\n  action: deny\n  message: never\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["policy", "check", p.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "warnings do not fail the check");
    assert!(
        stdout.contains("p.yaml: warning: line 4: rule \"no-deploy-delete\": denies delete but not deletecollection"),
        "{stdout}"
    );
    assert!(stdout.contains("ok, 1 rules, default allow, 1 warning"), "{stdout}");
    // The baseline pack checks clean.
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "policy",
            "check",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/policies/baseline.yaml"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !stdout.contains("warning"), "{stdout}");
}

#[test]
fn an_audit_policy_that_skips_confirmation_is_refused_when_required() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| write_in(dir.path(), name, text);
    let kc = write("up.kubeconfig", UNREACHABLE_UPSTREAM);
    let policy = write(
        "audit-policy.yaml",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
    );
    let config = write(
        "tollgate.yaml",
        &format!(
            "listen: 127.0.0.1:0\nupstream: {{kubeconfig: {kc}}}\nauthentication: {{mode: none}}\naudit: {{policy: {policy}, stdout: true, requireRequestReceived: true}}\n"
        ),
    );
    let (code, stderr) = tollgate(&["serve", "--config", &config]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("audit.requireRequestReceived")
            && stderr.contains("omitStages omit RequestReceived")
            && stderr.contains("forwarded before their record is confirmed"),
        "{stderr}"
    );
}

/// `serve --check` reads every file a configuration names, binds nothing,
/// and names the first problem with its file and line.
#[test]
fn serve_check_reads_every_named_file_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| write_in(dir.path(), name, text);
    write(
        "up.kubeconfig",
        "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'http://10.0.0.1:8080'}}]\nusers: [{name: u, user: {token: t}}]\n",
    );
    write(
        "policy.yaml",
        "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: no-ns-delete\n  match: {verbs: [delete], resources: [{resources: [namespaces]}]}\n  action: deny\n  message: not here\n",
    );
    write(
        "audit-policy.yaml",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
    );
    write(
        "authn.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n- issuer:\n    url: https://issuer.example\n    audiences: [kubernetes]\n  claimMappings:\n    username: {claim: sub, prefix: 'ci:'}\n",
    );
    write(
        "owners.yaml",
        "- name: platform\n  match: {issuer: 'https://issuer.example'}\n",
    );
    // The port is taken: --check must not bind it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap();
    let config = |policy: &str| {
        write(
            "tollgate.yaml",
            &format!(
                "listen: {listen}\nupstream: {{kubeconfig: up.kubeconfig}}\nauthentication: {{mode: oidc, config: authn.yaml, owners: owners.yaml}}\n\
                 policy: {{file: {policy}}}\naudit: {{policy: audit-policy.yaml, log: {{path: never/audit.log}}}}\n"
            ),
        )
    };
    let path = config("policy.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--check", "--config", &path])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("tollgate.yaml: ok ("), "{stdout}");
    assert!(
        stdout.contains("upstream http://10.0.0.1:8080") && stdout.contains("issuers https://issuer.example"),
        "{stdout}"
    );
    assert!(stdout.contains("policy 1 rules"), "{stdout}");
    assert!(!dir.path().join("never").exists(), "--check opens no sink");
    // A broken file it names: located in that file.
    write(
        "bad-policy.yaml",
        "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n- name: x\n  match: {verbs: [delete]}\n  action: explode\n  message: not here\n",
    );
    let path = config("bad-policy.yaml");
    let (code, stderr) = tollgate(&["serve", "--check", "--config", &path]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("bad-policy.yaml:4: rules[0].action"), "{stderr}");
    // A missing owners file.
    std::fs::remove_file(dir.path().join("owners.yaml")).unwrap();
    let path = config("policy.yaml");
    let (code, stderr) = tollgate(&["serve", "--check", "--config", &path]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("owners.yaml: (file): "), "{stderr}");
    drop(taken);
}

/// Runs `tollgate demo --listen LISTEN --dir DIR`, which must stop at
/// once with status 1: its standard error.
fn a_demo_that_stops(dir: &std::path::Path, listen: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["demo", "--listen", listen, "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    err
}

/// Issue 19: a second `tollgate demo` on a taken address stops before it
/// writes anything (it used to rewrite the running demo's issuer keys).
#[test]
fn a_second_demo_on_a_taken_address_changes_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("issuer-github.key");
    std::fs::write(&key, "the running demo's key").unwrap();
    let err = a_demo_that_stops(dir.path(), &addr);
    assert!(
        err.contains(&format!("{addr} cannot be bound")) && err.contains("nothing in"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "the running demo's key");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no file written");
}

/// `tollgate demo --dir` aimed at a deployment's directory stops before it
/// writes anything: it used to replace `tollgate.yaml`, `policy.yaml` and
/// the rest with the demo's.
#[test]
fn a_demo_does_not_write_over_a_deployments_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tollgate.yaml");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&config, "listen: 0.0.0.0:443\n").unwrap();
    std::fs::write(&policy, "the deployment's policy").unwrap();
    let err = a_demo_that_stops(dir.path(), "127.0.0.1:0");
    assert!(
        err.contains("holds files `tollgate demo` did not write and would replace (policy.yaml, tollgate.yaml); nothing was changed"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "listen: 0.0.0.0:443\n");
    assert_eq!(std::fs::read_to_string(&policy).unwrap(), "the deployment's policy");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no file written");
}

/// Issue 19: completions a shell accepts, and a man page.
#[test]
fn completions_and_the_man_page() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("approvals") && script.contains("whoami"), "{script}");
    match std::process::Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut bash) => {
            use std::io::Write;
            bash.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
            let done = bash.wait_with_output().unwrap();
            assert!(
                done.status.success(),
                "bash -n refused it: {}",
                String::from_utf8_lossy(&done.stderr)
            );
        }
        Err(e) => panic!("bash is needed to check the completion script: {e}"),
    }
    // Loaded into a real bash, it completes `tollgate appr` to `approvals`.
    let probe = format!(
        "{script}\nCOMP_WORDS=(tollgate appr); COMP_CWORD=1; COMP_LINE='tollgate appr'; COMP_POINT=13; _tollgate tollgate appr tollgate; echo \"${{COMPREPLY[@]}}\"\n"
    );
    let done = std::process::Command::new("bash")
        .arg("-c")
        .arg(&probe)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("approvals"),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    for shell in ["zsh", "fish"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
    let man = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("man")
        .output()
        .unwrap();
    let man = String::from_utf8(man.stdout).unwrap();
    assert!(
        man.starts_with(".ie") && man.contains(".TH tollgate 1") && man.contains("approvals"),
        "{man}"
    );
}
