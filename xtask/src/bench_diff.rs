//! `cargo xtask bench diff`: time `retrace diff` on two ~1 GiB gzip'd layers against the shell
//! pipeline a maintainer would otherwise use (extract both with GNU tar, then `diff -r`), measured
//! in the same run, and report retrace's peak memory to show it streams.
//!
//! The layers are generated deterministically (a fixed-seed PRNG, a hand-written ustar writer,
//! `gzip -1`) and cached under `<target>/bench-diff/`: many small text files, a few large ones, and a
//! handful of differences of every kind (content, added, removed, mtime).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

// The same deterministic generator the tests use.
use crate::bench_gzip::mixture::Rng;

const SMALL_FILES: u32 = 40_000;
const LARGE_FILES: u32 = 10;
const LARGE_SIZE: u64 = 68 << 20;
/// Bump when the generated layers change, so cached copies are rebuilt.
const GENERATION: &str = "v2";

/// A pool of word-like text the file contents are cut from, so gzip sees realistic ratios.
fn text_pool(rng: &mut Rng) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "layer",
        "image",
        "digest",
        "sha256",
        "build",
        "alpine",
        "debian",
        "usr",
        "lib",
        "config",
        "python",
        "static",
        "install",
        "package",
        "version",
        "reproducible",
    ];
    let mut pool = Vec::with_capacity(4 << 20);
    while pool.len() < 4 << 20 {
        pool.extend_from_slice(WORDS[rng.below(16) as usize].as_bytes());
        pool.push(if rng.below(12) == 0 { b'\n' } else { b' ' });
        if rng.below(50) == 0 {
            pool.extend_from_slice(format!("{}", rng.next_u64()).as_bytes());
        }
    }
    pool
}

fn header(name: &str, typeflag: u8, size: u64, mode: u32, mtime: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(format!("{mode:07o}\0").as_bytes());
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(format!("{mtime:011o}\0").as_bytes());
    h[156] = typeflag;
    h[257..265].copy_from_slice(b"ustar\x0000");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// What side B changes relative to side A.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    A,
    B,
}

/// Writes one layer's tar. Both sides draw the same random stream, so they are identical except
/// where `side == B` deliberately deviates.
fn write_layer(path: &Path, side: Side) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let pool = text_pool(&mut rng);
    let mtime = 1_700_000_000u64;
    let mut dirs_done = std::collections::BTreeSet::new();
    let pad = |out: &mut BufWriter<File>, n: u64| -> Result<()> {
        let rem = (512 - n % 512) % 512;
        out.write_all(&vec![0u8; rem as usize])?;
        Ok(())
    };
    for i in 0..SMALL_FILES {
        let dir = format!("usr/share/s{:03}/", i / 200);
        if dirs_done.insert(dir.clone()) {
            out.write_all(&header(&dir, b'5', 0, 0o755, mtime))?;
        }
        let size = 1 + rng.below(16 << 10);
        let off = rng.below(pool.len() as u64 - size) as usize;
        let name = format!("{dir}f{i:05}.txt");
        let removed = side == Side::B && i == 777;
        if removed {
            continue;
        }
        let mut content = pool[off..off + size as usize].to_vec();
        if side == Side::B && i % 9000 == 4500 {
            // Four content changes, each a single byte in the middle of a text file.
            let mid = content.len() / 2;
            content[mid] = b'#';
        }
        let t = if side == Side::B && i % 15000 == 100 {
            mtime + 60
        } else {
            mtime
        };
        out.write_all(&header(&name, b'0', size, 0o644, t))?;
        out.write_all(&content)?;
        pad(&mut out, size)?;
    }
    if side == Side::B {
        let extra = b"added in B\n";
        out.write_all(&header("usr/share/added.txt", b'0', extra.len() as u64, 0o644, mtime))?;
        out.write_all(extra)?;
        pad(&mut out, extra.len() as u64)?;
    }
    out.write_all(&header("opt/big/", b'5', 0, 0o755, mtime))?;
    for k in 0..LARGE_FILES {
        out.write_all(&header(&format!("opt/big/blob{k}.bin"), b'0', LARGE_SIZE, 0o644, mtime))?;
        let mut written = 0u64;
        while written < LARGE_SIZE {
            let n = (64u64 << 10).min(LARGE_SIZE - written);
            let off = rng.below(pool.len() as u64 - n) as usize;
            let mut chunk = pool[off..off + n as usize].to_vec();
            if side == Side::B && k == 7 && written == 32 << 20 {
                chunk[0] ^= 0xff;
            }
            out.write_all(&chunk)?;
            written += n;
        }
    }
    out.write_all(&[0u8; 1024])?;
    out.flush()?;
    Ok(())
}

