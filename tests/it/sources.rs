//! Source resolution without an engine: offline errors name what is missing, and a source whose
//! bytes are not the ones the document names is refused with the expected and found hashes.

use crate::common;

use std::path::Path;

use retrace::digest::Digest;
use retrace::layer::Profile;
use retrace::recipe::{self, Platform};
use retrace::replay::sources::{self, SourceEnv, SourceError};

fn recipe_in(dir: &Path, body: &str) -> recipe::Recipe {
    let path = dir.join("r.yaml");
    std::fs::write(&path, format!("document: d.md\ntag: t:t\ncache: cache\n{body}")).unwrap();
    recipe::load(&path).unwrap()
}

#[test]
fn a_missing_base_blob_names_its_digest_and_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // postgres s390x: its base tarball is not public, so the recipe imports the published blob.
    let mut r = recipe::load(&root.join("recipes/postgres-alpine.yaml")).unwrap();
    r.cache = dir.path().to_path_buf(); // an empty content store: nothing fetched, as offline
    let layer: Digest = "sha256:11e7bc85614a236b32043d147930fd2bc9055af8642fe30e5e56142590572b0e"
        .parse()
        .unwrap();
    let platform: Platform = "linux/s390x".parse().unwrap();
    let err = sources::resolve_base(
        &SourceEnv::recipe_only(&r),
        &platform,
        "file:2a1f",
        &layer,
        &Profile::docker_18_06(),
    )
    .unwrap_err();
    let msg = retrace::error::chain(&err);
    assert!(
        matches!(err, SourceError::BlobUnavailable { digest, .. } if digest == layer),
        "{msg}"
    );
    assert!(msg.contains("docker.io/library/postgres"), "{msg}");
}

/// Resolves the amd64 COPY source `reference` of recipe `r` as Docker 18.06 hashed it.
fn copy_source(r: &recipe::Recipe, reference: &str) -> Result<sources::Resolved, SourceError> {
    let env = SourceEnv::recipe_only(r);
    sources::resolve_copy(
        &env,
        &"linux/amd64".parse().unwrap(),
        reference,
        &Profile::docker_18_06(),
    )
}

#[test]
fn a_copy_source_with_other_content_is_refused_with_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("httpd-foreground");
    std::fs::write(&file, "#!/bin/sh\necho not the original\n").unwrap();
    let want = "file:8b68ac010cb13f58ebe31c3015d15c988625d2fde7339dca8a84c3c914493323";
    let r = recipe_in(
        dir.path(),
        &format!("sources:\n  - for: {want}\n    path: httpd-foreground\n"),
    );
    let err = copy_source(&r, want).unwrap_err();
    let found = retrace::layer::hash_file_on_disk(&file, None, &Profile::docker_18_06())
        .unwrap()
        .hex();
    match &err {
        SourceError::FileHashMismatch {
            reference,
            found: f,
            modes,
            ..
        } => {
            assert_eq!(reference, want);
            assert_eq!(f, &found);
            assert_eq!(&modes[1..], &[0o644, 0o664, 0o755, 0o775]);
        }
        e => panic!("{e}"),
    }
}

#[test]
fn a_reference_without_source_tells_how_to_add_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe_in(dir.path(), "");
    let err = sources::resolve_copy(
        &SourceEnv::recipe_only(&r),
        &"linux/s390x".parse().unwrap(),
        "file:00",
        &Profile::docker_18_06(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "linux/s390x: the recipe gives no source for `file:00`; add `sources: [{for: \"file:00\", path: ...}]`"
    );
}

#[test]
fn a_download_that_cannot_be_fetched_names_the_url_and_the_cache_path() {
    let dir = tempfile::tempdir().unwrap();
    let want = "file:8b68ac010cb13f58ebe31c3015d15c988625d2fde7339dca8a84c3c914493323";
    // A port nothing listens on stands for "no network".
    let url = "http://127.0.0.1:9/httpd-foreground";
    let r = recipe_in(dir.path(), &format!("sources:\n  - for: {want}\n    url: {url}\n"));
    let err = copy_source(&r, want).unwrap_err();
    let msg = retrace::error::chain(&err);
    let path = sources::download_path(&r, url, &None);
    assert!(matches!(err, SourceError::NotCached { .. }), "{msg}");
    assert!(msg.contains(url) && msg.contains(&path.display().to_string()), "{msg}");
    assert!(!path.exists(), "nothing half-downloaded is left");
}

