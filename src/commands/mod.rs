//! Library side of the CLI subcommands: each takes plain options and returns what to print, so
//! `main.rs` only parses arguments and maps outcomes to exit codes.

pub mod describe;
pub mod layer_add;
pub mod parse;
pub mod pull;
