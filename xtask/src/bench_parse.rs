//! `cargo xtask bench parse`: parser throughput over the whole corpus, next to the time `cat` takes
//! to read the same files in the same run, plus the peak memory of the process.
//!
//! Documents are read and parsed one at a time per worker and dropped at once, so memory is bounded
//! by the largest document (times the number of workers), not by the corpus.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

pub fn run(args: &[String]) -> Result<()> {
    // `cargo xtask` builds without optimisation; a throughput figure from that build would mislead,
    // so the bench re-runs itself from an optimised build.
    if cfg!(debug_assertions) {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "run",
                "--release",
                "--quiet",
                "--package",
                "xtask",
                "--",
                "bench",
                "parse",
            ])
            .args(args)
            .status()
            .context("running the optimised bench")?;
        if !status.success() {
            bail!("the optimised bench failed");
        }
        return Ok(());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match args.first() {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("RETRACE_CORPUS") {
            Some(d) => PathBuf::from(d),
            None => root.join("../shared/corpus"),
        },
    };
    if !dir.is_dir() {
        bail!(
            "corpus not found at {} (pass a directory or set RETRACE_CORPUS)",
            dir.display()
        );
    }
    let mut files = Vec::new();
    collect(&dir, &mut files)?;
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
        .collect();
    let total: u64 = sizes.iter().sum();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let mb = total as f64 / 1e6;
    println!(
        "corpus: {} documents, {:.1} MB, largest {:.1} KB ({})",
        files.len(),
        mb,
        largest as f64 / 1e3,
        dir.display()
    );

    // Warm the page cache so both sides read from memory, then time `cat` over the same files.
    cat(&files)?;
    let t = Instant::now();
    cat(&files)?;
    let cat_s = t.elapsed().as_secs_f64();

    let (t, c) = (Instant::now(), cpu_seconds());
    let (docs, platforms) = parse_all(&files, false)?;
    let (serial_s, serial_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);

    let (t, c) = (Instant::now(), cpu_seconds());
    parse_all(&files, true)?;
    let (parallel_s, parallel_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);

    let hwm = peak_rss_kib();
    println!("cat (read only):          {:>7.3} s  {:>8.1} MB/s", cat_s, mb / cat_s);
    println!(
        "parse, 1 thread:          {:>7.3} s  {:>8.1} MB/s  ({:.1}x cat)  CPU {:.2} s = {:.0} MB/s per core",
        serial_s,
        mb / serial_s,
        serial_s / cat_s,
        serial_cpu,
        mb / serial_cpu.max(0.01)
    );
    println!(
        "parse, {} threads (rayon): {:>7.3} s  {:>8.1} MB/s  ({:.1}x cat)  CPU {:.2} s",
        rayon::current_num_threads(),
        parallel_s,
        mb / parallel_s,
        parallel_s / cat_s,
        parallel_cpu
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average {} on {} cores (wall times grow with other work; CPU times do not)",
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    println!("parsed {docs} documents, {platforms} platform images");
    match hwm {
        Some(k) => println!(
            "peak RSS (VmHWM): {:.1} MB  (corpus {:.1} MB, largest document {:.1} KB)",
            k as f64 / 1024.0,
            mb,
            largest as f64 / 1e3
        ),
        None => println!("peak RSS: unavailable (no /proc/self/status)"),
    }
    let target = 1.0;
    if parallel_s > target {
        println!("MISSED target: whole corpus in under {target} s");
    } else {
        println!("target met: whole corpus in under {target} s");
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "md") && p.file_name().is_some_and(|n| n != "README.md") {
            out.push(p);
        }
    }
    Ok(())
}

fn cat(files: &[PathBuf]) -> Result<()> {
    for chunk in files.chunks(1000) {
        let status = Command::new("cat")
            .args(chunk)
            .stdout(Stdio::null())
            .status()
            .context("running cat")?;
        if !status.success() {
            bail!("cat failed");
        }
    }
    Ok(())
}

fn parse_all(files: &[PathBuf], parallel: bool) -> Result<(usize, usize)> {
    let one = |f: &PathBuf| -> Result<usize> {
        let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
        let doc = retrace::parse::parse_str(&text, &f.display().to_string())?;
        Ok(doc.tags.iter().map(|t| t.platforms.len()).sum())
    };
    let counts: Vec<usize> = if parallel {
        files.par_iter().map(one).collect::<Result<_>>()?
    } else {
        files.iter().map(one).collect::<Result<_>>()?
    };
    Ok((counts.len(), counts.iter().sum()))
}

/// User + system CPU time of the whole process (all threads), from /proc/self/stat, in seconds.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Linux reports these in USER_HZ, which is 100 on every supported architecture.
    (ticks(11) + ticks(12)) / 100.0
}

/// The process's peak resident set size in KiB, from /proc/self/status.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
