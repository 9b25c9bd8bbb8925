//! The parser must never panic, whatever it is fed. The fuzz target (`fuzz/`) explores this with
//! coverage guidance; this test proves it deterministically in every CI run: every prefix of a seed
//! document, and thousands of random byte edits of seeds, either parse or return an error.

use std::panic;

use retrace::mapping::map_platform;
use retrace::parse::parse_str;

fn seed(n: usize) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/seeds");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    std::fs::read_to_string(&files[n]).unwrap()
}

/// Parses and, on success, runs everything downstream of the parser that consumes its output.
fn exercise(text: &str) {
    if let Ok(doc) = parse_str(text, "fuzz") {
        for t in &doc.tags {
            for p in &t.platforms {
                let m = map_platform(p);
                let _ = retrace::dockerfile::render(&t.tag, p, &m);
            }
        }
    }
}

#[test]
fn every_prefix_of_a_seed_is_handled() {
    let text = seed(1);
    let mut ends: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
    // Every length in the first 4 KiB, then every 7th to keep the run short.
    ends.retain(|&i| i < 4096 || i % 7 == 0);
    for end in ends {
        let prefix = &text[..end];
        if panic::catch_unwind(|| exercise(prefix)).is_err() {
            panic!("panicked on the first {end} bytes of seed 001");
        }
    }
}

#[test]
fn random_byte_edits_of_seeds_are_handled() {
    // A fixed xorshift generator: the same edits every run, so a failure is reproducible.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"`#-\t\n :;()*[]{}\"'\\@sha256abcdefGMTB0123456789\r\xc3\xa9";
    for round in 0..3000 {
        let mut bytes = seed(round % 5).into_bytes();
        let edits = 1 + (next() % 8) as usize;
        for _ in 0..edits {
            let pos = (next() as usize) % bytes.len().max(1);
            match next() % 4 {
                0 => bytes[pos] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    bytes.remove(pos);
                }
                2 => bytes.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
                _ => {
                    // Duplicate or drop a whole line region.
                    let end = (pos + (next() % 200) as usize).min(bytes.len());
                    let chunk: Vec<u8> = bytes[pos..end].to_vec();
                    if next() % 2 == 0 {
                        bytes.splice(pos..pos, chunk);
                    } else {
                        bytes.drain(pos..end);
                    }
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if panic::catch_unwind(|| exercise(&text)).is_err() {
            let path = std::env::temp_dir().join(format!("retrace-parse-crash-{round}.md"));
            std::fs::write(&path, &bytes).unwrap();
            panic!("panicked on mutation round {round}; input saved to {}", path.display());
        }
    }
}

/// Inputs the fuzzer once crashed on (`testdata/parse/fuzz/`), kept as regressions.
#[test]
fn former_fuzzer_crashes_are_handled() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/parse/fuzz");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        if panic::catch_unwind(|| exercise(&text)).is_err() {
            panic!("panicked on {}", path.display());
        }
    }
}
