//! The registry client, pull and describe against the real local registry that `cargo xtask setup`
//! starts (docker-registry on 127.0.0.1:5000, blob downloads redirected to busybox httpd), and the
//! demo image that `cargo xtask demo-fixture` pushes there. Ignored by plain `cargo test`; `cargo
//! xtask test` runs them where the registry answers, and always under CI=true.

use crate::common;

use std::process::Command;

use retrace::describe;
use retrace::registry::manifest::{
    Descriptor, Index, Platform, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2,
};
use retrace::registry::pull::pull;
use retrace::registry::{Client, ClientOptions, Reference, Source, Store};
use retrace::Digest;

fn client() -> Client {
    Client::new(ClientOptions::default()).unwrap()
}

/// A repository name no other run uses, so tests never see each other's pushes.
fn fresh_repo(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}/retrace-test/{what}-{}-{nanos}",
        common::REGISTRY,
        std::process::id()
    )
}

fn descriptor(media_type: &str, bytes: &[u8], platform: Option<Platform>) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: Digest::of(bytes),
        size: bytes.len() as u64,
        urls: None,
        platform,
        annotations: None,
    }
}

/// Pushes a two-platform image (each with a config and two layers, one layer shared) and returns the
/// list's reference and digest.
fn push_two_platform_image(c: &Client, repo: &str) -> (Reference, Digest) {
    let r: Reference = format!("{repo}:multi").parse().unwrap();
    let shared_layer = vec![7u8; 3000];
    let mut entries = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let own_layer: Vec<u8> = format!("layer for {arch}").repeat(500).into_bytes();
        let config = serde_json::json!({
            "architecture": arch, "os": "linux", "variant": variant,
            "docker_version": "20.10.24",
            "config": {"Entrypoint": ["/entry.sh"], "Cmd": ["run", "it"]},
            "history": [
                {"created": "2019-01-30T22:19:52.5Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
                {"created": "2019-01-30T22:19:53Z", "created_by": "/bin/sh -c echo hi \t&& echo there"},
                {"created": "2019-01-30T22:19:54Z", "created_by": "/bin/sh -c #(nop)  CMD [\"run\"]", "empty_layer": true}
            ],
            "rootfs": {"type": "layers", "diff_ids": []}
        })
        .to_string()
        .into_bytes();
        for blob in [&config, &shared_layer, &own_layer] {
            c.push_blob(&r, blob).unwrap();
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2,
            "config": descriptor(DOCKER_CONFIG, &config, None),
            "layers": [descriptor(DOCKER_LAYER_GZIP, &shared_layer, None), descriptor(DOCKER_LAYER_GZIP, &own_layer, None)],
        })
        .to_string()
        .into_bytes();
        let d = c
            .push_manifest(&r, &format!("single-{arch}"), DOCKER_MANIFEST_V2, &manifest)
            .unwrap();
        assert_eq!(d, Digest::of(&manifest));
        let platform = Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            ..Platform::default()
        };
        entries.push(descriptor(DOCKER_MANIFEST_V2, &manifest, Some(platform)));
    }
    let list = serde_json::to_vec(&Index {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST_LIST.to_string()),
        manifests: entries,
    })
    .unwrap();
    let d = c.push_manifest(&r, "multi", DOCKER_MANIFEST_LIST, &list).unwrap();
    (r, d)
}

