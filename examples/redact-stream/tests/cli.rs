//! The example as a user runs it: a SecretList on stdin, masked on stdout.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], input: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redact-stream"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_secret_list_is_masked_and_everything_else_kept() {
    // What `kubectl get secrets -o json` prints.
    let list = br#"{"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"default"},"type":"Opaque","data":{"password":"aHVudGVyMg=="}},
      {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"token":"plain-token","color":"blue"}}
    ],"metadata":{"resourceVersion":""}}"#;
    let (ok, out, err) = run(&["--configmap-keys", "token"], list);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"][0]["data"]["password"], "<redacted>");
    assert_eq!(v["items"][0]["metadata"]["name"], "db");
    assert_eq!(v["items"][1]["data"]["token"], "<redacted>");
    assert_eq!(v["items"][1]["data"]["color"], "blue");
    assert_eq!(v["kind"], "List");
}

#[test]
fn input_that_is_not_json_is_refused_with_a_message() {
    let (ok, _, err) = run(&[], b"this is not JSON");
    assert!(!ok);
    assert!(err.contains("not JSON"), "{err}");
}
