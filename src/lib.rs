//! retrace: prove, digest by digest, whether a published container image can be rebuilt from its
//! recorded history.
//!
//! Data flows one way, one module per stage (see ARCHITECTURE.md):
//! document -> `parse` -> `ir` -> plan -> execute -> `layer` writer -> verify -> diff/report.

pub mod add;
pub mod archive;
pub mod attest;
pub mod blob;
pub mod commands;
pub mod deflate;
pub mod describe;
pub mod diff;
pub mod digest;
pub mod dockerfile;
pub mod error;
pub mod escape;
pub mod fsutil;
pub mod gzip;
pub mod ir;
pub mod layer;
pub mod mapping;
pub mod model;
pub mod oci;
pub mod parse;
pub mod plan;
pub mod platform;
pub mod recipe;
pub mod registry;
pub mod replay;
pub mod report;
pub mod report_json;
pub mod reproduce;
pub mod time;
pub mod verdict;

pub use commands::error::{Error, Result};
pub use digest::Digest;

/// What a command found, mapped by the CLI to the documented exit codes: 0 when every checked
/// layer matches, 1 when some differ. Errors (exit 2) travel as `Err`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Match,
    Differ,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Match => 0,
            Outcome::Differ => 1,
        }
    }
}
