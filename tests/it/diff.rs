//! `retrace diff` end to end: fixtures are built here (deterministically), the CLI is run on them,
//! and its text and JSON outputs are compared with goldens in tests/snapshots/.

use crate::diff_fixtures;

use diff_fixtures::*;
use retrace::diff::cause::{classify, Cause};
use retrace::diff::{diff_layer_files, DiffOptions};

/// Goldens live with the other diff test data, not next to the test source.
fn snapshot(name: &str, value: impl std::fmt::Display) {
    insta::with_settings!({snapshot_path => "../../testdata/diff/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(format!("diff__{name}"), value.to_string());
    });
}

fn base() -> Vec<E> {
    vec![
        dir("etc"),
        file("etc/hostname", b"box\n"),
        file("etc/motd", b"welcome\n"),
        dir("usr"),
        dir("usr/bin"),
        file("usr/bin/tool", &[0x7f, b'E', b'L', b'F', 0, 1, 2, 3]),
        symlink("usr/bin/alias", "tool"),
    ]
}

fn changed_hostname() -> Vec<E> {
    let mut v = base();
    v[1] = file("etc/hostname", b"box2\n");
    v
}

#[test]
fn layer_against_itself_reports_nothing_and_exits_0() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("a.tar.gz"), &gzip(&tar(&base())));
    let (code, out, err) = run(&["diff", "a.tar.gz", "a.tar.gz"], t.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("result: same\n"), "{out}");
    let (code, out, _) = run(&["diff", "--format", "json", "a.tar.gz", "a.tar.gz"], t.path());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["differs"], false);
    assert_eq!(v["comparisons"][0]["changes"].as_array().unwrap().len(), 0);
}

#[test]
fn one_changed_file_is_exactly_what_is_reported() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("a.tar"), &tar(&base()));
    write(&t.path().join("b.tar"), &tar(&changed_hostname()));
    let (code, text, err) = run(&["diff", "a.tar", "b.tar", "--report-dir", "rep"], t.path());
    assert_eq!(code, 1, "{err}");
    snapshot("one_changed_file_text", text);
    let (code, json, _) = run(&["diff", "--format", "json", "a.tar", "b.tar"], t.path());
    assert_eq!(code, 1);
    snapshot("one_changed_file_json", json);
    let unified = std::fs::read_to_string(t.path().join("rep/layer/etc/hostname.diff")).unwrap();
    assert_eq!(
        unified,
        "--- a/etc/hostname\n+++ b/etc/hostname\n@@ -1 +1 @@\n-box\n+box2\n"
    );
    // The report dir holds the same report the CLI printed, plus where the unified diff went.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("rep/diff.json")).unwrap()).unwrap();
    assert_eq!(
        saved["comparisons"][0]["changes"][0]["unified_diff"],
        "layer/etc/hostname.diff"
    );
}

/// Two layers with the same files but other mtimes, another entry order and other compression.
fn reordered_retimed() -> (Vec<u8>, Vec<u8>) {
    let a = tar(&base());
    let mut b_entries: Vec<E> = base().into_iter().map(|e| e.at(1_600_000_000)).collect();
    b_entries.swap(1, 2);
    (a, gzip(&tar(&b_entries)))
}

#[test]
fn semantic_mode_ignores_mtimes_order_and_compression_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = reordered_retimed();
    write(&t.path().join("a.tar"), &a);
    write(&t.path().join("b.tar.gz"), &b);
    let (code, out, err) = run(&["diff", "--semantic", "a.tar", "b.tar.gz"], t.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("semantic: ignoring mtime, entry order, header format, compression"),
        "{out}"
    );
    let (code, json, _) = run(
        &["diff", "--semantic", "--format", "json", "a.tar", "b.tar.gz"],
        t.path(),
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["ignored"],
        serde_json::json!(["mtime", "entry order", "header format", "compression"])
    );
}

