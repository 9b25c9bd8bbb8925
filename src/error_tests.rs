//! The chain printer, and the rule that no error's own text repeats its cause.

use std::error::Error as StdError;
use std::io;

use super::chain;
use crate::registry::RegistryError;
use crate::replay::exec::ExecError;
use crate::replay::{BuildError, StepError};
use crate::Error;

/// A test error with its own text and an optional cause.
#[derive(Debug)]
struct Layer(&'static str, Option<Box<Layer>>);

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl StdError for Layer {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.1.as_deref().map(|l| l as &(dyn StdError + 'static))
    }
}

#[test]
fn chain_prints_the_error_then_each_cause() {
    let err = Layer(
        "outer",
        Some(Box::new(Layer("middle", Some(Box::new(Layer("inner", None)))))),
    );
    assert_eq!(chain(&err), "outer: middle: inner");
    assert_eq!(chain(&Layer("alone", None)), "alone");
}

#[test]
fn chain_skips_a_cause_a_foreign_error_already_ends_with() {
    // Some foreign errors (bollard's) end their own text with their source's.
    let err = Layer("client: refused", Some(Box::new(Layer("refused", None))));
    assert_eq!(chain(&err), "client: refused");
}

/// Asserts that no error in `err`'s chain repeats its cause's text in its own, that the printed
/// chain has no segment twice in a row, and that it ends with the innermost cause.
fn assert_says_each_fact_once(err: &(dyn StdError + 'static), cause: &str) {
    let mut e = err;
    while let Some(source) = e.source() {
        let (own, below) = (e.to_string(), source.to_string());
        assert!(!own.contains(&below), "`{own}` repeats its cause `{below}`");
        e = source;
    }
    let text = chain(err);
    let segments: Vec<&str> = text.split(": ").collect();
    assert!(
        segments.windows(2).all(|w| w[0] != w[1]),
        "repeated segment in `{text}`"
    );
    assert!(text.ends_with(cause), "`{text}` lost its cause `{cause}`");
}

#[test]
fn an_io_error_names_its_path_once() {
    let err = Error::io("/x/doc.md", io::Error::new(io::ErrorKind::NotFound, "no such file"));
    assert_says_each_fact_once(&err, "no such file");
    assert_eq!(chain(&err), "/x/doc.md: no such file");
}

#[test]
fn a_step_error_wraps_its_exec_error() {
    let err = StepError::Exec {
        position: 1,
        step: "RUN false".into(),
        source: Box::new(ExecError::StepFailed {
            code: 3,
            hint: String::new(),
        }),
    };
    assert_says_each_fact_once(&err, "the command exited with status 3");
    assert_eq!(chain(&err), "step 1 `RUN false`: the command exited with status 3");
}

#[test]
fn a_registry_error_says_its_path_once() {
    let io = io::Error::new(io::ErrorKind::PermissionDenied, "permission denied");
    let err = Error::from(RegistryError::io("/store/blobs", io));
    assert_says_each_fact_once(&err, "permission denied");
    assert_eq!(chain(&err), "/store/blobs: permission denied");
}

#[test]
fn a_parse_error_in_a_build_keeps_its_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doc.md"), "## `x:1`\n\n```console\nnot a document\n").unwrap();
    let recipe_path = dir.path().join("recipe.yaml");
    std::fs::write(&recipe_path, "document: doc.md\ntag: x:1\ncache: cache\n").unwrap();
    let recipe = crate::recipe::load(&recipe_path).unwrap();
    let err = Error::from(crate::replay::plans(&recipe).unwrap_err());
    assert!(matches!(err, Error::Build(BuildError::Parse(_))), "{err:?}");
    let text = chain(&err);
    assert!(text.contains("doc.md:"), "{text}");
    assert_says_each_fact_once(&err, &text[text.rfind(": ").map_or(0, |i| i + 2)..]);
}

#[test]
fn a_tar_header_error_names_the_entry_and_the_field() {
    let e = crate::layer::Entry::file("a\nb", 0o644, Vec::new()).with_owner(1 << 60, 0);
    let err = crate::layer::write_tar(&[e], &crate::layer::Profile::docker_17_06(), &mut Vec::new()).unwrap_err();
    let text = chain(&err);
    assert!(text.contains("`a\\x0ab`") && text.contains("field uid"), "{text}");
    assert_says_each_fact_once(&err, "does not fit a 8-byte field");
}
