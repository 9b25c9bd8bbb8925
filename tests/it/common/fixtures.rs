//! The seed layer trees of `testdata/reproduce/layers.yaml` (paths, kinds, modes, owners, opaque
//! directories and the step that last changed each entry; no time, no digest), as the timestamp
//! search's seed test and the fake engine read them.
//!
//! Included by `examples/reproduce_bench.rs` too, which reads fewer of the fields.
#![allow(dead_code)]

use std::fs;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Fixture {
    pub layers: Vec<FixtureLayer>,
}

#[derive(Debug, Deserialize)]
pub struct FixtureLayer {
    pub seed: String,
    pub platform: String,
    pub layer: usize,
    /// The start of the step's text, as `history` records it.
    pub step: String,
    pub entries: Vec<FixtureEntry>,
}

#[derive(Debug, Deserialize)]
pub struct FixtureEntry {
    pub path: String,
    pub kind: String,
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub opaque: bool,
    pub set_by: usize,
}

pub fn fixtures() -> Vec<FixtureLayer> {
    let text = fs::read_to_string("testdata/reproduce/layers.yaml").unwrap();
    let f: Fixture = yaml_serde::from_str(&text).unwrap();
    f.layers
}
