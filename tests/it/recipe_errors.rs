//! Golden tests for recipe validation: every `testdata/recipes/invalid/NAME.yaml` must be refused
//! with exactly the message in `NAME.err` (the field path and, where YAML knows it, line and column).
//! Set `UPDATE_GOLDEN=1` to rewrite the `.err` files after an intended change of wording.

use std::path::Path;

#[test]
fn invalid_recipes_are_refused_with_the_field_named() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/recipes/invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "expected the golden cases in {}", dir.display());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let text = std::fs::read_to_string(&case).unwrap();
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        // A stable relative name keeps the golden text independent of where the repo is checked out.
        let got = match retrace::recipe::parse(&text, Path::new(&name)) {
            Ok(_) => "accepted\n".to_string(),
            Err(e) => format!("{e}\n"),
        };
        let golden = case.with_extension("err");
        if update {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            failures.push(format!("{name}:\n  want: {want}  got:  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shipped_recipes_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            if let Err(e) = retrace::recipe::load(&path) {
                panic!("{e}");
            }
        }
    }
}
