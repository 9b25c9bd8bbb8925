//! `cargo xtask bench bounds`: peak memory of the inputs issue 23 found unbounded, each measured
//! with `/usr/bin/time` (maximum resident set size) against the 512 MB target: `hash-file` of a
//! 3 GB sparse file (streamed), and `layer add` of a 90-byte `.tar.gz` whose one member declares
//! 15 GiB (refused as truncated without allocating the declared size).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

/// The most resident memory any of these runs may take, in KiB.
const TARGET_KIB: u64 = 512 * 1024;

/// Runs `retrace ARGS` under `/usr/bin/time`: wall time, peak RSS in KiB, exit code and stdout.
fn measure(retrace: &Path, args: &[&str], rss_file: &Path) -> Result<(Duration, u64, i32, String)> {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss_file)
        .arg(retrace)
        .args(args)
        .output()?;
    let wall = start.elapsed();
    let rss = fs::read_to_string(rss_file)?
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| anyhow!("no peak RSS from /usr/bin/time"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok((wall, rss, out.status.code().unwrap_or(-1), stdout))
}

/// A GNU tar header of one regular file `name` declaring `size` bytes (base-256 size field, as GNU
/// tar writes sizes of 8 GiB and more), gzip'd with 4 KiB of zeros after it.
fn declared_member(name: &str, size: u64) -> Result<Vec<u8>> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124] = 0x80;
    h[128..136].copy_from_slice(&size.to_be_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..265].copy_from_slice(b"ustar  \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut plain = h.to_vec();
    plain.extend_from_slice(&[0u8; 4096]);
    let mut gz = Command::new("gzip")
        .arg("-9c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(gz.stdin.as_mut().ok_or_else(|| anyhow!("gzip stdin"))?, &plain)?;
    drop(gz.stdin.take());
    Ok(gz.wait_with_output()?.stdout)
}

pub fn run() -> Result<()> {
    let retrace = crate::release_retrace()?;
    let dir = crate::target_dir().join("bench-bounds");
    fs::create_dir_all(&dir)?;
    let rss_file = dir.join("rss");
    let mut over = Vec::new();

    let big = dir.join("sparse-3g");
    fs::File::create(&big)?.set_len(3_000_000_000)?;
    let (wall, rss, code, _) = measure(&retrace, &["hash-file", big.to_str().unwrap_or_default()], &rss_file)?;
    println!(
        "hash-file, 3 GB sparse file: {:.1} s, peak {} MiB, exit {code}",
        wall.as_secs_f64(),
        rss / 1024
    );
    if code != 0 || rss > TARGET_KIB {
        over.push("hash-file");
    }
    fs::remove_file(&big)?;

    let bomb = dir.join("declared-15g.tar.gz");
    fs::write(&bomb, declared_member("big", 15 << 30)?)?;
    let (_, _, _, hash) = measure(&retrace, &["hash-file", bomb.to_str().unwrap_or_default()], &rss_file)?;
    let hash = hash.trim().trim_start_matches("file:").to_string();
    let zeros = format!("sha256:{}", "0".repeat(64));
    let args = [
        "layer",
        "add",
        bomb.to_str().unwrap_or_default(),
        "--file-hash",
        &hash,
        "--expected",
        &zeros,
        "--docker-version",
        "18.06.1-ce",
    ];
    let (wall, rss, code, _) = measure(&retrace, &args, &rss_file)?;
    println!(
        "layer add, member declaring 15 GiB: {:.1} s, peak {} MiB, exit {code} (2: refused as truncated)",
        wall.as_secs_f64(),
        rss / 1024
    );
    if code != 2 || rss > TARGET_KIB {
        over.push("layer add");
    }
    if over.is_empty() {
        println!("every run under {} MiB", TARGET_KIB / 1024);
        Ok(())
    } else {
        Err(anyhow!(
            "over the {} MiB target or failed: {}",
            TARGET_KIB / 1024,
            over.join(", ")
        ))
    }
}
