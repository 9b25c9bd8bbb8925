//! `retrace layer write` and `retrace hash-file` as a user runs them: what the CLI prints is
//! true of what it wrote (checked by hashing the output here, not with the writer under test), its
//! output is written atomically, and bad input exits 2. The writer's bytes themselves are proven
//! against Go and Docker elsewhere (`tar_oracle`, `deflate_go`, `layer_docker`).

use std::io::Read;
use std::process::Command;

use sha2::{Digest as _, Sha256};

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

    let out_path = t.path().join("out/layer.tar.gz");
    let out = retrace()
        .args(["layer", "write", "--profile", "docker-18.06", "--json", "-o"])
        .arg(&out_path)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blob = std::fs::read(&out_path).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).unwrap();
    assert_eq!(printed["digest"], sha256(&blob));
    assert_eq!(printed["diff_id"], sha256(&tar));
    assert_eq!(printed["size"], blob.len());

    // --tar writes the uncompressed tar and reports its diff_id.
    let out = retrace()
        .args(["layer", "write", "--profile", "docker-18.06", "--tar", "--json"])
        .arg(&tree)
        .output()
        .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["diff_id"], sha256(&tar));
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
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

/// The oracle is Docker 20.10's classic builder, which recorded the demo's entrypoint as
/// `COPY file:<hex>` in the committed document `testdata/demo/demo.md`.
#[test]
fn hash_file_prints_the_hash_docker_recorded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let document = std::fs::read_to_string(root.join("testdata/demo/demo.md")).unwrap();
    let recorded = document
        .lines()
        .find_map(|l| l.strip_prefix("COPY ")?.split_whitespace().next())
        .unwrap();
    let out = retrace()
        .arg("hash-file")
        .arg(root.join("testdata/demo/entrypoint.sh"))
        .args(["--profile", "docker-20.10"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{recorded}\n"));
}
