//! `cargo xtask bench build`: wall time of `retrace build recipes/demo.yaml` (seven platforms, six
//! under QEMU, no build cache) with every platform in parallel against one after the other, and
//! the overhead of retrace over the daemon's own time for the same steps: the same Dockerfile
//! built by the daemon's classic builder (`docker build --no-cache`) from the fixture's context,
//! platform after platform. All measured side by side in the same run, alternating, best of
//! `REPS`, and printed as ratios.
//!
//! Needs `cargo xtask setup` and `cargo xtask demo-fixture` (the recipe's base layers come from
//! the fixture's tarballs, the daemon baseline from the fixture's build contexts).
//!
//! Then, where `../shared/rootfs` is present, the offline seed build (httpd:2-alpine's six
//! platforms and postgres:alpine's four, from their public inputs, up to the steps that need the
//! network): all ten platforms at once (both recipes side by side, every platform in parallel)
//! against one platform after the other, no build cache, once (`SEED_REPS`: each pass takes
//! minutes under QEMU).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::demo::PLATFORMS;
use crate::setup;

const REPS: usize = 3;
const SEED_REPS: usize = 1;

fn time(mut cmd: Command, what: &str) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {what}"))?;
    let elapsed = start.elapsed();
    // retrace exits 1 when a layer differs; the timing is still valid, the verdicts are not this
    // bench's business (tests/it/build_demo.rs checks them).
    if !matches!(out.status.code(), Some(0 | 1)) {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(elapsed)
}

fn retrace_build(retrace: &Path, out: &Path, jobs: usize) -> Result<Duration> {
    let _ = std::fs::remove_dir_all(out);
    let mut cmd = Command::new(retrace);
    cmd.args([
        "build",
        "recipes/demo.yaml",
        "--no-cache",
        "--jobs",
        &jobs.to_string(),
        "--out",
    ])
    .arg(out)
    .current_dir(setup::repo_root());
    time(cmd, &format!("retrace build --jobs {jobs}"))
}

/// The daemon alone: the demo's Dockerfile for every platform, one after the other.
fn docker_builds(contexts: &Path) -> Result<Duration> {
    let mut total = Duration::ZERO;
    for p in PLATFORMS {
        let slug = match p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.arch),
            None => format!("{}/{}", p.os, p.arch),
        };
        let mut cmd = Command::new("docker");
        cmd.args(["build", "--no-cache", "-q", "--platform", &slug, "-t"])
            .arg(format!("retrace-bench:{}", p.deb_arch))
            .arg(contexts.join(p.deb_arch))
            .env("DOCKER_BUILDKIT", "0");
        total += time(cmd, &format!("docker build for {slug}"))?;
    }
    Ok(total)
}

/// The seed recipes and the platforms of each the offline bench builds.
const SEEDS: [(&str, &[&str]); 2] = [
    ("recipes/httpd-2-alpine.yaml", &[]),
    (
        "recipes/postgres-alpine.yaml",
        &["linux/amd64", "linux/arm64/v8", "linux/386", "linux/ppc64le"],
    ),
];

/// One offline seed build, not waited for.
fn seed_build(
    retrace: &Path,
    recipe: &str,
    platforms: &[&str],
    out: &Path,
    jobs: usize,
) -> Result<std::process::Child> {
    let _ = std::fs::remove_dir_all(out);
    let mut cmd = Command::new(retrace);
    cmd.args([
        "build",
        recipe,
        "--offline",
        "--inputs",
        "../shared/rootfs",
        "--no-cache",
    ])
    .args(["--jobs", &jobs.to_string(), "--out"])
    .arg(out)
    .current_dir(setup::repo_root())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for p in platforms {
        cmd.args(["--platform", p]);
    }
    cmd.spawn().with_context(|| format!("running retrace build {recipe}"))
}

/// Waits for the builds; each must end with 0 or 1 (layers not built offline are expected).
fn wait_all(children: Vec<std::process::Child>) -> Result<()> {
    for mut c in children {
        let status = c.wait()?;
        ensure!(
            matches!(status.code(), Some(0 | 1)),
            "an offline seed build failed ({status})"
        );
    }
    Ok(())
}

