//! `retrace verify` against the golden build output `testdata/verify/out` (written by
//! `testdata/verify/make.py` with Python's hashlib, gzip and tarfile, never by retrace): the
//! output as written verifies against its document, and each alteration a skeptic might fear (one
//! blob byte, one manifest entry, one report verdict) is a false claim naming its layer, exit 1.
//! `retrace report` shows the result.

use crate::common;

use std::path::{Path, PathBuf};

use retrace::digest::Digest;
use serde_json::Value;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/verify")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(out: &Path, digest: &str) -> PathBuf {
    out.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap())
}

/// Stores `value` as a blob of the layout and returns its digest and size.
fn store(out: &Path, value: &Value) -> (String, usize) {
    let bytes = serde_json::to_vec(value).unwrap();
    let digest = Digest::of(&bytes).to_string();
    std::fs::write(blob(out, &digest), &bytes).unwrap();
    (digest, bytes.len())
}

/// Runs `retrace verify` on `out` against the golden document: exit code and standard output.
fn verify(out: &Path) -> (Option<i32>, String) {
    let document = golden().join("document.md");
    let run = common::build::retrace(&[
        "verify",
        out.to_str().unwrap(),
        "--document",
        document.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    (run.status.code(), stdout + &String::from_utf8_lossy(&run.stderr))
}

fn report_text(out: &Path) -> String {
    let run = common::build::retrace(&["report", out.to_str().unwrap()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// The expected digest of layer `index` (1-based) in report.json.
fn expected(out: &Path, index: usize) -> String {
    json(&out.join("report.json"))["platforms"][0]["layers"][index - 1]["expected"]
        .as_str()
        .unwrap()
        .to_string()
}

/// One byte of layer 2's blob flipped.
fn flip_blob_byte(out: &Path) {
    let path = blob(out, &expected(out, 2));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

/// The manifest lists layer 3's blob in place of layer 2's, and the indexes above it are
/// re-stored to match, so every blob still hashes to its name.
fn swap_manifest_entry(out: &Path) {
    let mut top = json(&out.join("index.json"));
    let mut nested = json(&blob(out, top["manifests"][0]["digest"].as_str().unwrap()));
    let mut manifest = json(&blob(out, nested["manifests"][0]["digest"].as_str().unwrap()));
    manifest["layers"][1] = manifest["layers"][2].clone();
    let (digest, size) = store(out, &manifest);
    nested["manifests"][0]["digest"] = digest.into();
    nested["manifests"][0]["size"] = size.into();
    let (digest, size) = store(out, &nested);
    top["manifests"][0]["digest"] = digest.into();
    top["manifests"][0]["size"] = size.into();
    std::fs::write(out.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
}

/// Layer 3, which differs, is called a match.
fn call_layer_3_a_match(out: &Path) {
    let mut report = json(&out.join("report.json"));
    report["platforms"][0]["layers"][2]["verdict"] = "match".into();
    std::fs::write(out.join("report.json"), serde_json::to_vec(&report).unwrap()).unwrap();
}

#[test]
fn the_golden_output_verifies_and_the_report_says_so() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    copy_dir(&golden().join("out"), &out);
    assert!(report_text(&out).contains("not verified"));
    let (code, text) = verify(&out);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("2 rebuilt layers under their published digests"),
        "{text}"
    );
    assert!(report_text(&out).contains("verified against"), "{}", report_text(&out));
    // A report changed after the check makes the record stale.
    call_layer_3_a_match(&out);
    assert!(report_text(&out).contains("verification stale"));
}

/// What is altered, how, and what the false claim names.
type Alteration = (&'static str, fn(&Path), &'static str);

#[test]
fn each_alteration_is_a_false_claim_naming_its_layer() {
    let cases: [Alteration; 3] = [
        (
            "one blob byte",
            flip_blob_byte,
            "linux/amd64 layer 2 (match-after-timestamps): ",
        ),
        (
            "one manifest entry",
            swap_manifest_entry,
            "linux/amd64 layer 2: the manifest ",
        ),
        (
            "one report verdict",
            call_layer_3_a_match,
            "linux/amd64 layer 3 (match): report.json names ",
        ),
    ];
    for (what, alter, named) in cases {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        copy_dir(&golden().join("out"), &out);
        alter(&out);
        let (code, text) = verify(&out);
        assert_eq!(code, Some(1), "{what}: {text}");
        assert!(text.starts_with("false claim in "), "{what}: {text}");
        assert!(text.contains(named), "{what}: {text}");
        assert!(report_text(&out).contains("verification failed: "), "{what}");
    }
}

#[test]
fn an_expected_digest_the_document_does_not_list_is_a_false_claim() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    copy_dir(&golden().join("out"), &out);
    // Layer 3 called a match of its own rebuilt blob: every file agrees, the document does not.
    let mut report = json(&out.join("report.json"));
    let layer = &mut report["platforms"][0]["layers"][2];
    layer["verdict"] = "match".into();
    layer["expected"] = layer["rebuilt"].clone();
    std::fs::write(out.join("report.json"), serde_json::to_vec(&report).unwrap()).unwrap();
    let (code, text) = verify(&out);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("linux/amd64 layer 3: report.json expects "), "{text}");
    assert!(text.contains("but the document lists"), "{text}");
}

#[test]
fn an_output_without_report_json_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let (code, text) = verify(t.path());
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("report.json"), "{text}");
}

/// The attestation of linux/amd64 in `out`, as JSON.
fn envelope(out: &Path) -> Value {
    json(&out.join("attestations/linux-amd64.intoto.json"))
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// OpenSSL, not retrace, checks the envelope's signature over DSSE's pre-authentication encoding
/// (written out here from the protocol's definition).
fn openssl_verifies(out: &Path, public: &Path, ed25519: bool) -> bool {
    use base64::Engine as _;
    let e = envelope(out);
    let payload = b64().decode(e["payload"].as_str().unwrap()).unwrap();
    let kind = e["payloadType"].as_str().unwrap();
    let mut pae = format!("DSSEv1 {} {kind} {} ", kind.len(), payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    let (pae_path, sig_path) = (out.join("pae.bin"), out.join("sig.bin"));
    std::fs::write(&pae_path, pae).unwrap();
    std::fs::write(
        &sig_path,
        b64().decode(e["signatures"][0]["sig"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let mut openssl = std::process::Command::new("openssl");
    if ed25519 {
        openssl
            .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
            .arg(public);
        openssl.arg("-in").arg(&pae_path).arg("-sigfile").arg(&sig_path);
    } else {
        openssl.args(["dgst", "-sha256", "-verify"]).arg(public);
        openssl.arg("-signature").arg(&sig_path).arg(&pae_path);
    }
    openssl.output().expect("run openssl").status.success()
}

/// `retrace verify` with `extra` arguments: exit code and output.
fn verify_with(out: &Path, extra: &[&Path]) -> (Option<i32>, String) {
    let mut args = vec!["verify".to_string(), out.display().to_string()];
    for pair in extra.chunks(2) {
        args.push(pair[0].display().to_string());
        args.push(pair[1].display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::build::retrace(&args).output().unwrap();
    let text = String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    (run.status.code(), text)
}

/// Rewrites the attestation's envelope through `alter`.
fn alter_envelope(out: &Path, alter: impl Fn(&mut Value)) {
    let mut e = envelope(out);
    alter(&mut e);
    std::fs::write(
        out.join("attestations/linux-amd64.intoto.json"),
        serde_json::to_vec(&e).unwrap(),
    )
    .unwrap();
}

#[test]
fn an_attestation_verifies_with_the_public_key_and_fails_when_altered() {
    use base64::Engine as _;
    let keys = golden().join("../attest");
    for (name, ed25519) in [("ed25519", true), ("p256", false)] {
        let (private, public) = (keys.join(format!("{name}.pem")), keys.join(format!("{name}.pub.pem")));
        let other = keys.join(if ed25519 { "p256.pub.pem" } else { "ed25519.pub.pem" });
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        copy_dir(&golden().join("out"), &out);
        let (sign, key) = (Path::new("--sign"), Path::new("--key"));
        let (code, text) = verify_with(&out, &[sign, &private]);
        assert_eq!(code, Some(0), "{name}: {text}");
        assert!(
            openssl_verifies(&out, &public, ed25519),
            "{name}: openssl rejects the signature"
        );
        let statement: Value =
            serde_json::from_slice(&b64().decode(envelope(&out)["payload"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            statement["subject"][1]["digest"]["sha256"]
                .as_str()
                .map(|h| format!("sha256:{h}")),
            Some(expected(&out, 2))
        );
        let (code, text) = verify_with(&out, &[key, &public]);
        assert_eq!(code, Some(0), "{name}: {text}");
        let (code, text) = verify_with(&out, &[key, &other]);
        assert_eq!(code, Some(1), "{name} with another key: {text}");
        assert!(text.contains("no signature verifies with the key"), "{text}");

        // The payload altered (layer 3 called a match), the signature kept.
        let signed = envelope(&out);
        alter_envelope(&out, |e| {
            let mut s = statement.clone();
            s["predicate"]["layers"][2]["verdict"] = "match".into();
            e["payload"] = b64().encode(serde_json::to_vec(&s).unwrap()).into();
        });
        let (code, text) = verify_with(&out, &[key, &public]);
        assert_eq!(code, Some(1), "{name}, payload altered: {text}");
        assert!(
            text.contains("linux/amd64: ") && text.contains("no signature verifies"),
            "{text}"
        );

        // The signature altered, one byte.
        alter_envelope(&out, |e| {
            let mut sig = b64().decode(signed["signatures"][0]["sig"].as_str().unwrap()).unwrap();
            let last = sig.len() - 1;
            sig[last] ^= 1;
            *e = signed.clone();
            e["signatures"][0]["sig"] = b64().encode(sig).into();
        });
        let (code, text) = verify_with(&out, &[key, &public]);
        assert_eq!(code, Some(1), "{name}, signature altered: {text}");
        assert!(text.contains("no signature verifies"), "{text}");
    }
}
