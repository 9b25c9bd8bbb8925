//! The plan of a seed document, as golden JSON: which step does what, which layer each makes, and
//! the config the last step leaves. Set `UPDATE_GOLDEN=1` to rewrite after an intended change.

use std::path::Path;

use retrace::plan::plan;
use retrace::replay::input::inputs_of;

fn check(seed: &str, tag: &str, platform: &str, golden: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = retrace::parse::parse_file(&root.join("testdata/seeds").join(seed)).unwrap();
    let inputs = inputs_of(&doc, tag).unwrap();
    let wanted: retrace::recipe::Platform = platform.parse().unwrap();
    let input = inputs
        .iter()
        .find(|i| wanted.selects(&i.platform))
        .expect("platform in seed");
    let p = plan(input, &[], None).unwrap();
    let got = serde_json::to_string_pretty(&serde_json::json!({
        "plan": p,
        "config": p.config,
    }))
    .unwrap()
        + "\n";
    let path = root.join("testdata/plans").join(golden);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "plan differs from {}; rerun with UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

#[test]
fn httpd_alpine_amd64_plan() {
    check(
        "000_14e1ce55d27fd598.txt",
        "httpd:2-alpine",
        "linux/amd64",
        "httpd-2-alpine-amd64.json",
    );
}

#[test]
fn postgres_alpine_ppc64le_plan() {
    check(
        "002_016ef913fa1bb703.txt",
        "postgres:alpine",
        "linux/ppc64le",
        "postgres-alpine-ppc64le.json",
    );
}

#[test]
fn every_seed_platform_plans_without_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/seeds");
    for e in std::fs::read_dir(&root).unwrap() {
        let path = e.unwrap().path();
        let doc = retrace::parse::parse_file(&path).unwrap();
        for section in &doc.tags {
            for input in inputs_of(&doc, &section.tag).unwrap() {
                let p = plan(&input, &[], None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(p.unassigned_layers.is_empty(), "{} {}", path.display(), p.platform);
                assert!(p
                    .steps
                    .iter()
                    .any(|s| matches!(s.action, retrace::plan::Action::Base { .. })));
            }
        }
    }
}
