//! `retrace build` end to end through the CLI on a small repo-info document: killed in the middle of
//! a slow RUN it leaves no corrupt output, and the rerun resumes from the build cache.
//!
//! `#[ignore]`d and named `needs_docker_` (see tests/it/replay_docker.rs for the convention).

use std::path::Path;
use std::time::Instant;

use retrace::digest::Digest;

use crate::common;
use common::build::{assert_blobs_sound, build_document, document_with, retrace, KillFixture};
use common::docker::{busybox, daemon_or_skip};

#[test]
#[ignore = "needs a Docker daemon (cargo xtask setup)"]
fn needs_docker_killed_build_leaves_no_corrupt_output_and_resumes_from_cache() {
    if !daemon_or_skip("needs_docker_killed_build_leaves_no_corrupt_output_and_resumes_from_cache") {
        return;
    }
    let f = KillFixture::new();
    let (recipe_s, out_s) = (f.recipe.to_str().unwrap(), f.out.to_str().unwrap());
    let out = f.out.clone();

    let mut child = retrace(&["build", recipe_s, "--out", out_s]).spawn().unwrap();
    f.wait_until_slow_step(&mut child);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    assert!(
        !out.join("report.json").exists(),
        "a killed build must not leave a report"
    );
    assert!(
        !out.join("index.json").exists(),
        "a killed build must not leave an index"
    );
    assert_blobs_sound(&out);

    let t1 = Instant::now();
    let rerun = retrace(&["build", recipe_s, "--out", out_s]).output().unwrap();
    let stdout = String::from_utf8_lossy(&rerun.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&rerun.stderr));
    eprintln!("rerun took {:.1}s", t1.elapsed().as_secs_f64());
    assert_eq!(rerun.status.code(), Some(1), "made-up digests differ, nothing failed");
    assert_blobs_sound(&out);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let p = &report["platforms"][0];
    assert_eq!(p["platform"], "linux/amd64");
    assert_eq!(p["cached_steps"], 2, "the base and the quick RUN come from the cache");
    assert!(p.get("error").is_none());
    let verdicts: Vec<&str> = p["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["differs", "differs", "differs"]);
    assert!(stdout.contains("linux/amd64"), "the table names the platform");
    let log = std::fs::read_to_string(out.join("logs/linux-amd64.log")).unwrap();
    assert!(log.contains("(cached:"), "{log}");
}

/// (path, uid, gid, content) of every entry of a gzip layer blob in the output.
fn layer_entries(out: &Path, digest: &str) -> Vec<(String, u64, u64, Vec<u8>)> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let f = std::fs::File::open(out.join("blobs/sha256").join(hex)).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let (uid, gid) = (e.header().uid().unwrap(), e.header().gid().unwrap());
            let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (path, uid, gid, data)
        })
        .collect()
}

/// The (path, uid, gid) of every entry of a gzip layer blob in the output.
fn owners(out: &Path, digest: &str) -> Vec<(String, u64, u64)> {
    layer_entries(out, digest)
        .into_iter()
        .map(|(p, u, g, _)| (p, u, g))
        .collect()
}

