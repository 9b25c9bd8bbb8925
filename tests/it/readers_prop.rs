//! Every parser and reader of outside input, fed generated input under a fixed budget (a set
//! number of cases of bounded size, in the default `cargo test`): each returns a value or an
//! error, never a panic, and never holds more than its documented limits. The document parser has
//! its own (`parse_robustness`), the report text its escaping (`report::tests`).

use std::io::Write;

use proptest::prelude::*;
use proptest::test_runner::Config;

use retrace::archive::{self, Limits};

/// Cases per property: enough to reach the readers' error paths, few enough for every CI run.
const CASES: u32 = 64;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Small limits, so that generated archives reach them: a reader must stop there cleanly.
fn small_limits() -> Limits {
    Limits {
        max_entries: 64,
        max_entry_size: 64 << 10,
        max_total_bytes: 1 << 20,
        ..Limits::default()
    }
}

/// A tar of `files` (name, content) followed by `tail` garbage bytes.
fn tar_of(files: &[(String, Vec<u8>)], tail: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if h.set_path(name).is_err() {
            continue;
        }
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    let mut out = b.into_inner().unwrap();
    out.extend_from_slice(tail);
    out
}

/// `bytes` compressed as `kind` (0 none, 1 gzip, 2 xz, 3 bzip2), as a layer or an ADD source may be.
fn compressed(kind: u8, bytes: &[u8]) -> Vec<u8> {
    match kind {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        2 => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        3 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        _ => bytes.to_vec(),
    }
}

fn files() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec(("[a-z./]{1,40}", prop::collection::vec(any::<u8>(), 0..2048)), 0..8)
}

proptest! {
    #![proptest_config(config())]

    /// tar, gzip, xz and bzip2 archives, well-formed or with a byte flipped or cut short, are
    /// read to the end or refused; what is read stays within the limits.
    #[test]
    fn archives_are_read_or_refused(files in files(), tail in prop::collection::vec(any::<u8>(), 0..600),
                                    kind in 0u8..4, flip in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let mut blob = compressed(kind, &tar_of(&files, &tail));
        if !blob.is_empty() {
            let i = flip.index(blob.len());
            blob[i] ^= 0x5a;
            blob.truncate(cut.index(blob.len()) + 1);
        }
        let limits = small_limits();
        let mut total = 0u64;
        let _ = archive::read_archive(&blob[..], None, &limits, |_, content| {
            total += std::io::copy(content, &mut std::io::sink()).map_err(archive::ArchiveError::Io)?;
            Ok(())
        });
        prop_assert!(total <= limits.max_total_bytes);
        let mut out = Vec::new();
        let _ = archive::decompress(&blob[..], &limits, &mut out);
        prop_assert!(out.len() as u64 <= limits.max_total_bytes);
    }

    /// Recipes: YAML of any shape, nesting included, parses or is refused with a message.
    #[test]
    fn recipes_parse_or_are_refused(open in prop::collection::vec(prop::sample::select(vec!["[", "{", "- ", "a: ", "'", "\"", "#", "\n", " "]), 0..200),
                                    text in "[ -~\n]{0,400}") {
        let yaml = format!("document: x.md\ntag: {}{}\n", open.concat(), text);
        let _ = retrace::recipe::parse(&yaml, std::path::Path::new("/nonexistent/r.yaml"));
    }

    /// report.json: any JSON-ish text parses or is refused naming its line and column.
    #[test]
    fn report_json_parses_or_is_refused(text in "[\\[\\]{}\":,0-9a-z \n\u{0}-\u{1f}\u{fffe}]{0,600}") {
        if let Err(e) = retrace::report_json::Report::parse(text.as_bytes(), std::path::Path::new("report.json")) {
            prop_assert!(e.to_string().starts_with("report.json: line "));
        }
    }

    /// OCI JSON (manifests, indexes, configs): any bytes parse or are refused.
    #[test]
    fn oci_json_parses_or_is_refused(text in "[\\[\\]{}\":,0-9a-zA-Z./+ \n]{0,600}", media in prop::option::of("[a-z./+]{0,60}")) {
        let _ = retrace::registry::manifest::FetchedManifest::parse(text.clone().into_bytes(), media.as_deref(), "manifest");
        let _ = retrace::registry::manifest::ImageConfig::parse(text.as_bytes(), "config");
    }
}
