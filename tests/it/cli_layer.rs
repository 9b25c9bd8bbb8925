//! `retrace layer write` and `retrace hash-file` as a user runs them: the CLI prints what the
//! library computes, writes its output atomically, and fails with exit code 2 on bad input.

use std::process::Command;

use retrace::layer::{read_tree, write_blob, Profile, WalkOptions};

fn retrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_retrace"))
}

#[test]
fn layer_write_prints_and_writes_the_blob() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("diff");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/motd"), b"hello\n").unwrap();
    std::os::unix::fs::symlink("motd", tree.join("etc/issue")).unwrap();

    let entries = read_tree(&tree, &WalkOptions::default()).unwrap();
    let mut expected_blob = Vec::new();
    let expected = write_blob(&entries, &Profile::docker_18_06(), &mut expected_blob).unwrap();

    let out_path = t.path().join("out/layer.tar.gz");
    let out = retrace()
        .args(["layer", "write", "--profile", "docker-18.06", "--json", "-o"])
        .arg(&out_path)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["digest"], expected.digest.to_string());
    assert_eq!(printed["diff_id"], expected.diff_id.to_string());
    assert_eq!(printed["size"], expected.size);
    assert_eq!(std::fs::read(&out_path).unwrap(), expected_blob);

    // --tar writes the uncompressed tar and reports its diff_id.
    let out = retrace()
        .args(["layer", "write", "--profile", "docker-18.06", "--tar", "--json"])
        .arg(&tree)
        .output()
        .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["diff_id"], expected.diff_id.to_string());
}

#[test]
fn bad_input_exits_2_without_output() {
    let t = tempfile::tempdir().unwrap();
    let out_path = t.path().join("never.tar.gz");
    let out = retrace()
        .args(["layer", "write", "--profile", "docker-19.03", "-o"])
        .arg(&out_path)
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("docker-17.06, docker-17.12, docker-18.06, docker-20.10"));
    let out = retrace()
        .args(["layer", "write", "--profile", "docker-18.06", "-o"])
        .arg(&out_path)
        .arg(t.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
    assert!(!out_path.exists());
}

#[test]
fn hash_file_prints_the_file_source_hash() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("docker-entrypoint.sh");
    std::fs::write(&f, b"#!/bin/sh\nexec \"$@\"\n").unwrap();
    let out = retrace()
        .arg("hash-file")
        .arg(&f)
        .args(["--profile", "docker-17.06"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected = retrace::layer::hash_file_on_disk(&f, None, &Profile::docker_17_06()).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("file:{}\n", expected.hex())
    );
}
