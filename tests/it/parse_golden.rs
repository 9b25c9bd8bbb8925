//! Golden snapshots of `retrace parse` over the five seed documents: the JSON model and the
//! reconstructed Dockerfiles. A change in either shows up as a reviewed snapshot diff
//! (`tests/snapshots/`, update with `INSTA_UPDATE=always` or `cargo insta review`).

use std::path::PathBuf;

use retrace::commands::parse::{render as run_parse, Format, ParseOptions};

const SEEDS: [&str; 5] = [
    "000_14e1ce55d27fd598",
    "001_6eb4979bd744bc74",
    "002_016ef913fa1bb703",
    "003_4c5d4d555e289643",
    "004_64793b9ead927637",
];

fn render(seed: &str, format: Format) -> String {
    // A relative path keeps the snapshots independent of where the checkout lives.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let path = PathBuf::from(format!("testdata/seeds/{seed}.txt"));
    let report = run_parse(&ParseOptions {
        paths: vec![path],
        format,
        ..Default::default()
    })
    .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report.output
}

#[test]
fn seeds_json_model() {
    for seed in SEEDS {
        let out = render(seed, Format::Json);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        // Every platform of every seed maps with certainty.
        for p in v["documents"][0]["tags"][0]["platforms"].as_array().unwrap() {
            assert_eq!(p["mapping"], "certain", "{seed} {}", p["platform"]);
        }
        insta::assert_snapshot!(format!("json_{seed}"), out);
    }
}

#[test]
fn seeds_dockerfiles() {
    for seed in SEEDS {
        insta::assert_snapshot!(format!("dockerfile_{seed}"), render(seed, Format::Dockerfile));
    }
}

#[test]
fn seeds_summary() {
    let out: String = SEEDS.iter().map(|s| render(s, Format::Summary)).collect();
    insta::assert_snapshot!("summary_seeds", out);
}