/// The ten seed platforms all at once, then one after the other.
fn seeds(retrace: &Path, work: &Path) -> Result<(Duration, Duration)> {
    let start = Instant::now();
    let all: Vec<_> = SEEDS
        .iter()
        .enumerate()
        .map(|(i, (r, p))| seed_build(retrace, r, p, &work.join(format!("seeds-parallel-{i}")), 6))
        .collect::<Result<_>>()?;
    wait_all(all)?;
    let parallel = start.elapsed();
    let start = Instant::now();
    for (i, (r, p)) in SEEDS.iter().enumerate() {
        wait_all(vec![seed_build(
            retrace,
            r,
            p,
            &work.join(format!("seeds-sequential-{i}")),
            1,
        )?])?;
    }
    Ok((parallel, start.elapsed()))
}

fn bench_seeds(retrace: &Path, work: &Path) -> Result<()> {
    if !setup::repo_root().join("../shared/rootfs").is_dir() {
        println!("offline seed build: skipped, ../shared/rootfs is not here");
        return Ok(());
    }
    let (mut parallel, mut sequential) = (Duration::MAX, Duration::MAX);
    for rep in 1..=SEED_REPS {
        let (p, s) = seeds(retrace, work)?;
        eprintln!(
            "seeds rep {rep}: parallel {:.1}s  sequential {:.1}s",
            p.as_secs_f64(),
            s.as_secs_f64()
        );
        parallel = parallel.min(p);
        sequential = sequential.min(s);
    }
    println!(
        "offline seed build (httpd 6 + postgres 4 platforms, up to the network steps), no cache, best of {SEED_REPS}:"
    );
    println!(
        "  all at once {:6.1}s   one after the other {:6.1}s   speed-up {:.2}x",
        parallel.as_secs_f64(),
        sequential.as_secs_f64(),
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );
    Ok(())
}

pub fn run() -> Result<()> {
    ensure!(
        setup::registry_answers(setup::REGISTRY_ADDR),
        "the local registry does not answer; run `cargo xtask setup` and `cargo xtask demo-fixture` first"
    );
    let contexts = setup::state_dir().join("demo").join("ctx");
    ensure!(
        PLATFORMS
            .iter()
            .all(|p| contexts.join(p.deb_arch).join("Dockerfile").is_file()),
        "the demo build contexts are missing under {}; run `cargo xtask demo-fixture`",
        contexts.display()
    );
    let retrace = crate::release_retrace()?;
    let target = crate::target_dir();
    let work = target.join("bench-build");
    std::fs::create_dir_all(&work)?;

    let jobs = PLATFORMS.len();
    let (mut parallel, mut sequential, mut daemon) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for rep in 1..=REPS {
        // Alternate so a change in machine load hits all three alike.
        let p = retrace_build(&retrace, &work.join("parallel"), jobs)?;
        let s = retrace_build(&retrace, &work.join("sequential"), 1)?;
        let d = docker_builds(&contexts)?;
        eprintln!(
            "rep {rep}: parallel {:.1}s  sequential {:.1}s  docker build {:.1}s",
            p.as_secs_f64(),
            s.as_secs_f64(),
            d.as_secs_f64()
        );
        parallel = parallel.min(p);
        sequential = sequential.min(s);
        daemon = daemon.min(d);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "demo build, {} platforms, no cache, best of {REPS}, {cores} cores:",
        PLATFORMS.len()
    );
    println!(
        "  parallel (--jobs {jobs}) {:6.1}s   sequential (--jobs 1) {:6.1}s   speed-up {:.2}x",
        parallel.as_secs_f64(),
        sequential.as_secs_f64(),
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );
    println!(
        "  retrace sequential {:6.1}s   docker build (same steps, classic builder) {:6.1}s   overhead {:+.1}% (target < 10%)",
        sequential.as_secs_f64(),
        daemon.as_secs_f64(),
        (sequential.as_secs_f64() / daemon.as_secs_f64() - 1.0) * 100.0
    );
    bench_seeds(&retrace, &work)
}