/// Serves `body` to every request on a loopback port, for as long as the test runs.
fn serve(body: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body);
        }
    });
    format!("http://{addr}/rootfs.tar")
}

#[test]
fn a_download_is_fetched_once_verified_and_kept_under_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let body: &[u8] = b"not really a tarball, but bytes with a known digest\n";
    let url = serve(body);
    let sha = Digest::of(body);
    let r = recipe_in(
        dir.path(),
        &format!("sources:\n  - for: dir:0000000000000000000000000000000000000000000000000000000000000000\n    url: {url}\n    sha256: {sha}\n"),
    );
    let got = copy_source(&r, &format!("dir:{}", "0".repeat(64))).unwrap();
    let path = sources::download_path(&r, &url, &Some(sha));
    assert!(
        matches!(got, sources::Resolved::File { path: ref p, .. } if *p == path),
        "{got:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), body);
}

#[test]
fn a_download_with_other_bytes_is_refused_and_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = serve(b"tampered\n");
    let pinned = Digest::of(b"the original\n");
    let r = recipe_in(
        dir.path(),
        &format!("sources:\n  - for: dir:0000000000000000000000000000000000000000000000000000000000000000\n    url: {url}\n    sha256: {pinned}\n"),
    );
    let err = copy_source(&r, &format!("dir:{}", "0".repeat(64))).unwrap_err();
    match &err {
        SourceError::Mismatch { expected, found, .. } => {
            assert_eq!(expected, &pinned.to_string());
            assert_eq!(found, &Digest::of(b"tampered\n").to_string());
        }
        e => panic!("{e}"),
    }
    assert!(!sources::download_path(&r, &url, &Some(pinned)).exists());
}

const UTC_1806: &str = "file:a10c133d8d5e9af3a9a1610709d3ed2f85b1507f1ba5745ac12bb495974e3fe6";
const UTC_1706: &str = "file:0f1d36dd7d8d53613b275660a88c5bf9b608ea8aa73a8054cb8bdbd73fd971ac";

#[test]
#[ignore = "needs ../shared/rootfs"]
fn needs_seeds_inputs_satisfy_file_sources_under_the_builders_mode_and_owner_names() {
    let Some(inputs) = common::shared::seed_inputs("needs_seeds_inputs_satisfy_file_sources") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let r = recipe_in(dir.path(), "");
    let env = SourceEnv::new(&r, true, vec![inputs.clone()]);
    let utc = inputs.join("alpine-localtime/UTC");
    // One file, two hashes: 18.06 hashes no owner names, 17.06 hashes "root"; both as mode 0664.
    for (reference, profile) in [(UTC_1806, Profile::docker_18_06()), (UTC_1706, Profile::docker_17_06())] {
        let got = sources::resolve_copy(&env, &"linux/386".parse().unwrap(), reference, &profile).unwrap();
        // The build uses the verified private copy of the input, which keeps its name.
        assert!(
            matches!(&got, sources::Resolved::File { path, mode: Some(0o664) }
                if path.file_name() == utc.file_name() && std::fs::read(path).unwrap() == std::fs::read(&utc).unwrap()),
            "{got:?}"
        );
    }
}