#[test]
#[ignore = "needs the local registry (cargo xtask setup)"]
fn needs_registry_push_pull_round_trip_through_the_store_and_a_layout() {
    if !common::registry_here("needs_registry_push_pull_round_trip_through_the_store_and_a_layout") {
        return;
    }
    let c = client();
    let repo = fresh_repo("roundtrip");
    let (r, list_digest) = push_two_platform_image(&c, &repo);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("store"));
    let source = Source::Online {
        client: client(),
        store: store.clone(),
    };
    let out = dir.path().join("layout");
    let report = pull(&source, &r, None, Some(&out)).unwrap();
    assert_eq!(report.top, Some(list_digest));
    assert_eq!(report.platforms, vec!["linux/amd64", "linux/arm64/v8"]);
    // Two configs, the shared layer once, two own layers.
    assert_eq!((report.blobs, report.transferred), (5, 5));
    // A second pull finds everything in the store and only re-verifies it.
    let again = pull(&source, &r, None, None).unwrap();
    assert_eq!((again.blobs, again.transferred), (5, 0));

    // The layout lists the list itself, and every blob in it hashes to its name.
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], list_digest.to_string());
    assert_eq!(index["manifests"][0]["mediaType"], DOCKER_MANIFEST_LIST);
    let mut count = 0;
    for entry in std::fs::read_dir(out.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(Digest::of(&std::fs::read(&path).unwrap()).hex(), name);
        count += 1;
    }
    assert_eq!(count, 1 + 2 + 5, "list, two manifests, five blobs");
    let layout = std::fs::read_to_string(out.join("oci-layout")).unwrap();
    assert!(layout.contains("imageLayoutVersion"));

    // --platform keeps one image; the layout then lists that platform's manifest.
    let out1 = dir.path().join("layout-arm64");
    let filter = "linux/arm64".parse::<retrace::platform::Platform>().unwrap();
    let one = pull(&source, &r, Some(&filter), Some(&out1)).unwrap();
    assert_eq!(one.platforms, vec!["linux/arm64/v8"]);
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out1.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "arm64");
    let none = pull(
        &source,
        &r,
        Some(&"linux/s390x".parse::<retrace::platform::Platform>().unwrap()),
        None,
    )
    .unwrap_err();
    assert!(
        retrace::error::chain(&none).contains("linux/amd64, linux/arm64/v8"),
        "{none}"
    );

    // The layout is itself a source: describing it names the image as pulled.
    let (from_layout, lr) = retrace::registry::open(&format!("oci:{}", out.display()), true, None).unwrap();
    assert_eq!(lr.repository, r.repository);
    let doc = describe::gather(&from_layout, &lr, None).unwrap();
    assert_eq!(doc.digest, list_digest);
    assert_eq!(doc.images.len(), 2);
}

#[test]
#[ignore = "needs the local registry (cargo xtask setup)"]
fn needs_registry_describe_offline_after_pull_writes_the_same_document() {
    if !common::registry_here("needs_registry_describe_offline_after_pull_writes_the_same_document") {
        return;
    }
    let c = client();
    let repo = fresh_repo("describe");
    let (r, list_digest) = push_two_platform_image(&c, &repo);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let online = Source::Online {
        client: client(),
        store: store.clone(),
    };
    let text = describe::render(&describe::gather(&online, &r, None).unwrap());
    pull(&online, &r, None, None).unwrap();
    let offline = Source::Offline { store: store.clone() };
    let text_offline = describe::render(&describe::gather(&offline, &r, None).unwrap());
    assert_eq!(text, text_offline);

    // The facts in the text are the registry's: the list digest, per-platform manifest digests, and
    // the Last-Modified the blob server sends.
    assert!(text.contains(&format!("$ docker pull {repo}@{list_digest}")), "{text}");
    assert!(text.contains("-\tEntrypoint: `[\"\\/entry.sh\"]`"), "{text}");
    assert!(
        text.contains("# Wed, 30 Jan 2019 22:19:52 GMT\nADD file:abc in / \n"),
        "{text}"
    );
    assert!(text.contains("RUN echo hi \t&& echo there\n"), "{text}");
    assert_eq!(text.matches("\t\tLast Modified: ").count(), 4, "{text}");
    let shape = common::shape(&text);
    assert_eq!(shape.platforms_listed, 2);
    assert_eq!(shape.layers, vec![vec!["Last Modified", "Size", "MIME"]; 4]);

    // Offline without the store's content is an error that says what to do.
    let empty = Source::Offline {
        store: Store::new(dir.path().join("empty")),
    };
    let err = retrace::error::chain(&describe::gather(&empty, &r, None).unwrap_err());
    assert!(err.contains("retrace pull"), "{err}");
}

#[test]
#[ignore = "needs the local registry (cargo xtask setup)"]
fn needs_registry_a_partial_download_resumes_against_the_real_blob_server() {
    if !common::registry_here("needs_registry_a_partial_download_resumes_against_the_real_blob_server") {
        return;
    }
    let c = client();
    let repo = fresh_repo("resume");
    let r: Reference = format!("{repo}:x").parse().unwrap();
    let blob: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let d = c.push_blob(&r, &blob).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    // As if an earlier run had been killed after 1 MB.
    std::fs::write(store.partial_path(&d).unwrap(), &blob[..1_000_000]).unwrap();
    let meta = c.fetch_blob(&r, &d, Some(blob.len() as u64), &store).unwrap();
    assert_eq!(meta.size, blob.len() as u64);
    assert_eq!(store.verify(&d).unwrap(), blob.len() as u64);

    // A partial file with wrong bytes is continued, fails verification, and is not stored.
    let mut wrong = blob[..1_000_000].to_vec();
    wrong[10] ^= 0xff;
    let store2 = Store::new(dir.path().join("second"));
    std::fs::write(store2.partial_path(&d).unwrap(), &wrong).unwrap();
    let err = c.fetch_blob(&r, &d, Some(blob.len() as u64), &store2).unwrap_err();
    assert!(retrace::error::chain(&err).contains("nothing was stored"), "{err}");
    assert!(!store2.has(&d));
    // The next attempt starts from scratch and succeeds.
    c.fetch_blob(&r, &d, Some(blob.len() as u64), &store2).unwrap();
    assert!(store2.has(&d));
}

