//! Deterministic test inputs shared by the differential tests and `cargo xtask bench gzip`
//! (which includes this file by path), so the benchmark measures the same bytes the tests prove
//! identical to Go.
//!
//! Real files (Go sources, machine binaries) are read when present and replaced by generated
//! look-alikes when not, so the functions work on any machine; on one machine they always return
//! the same bytes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// SplitMix64: a tiny, well-mixed deterministic generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Incompressible bytes.
pub fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Rng(seed).fill(&mut v);
    v
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "layer",
    "image",
    "container",
    "digest",
    "rebuild",
    "history",
    "compression",
    "window",
    "registry",
    "manifest",
    "archive",
    "reproducible",
    "byte",
    "identical",
    "encoder",
    "stream",
    "block",
];

/// English-looking text: Zipf-ish word choice, sentences, paragraphs.
pub fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(len + 64);
    let mut sentence_start = true;
    while out.len() < len {
        // Squaring a uniform value favours the first (common) words.
        let r = rng.below(1 << 16) as f64 / 65536.0;
        let word = WORDS[((r * r) * WORDS.len() as f64) as usize];
        if sentence_start {
            let mut w = word.as_bytes().to_vec();
            w[0] = w[0].to_ascii_uppercase();
            out.extend_from_slice(&w);
            sentence_start = false;
        } else {
            out.extend_from_slice(word.as_bytes());
        }
        match rng.below(20) {
            0 => {
                out.extend_from_slice(b". ");
                sentence_start = true;
            }
            1 => out.extend_from_slice(b", "),
            2 if rng.below(8) == 0 => {
                out.extend_from_slice(b".\n\n");
                sentence_start = true;
            }
            _ => out.push(b' '),
        }
    }
    out.truncate(len);
    out
}

/// Log-like lines: highly repetitive with changing numbers, good at producing long matches and
/// many tokens per byte.
pub fn log_lines(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(len + 128);
    let mut t = 1_500_000_000u64;
    while out.len() < len {
        t += rng.below(5);
        let line = format!(
            "{{\"ts\":{},\"level\":\"{}\",\"msg\":\"request served\",\"status\":{},\"bytes\":{},\"path\":\"/v2/library/debian/blobs/sha256:{:016x}\"}}\n",
            t,
            ["info", "warn", "debug"][rng.below(3) as usize],
            [200, 201, 304, 404][rng.below(4) as usize],
            rng.below(100_000),
            rng.next_u64() >> rng.below(64),
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(len);
    out
}

/// Every regular file under `dir` (sorted, recursively) whose name ends in `ext`.
fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            files_under(&p, ext, out);
        } else if meta.is_file() && p.to_string_lossy().ends_with(ext) {
            out.push(p);
        }
    }
}

/// Go standard library sources (falls back to generated text where Go is not installed).
pub fn go_source(len: usize) -> Vec<u8> {
    let mut files = Vec::new();
    for sub in ["compress", "archive", "net/http", "runtime", "crypto", "go"] {
        files_under(&Path::new("/usr/lib/go-1.19/src").join(sub), ".go", &mut files);
    }
    let mut out = Vec::with_capacity(len);
    for f in files {
        if out.len() >= len {
            break;
        }
        if let Ok(b) = std::fs::read(&f) {
            out.extend_from_slice(&b);
        }
    }
    if out.len() < len {
        out.extend_from_slice(&log_lines(len - out.len(), 7));
    }
    out.truncate(len);
    out
}

/// This crate's own Rust sources (src/ and tests/), concatenated in path order.
pub fn rust_source(root: &Path) -> Vec<u8> {
    let mut files = Vec::new();
    files_under(&root.join("src"), ".rs", &mut files);
    files_under(&root.join("tests"), ".rs", &mut files);
    files.iter().filter_map(|f| std::fs::read(f).ok()).flatten().collect()
}