#[test]
#[ignore = "needs ../shared/rootfs"]
fn needs_seeds_a_wrong_input_is_refused_and_offline_nothing_is_fetched() {
    let Some(inputs) = common::shared::seed_inputs("needs_seeds_a_wrong_input_is_refused") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The UTC file with one byte changed: no context mode gives the document's hash.
    let mut bytes = std::fs::read(inputs.join("alpine-localtime/UTC")).unwrap();
    bytes[40] ^= 1;
    std::fs::write(dir.path().join("UTC"), &bytes).unwrap();
    let r = recipe_in(dir.path(), &format!("sources:\n  - for: {UTC_1806}\n    path: UTC\n"));
    let env = SourceEnv::new(&r, true, vec![inputs.clone()]);
    let err =
        sources::resolve_copy(&env, &"linux/386".parse().unwrap(), UTC_1806, &Profile::docker_18_06()).unwrap_err();
    assert!(matches!(err, SourceError::FileHashMismatch { .. }), "{err}");
    // A pinned download that no input has: offline, it is named and not fetched.
    let url = "http://127.0.0.1:9/UTC";
    let r = recipe_in(
        dir.path(),
        &format!(
            "sources:\n  - for: {UTC_1806}\n    url: {url}\n    sha256: {}\n",
            Digest::of(b"other")
        ),
    );
    let env = SourceEnv::new(&r, true, vec![inputs]);
    let err =
        sources::resolve_copy(&env, &"linux/386".parse().unwrap(), UTC_1806, &Profile::docker_18_06()).unwrap_err();
    let msg = retrace::error::chain(&err);
    assert!(
        matches!(err, SourceError::NotCached { .. }) && msg.contains("offline (--offline)"),
        "{msg}"
    );
}

/// Resolves the amd64 base layer `layer` from the file `name` in `dir`, as a recipe source.
fn base_layer_from(dir: &Path, name: &str, layer: &Digest) -> Result<sources::Resolved, SourceError> {
    let r = recipe_in(dir, &format!("sources:\n  - for: {layer}\n    path: {name}\n"));
    let env = SourceEnv::recipe_only(&r);
    sources::resolve_base(
        &env,
        &"linux/amd64".parse().unwrap(),
        "",
        layer,
        &Profile::docker_18_06(),
    )
    .map(|(r, _)| r)
}

#[test]
fn a_published_layer_supplied_uncompressed_must_gzip_to_its_digest() {
    // A tar that is not the published layer, named by a digest: refused before any engine sees
    // it (the tar's own hash and its Go gzip are both compared).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("layer.tar"), vec![0u8; 2048]).unwrap();
    let claimed = Digest::of(b"some published layer");
    let err = base_layer_from(dir.path(), "layer.tar", &claimed).unwrap_err();
    match err {
        SourceError::Mismatch { expected, .. } => assert_eq!(expected, claimed.to_string()),
        e => panic!("{e}"),
    }
}

#[test]
fn a_gzip_bomb_as_a_base_source_is_refused_and_leaves_nothing() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    // 300 MB of zeros in 0.3 MB: past the 1000:1 ratio once the 64 MiB grace is used up.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..300 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    std::fs::write(dir.path().join("bomb.gz"), &bomb).unwrap();
    let err = base_layer_from(dir.path(), "bomb.gz", &Digest::of(&bomb)).unwrap_err();
    assert!(
        retrace::error::chain(&err).contains("decompression bomb refused"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path().join("cache/layers")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The demo's entrypoint and its `file:` hash as Docker recorded it in the demo document.
const ENTRYPOINT: &str = "testdata/demo/entrypoint.sh";
const ENTRYPOINT_HASH: &str = "file:301fa59830cf811204d121e299451871025286b2c6a7df7684cb6becbe96a91a";

/// Verify-then-use: a `file:` source resolves to a private copy of the bytes that were verified,
/// so a file swapped after its verification (here, deterministically, right after it) reaches
/// neither the build cache key nor the layer; it did reach both, read again from the path.
#[test]
fn a_file_swapped_after_verification_is_not_what_the_build_uses() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(ENTRYPOINT)).unwrap();
    let file = dir.path().join("entrypoint.sh");
    std::fs::write(&file, &original).unwrap();
    let r = recipe_in(
        dir.path(),
        &format!("sources:\n  - for: {ENTRYPOINT_HASH}\n    path: entrypoint.sh\n"),
    );
    let resolved = copy_source(&r, ENTRYPOINT_HASH).unwrap();
    std::fs::write(&file, "#!/bin/sh\necho swapped in after verification\n").unwrap();
    let sources::Resolved::File { path, mode: Some(_) } = &resolved else {
        panic!("{resolved:?}")
    };
    assert_ne!(path, &file);
    assert_eq!(path.file_name(), file.file_name());
    assert_eq!(std::fs::read(path).unwrap(), original);
    let parts = resolved.parts().unwrap();
    let entries = parts[0].read().unwrap();
    assert_eq!(entries[0].content().unwrap(), original);
}