fn demo_reference() -> Reference {
    "127.0.0.1:5000/retrace/demo:latest".parse().unwrap()
}

/// The demo image must be in the registry: `cargo xtask demo-fixture` pushes it. Under CI its absence
/// fails the test; elsewhere it is a loud skip.
fn demo_here(test: &str) -> bool {
    if !common::registry_here(test) {
        return false;
    }
    if client().manifest(&demo_reference()).is_ok() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: the demo image is not in the local registry; run `cargo xtask demo-fixture`");
    }
    eprintln!("SKIPPED: {test}: no demo image in the local registry (run `cargo xtask demo-fixture`)");
    false
}

#[test]
#[ignore = "needs the local registry and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_registry_demo_document_has_the_structure_of_a_seed() {
    if !demo_here("needs_registry_demo_document_has_the_structure_of_a_seed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = Source::Online {
        client: client(),
        store: Store::new(dir.path()),
    };
    let text = describe::render(&describe::gather(&source, &demo_reference(), None).unwrap());
    // postgres:alpine is the seed with every field the demo has (Entrypoint and Default Command).
    let seed_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/seeds/002_016ef913fa1bb703.txt"
    ))
    .unwrap();
    let demo = common::shape(&text);
    let seed = common::shape(&seed_text);
    assert_eq!(demo.top, seed.top);
    assert_eq!(demo.platforms_listed, 7);
    assert_eq!(demo.sections.len(), 7);
    for (i, section) in demo.sections.iter().enumerate() {
        assert_eq!(section, &seed.sections[0], "platform section {i}");
    }
    for layer in demo.layers.iter().chain(&seed.layers) {
        assert_eq!(layer, &["Last Modified", "Size", "MIME"]);
    }
    // Nine history entries per platform: every Dockerfile step but `FROM scratch`.
    assert_eq!(demo.history_entries, 63);
}

#[test]
#[ignore = "needs the local registry and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_registry_demo_pull_verifies_every_blob_of_every_platform() {
    if !demo_here("needs_registry_demo_pull_verifies_every_blob_of_every_platform") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let source = Source::Online {
        client: client(),
        store: store.clone(),
    };
    let r = demo_reference();
    let report = pull(&source, &r, None, None).unwrap();
    assert_eq!(report.platforms.len(), 7);
    assert_eq!(report.platforms, common::DEMO_PLATFORMS);
    // Seven configs and three layers each; platforms share no layer (different binaries, and the
    // RUN/COPY layers carry per-build timestamps).
    assert!(report.blobs >= 7 * 2, "{report:?}");
    assert_eq!(report.transferred, report.blobs);

    // An independent client agrees on the list's digest: skopeo's raw manifest bytes hash to it.
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--raw",
            "docker://127.0.0.1:5000/retrace/demo:latest",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => assert_eq!(Some(Digest::of(&o.stdout)), report.top),
        Ok(o) => panic!("skopeo failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => eprintln!("SKIPPED (cross-check only): skopeo not runnable: {e}"),
    }
}

