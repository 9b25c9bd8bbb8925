//! `cargo xtask bench gzip`: retrace's gzip against Go's compress/gzip on the same 64 MiB input
//! in the same run, plus sha256 throughput of the `sha2` crate.
//!
//! Both encoders run as single-threaded processes on the same file (`retrace layer compress` in
//! release, and the Go oracle `gogzip` with GOMAXPROCS=1), each reading the input from the page
//! cache and writing its output to a file, so per-process overheads are the same kind on both
//! sides. Each is run a few times and the best time counts. The outputs must be identical, or the
//! bench fails: a fast encoder with different bytes is worthless for retrace.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};

#[path = "../../tests/common/gobuild.rs"]
mod gobuild;
#[path = "../../tests/common/mixture.rs"]
pub mod mixture;

const INPUT_LEN: usize = 64 << 20;
const REPS: usize = 3;

/// CPU time (user + system) used so far by `who` (RUSAGE_SELF or RUSAGE_CHILDREN).
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Wall and CPU time of one run of `cmd`, stdout redirected to `out`. CPU time is the fairer
/// figure on a busy machine: it does not count time spent waiting for a core.
fn time_once(mut cmd: Command, out: &Path) -> Result<(Duration, Duration)> {
    let file = std::fs::File::create(out)?;
    cmd.stdout(Stdio::from(file)).stderr(Stdio::inherit());
    let cpu0 = cpu_time(libc::RUSAGE_CHILDREN);
    let start = Instant::now();
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    let wall = start.elapsed();
    let cpu = cpu_time(libc::RUSAGE_CHILDREN) - cpu0;
    ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok((wall, cpu))
}

#[derive(Clone, Copy)]
struct Best {
    wall: Duration,
    cpu: Duration,
}

impl Best {
    fn new() -> Best {
        Best {
            wall: Duration::MAX,
            cpu: Duration::MAX,
        }
    }

    fn add(&mut self, (wall, cpu): (Duration, Duration)) {
        self.wall = self.wall.min(wall);
        self.cpu = self.cpu.min(cpu);
    }
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

pub fn run() -> Result<()> {
    let root = crate::setup::repo_root();
    let work = crate::target_dir().join("bench-gzip");
    std::fs::create_dir_all(&work)?;
    let retrace = crate::release_retrace()?;

    eprintln!("building the Go oracle...");
    let go = gobuild::build_oracle(&root.join("testdata/oracle/gogzip"), &work)
        .context("building testdata/oracle/gogzip (is Go installed?)")?;

    eprintln!("generating the {} MiB mixture...", INPUT_LEN >> 20);
    let data = mixture::mixture(INPUT_LEN);
    let input = work.join("mixture.bin");
    std::fs::write(&input, &data)?;

    println!(
        "input: {} MiB deterministic mixture (tests/common/mixture.rs), best of {REPS}",
        INPUT_LEN >> 20
    );
    for level in [6, 1] {
        let ours_out = work.join(format!("retrace-{level}.gz"));
        let go_out = work.join(format!("go-{level}.gz"));
        // Alternate the two so load changes on a shared machine hit both alike.
        let (mut ours, mut theirs) = (Best::new(), Best::new());
        for _ in 0..REPS {
            let mut c = Command::new(&retrace);
            c.args(["layer", "compress"])
                .arg(&input)
                .args(["--level", &level.to_string(), "-o", "-"]);
            ours.add(time_once(c, &ours_out)?);
            let mut c = Command::new(&go);
            c.args(["-level", &level.to_string()])
                .stdin(Stdio::from(std::fs::File::open(&input)?));
            c.env("GOMAXPROCS", "1");
            theirs.add(time_once(c, &go_out)?);
        }
        let a = std::fs::read(&ours_out)?;
        let b = std::fs::read(&go_out)?;
        if a != b {
            bail!(
                "level {level}: retrace's output ({} bytes) differs from Go's ({} bytes)",
                a.len(),
                b.len()
            );
        }
        println!("gzip level {level}: identical output ({} bytes)", a.len());
        for (what, o, t) in [("cpu ", ours.cpu, theirs.cpu), ("wall", ours.wall, theirs.wall)] {
            println!(
                "  {what}: retrace {:7.1} MB/s   go {:7.1} MB/s   ratio retrace/go {:.2}x",
                mb_per_s(data.len(), o),
                mb_per_s(data.len(), t),
                t.as_secs_f64() / o.as_secs_f64(),
            );
        }
    }

    let mut best = Best::new();
    for _ in 0..REPS {
        let cpu0 = cpu_time(libc::RUSAGE_SELF);
        let start = Instant::now();
        let digest = Sha256::digest(&data);
        best.add((start.elapsed(), cpu_time(libc::RUSAGE_SELF) - cpu0));
        std::hint::black_box(digest);
    }
    println!(
        "sha256 (sha2 crate): cpu {:.2} GB/s   wall {:.2} GB/s",
        data.len() as f64 / 1e9 / best.cpu.as_secs_f64(),
        data.len() as f64 / 1e9 / best.wall.as_secs_f64()
    );
    Ok(())
}
