//! The timestamp search hashes every candidate as the layer's own Docker release pushed it: that
//! release's DEFLATE and gzip header (issue 19's first bug: every candidate used to be hashed with
//! Go 1.7+'s DEFLATE and a zero header MTIME, so no layer of Docker 1.10 to 1.13 or 17.03 to 17.05
//! could ever match after a search).
//!
//! The oracle is a published document: alpine:3.3's layer 1 (Docker 1.12.6), whose public rootfs
//! tarball lies in `../shared/bases`. Its entries of the tarball's last second lose that time, as a
//! replayed RUN step's entries do, and the search must give it back to reach the published digest.

use std::collections::BTreeMap;

use retrace::add::untar::untar;
use retrace::archive::Limits;
use retrace::layer::Profile;
use retrace::reproduce::cli::reproduce_entries;
use retrace::reproduce::{SearchEnd, SearchInput, SearchLimits, StepTime};
use retrace::Digest;

use crate::common;

/// The tarball's last second (2017-03-03 11:20:19 UTC), held by 16 of its entries.
const ORIGINAL: i64 = 1_488_540_019;
/// A time after everything the document records, as a replay today writes.
const REPLAYED: i64 = 1_800_000_000;

#[test]
#[ignore = "needs ../shared; run by `cargo xtask test`"]
fn needs_shared_a_docker_1_12_layer_is_recovered_by_the_search_with_its_release_gzip() {
    let Some(shared) =
        common::shared::shared_dir("needs_shared_a_docker_1_12_layer_is_recovered_by_the_search_with_its_release_gzip")
    else {
        return;
    };
    let row = published_row(&shared, "c70be01d83c2ed4d");
    assert_eq!(row[4], "1.12.6", "the case is a Docker 1.12 layer");
    let expected: Digest = row[5].parse().unwrap();
    let tarball = std::fs::read(shared.join("bases").join(&row[1])).unwrap();
    let (tree, _) = untar(&tarball, &Limits::default(), 0).unwrap();
    let mut entries = tree.entries();
    let mut lost = 0;
    for e in entries.iter_mut().filter(|e| e.mtime == ORIGINAL) {
        e.mtime = REPLAYED;
        lost += 1;
    }
    assert_eq!(lost, 16, "the tarball's last second");
    let input = SearchInput {
        expected,
        steps: vec![StepTime {
            created: ORIGINAL + 1,
            base_tarball: false,
            copies_context: false,
        }],
        replayed_after: ORIGINAL + 1,
        own_step_since: None,
        kept: BTreeMap::new(),
        limits: SearchLimits {
            max_candidates: 1_000,
            ..SearchLimits::default()
        },
    };
    let profile = Profile::for_docker_version(&row[4]).unwrap();
    let report = reproduce_entries(&entries, &input, &profile).unwrap();
    assert_eq!(report.end, SearchEnd::Matched, "{report:?}");
    assert_eq!(report.digest, expected);
    assert!(report.mtimes.values().all(|&t| t == ORIGINAL), "{:?}", report.mtimes);
}

/// The `bases/entries.tsv` row of the tarball folder `folder`.
fn published_row(shared: &std::path::Path, folder: &str) -> Vec<String> {
    let text = std::fs::read_to_string(shared.join("bases/entries.tsv")).unwrap();
    text.lines()
        .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
        .find(|r| r.get(1).is_some_and(|t| t.starts_with(&format!("{folder}/"))))
        .unwrap_or_else(|| panic!("no row for {folder} in bases/entries.tsv"))
}
