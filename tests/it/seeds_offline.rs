//! The seed images rebuilt offline from public inputs (`../shared/rootfs`: the very rootfs
//! tarballs and UTC file they were built from), through Docker and QEMU: every layer before the
//! first step that needs the network must be rebuilt (`match` or `match-after-timestamps`, never
//! `imported`), the rest `not-built` with a reason naming the network, and the builder variants
//! each platform needed recorded. The output holds the proof: every rebuilt layer's blob under its
//! published digest, listed by each platform's (partial) image. Tests are `needs_seeds_`: `cargo xtask test` runs them where
//! Docker and `../shared/rootfs` are present, and under CI always.

use crate::common;

use std::path::Path;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds `recipe` offline with `--inputs rootfs` for `platforms` and returns the report; the exit
/// code must be 1 (layers not built, nothing failed).
fn build_offline(recipe: &str, rootfs: &Path, platforms: &[&str], out: &Path) -> Value {
    let mut args = vec![
        "build".to_string(),
        root().join(recipe).display().to_string(),
        "--offline".into(),
        "--inputs".into(),
        rootfs.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--jobs".into(),
        "4".into(),
        "--keep-going".into(),
    ];
    for p in platforms {
        args.extend(["--platform".to_string(), p.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::build::retrace(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{stderr}\n{}",
        String::from_utf8_lossy(&run.stdout)
    );
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// Checks that each platform rebuilt exactly `rebuilt` leading layers and stopped at a step that
/// needs the network; returns the number of rebuilt layers.
fn check_platforms(report: &Value, rebuilt: &[(&str, usize)]) -> usize {
    let platforms = report["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), rebuilt.len());
    let mut total = 0;
    for (platform, n) in rebuilt {
        let p = platforms.iter().find(|p| p["platform"] == *platform).expect(platform);
        assert!(p.get("error").is_none(), "{platform}: {}", p["error"]);
        assert!(
            p["stopped"].as_str().unwrap().contains("needs the network"),
            "{platform}: {}",
            p["stopped"]
        );
        for l in p["layers"].as_array().unwrap() {
            let (index, verdict) = (l["index"].as_u64().unwrap() as usize, l["verdict"].as_str().unwrap());
            if index <= *n {
                assert!(
                    verdict == "match" || verdict == "match-after-timestamps",
                    "{platform} layer {index}: {verdict} ({})",
                    l["reason"]
                );
                total += 1;
            } else {
                assert_eq!(verdict, "not-built", "{platform} layer {index}");
                assert!(
                    l["reason"].as_str().unwrap().contains("needs the network"),
                    "{}",
                    l["reason"]
                );
            }
        }
    }
    total
}

/// Every one of the `platforms` stopped at a step that needs the network, so the layout holds
/// each one's image as far as it was rebuilt, annotated as partial with the reason.
fn stopped_images_are_partial(out: &Path, platforms: usize) {
    let images = common::proof::layout_platforms(out);
    assert_eq!(images.len(), platforms, "{images:?}");
    for (platform, _, partial) in images {
        let partial = partial.unwrap_or_else(|| panic!("{platform}: no partial annotation"));
        assert!(partial.contains("needs the network"), "{platform}: {partial}");
    }
}

/// `retrace verify` finds every one of the `layers` rebuilt layers under the document's digests.
fn verifies(out: &Path, document: &str, layers: usize) {
    let run = common::build::retrace(&[
        "verify",
        out.to_str().unwrap(),
        "--document",
        root().join(document).to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains(&format!(" {layers} rebuilt layers under their published digests")),
        "{stdout}"
    );
}

fn layer<'a>(report: &'a Value, platform: &str, index: usize) -> &'a Value {
    let p = report["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == platform)
        .unwrap();
    &p["layers"][index - 1]
}

#[test]
#[ignore = "needs Docker, QEMU and ../shared/rootfs"]
fn needs_seeds_httpd_rebuilds_offline_from_public_inputs() {
    let test = "needs_seeds_httpd_rebuilds_offline_from_public_inputs";
    let Some(rootfs) = common::shared::seed_inputs(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = build_offline("recipes/httpd-2-alpine.yaml", &rootfs, &[], dir.path());
    // amd64 has no /etc/localtime layer: ADD, adduser, mkdir; the foreign platforms four layers.
    let rebuilt = check_platforms(
        &report,
        &[
            ("linux/amd64", 3),
            ("linux/arm/v6", 4),
            ("linux/arm64/v8", 4),
            ("linux/386", 4),
            ("linux/ppc64le", 4),
            ("linux/s390x", 4),
        ],
    );
    assert_eq!(rebuilt, 23);
    assert_eq!(common::proof::published_blobs_in_layout(dir.path()), 23);
    stopped_images_are_partial(dir.path(), 6);
    verifies(dir.path(), "testdata/seeds/000_14e1ce55d27fd598.txt", 23);
    // The day adduser wrote into /etc/shadow is the recorded step's, recovered before the search.
    let adduser = layer(&report, "linux/arm64/v8", 3);
    assert_eq!(adduser["recovered_dates"]["etc/shadow"], "17933 (2019-02-06)");
    // The builders checked the context out under umask 002: the UTC file hashed as mode 0664.
    assert_eq!(layer(&report, "linux/s390x", 2)["context_mode"], "0664");
    // The ppc64le and arm/v6 builders marked new directories opaque; the others did not.
    for (platform, variant) in [
        ("linux/ppc64le", "opaque-new-dirs"),
        ("linux/arm/v6", "opaque-new-dirs"),
        ("linux/arm64/v8", "plain"),
    ] {
        let mkdir = layer(&report, platform, 4);
        assert_eq!(mkdir["variant"], variant, "{platform}: {}", mkdir["reason"]);
    }
}

#[test]
#[ignore = "needs Docker, QEMU and ../shared/rootfs"]
fn needs_seeds_postgres_rebuilds_offline_from_public_inputs() {
    let test = "needs_seeds_postgres_rebuilds_offline_from_public_inputs";
    let Some(rootfs) = common::shared::seed_inputs(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let platforms = ["linux/amd64", "linux/arm64/v8", "linux/386", "linux/ppc64le"];
    let report = build_offline("recipes/postgres-alpine.yaml", &rootfs, &platforms, dir.path());
    let rebuilt = check_platforms(
        &report,
        &[
            ("linux/amd64", 3),
            ("linux/arm64/v8", 4),
            ("linux/386", 4),
            ("linux/ppc64le", 4),
        ],
    );
    assert_eq!(rebuilt, 15);
    assert_eq!(common::proof::published_blobs_in_layout(dir.path()), 15);
    stopped_images_are_partial(dir.path(), 4);
    verifies(dir.path(), "testdata/seeds/002_016ef913fa1bb703.txt", 15);
    // Layer 1 rebuilt from its tarball without the engine: the 386 blob was first pushed by a
    // Go <= 1.7 daemon, the ppc64le builder's kernel marked the init layer's new directories opaque.
    for (platform, variant) in [
        ("linux/amd64", "plain"),
        ("linux/386", "go1.7-gzip-header"),
        ("linux/ppc64le", "opaque-init-dirs"),
    ] {
        let base = layer(&report, platform, 1);
        assert_eq!(base["verdict"], "match", "{platform}: {}", base["reason"]);
        assert_eq!(base["variant"], variant, "{platform}: {}", base["reason"]);
    }
}

/// A recipe's `profile:` names a release by its profile name (docs/recipes.md); the base layer's
/// rebuild takes that profile as the replay does (issue 19's second bug: the name was stored as a
/// Docker version, which `layer add` refused, so the platform failed at its first step).
#[test]
#[ignore = "needs Docker, QEMU and ../shared/rootfs"]
fn needs_seeds_a_recipe_profile_name_rebuilds_the_base_layer() {
    let test = "needs_seeds_a_recipe_profile_name_rebuilds_the_base_layer";
    let Some(rootfs) = common::shared::seed_inputs(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(root().join("recipes/httpd-2-alpine.yaml")).unwrap();
    let document = root().join("testdata/seeds/000_14e1ce55d27fd598.txt");
    let recipe: String = original
        .lines()
        .filter(|l| !l.starts_with("output:"))
        .map(|l| match l.strip_prefix("document:") {
            Some(_) => format!("document: {}\nprofile: docker-18.06\n", document.display()),
            None => format!("{l}\n"),
        })
        .collect();
    let path = dir.path().join("httpd-profile.yaml");
    std::fs::write(&path, recipe).unwrap();
    let out = dir.path().join("out");
    let report = build_offline(path.to_str().unwrap(), &rootfs, &["linux/amd64"], &out);
    let rebuilt = check_platforms(&report, &[("linux/amd64", 3)]);
    assert_eq!(rebuilt, 3);
    assert_eq!(layer(&report, "linux/amd64", 1)["verdict"], "match");
}

type Rows = Vec<(u64, Value, Value)>;

/// Each platform's (index, verdict, rebuilt) rows of a report. (The replayed blobs differ: they
/// carry the times of their own replay.)
fn rows(report: &Value) -> Vec<(String, Rows)> {
    let platforms = report["platforms"].as_array().unwrap();
    platforms
        .iter()
        .map(|p| {
            let layers = p["layers"].as_array().unwrap().iter();
            let rows = layers.map(|l| (l["index"].as_u64().unwrap(), l["verdict"].clone(), l["rebuilt"].clone()));
            (p["platform"].as_str().unwrap().to_string(), rows.collect())
        })
        .collect()
}

/// The blob files of a build output's layout, by name.
fn blob_names(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
#[ignore = "needs Docker, QEMU and ../shared/rootfs"]
fn needs_seeds_a_build_redone_from_its_record_gives_the_same_verdicts_and_blobs() {
    let test = "needs_seeds_a_build_redone_from_its_record_gives_the_same_verdicts_and_blobs";
    let Some(rootfs) = common::shared::seed_inputs(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (first, again) = (dir.path().join("first"), dir.path().join("again"));
    let report = build_offline(
        "recipes/postgres-alpine.yaml",
        &rootfs,
        &["linux/amd64", "linux/386"],
        &first,
    );
    // The record names the recipe and document by sha256, the options, and each input by content.
    let record = &report["record"];
    assert!(record["document"]["sha256"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(record["offline"], true);
    for p in report["platforms"].as_array().unwrap() {
        assert!(p["engine"].is_string() && p["profile"].is_string(), "{}", p["platform"]);
        let base = &p["inputs"][0];
        assert!(base["reference"].as_str().unwrap().starts_with("file:"), "{base}");
        assert!(base["content"].as_str().unwrap().starts_with("sha256:"), "{base}");
    }

    // Redone from the record alone, every step run again: the same verdicts and blobs.
    let record_path = first.join("report.json");
    let args = [
        "build",
        "--from-record",
        record_path.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--no-cache",
        "--keep-going",
    ];
    let run = common::build::retrace(&args).current_dir(root()).output().unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let redone: Value = serde_json::from_slice(&std::fs::read(again.join("report.json")).unwrap()).unwrap();
    assert_eq!(rows(&redone), rows(&report));
    assert_eq!(redone["record"], report["record"]);
    assert_eq!(blob_names(&again), blob_names(&first));

    // A record whose input is not what the inputs hold stops the platform before the input is used.
    let mut altered = report.clone();
    let content = &mut altered["platforms"][0]["inputs"][0]["content"];
    *content = format!("sha256:{}", "0".repeat(64)).into();
    let altered_path = dir.path().join("altered.json");
    std::fs::write(&altered_path, serde_json::to_vec(&altered).unwrap()).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    let args = [
        "build",
        "--from-record",
        altered_path.to_str().unwrap(),
        "--out",
        elsewhere.to_str().unwrap(),
        "--keep-going",
    ];
    let run = common::build::retrace(&args).current_dir(root()).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    let redone: Value = serde_json::from_slice(&std::fs::read(elsewhere.join("report.json")).unwrap()).unwrap();
    let error = redone["platforms"][0]["error"].as_str().unwrap();
    assert!(error.contains("but the record names sha256:0000"), "{error}");
}
