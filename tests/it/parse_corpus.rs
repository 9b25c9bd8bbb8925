//! Every document of the shared corpus must parse, and every platform entry must map its history to
//! its layers. The corpus lives outside the repository (`$RETRACE_CORPUS`, else `../shared/corpus`
//! next to the checkout); without it the test fails under CI and is loudly skipped elsewhere.

use std::path::{Path, PathBuf};

use retrace::mapping::{map_platform, Certainty};

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("RETRACE_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus not found at {} (set RETRACE_CORPUS)", dir.display());
    }
    eprintln!("SKIPPED: corpus not found at {} (set RETRACE_CORPUS)", dir.display());
    None
}

fn documents(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            documents(&p, out);
        } else if p.extension().is_some_and(|e| e == "md") && p.file_name().is_some_and(|n| n != "README.md") {
            out.push(p);
        }
    }
}

#[test]
#[ignore = "needs ../shared; run by `cargo xtask test`"]
fn needs_shared_every_corpus_document_parses_and_maps() {
    let Some(dir) = corpus_dir() else { return };
    let mut files = Vec::new();
    documents(&dir, &mut files);
    assert!(
        files.len() >= 3261,
        "expected the 3,261 corpus documents, found {}",
        files.len()
    );

    let mut failures = Vec::new();
    let (mut tags, mut platforms, mut layers, mut entries) = (0, 0, 0, 0);
    let (mut certain, mut ambiguous) = (0, 0);
    for f in &files {
        match retrace::parse::parse_file(f) {
            Ok(doc) => {
                assert!(!doc.tags.is_empty(), "{}: no tag section", f.display());
                for t in &doc.tags {
                    tags += 1;
                    assert!(!t.tag.is_empty());
                    for p in &t.platforms {
                        platforms += 1;
                        layers += p.layers.len();
                        entries += p.history.len();
                        assert!(
                            !p.layers.is_empty(),
                            "{}:{}: platform without layers",
                            f.display(),
                            p.line
                        );
                        let m = map_platform(p);
                        assert_eq!(m.steps.len(), p.history.len());
                        match m.certainty {
                            Certainty::Certain => certain += 1,
                            Certainty::Ambiguous => ambiguous += 1,
                        }
                        // When certain, every layer is made by exactly one step, in order.
                        if m.certainty == Certainty::Certain && !p.history.is_empty() {
                            let made: Vec<usize> = m.steps.iter().flatten().copied().collect();
                            assert_eq!(
                                made,
                                (1..=p.layers.len()).collect::<Vec<_>>(),
                                "{}:{}",
                                f.display(),
                                p.line
                            );
                        }
                    }
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    eprintln!(
        "corpus: {} documents, {tags} tags, {platforms} platforms, {entries} history entries, {layers} layers; \
         mapping certain {certain}, ambiguous {ambiguous}",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} documents failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(tags, 3261);
    assert_eq!(platforms, 11241);
    assert_eq!(layers, 96906);
}

/// Every platform of every corpus document goes through the build's planning (inputs, layer
/// assignment, per-step config): none panics and none is refused. The tally is printed so a
/// change in coverage shows.
#[test]
#[ignore = "needs ../shared; run by `cargo xtask test`"]
fn needs_shared_every_corpus_platform_plans_or_says_why_not() {
    let Some(dir) = corpus_dir() else { return };
    let mut files = Vec::new();
    documents(&dir, &mut files);
    let (mut planned, mut refused) = (0usize, std::collections::BTreeMap::<String, usize>::new());
    for f in &files {
        let doc = retrace::parse::parse_file(f).unwrap();
        for t in &doc.tags {
            let inputs = retrace::replay::input::inputs_of(&doc, &t.tag).unwrap();
            for input in &inputs {
                match retrace::plan::plan(input, &[], None) {
                    Ok(p) => {
                        planned += 1;
                        assert_eq!(p.platform, input.platform);
                    }
                    Err(e) => {
                        // Group by the error's kind (its text up to the first detail).
                        let kind = e.to_string().split(':').next().unwrap_or("").to_string();
                        *refused.entry(kind).or_default() += 1;
                    }
                }
            }
        }
    }
    eprintln!("planned {planned} platform images; refused: {refused:?}");
    // Measured: all 11,233 non-attestation platform images of the corpus plan.
    assert!(refused.is_empty(), "refused: {refused:?}");
    assert!(planned >= 11_233, "planned only {planned}");
}
