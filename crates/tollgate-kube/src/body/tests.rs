use super::*;
use proptest::prelude::*;
use std::io::Write;

#[test]
fn formats() {
    let c = |ct, b: &[u8]| BodyFormat::classify(ct, b);
    assert_eq!(c(None, b""), BodyFormat::Empty);
    assert_eq!(c(Some("application/json"), b""), BodyFormat::Empty);
    assert_eq!(c(Some("APPLICATION/YAML"), b"a: 1"), BodyFormat::Yaml);
    assert_eq!(
        c(Some("application/apply-patch+yaml"), b"{}"),
        BodyFormat::ApplyPatchYaml
    );
    assert_eq!(
        c(Some("application/strategic-merge-patch+json"), b"{}"),
        BodyFormat::StrategicMergePatch
    );
    assert_eq!(c(Some("application/merge-patch+json"), b"{}"), BodyFormat::MergePatch);
    assert_eq!(c(Some("application/json-patch+json"), b"[]"), BodyFormat::JsonPatch);
    assert_eq!(
        c(Some("application/vnd.kubernetes.protobuf"), b"k8s\0x"),
        BodyFormat::Protobuf
    );
    assert_eq!(c(Some("application/yaml"), b"k8s\0x"), BodyFormat::Protobuf);
    assert_eq!(c(Some("application/json"), &[0xd9, 0xd9, 0xf7, 1]), BodyFormat::Cbor);
    assert_eq!(c(Some("application/cbor"), b"\xa1"), BodyFormat::Cbor);
    assert_eq!(c(Some("text/plain"), b"x"), BodyFormat::Other);
}