#[test]
fn strict_mode_reports_only_mtimes_plus_layer_notes() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = reordered_retimed();
    write(&t.path().join("a.tar"), &a);
    write(&t.path().join("b.tar.gz"), &b);
    let (code, json, err) = run(&["diff", "--format", "json", "a.tar", "b.tar.gz"], t.path());
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cmp = &v["comparisons"][0];
    let changes = cmp["changes"].as_array().unwrap();
    assert_eq!(changes.len(), base().len());
    for c in changes {
        let fields: Vec<&str> = c["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["mtime"], "{c}");
    }
    assert_eq!(
        cmp["notes"],
        serde_json::json!(["compression differs: none vs gzip", "entry order differs"])
    );
    // The classifier names the cause the way `retrace build` will report it.
    let cause = classify_files(t.path(), "a.tar", "b.tar.gz");
    assert_eq!(cause.causes, vec![Cause::OnlyTimestamps { paths: base().len() }]);
}

fn classify_files(dir: &std::path::Path, published: &str, rebuilt: &str) -> retrace::diff::cause::CauseSummary {
    retrace::diff::cause::classify_layers(&dir.join(rebuilt), &dir.join(published)).unwrap()
}

#[test]
fn compression_alone_is_named_as_such() {
    let t = tempfile::tempdir().unwrap();
    let a = tar(&base());
    write(&t.path().join("a.tar"), &a);
    write(&t.path().join("a.tar.gz"), &gzip(&a));
    let cmp = diff_layer_files(
        &t.path().join("a.tar"),
        &t.path().join("a.tar.gz"),
        &DiffOptions::default(),
    )
    .unwrap();
    assert!(cmp.differs && cmp.changes.is_empty());
    assert!(
        cmp.notes.iter().any(|n| n.contains("only the compressed bytes differ")),
        "{:?}",
        cmp.notes
    );
    assert_eq!(classify(&cmp).causes, vec![Cause::CompressionOnly]);
}

#[test]
fn classifier_names_package_versions_embedded_times_and_missing_files() {
    let t = tempfile::tempdir().unwrap();
    let apk = |musl: &str| format!("P:musl\nV:{musl}\nA:x86_64\n\nP:busybox\nV:1.36.1-r5\n\n");
    let mut pyc_a = vec![0x6f, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 0x10, 0x20, 0x30, 0x40, 9, 0, 0, 0];
    pyc_a.extend_from_slice(b"\xe3bytecode");
    let mut pyc_b = pyc_a.clone();
    pyc_b[8] = 0x99;
    let published = vec![
        dir("lib"),
        file("lib/apk/db/installed", apk("1.2.4-r2").as_bytes()),
        file("etc/build-info", b"name=demo\nbuilt=2019-03-07 10:11:12\n"),
        file("usr/lib/x.pyc", &pyc_a),
        file("usr/share/gone", b"bye"),
    ];
    let rebuilt = vec![
        dir("lib"),
        file("lib/apk/db/installed", apk("1.2.4-r3").as_bytes()),
        file("etc/build-info", b"name=demo\nbuilt=2026-11-23 08:00:00\n"),
        file("usr/lib/x.pyc", &pyc_b),
    ];
    write(&t.path().join("published.tar"), &tar(&published));
    write(&t.path().join("rebuilt.tar"), &tar(&rebuilt));
    let summary = classify_files(t.path(), "published.tar", "rebuilt.tar");
    snapshot("classifier_headline", summary.headline);
    assert!(
        matches!(&summary.causes[0], Cause::PackageVersions { packages } if packages.len() == 1 && packages[0].name == "musl")
    );
    assert!(
        matches!(&summary.causes[1], Cause::EmbeddedTime { paths } if paths == &["etc/build-info", "usr/lib/x.pyc"])
    );
    assert!(matches!(&summary.causes[2], Cause::MissingFiles { paths } if paths == &["usr/share/gone"]));
}

#[test]
fn nested_tarballs_are_descended_into() {
    let t = tempfile::tempdir().unwrap();
    let inner_a = gzip(&tar(&[file("pkg/a.txt", b"one\n"), file("pkg/b.txt", b"two\n")]));
    let inner_b = gzip(&tar(&[file("pkg/a.txt", b"one\n"), file("pkg/b.txt", b"three\n")]));
    write(&t.path().join("a.tar"), &tar(&[file("opt/vendor.tgz", &inner_a)]));
    write(&t.path().join("b.tar"), &tar(&[file("opt/vendor.tgz", &inner_b)]));
    let (code, text, err) = run(&["diff", "a.tar", "b.tar"], t.path());
    assert_eq!(code, 1, "{err}");
    assert!(text.contains("~ opt/vendor.tgz (file)"), "{text}");
    assert!(text.contains("    ~ pkg/b.txt (file)  size: 4 -> 6"), "{text}");
}