#[test]
#[ignore = "needs the local registry and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_registry_demo_document_parses_into_the_facts_the_registry_serves() {
    if !demo_here("needs_registry_demo_document_parses_into_the_facts_the_registry_serves") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let r = demo_reference();
    let source = Source::Online {
        client: client(),
        store: Store::new(dir.path().join("store")),
    };
    let doc_path = dir.path().join("demo.md");
    std::fs::write(
        &doc_path,
        describe::render(&describe::gather(&source, &r, None).unwrap()),
    )
    .unwrap();

    // `retrace parse` (the binary, as a user runs it) reads the document back.
    let out = Command::new(env!("CARGO_BIN_EXE_retrace"))
        .arg("parse")
        .arg(&doc_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tag = &parsed["documents"][0]["tags"][0];
    assert_eq!(tag["tag"], "127.0.0.1:5000/retrace/demo:latest");

    // Everything below is asked of the registry directly, not of describe.
    let list = c.manifest(&r).unwrap();
    assert_eq!(tag["digest"], list.digest.to_string());
    assert_eq!(tag["media_type"], list.media_type);
    let retrace::registry::manifest::Manifest::Index(index) = &list.manifest else {
        panic!("demo is a list")
    };
    let platforms = tag["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), index.manifests.len());
    let mut layers_checked = 0;
    for (entry, image) in index.manifests.iter().zip(platforms) {
        let want = entry.platform.clone().unwrap();
        assert_eq!(image["platform"], want.to_string());
        assert_eq!(image["digest"], entry.digest.to_string());
        let m = c.manifest(&r.with_digest(entry.digest)).unwrap();
        assert_eq!(image["media_type"], m.media_type);
        let retrace::registry::manifest::Manifest::Image(m) = &m.manifest else {
            panic!("platform manifest")
        };
        assert_eq!(image["image_id"], m.config.digest.to_string());
        let config =
            retrace::registry::ImageConfig::parse(&c.blob_bytes(&r, &m.config.digest, 1 << 20).unwrap(), "config")
                .unwrap();
        assert_eq!(image["history"].as_array().unwrap().len(), config.history.len());
        let cc = config.config.clone().unwrap();
        assert_eq!(image["entrypoint"], serde_json::json!(cc.entrypoint));
        assert_eq!(image["cmd"], serde_json::json!(cc.cmd));
        assert_eq!(image["docker_version"].as_str(), config.docker_version.as_deref());
        let layers = image["layers"].as_array().unwrap();
        assert_eq!(layers.len(), m.layers.len());
        let total: u64 = m.layers.iter().map(|l| l.size).sum();
        assert_eq!(image["total_size"], total);
        for (desc, layer) in m.layers.iter().zip(layers) {
            assert_eq!(layer["digest"], desc.digest.to_string());
            assert_eq!(layer["size"], desc.size);
            assert_eq!(layer["media_type"], desc.media_type);
            let head = c.head_blob(&r, &desc.digest).unwrap();
            let lm = retrace::model::Timestamp::parse_rfc1123(head.last_modified.as_deref().unwrap()).unwrap();
            assert_eq!(layer["last_modified"], lm.to_rfc3339());
            layers_checked += 1;
        }
    }
    assert_eq!(layers_checked, 21);
}

#[test]
#[ignore = "needs the local registry and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_registry_pull_and_describe_cli_exit_codes_and_outputs() {
    if !demo_here("needs_registry_pull_and_describe_cli_exit_codes_and_outputs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let retrace = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_retrace")).args(args).output().unwrap();
    let list = client().manifest(&demo_reference()).unwrap();

    let layout = dir.path().join("layout");
    let out = retrace(&[
        "pull",
        "127.0.0.1:5000/retrace/demo:latest",
        "--platform",
        "linux/arm/v7",
        "--store",
        store.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), list.digest.to_string());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[linux/arm/v7]"));
    assert!(layout.join("index.json").is_file());

    // Offline, the pulled platform can be pulled again; the whole list cannot (other platforms'
    // manifests were never fetched), and the error says so with exit code 2.
    let out = retrace(&[
        "pull",
        "--offline",
        "--platform",
        "linux/arm/v7",
        "--store",
        store.to_str().unwrap(),
        "127.0.0.1:5000/retrace/demo",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = retrace(&[
        "describe",
        "--offline",
        "--store",
        store.to_str().unwrap(),
        "127.0.0.1:5000/retrace/demo",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not in the store") && err.contains("retrace pull"),
        "{err}"
    );

    // describe -o writes the file atomically and prints nothing.
    let doc = dir.path().join("out/demo.md");
    let out = retrace(&[
        "describe",
        "--store",
        store.to_str().unwrap(),
        "-o",
        doc.to_str().unwrap(),
        "127.0.0.1:5000/retrace/demo",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(std::fs::read_to_string(&doc)
        .unwrap()
        .starts_with("## `127.0.0.1:5000/retrace/demo:latest`\n"));

    // A reference that does not parse is an error naming it.
    let out = retrace(&["pull", "Not/A:Valid:Ref"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid image reference `Not/A:Valid:Ref`"));
}
