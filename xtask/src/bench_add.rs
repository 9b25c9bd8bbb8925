//! `cargo xtask bench add`: how long `retrace layer add` takes per public base layer of
//! `../shared` (the 15 bases of `bases/entries.tsv` and the 10 seed bases of `rootfs/`), against
//! the path available before it, measured in the same run: extract the tarball with GNU tar
//! (`--numeric-owner`, as root so owners and devices are kept) and write the tree with
//! `retrace layer write` and the release's profile. Both are release builds run as processes;
//! each is run three times and the best wall time counts. The reference does not verify the
//! source or try variants, so it does strictly less work; `layer add` must still match.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

const REPS: usize = 3;

/// `../shared` beside the repository, else `/work/shared`.
fn shared_dir() -> Result<PathBuf> {
    let beside = crate::setup::repo_root().join("../shared");
    for dir in [beside, PathBuf::from("/work/shared")] {
        if dir.join("bases/entries.tsv").is_file() {
            return Ok(dir);
        }
    }
    bail!("no shared directory with bases/entries.tsv beside the repository")
}

/// A base layer to time: the tarball and the `layer add` arguments that name its step.
struct Base {
    tarball: PathBuf,
    args: Vec<String>,
}

fn tsv_rows(path: &Path) -> Result<Vec<Vec<String>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

fn bases(shared: &Path) -> Result<Vec<Base>> {
    let mut out = Vec::new();
    for r in tsv_rows(&shared.join("bases/entries.tsv"))? {
        out.push(Base {
            tarball: shared.join("bases").join(&r[1]),
            args: ["--file-hash", &r[0], "--expected", &r[5], "--docker-version", &r[4]]
                .map(str::to_string)
                .to_vec(),
        });
    }
    let root = crate::setup::repo_root();
    for r in tsv_rows(&root.join("testdata/layer/seed-bases.tsv"))? {
        let doc = root.join("testdata/seeds").join(&r[1]);
        out.push(Base {
            tarball: shared.join("rootfs").join(&r[0]),
            args: vec![
                "--document".into(),
                doc.display().to_string(),
                "--platform".into(),
                r[2].clone(),
            ],
        });
    }
    Ok(out)
}

fn best_of(mut run: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..REPS {
        let start = Instant::now();
        run()?;
        best = best.min(start.elapsed());
    }
    Ok(best)
}

fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn run() -> Result<()> {
    let shared = shared_dir()?;
    let retrace = crate::release_retrace()?;
    let work = crate::target_dir().join("bench-add");
    std::fs::create_dir_all(&work)?;
    println!(
        "{:<58} {:>9} {:>9} {:>11} {:>7}  profile / variant",
        "base layer", "MB", "add s", "tar+write s", "ratio"
    );
    let (mut total_add, mut total_ref) = (Duration::ZERO, Duration::ZERO);
    for base in bases(&shared)? {
        let name = base
            .tarball
            .strip_prefix(&shared)
            .unwrap_or(&base.tarball)
            .display()
            .to_string();
        let mut report = serde_json::Value::Null;
        let add = best_of(|| {
            let out = run_ok(
                Command::new(&retrace)
                    .args(["layer", "add"])
                    .arg(&base.tarball)
                    .args(&base.args)
                    .arg("--json"),
            )?;
            report = serde_json::from_str(&out)?;
            Ok(())
        })?;
        ensure!(report["matched"] == true, "{name}: layer add did not match: {report}");
        let profile = report["profile"].as_str().unwrap_or_default().to_string();
        let tree = work.join("tree");
        let reference = best_of(|| {
            if tree.exists() {
                std::fs::remove_dir_all(&tree)?;
            }
            std::fs::create_dir_all(&tree)?;
            run_ok(
                Command::new("tar")
                    .args(["--numeric-owner", "-xpf"])
                    .arg(&base.tarball)
                    .arg("-C")
                    .arg(&tree),
            )?;
            run_ok(
                Command::new(&retrace)
                    .args(["layer", "write", "--profile", &profile])
                    .arg(&tree),
            )?;
            Ok(())
        })?;
        let mb = std::fs::metadata(&base.tarball)?.len() as f64 / 1e6;
        println!(
            "{name:<58} {mb:>9.2} {:>9.3} {:>11.3} {:>7.2}  {profile} / {}",
            add.as_secs_f64(),
            reference.as_secs_f64(),
            reference.as_secs_f64() / add.as_secs_f64(),
            report["variant"].as_str().unwrap_or_default()
        );
        total_add += add;
        total_ref += reference;
    }
    println!(
        "total: layer add {:.3} s, GNU tar + layer write {:.3} s, ratio {:.2} (same run, best of {REPS})",
        total_add.as_secs_f64(),
        total_ref.as_secs_f64(),
        total_ref.as_secs_f64() / total_add.as_secs_f64()
    );
    Ok(())
}