/// Paths side B changes: 4 small contents, 1 large content, 1 removed, 1 added, 3 mtimes.
const EXPECTED_CHANGES: usize = 10;

fn prepare(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    fs::create_dir_all(dir)?;
    let marker = dir.join("generation");
    let (a, b) = (dir.join("a.tar.gz"), dir.join("b.tar.gz"));
    if fs::read_to_string(&marker).ok().as_deref() == Some(GENERATION) && a.exists() && b.exists() {
        return Ok((a, b));
    }
    for (side, name) in [(Side::A, "a.tar"), (Side::B, "b.tar")] {
        let tar = dir.join(name);
        eprintln!("generating {}", tar.display());
        write_layer(&tar, side)?;
        let gz = dir.join(format!("{name}.gz"));
        let _ = fs::remove_file(&gz);
        let status = Command::new("gzip")
            .args(["-1", "-f"])
            .arg(&tar)
            .status()
            .context("running gzip")?;
        if !status.success() {
            bail!("gzip failed");
        }
    }
    fs::write(&marker, GENERATION)?;
    Ok((a, b))
}

/// Runs a command under `/usr/bin/time`, returning wall time, peak RSS in KiB and the exit code.
fn measure(cmd: &mut Command, rss_file: &Path) -> Result<(Duration, u64, i32)> {
    let start = Instant::now();
    let status = cmd.status()?;
    let wall = start.elapsed();
    let rss = fs::read_to_string(rss_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    Ok((wall, rss, status.code().unwrap_or(-1)))
}

pub fn run() -> Result<()> {
    let target = crate::target_dir();
    let retrace = crate::release_retrace()?;
    let dir = target.join("bench-diff");
    let (a, b) = prepare(&dir)?;
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "layers: {} ({} MiB gz) and {} ({} MiB gz), {} small + {} large files, ~{} MiB uncompressed each",
        a.display(),
        size(&a) >> 20,
        b.display(),
        size(&b) >> 20,
        SMALL_FILES,
        LARGE_FILES,
        (SMALL_FILES as u64 * (8 << 10) + LARGE_FILES as u64 * LARGE_SIZE) >> 20
    );

    // Warm the page cache for both contenders alike.
    for p in [&a, &b] {
        std::io::copy(&mut File::open(p)?, &mut std::io::sink())?;
    }

    let rss_file = dir.join("rss");
    let mut best_retrace = Duration::MAX;
    let mut peak_rss = 0;
    for _ in 0..2 {
        let json = dir.join("retrace.json");
        let mut cmd = Command::new("/usr/bin/time");
        cmd.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(&retrace);
        cmd.args(["diff", "--format", "json"])
            .arg(&a)
            .arg(&b)
            .stdout(File::create(&json)?);
        let (wall, rss, code) = measure(&mut cmd, &rss_file)?;
        if code != 1 {
            bail!("retrace diff exited {code}, expected 1 (different)");
        }
        let report: serde_json::Value = serde_json::from_slice(&fs::read(&json)?)?;
        let changes = report["comparisons"][0]["changes"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        if changes != EXPECTED_CHANGES {
            bail!("retrace diff reported {changes} changed paths, expected {EXPECTED_CHANGES}");
        }
        best_retrace = best_retrace.min(wall);
        peak_rss = peak_rss.max(rss);
    }

    let work = dir.join("extract");
    let mut best_shell = Duration::MAX;
    for _ in 0..2 {
        let _ = fs::remove_dir_all(&work);
        let script = format!(
            "set -e; mkdir -p {w}/a {w}/b; tar -xzf {a} -C {w}/a & tar -xzf {b} -C {w}/b & wait; \
             diff -r {w}/a {w}/b > /dev/null || test $? -eq 1",
            w = work.display(),
            a = a.display(),
            b = b.display()
        );
        let start = Instant::now();
        let status = Command::new("bash").arg("-c").arg(&script).status()?;
        let wall = start.elapsed();
        if !status.success() {
            bail!("shell pipeline failed: {script}");
        }
        best_shell = best_shell.min(wall);
    }
    let _ = fs::remove_dir_all(&work);

    println!(
        "retrace diff:                 {:>7.2} s (best of 2), max RSS {} MiB",
        best_retrace.as_secs_f64(),
        peak_rss / 1024
    );
    println!(
        "tar -xzf x2 (parallel) + diff -r: {:>7.2} s (best of 2)",
        best_shell.as_secs_f64()
    );
    println!(
        "ratio shell/retrace: {:.2}x ({})",
        best_shell.as_secs_f64() / best_retrace.as_secs_f64(),
        if best_retrace < best_shell {
            "retrace is faster"
        } else {
            "retrace is SLOWER: target missed"
        }
    );
    Ok(())
}
