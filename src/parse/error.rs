//! Parse errors: where (path, 1-based line and column) and what was expected, in user words.

use serde::Serialize;

/// Why a document could not be read. Line and column are 1-based (column counts characters);
/// both are 0 when the error concerns the whole file (it could not be read at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{path}{}: {message}", position(*line, *column))]
pub struct ParseError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// `:line:column`, or nothing for an error about the whole file (which has no position).
fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}:{column}")
    }
}
