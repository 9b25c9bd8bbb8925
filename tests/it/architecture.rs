//! The data flows one way (ARCHITECTURE.md): every `crate::` path in `src/` names a module at the
//! same stage or an earlier one. Comments and unit-test files are not code paths and are skipped.

use std::collections::BTreeSet;
use std::path::Path;

/// The stages in flow order; a module may use modules of its own stage or earlier ones. `main.rs`,
/// `lib.rs` and the binary's `cli/` sit above them all.
const STAGES: &[&[&str]] = &[
    &["digest", "time", "platform", "fsutil", "error", "deflate"],
    &["blob", "gzip", "verdict"],
    &["archive", "layer", "escape"],
    &["model", "ir", "parse", "mapping", "dockerfile", "recipe", "report_json"],
    &["plan", "reproduce", "add", "oci", "registry", "describe"],
    &["diff", "report", "attest"],
    &["replay"],
    &["commands"],
];

fn stage(module: &str) -> Option<usize> {
    STAGES.iter().position(|s| s.contains(&module))
}

#[test]
fn no_module_imports_against_the_data_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut against = BTreeSet::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
        if ["main", "lib", "cli"].contains(&top.as_str()) || is_unit_test(&rel) {
            continue;
        }
        let own = stage(&top).unwrap_or_else(|| panic!("src/{rel}: module `{top}` has no stage in this test"));
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for used in line.split("crate::").skip(1) {
                let name: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                match stage(&name) {
                    Some(s) if s > own => {
                        against.insert(format!("src/{rel}: `{top}` uses `{name}`"));
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(
        against.is_empty(),
        "imports against the data flow:\n{}",
        against.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// Only the parser knows pest; only the executor knows bollard and tokio (ARCHITECTURE.md).
#[test]
fn foreign_crates_stay_in_their_stage() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let owners: &[(&str, &str)] = &[
        ("pest", "parse/"),
        ("bollard", "replay/exec/"),
        ("tokio", "replay/exec/"),
    ];
    let mut outside = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        for (krate, home) in owners {
            let path = format!("{krate}::");
            let used = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains(&path) || l.trim_start().starts_with(&format!("use {krate}")));
            if used && !rel.starts_with(home) {
                outside.push(format!("src/{rel} uses {krate} (only src/{home} may)"));
            }
        }
    }
    assert!(outside.is_empty(), "{}", outside.join("\n"));
}

fn is_unit_test(rel: &str) -> bool {
    rel.ends_with("/tests.rs") || rel.ends_with("_tests.rs") || rel.contains("/tests/")
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}