#[test]
fn json_views() {
    let b = RequestBody::new(Bytes::from_static(br#"{"a":1,"a":2}"#), Some("application/json"));
    assert_eq!(
        b.json().unwrap().unwrap()["a"],
        2,
        "the last duplicate key wins, as in Go"
    );
    let b = RequestBody::new(
        Bytes::from_static(br#"{"spec":{"replicas":0}}"#),
        Some("application/apply-patch+yaml"),
    );
    assert_eq!(b.json().unwrap().unwrap()["spec"]["replicas"], 0);
    let b = RequestBody::new(
        Bytes::from_static(b"k8s\0\x01"),
        Some("application/vnd.kubernetes.protobuf"),
    );
    assert!(matches!(b.json(), Err(Error::UnsupportedBodyFormat { .. })));
    assert_eq!(b.json().unwrap_err().to_status().code, 415);
    let b = RequestBody::new(Bytes::from_static(b"{"), Some("application/json"));
    assert!(matches!(b.json(), Err(Error::BodyDecode { .. })));
    assert_eq!(b.json().unwrap_err().to_status().code, 400);
    assert!(RequestBody::empty().json().unwrap().is_none());
}

#[test]
fn yaml_budget_stops_billion_laughs() {
    let mut doc = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for name in 'b'..='j' {
        doc.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = name;
    }
    assert!(yaml_to_json(&doc).is_err());
}

#[test]
fn yaml_budget_counts_the_bytes_aliases_produce() {
    // Issue 13, point 2: few nodes, but each alias repeats a long scalar,
    // and the anchors nest: 31 KB that once expanded to 64 MiB.
    let mut doc = format!("a: &a \"{}\"\n", "x".repeat(30_000));
    let mut prev = "a".to_owned();
    for i in 0..12 {
        let name = format!("l{i}");
        doc.push_str(&format!("{name}: &{name} [*{prev}, *{prev}]\n"));
        prev = name;
    }
    let err = yaml_to_json(&doc).unwrap_err();
    assert!(
        matches!(err, crate::Error::InvalidYaml { over_budget: true, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("4194304 bytes once aliases are expanded"),
        "{err}"
    );
    // Under the limit, aliases are fine.
    let ok = "a: &a [1, 2]\nb: *a\n";
    assert_eq!(yaml_to_json(ok).unwrap()["b"], serde_json::json!([1, 2]));
}

#[test]
fn yaml_keys_that_are_not_strings_read_as_strings() {
    let v = yaml_to_json("1: a\ntrue: b\n").unwrap();
    assert_eq!(v["1"], "a");
    assert_eq!(v["true"], "b");
}

#[test]
fn yaml_nesting_is_bounded_like_json() {
    let nested = |depth: usize, open: &str, close: &str| {
        let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        RequestBody::new(Bytes::from(text), Some("application/yaml"))
            .json()
            .map(|_| ())
    };
    // On this test thread's 2 MiB stack, as on an async worker's.
    assert!(nested(crate::limits::MAX_YAML_DEPTH - 1, "{a: ", "}").is_ok());
    for depth in [crate::limits::MAX_YAML_DEPTH + 1, 200, 100_000] {
        let err = nested(depth, "{a: ", "}").unwrap_err();
        assert_eq!(err.to_status().code, 400, "{err}");
    }
    // JSON (which YAML bodies may be) nests to serde_json's 128.
    assert!(nested(120, "[", "]").is_ok());
    assert_eq!(nested(100_000, "[", "]").unwrap_err().to_status().code, 400);
}

#[test]
fn yaml_errors_do_not_echo_the_whole_input() {
    // Issue 13, point 8: a 6 MB scalar once came back whole in the message.
    let text = format!("a: \"{}\n: [", "y".repeat(100_000));
    let err = yaml_to_json(&text).unwrap_err().to_string();
    assert!(err.len() < 1024, "{} bytes", err.len());
}

#[test]
fn json_patches_are_held_to_depth_and_op_count() {
    let deep = format!(r#"[{{"op":"add","path":"/spec{}","value":1}}]"#, "/a".repeat(15_000));
    let b = RequestBody::new(Bytes::from(deep), Some("application/json-patch+json"));
    let err = b.json().unwrap_err();
    assert_eq!(err.to_status().code, 400);
    assert!(err.to_string().contains("limit of 128 segments"), "{err}");
    let from = r#"[{"op":"move","from":"/a/b/c","path":"/d"}]"#;
    assert!(
        RequestBody::new(Bytes::from_static(from.as_bytes()), Some("application/json-patch+json"))
            .json()
            .is_ok()
    );
    let many = format!("[{}]", vec![r#"{"op":"test","path":"/a","value":1}"#; 10_001].join(","));
    let err = RequestBody::new(Bytes::from(many), Some("application/json-patch+json"))
        .json()
        .unwrap_err();
    assert!(err.to_string().contains("10000 operations"), "{err}");
}

#[test]
fn gzip_is_bounded() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b'a'; 100_000]).unwrap();
    let gz = enc.finish().unwrap();
    assert_eq!(gunzip_bounded(&gz, 100_000).unwrap().len(), 100_000);
    assert!(matches!(gunzip_bounded(&gz, 99_999), Err(Error::BodyTooLarge { .. })));
    assert!(matches!(
        gunzip_bounded(b"not gzip", 10),
        Err(Error::InvalidGzip { .. })
    ));
}

proptest! {
    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256),
                             ct in prop::sample::select(vec!["application/json", "application/yaml", "application/apply-patch+yaml", "application/json-patch+json", "text/plain"])) {
        let b = RequestBody::new(Bytes::from(bytes), Some(ct));
        let _ = b.json();
    }

    #[test]
    fn yaml_and_json_agree_on_json_documents(v in proptest::collection::btree_map("[a-z]{1,5}", prop_oneof![any::<i32>().prop_map(serde_json::Value::from), "[a-z ]{0,8}".prop_map(serde_json::Value::from), any::<bool>().prop_map(serde_json::Value::from)], 0..6)) {
        let text = serde_json::to_string(&v).unwrap();
        let from_json: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(yaml_to_json(&text).unwrap(), from_json);
    }
}