/// Executables from the machine (ELF: code, tables, strings and zero padding).
pub fn binaries(len: usize) -> Vec<u8> {
    let candidates = [
        "/usr/lib/go-1.19/pkg/tool/linux_amd64/compile",
        "/usr/bin/bash",
        "/usr/bin/ls",
        "/usr/bin/tar",
        "/usr/bin/perl",
        "/usr/bin/find",
        "/usr/bin/gzip",
        "/usr/bin/cat",
    ];
    let mut out = Vec::with_capacity(len);
    for c in candidates {
        if out.len() >= len {
            break;
        }
        if let Ok(b) = std::fs::read(c) {
            out.extend_from_slice(&b);
        }
    }
    if out.len() < len {
        // A stand-in with binary-like structure: short random runs, zeros and repeated words.
        let mut rng = Rng(11);
        while out.len() < len {
            match rng.below(3) {
                0 => out.extend(random(rng.below(64) as usize + 1, rng.next_u64())),
                1 => out.extend(std::iter::repeat_n(0u8, rng.below(200) as usize)),
                _ => out.extend_from_slice(&(rng.below(1 << 20) as u32).to_le_bytes().repeat(4)),
            }
        }
    }
    out.truncate(len);
    out
}

/// A ustar stream of Go source files (name, size, checksum; data padded to 512; two zero
/// blocks at the end), like the layer tars retrace compresses.
pub fn tar_stream(len: usize) -> Vec<u8> {
    let mut files = Vec::new();
    files_under(Path::new("/usr/lib/go-1.19/src/net"), "", &mut files);
    let mut out = Vec::with_capacity(len + 4096);
    let add = |name: &str, data: &[u8], out: &mut Vec<u8>| {
        let mut h = [0u8; 512];
        let name = name.as_bytes();
        let n = name.len().min(100);
        h[..n].copy_from_slice(&name[name.len() - n..]);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"14413573533\0");
        h[148..156].copy_from_slice(b"        ");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    };
    for f in &files {
        if out.len() >= len {
            break;
        }
        if let Ok(b) = std::fs::read(f) {
            add(&f.to_string_lossy(), &b, &mut out);
        }
    }
    let mut i = 0;
    while out.len() < len {
        add(
            &format!("gen/file{i}.txt"),
            &text(3000 + i * 37 % 5000, i as u64),
            &mut out,
        );
        i += 1;
    }
    out.extend_from_slice(&[0u8; 1024]);
    out.truncate(len);
    out
}

/// `len` bytes mixing all of the above in pieces of 1 KiB..1 MiB, so blocks see every kind of
/// data and every transition between kinds.
pub fn mixture(len: usize) -> Vec<u8> {
    let mut rng = Rng(0x5eed);
    // Pools to cut pieces from, each big enough for its share.
    let pool = len / 4 + (1 << 20);
    let pools: Vec<Vec<u8>> = vec![
        go_source(pool),
        binaries(pool),
        tar_stream(pool),
        text(pool / 2, 1),
        log_lines(pool / 2, 2),
        random(pool / 4, 3),
        vec![0u8; pool / 4],
    ];
    let mut pos = vec![0usize; pools.len()];
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let k = rng.below(pools.len() as u64) as usize;
        let piece = (1024 + rng.below(1 << 20) as usize).min(len - out.len());
        let p = &pools[k];
        let start = if pos[k] + piece <= p.len() { pos[k] } else { 0 };
        let end = (start + piece).min(p.len());
        out.extend_from_slice(&p[start..end]);
        pos[k] = end;
    }
    out.truncate(len);
    out
}

/// The first `len` bytes of a name-sorted `tar` of system directories (shared libraries and
/// documentation, or `/usr/lib` and `/usr/share` where those are missing): machine code, text,
/// already-compressed files and tar's zero padding, as in real layers. Unlike the rest of this
/// file it depends on what the machine has installed, so it serves only comparisons made on the
/// same bytes in the same run. `None` when `tar` fails or gives less than `len / 4` bytes.
pub fn system_tar(len: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let mut dirs: Vec<&str> = ["/usr/lib/x86_64-linux-gnu", "/usr/share/doc"]
        .into_iter()
        .filter(|d| Path::new(d).is_dir())
        .collect();
    if dirs.len() < 2 {
        dirs = vec!["/usr/lib", "/usr/share"];
    }
    let mut child = Command::new("tar")
        .args(["--sort=name", "--numeric-owner", "-cf", "-"])
        .args(&dirs)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut data = Vec::with_capacity(len);
    let read = child.stdout.take()?.take(len as u64).read_to_end(&mut data);
    // tar is cut off once enough is read; its exit status says nothing then.
    let _ = child.kill();
    let _ = child.wait();
    (read.is_ok() && data.len() >= len / 4).then_some(data)
}
