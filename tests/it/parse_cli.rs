//! The `retrace parse` binary: a bad document next to a good one still prints the good one, lists
//! the bad one under `errors` and exits 2; unknown tags and platforms are clear errors.

use std::process::Command;

fn retrace(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_retrace"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn one_bad_one_good_document_exits_2_and_prints_both() {
    let out = retrace(&[
        "parse",
        "testdata/parse/errors/bad_layer_digest.md",
        "testdata/seeds/000_14e1ce55d27fd598.txt",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["documents"].as_array().unwrap().len(), 1);
    assert_eq!(v["documents"][0]["tags"][0]["tag"], "httpd:2-alpine");
    let e = &v["errors"][0];
    assert_eq!(e["path"], "testdata/parse/errors/bad_layer_digest.md");
    assert_eq!((e["line"].as_u64(), e["column"].as_u64()), (Some(44), Some(5)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad_layer_digest.md:44:5:"), "{stderr}");
}

#[test]
fn good_documents_exit_0_with_the_documented_shape() {
    let out = retrace(&[
        "parse",
        "testdata/seeds/001_6eb4979bd744bc74.txt",
        "--platform",
        "linux/arm/v7",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let platforms = v["documents"][0]["tags"][0]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 1);
    let p = &platforms[0];
    assert_eq!(p["platform"], "linux/arm/v7");
    for key in [
        "digest",
        "docker_version",
        "image_id",
        "entrypoint",
        "cmd",
        "history",
        "layers",
        "mapping",
    ] {
        assert!(p.get(key).is_some(), "missing {key}");
    }
    for key in ["created", "instruction", "text", "layer"] {
        assert!(p["history"][0].get(key).is_some(), "missing history.{key}");
    }
    for key in ["digest", "size", "last_modified", "media_type"] {
        assert!(p["layers"][0].get(key).is_some(), "missing layers.{key}");
    }
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn arm64_selector_matches_variant_v8_and_formats_work() {
    let out = retrace(&[
        "parse",
        "testdata/seeds/000_14e1ce55d27fd598.txt",
        "--platform",
        "linux/arm64",
        "--format",
        "dockerfile",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("linux/arm64/v8"));
    assert!(text.contains("FROM scratch"));
    let out = retrace(&[
        "parse",
        "testdata/seeds/000_14e1ce55d27fd598.txt",
        "--tag",
        "2-alpine",
        "--format",
        "summary",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().contains("linux/s390x"));
}

#[test]
fn unknown_tag_or_platform_is_a_clear_error() {
    let out = retrace(&["parse", "testdata/seeds/000_14e1ce55d27fd598.txt", "--tag", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no document has the tag `nope`") && stderr.contains("httpd:2-alpine"),
        "{stderr}"
    );
    let out = retrace(&[
        "parse",
        "testdata/seeds/000_14e1ce55d27fd598.txt",
        "--platform",
        "linux/mips",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no platform matches `linux/mips`") && stderr.contains("linux/arm/v6"),
        "{stderr}"
    );
}