/// Side A: two layers, the upper one deleting `etc/a` by whiteout and emptying `opt/x` (opaque)
/// before adding `opt/x/2`. Side B: one layer holding the result. Flattened, they are the same.
#[test]
fn flattened_view_applies_whiteouts_and_opaque_dirs() {
    let t = tempfile::tempdir().unwrap();
    let lower = tar(&[
        dir("etc"),
        file("etc/a", b"a"),
        file("etc/b", b"b"),
        dir("opt"),
        dir("opt/x"),
        file("opt/x/1", b"1"),
    ]);
    let upper = tar(&[
        dir("etc"),
        file("etc/.wh.a", b""),
        dir("opt"),
        dir("opt/x"),
        file("opt/x/.wh..wh..opq", b""),
        file("opt/x/2", b"2"),
    ]);
    let squashed = tar(&[
        dir("etc"),
        file("etc/b", b"b"),
        dir("opt"),
        dir("opt/x"),
        file("opt/x/2", b"2"),
    ]);
    oci_image(
        &t.path().join("two"),
        "latest",
        ("linux", "amd64"),
        &[gzip(&lower), gzip(&upper)],
    );
    oci_image(&t.path().join("one"), "latest", ("linux", "amd64"), &[gzip(&squashed)]);
    let (code, json, err) = run(
        &["diff", "--semantic", "--format", "json", "oci:two:latest", "oci:one"],
        t.path(),
    );
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let labels: Vec<&str> = v["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["linux/amd64 layer 1", "linux/amd64 layer 2", "linux/amd64 flattened"]
    );
    let flat = &v["comparisons"][2];
    // Layer 2 exists only in A; the layer lists differ but the resulting file systems do not.
    assert_eq!(flat["differs"], false, "{flat}");
    assert_eq!(flat["changes"].as_array().unwrap().len(), 0, "{flat}");
    assert_eq!(v["comparisons"][1]["notes"][0], "layer present in A, absent in B");
}

#[test]
fn build_dirs_compare_platform_by_platform_and_layer_by_layer() {
    let t = tempfile::tempdir().unwrap();
    let l1 = gzip(&tar(&base()));
    let l2a = gzip(&tar(&[file("srv/app.conf", b"port=80\n")]));
    let l2b = gzip(&tar(&[file("srv/app.conf", b"port=8080\n")]));
    let published = retrace::Digest::of(b"published");
    build_dir(
        &t.path().join("night1"),
        "demo",
        &[(
            "linux/amd64",
            vec![
                ("FROM scratch", published, Some(l1.clone()), "match"),
                ("COPY app.conf", published, Some(l2a), "differs"),
            ],
        )],
    );
    build_dir(
        &t.path().join("night2"),
        "demo",
        &[(
            "linux/amd64",
            vec![
                ("FROM scratch", published, Some(l1), "match"),
                ("COPY app.conf", published, Some(l2b), "differs"),
            ],
        )],
    );
    let (code, text, err) = run(&["diff", "night1", "night2"], t.path());
    assert_eq!(code, 1, "{err}");
    assert!(text.contains("== linux/amd64 layer 1: same"), "{text}");
    assert!(text.contains("== linux/amd64 layer 2: DIFFERS"), "{text}");
    assert!(text.contains("== linux/amd64 flattened: DIFFERS"), "{text}");
    assert_eq!(text.matches("~ srv/app.conf (file)").count(), 2, "{text}");
}

#[test]
fn a_layer_in_an_oci_layout_is_named_by_digest_and_verified() {
    let t = tempfile::tempdir().unwrap();
    let layer = gzip(&tar(&base()));
    oci_image(
        &t.path().join("img"),
        "v1",
        ("linux", "arm64"),
        std::slice::from_ref(&layer),
    );
    let d = retrace::Digest::of(&layer);
    write(&t.path().join("a.tgz"), &layer);
    let spec = format!("img@{d}");
    let (code, _, err) = run(&["diff", &spec, "a.tgz"], t.path());
    assert_eq!(code, 0, "{err}");
    // A blob whose bytes no longer match its name is refused, naming both digests.
    write(
        &t.path().join("img/blobs/sha256").join(d.hex()),
        &gzip(&tar(&changed_hostname())),
    );
    let (code, _, err) = run(&["diff", &spec, "a.tgz"], t.path());
    assert_eq!(code, 2);
    assert!(err.contains("blob digest mismatch: expected sha256:"), "{err}");
}

