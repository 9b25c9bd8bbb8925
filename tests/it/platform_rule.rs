//! The one `--platform` rule (`retrace::platform`), command by command, on the demo image: it has
//! linux/arm v5 and v7 and linux/arm64 v8. `linux/arm` is ambiguous (an error listing both arm
//! variants), `linux/arm/v7` selects v7, `linux/arm64` selects v8. `parse`, `build`, `layer
//! reproduce` and `layer add` read the demo document; `pull` and `describe` read the demo image in
//! the local registry.

use crate::common;

use std::path::Path;

use retrace::commands::parse::{self, Format, ParseOptions};
use retrace::platform::Platform;

const DEMO_DOC: &str = "testdata/demo/demo.md";

/// (selector, the platform chosen, or the text every error must hold).
const CASES: [(&str, Result<&str, [&str; 2]>); 3] = [
    ("linux/arm", Err(["linux/arm/v5", "linux/arm/v7"])),
    ("linux/arm/v7", Ok("linux/arm/v7")),
    ("linux/arm64", Ok("linux/arm64/v8")),
];

/// Runs `choose` for every case and checks what it chose, or that its error names the variants.
fn check(command: &str, choose: impl Fn(&Platform) -> Result<Vec<String>, String>) {
    for (selector, want) in CASES {
        let got = choose(&selector.parse().unwrap());
        match (got, want) {
            (Ok(chosen), Ok(want)) => assert_eq!(chosen, vec![want], "{command} --platform {selector}"),
            (Err(e), Err(variants)) => {
                for v in variants {
                    assert!(e.contains(v), "{command} --platform {selector}: `{e}` should name {v}");
                }
                assert!(e.contains("ambiguous"), "{command} --platform {selector}: {e}");
            }
            (got, want) => panic!("{command} --platform {selector}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn parse_applies_the_rule() {
    check("parse", |p| {
        let opts = ParseOptions {
            paths: vec![DEMO_DOC.into()],
            platform: Some(p.clone()),
            format: Format::Json,
            ..ParseOptions::default()
        };
        let report = parse::render(&opts).map_err(|e| retrace::error::chain(&e))?;
        let json: serde_json::Value = serde_json::from_str(&report.output).unwrap();
        Ok(json["documents"][0]["tags"][0]["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["platform"].as_str().unwrap().to_string())
            .collect())
    });
}

#[test]
fn build_applies_the_rule() {
    let recipe = retrace::recipe::load(Path::new("recipes/demo.yaml")).unwrap();
    let plans = retrace::replay::plans(&recipe).unwrap();
    check("build", |p| {
        let chosen =
            retrace::replay::select(&plans, &recipe, std::slice::from_ref(p)).map_err(|e| retrace::error::chain(&e))?;
        Ok(chosen.iter().map(|plan| plan.platform.to_string()).collect())
    });
}

#[test]
fn layer_reproduce_applies_the_rule() {
    check("layer reproduce", |p| {
        let facts =
            retrace::reproduce::facts::layer_facts(Path::new(DEMO_DOC), p, 1).map_err(|e| retrace::error::chain(&e))?;
        Ok(vec![facts.platform])
    });
}

#[test]
fn layer_add_applies_the_rule() {
    check("layer add", |p| {
        let steps = retrace::add::base_steps(Path::new(DEMO_DOC), p, 1, None).map_err(|e| retrace::error::chain(&e))?;
        // The chosen image's first layer is the one `layer reproduce` finds for the same selector.
        let facts = retrace::reproduce::facts::layer_facts(Path::new(DEMO_DOC), p, 1).unwrap();
        let expected: Vec<_> = steps.iter().map(|s| s.expected).collect();
        assert_eq!(expected, vec![facts.input.expected], "{p}");
        Ok(vec![facts.platform])
    });
}

#[test]
fn the_binary_refuses_an_ambiguous_platform_naming_the_variants() {
    for args in [
        vec!["parse", "--platform", "linux/arm", DEMO_DOC],
        vec![
            "layer",
            "reproduce",
            ".",
            "--document",
            DEMO_DOC,
            "--platform",
            "linux/arm",
            "--layer",
            "1",
        ],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_retrace"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("`linux/arm` is ambiguous") && stderr.contains("linux/arm/v5, linux/arm/v7"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
#[ignore = "needs the local registry and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_registry_pull_and_describe_apply_the_rule() {
    let test = "needs_registry_pull_and_describe_apply_the_rule";
    if !common::registry_here(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = retrace::registry::Store::new(dir.path());
    let options = retrace::registry::ClientOptions::default();
    let source = retrace::registry::Source::Online {
        client: retrace::registry::Client::new(options).unwrap(),
        store,
    };
    let r: retrace::registry::Reference = format!("{}/retrace/demo:latest", common::REGISTRY).parse().unwrap();
    if retrace::registry::pull::resolve(&source, &r, None).is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{test}: no demo image in the registry"
        );
        eprintln!("SKIPPED: {test}: no demo image in the local registry (run `cargo xtask demo-fixture`)");
        return;
    }
    check("pull", |p| {
        let report =
            retrace::registry::pull::pull(&source, &r, Some(p), None).map_err(|e| retrace::error::chain(&e))?;
        Ok(report.platforms)
    });
    check("describe", |p| {
        let doc = retrace::describe::gather(&source, &r, Some(p)).map_err(|e| retrace::error::chain(&e))?;
        Ok(doc.images.iter().map(|i| i.platform.to_string()).collect())
    });
}