#[test]
#[ignore = "needs a Docker daemon (cargo xtask setup)"]
fn needs_docker_copy_chown_names_and_add_of_a_tar_replay_like_the_builder() {
    let test = "needs_docker_copy_chown_names_and_add_of_a_tar_replay_like_the_builder";
    if !daemon_or_skip(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::docker::rootfs_tar_with(
        &busybox("amd64"),
        &root.join("rootfs.tar"),
        "root:x:0:0:root:/root:/bin/sh\ndemo:x:1000:1001:demo:/srv:/bin/sh\n",
        Some("root:x:0:\ndemo:x:1001:\nstaff:x:50:\n"),
    );
    std::fs::write(root.join("hello.txt"), "hello\n").unwrap();
    // A gzip'd tar for ADD, made by the layer writer (owner 7:8 inside the archive).
    let mut pkg = Vec::new();
    let entries = [
        retrace::layer::Entry::dir("pkg", 0o755).with_owner(7, 8),
        retrace::layer::Entry::file("pkg/README", 0o644, b"read me\n".to_vec()).with_owner(7, 8),
    ];
    let profile = retrace::layer::Profile::from_name("docker-18.06").unwrap();
    retrace::layer::write_tar(&entries, &profile, &mut pkg).unwrap();
    let mut gz = retrace::gzip::GzipWriter::new(Vec::new(), 6).unwrap();
    std::io::Write::write_all(&mut gz, &pkg).unwrap();
    std::fs::write(root.join("pkg.tar.gz"), gz.finish().unwrap()).unwrap();

    let hash = |name: &str| {
        retrace::layer::hash_file_on_disk(&root.join(name), None, &retrace::layer::Profile::docker_18_06())
            .unwrap()
            .hex()
    };
    let base_ref = common::build::file_ref(&root.join("rootfs.tar"));
    let (hello, tarball) = (hash("hello.txt"), hash("pkg.tar.gz"));
    let doc = document_with(
        "chown:test",
        &[
            &format!("ADD {base_ref} in / "),
            &format!("COPY --chown=demo file:{hello} in /srv/ "),
            &format!("COPY --chown=root:staff file:{hello} in /etc/hello "),
            &format!("ADD --chown=demo file:{tarball} in /opt/ "),
            "CMD [\"sh\"]",
        ],
        4,
    );
    let sources = format!(
        "sources:\n  - for: {base_ref}\n    path: rootfs.tar\n  - for: file:{hello}\n    path: hello.txt\n  - for: file:{tarball}\n    path: pkg.tar.gz\n"
    );
    // The digests are made up: no timestamp search can match them, so none is run.
    let run = build_document(
        root,
        "chown",
        "chown:test",
        &doc,
        &sources,
        &["--search-candidates", "0"],
    );
    assert_eq!(run.code, Some(1), "made-up digests differ, nothing failed");
    let (out, report) = (&run.out, run.report());
    let layers = report["platforms"][0]["layers"].as_array().unwrap();
    let rebuilt = |i: usize| layers[i]["rebuilt"].as_str().unwrap().to_string();
    // `--chown=demo`: the user's uid and the *group named demo* (1001), looked up in the image.
    assert!(owners(&out, &rebuilt(1)).contains(&("srv/hello.txt".to_string(), 1000, 1001)));
    assert!(owners(&out, &rebuilt(2)).contains(&("etc/hello".to_string(), 0, 50)));
    // ADD of a tar extracts it, keeping the archive's owners (the builder ignores --chown there).
    let added = owners(&out, &rebuilt(3));
    assert!(added.contains(&("opt/pkg/README".to_string(), 7, 8)), "{added:?}");
}

#[test]
#[ignore = "needs a Docker daemon (cargo xtask setup)"]
fn needs_docker_run_steps_get_recipe_downloads_from_the_cache_and_misses_are_named() {
    let test = "needs_docker_run_steps_get_recipe_downloads_from_the_cache_and_misses_are_named";
    if !daemon_or_skip(test) {
        return;
    }
    let (dir, base_ref) = common::build::busybox_base();
    let root = dir.path();
    // The file a RUN step fetches, put in the cache the way the docs tell an offline user to.
    let body = b"served from retrace's download cache\n";
    let sha = Digest::of(body);
    let cached = root.join("cache/downloads/sha256").join(sha.hex());
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::write(&cached, body).unwrap();
    let listed = "http://downloads.retrace.invalid/pkg.txt";
    let unlisted = "http://downloads.retrace.invalid/other.txt";
    let build = |name: &str, url: &str| {
        let doc = document_with(
            "chown:test",
            &[
                &format!("ADD {base_ref} in / "),
                &format!("RUN wget -q -O /root/pkg.txt {url}"),
                "CMD [\"sh\"]",
            ],
            2,
        );
        let tail = format!(
            "sources:\n  - for: {base_ref}\n    path: rootfs.tar\ndownloads:\n  - url: {listed}\n    sha256: {sha}\n"
        );
        build_document(root, name, "chown:test", &doc, &tail, &["--search-candidates", "0"])
    };

    // Listed and cached: the step gets the file (no network needed) and the layer holds it.
    let run = build("listed", listed);
    assert_eq!(run.code, Some(1), "made-up digests differ, nothing failed");
    let (out, report) = (&run.out, run.report());
    let layer = report["platforms"][0]["layers"][1]["rebuilt"]
        .as_str()
        .unwrap()
        .to_string();
    let found = layer_entries(&out, &layer)
        .into_iter()
        .find(|(p, ..)| p == "root/pkg.txt")
        .map(|(.., data)| data);
    assert_eq!(found.as_deref(), Some(&body[..]));

    // Not listed: the step fails, and the error names the URL and where its file would go.
    let run = build("unlisted", unlisted);
    assert_eq!(run.code, Some(2), "a failed step is an error");
    assert!(
        run.text
            .contains(&format!("the download proxy had no file for {unlisted}")),
        "{}",
        run.text
    );
}

#[test]
#[ignore = "needs a Docker daemon (cargo xtask setup)"]
fn needs_docker_the_failing_step_names_its_own_cause_and_later_layers_name_it() {
    let test = "needs_docker_the_failing_step_names_its_own_cause_and_later_layers_name_it";
    if !daemon_or_skip(test) {
        return;
    }
    let (dir, base_ref) = common::build::busybox_base();
    let root = dir.path();
    let doc = document_with(
        "fail:test",
        &[
            &format!("ADD {base_ref} in / "),
            "RUN echo broken >&2 && exit 3",
            "RUN touch /after",
        ],
        3,
    );
    let sources = format!("sources:\n  - for: {base_ref}\n    path: rootfs.tar\n");
    let run = build_document(root, "fail", "fail:test", &doc, &sources, &[]);
    assert_eq!(run.code, Some(2), "a failing step is an error: {}", run.text);
    let report = run.report();
    let layers = report["platforms"][0]["layers"].as_array().unwrap();
    // The failing step's own layer says what failed and why, not "an earlier step failed"; the
    // layer after it names the same step.
    for layer in &layers[1..] {
        let reason = layer["reason"].as_str().unwrap();
        assert_eq!(layer["verdict"], "not-built", "{layer}");
        assert!(reason.starts_with("not built: step 1 `RUN echo broken"), "{reason}");
        assert!(reason.contains("exited with status 3"), "{reason}");
    }
}
