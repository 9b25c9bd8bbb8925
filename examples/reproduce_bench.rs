//! `cargo xtask bench reproduce`: the timestamp search over the 35 non-COPY seed layers, built
//! in memory from testdata/reproduce/layers.yaml with every mtime replayed (no root needed, no
//! file system), against a reference measured in the same run: hashing the same number of
//! candidates back to back on one thread with the same compressor. The ratio
//! `search CPU-equivalent / reference` shows what the search adds (ordering, patching, blocks,
//! threads) on top of the unavoidable gzip + sha256 per candidate; below 1.0 means the threads
//! gave a speed-up.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use retrace::layer::Entry;
use retrace::reproduce::cli::{reproduce_entries, GzipSha256};
use retrace::reproduce::facts::layer_facts;
use retrace::reproduce::BlobHasher;

// The fixture reader the seed tests use, included as xtask's benches include test helpers.
#[path = "../tests/it/common/fixtures.rs"]
mod fixtures;

fn main() {
    let layers = fixtures::fixtures();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let start = Instant::now();
    let (mut candidates, mut matched) = (0u64, 0usize);
    let mut sample_tar = Vec::new();
    let mut sample_profile = None;
    for l in &layers {
        let facts = layer_facts(
            format!("testdata/seeds/{}", l.seed).as_ref(),
            &l.platform.parse().unwrap(),
            l.layer,
        )
        .unwrap();
        let entries: Vec<Entry> = l
            .entries
            .iter()
            .map(|e| {
                let mut entry = match e.kind.as_str() {
                    "dir" => Entry::dir(e.path.as_str(), u32::from_str_radix(&e.mode, 8).unwrap()),
                    _ => Entry::symlink(e.path.as_str(), e.target.clone().unwrap()),
                };
                entry.opaque = e.opaque;
                entry
                    .with_owner(e.uid.into(), e.gid.into())
                    .with_mtime(now + e.set_by as i64)
            })
            .collect();
        let report = reproduce_entries(&entries, &facts.input, &facts.profile).unwrap();
        candidates += report.candidates;
        matched += report.matched as usize;
        if sample_tar.is_empty() && entries.len() > 2 {
            let mut tar = Vec::new();
            retrace::layer::write_tar(&entries, &facts.profile, &mut tar).unwrap();
            sample_tar = tar;
            sample_profile = Some(facts.profile.clone());
        }
    }
    let search = start.elapsed().as_secs_f64();

    // Reference: the bare per-candidate work, one thread, on a seed-sized tar.
    let reps = 20_000u32;
    // The seed layers' own release, as the search hashes them.
    let mut hasher = GzipSha256::for_profile(&sample_profile.expect("a seed layer of more than two entries"));
    let t = Instant::now();
    for i in 0..reps {
        sample_tar[140] = b'0' + (i % 8) as u8;
        std::hint::black_box(hasher.blob_digest(&sample_tar));
    }
    let per_candidate = t.elapsed().as_secs_f64() / reps as f64;
    let reference = per_candidate * candidates as f64;
    let threads = rayon::current_num_threads() as f64;
    println!(
        "reproduce: {matched}/{} layers matched, {candidates} candidates",
        layers.len()
    );
    println!("search   : {search:.2} s wall on {threads} threads");
    println!(
        "reference: {reference:.2} s (one thread x {:.2} us per candidate)",
        per_candidate * 1e6
    );
    println!(
        "ratio    : {:.2} (search wall x threads / reference)",
        search * threads / reference
    );
    println!("speed-up : {:.2}x over one bare thread", reference / search);
    if matched != layers.len() {
        std::process::exit(1);
    }
}