#[test]
fn a_blob_of_a_content_store_is_named_by_digest_too() {
    // `retrace pull`'s store and a build cache keep blobs as `blobs/sha256/<hex>` without an
    // `oci-layout` file; DIR@sha256:… reads them the same way, and names what is missing.
    let t = tempfile::tempdir().unwrap();
    let layer = gzip(&tar(&base()));
    let d = retrace::Digest::of(&layer);
    write(&t.path().join("cache/blobs/sha256").join(d.hex()), &layer);
    write(&t.path().join("a.tgz"), &layer);
    let (code, _, err) = run(&["diff", &format!("cache@{d}"), "a.tgz"], t.path());
    assert_eq!(code, 0, "{err}");
    let other = retrace::Digest::of(b"absent");
    let (code, _, err) = run(&["diff", &format!("cache@{other}"), "a.tgz"], t.path());
    assert_eq!(code, 2);
    assert!(err.contains(&format!("no blob {other} under blobs/sha256/")), "{err}");
}

#[test]
fn docker_archives_are_read_in_place() {
    let t = tempfile::tempdir().unwrap();
    let layer = tar(&base());
    let config = br#"{"os":"linux","architecture":"amd64"}"#;
    let manifest = br#"[{"Config":"cfg.json","RepoTags":["demo:1"],"Layers":["abc/layer.tar"]}]"#;
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("abc/layer.tar", &layer[..]),
        ("cfg.json", &config[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    write(&t.path().join("saved.tar"), &b.into_inner().unwrap());
    oci_image(&t.path().join("img"), "v1", ("linux", "amd64"), &[gzip(&layer)]);
    let (code, text, err) = run(&["diff", "--semantic", "docker-archive:saved.tar", "oci:img"], t.path());
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("== linux/amd64 layer 1: same"), "{text}");
}

#[test]
fn hostile_layers_are_refused_with_exit_2_naming_the_entry() {
    let t = tempfile::tempdir().unwrap();
    let evil = tar(&[symlink("etc", "/etc"), file("etc/cron.d/x", b"boom")]);
    write(&t.path().join("evil.tar"), &evil);
    write(&t.path().join("ok.tar"), &tar(&base()));
    let (code, _, err) = run(&["diff", "ok.tar", "evil.tar"], t.path());
    assert_eq!(code, 2);
    assert!(
        err.contains("entry `etc/cron.d/x`: reached through symlink `etc`"),
        "{err}"
    );
}

#[test]
fn image_references_that_cannot_be_resolved_are_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("ok.tar"), &tar(&base()));
    let diff = |operand: &str| {
        let out = retrace()
            .args(["diff", operand, "ok.tar"])
            .current_dir(t.path())
            .env("RETRACE_STORE", t.path().join("store"))
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // `store:` reads an (empty) content store only: refused at once, never the network.
    let (code, err) = diff("store:127.0.0.1:9/none/such:1");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("127.0.0.1:9/none/such"), "{err}");
    // `registry:` with nothing listening: exit 2 naming the reference, nothing stored.
    let (code, err) = diff("registry:127.0.0.1:9/none/such:1");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("127.0.0.1:9/none/such"), "{err}");
}

#[test]
fn contents_past_the_memory_budget_are_fetched_in_a_second_pass() {
    let t = tempfile::tempdir().unwrap();
    let a = write(&t.path().join("a.tar.gz"), &gzip(&tar(&base())));
    let b = write(&t.path().join("b.tar.gz"), &gzip(&tar(&changed_hostname())));
    let opts = DiffOptions {
        retention: retrace::diff::index::Retention {
            budget: 0,
            ..Default::default()
        },
        ..Default::default()
    };
    let cmp = diff_layer_files(&a, &b, &opts).unwrap();
    assert_eq!(cmp.changes.len(), 1);
    let change = &cmp.changes[0];
    assert_eq!(change.notes, ["text differs"]);
    assert_eq!(
        change.unified.as_deref(),
        Some("--- a/etc/hostname\n+++ b/etc/hostname\n@@ -1 +1 @@\n-box\n+box2\n")
    );
}
