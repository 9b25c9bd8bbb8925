//! `cargo xtask bench gzip [--layers DIR]`: retrace's gzip against Go's compress/gzip on the same
//! inputs in the same run, at levels 6 (Docker's) and 1, plus sha256 throughput of retrace's one
//! hashing path (`retrace::Digest`, the `sha2` crate, which uses the CPU's SHA extensions).
//!
//! Inputs, each generated at bench time and never committed:
//! - the deterministic 64 MiB mixture of `tests/it/common/mixture.rs`;
//! - a real tar stream: `tar` of `/usr/lib/x86_64-linux-gnu` and `/usr/share/doc` (or `/usr/lib`
//!   and `/usr/share` where those are missing), sorted by name, cut to 64 MiB: binaries, text,
//!   compressed files and the zero padding of tar, as in real layers;
//! - with `--layers DIR`, real layers: every `*.tar.gz` under DIR decompressed and concatenated
//!   (e.g. the alpine rootfs tarballs that seed images were built from), cut to 64 MiB.
//!
//! Both encoders run as single-threaded processes on the same file (`retrace layer compress` in
//! release, and the Go oracle `gogzip` with GOMAXPROCS=1), each reading the input from the page
//! cache and writing its output to a file, so per-process overheads are the same kind on both
//! sides. Each is run a few times and the best time counts. The outputs must be identical, or the
//! bench fails: a fast encoder with different bytes is worthless for retrace.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

#[path = "../../tests/it/common/gobuild.rs"]
mod gobuild;
#[path = "../../tests/it/common/mixture.rs"]
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

pub fn run(args: &[String]) -> Result<()> {
    let layers_dir = match args {
        [] => None,
        [flag, dir] if flag == "--layers" => Some(Path::new(dir)),
        _ => bail!("usage: cargo xtask bench gzip [--layers DIR]"),
    };
    let root = crate::setup::repo_root();
    let work = crate::target_dir().join("bench-gzip");
    std::fs::create_dir_all(&work)?;
    let retrace = crate::release_retrace()?;

    eprintln!("building the Go oracle...");
    let go = gobuild::build_oracle(&root.join("testdata/oracle/gogzip"), &work)
        .context("building testdata/oracle/gogzip (is Go installed?)")?;

    eprintln!("generating the inputs...");
    let mut inputs = vec![Input::write(
        &work,
        "mixture",
        "deterministic mixture (tests/it/common/mixture.rs)",
        mixture::mixture(INPUT_LEN),
    )?];
    let tar = mixture::system_tar(INPUT_LEN).context("running tar on system directories")?;
    inputs.push(Input::write(&work, "system-tar", "tar of system directories", tar)?);
    if let Some(dir) = layers_dir {
        let (count, data) = layers(dir)?;
        let what = format!("{count} real layers under {}, decompressed", dir.display());
        inputs.push(Input::write(&work, "layers", &what, data)?);
    }

    println!("best of {REPS}; ratio = Go's time / retrace's time (above 1: retrace is faster)");
    let mut summary = Vec::new();
    for input in &inputs {
        println!("\ninput {}: {} ({} bytes)", input.name, input.what, input.len);
        for level in [6, 1] {
            let (ours, theirs) = compare(&retrace, &go, &work, input, level)?;
            for (what, o, t) in [("cpu ", ours.cpu, theirs.cpu), ("wall", ours.wall, theirs.wall)] {
                println!(
                    "  {what}: retrace {:7.1} MB/s   go {:7.1} MB/s   ratio retrace/go {:.2}x",
                    mb_per_s(input.len, o),
                    mb_per_s(input.len, t),
                    t.as_secs_f64() / o.as_secs_f64(),
                );
            }
            summary.push((input.name, level, theirs.cpu.as_secs_f64() / ours.cpu.as_secs_f64()));
        }
    }
    println!("\nsummary (cpu-time ratio retrace/go, identical bytes):");
    for (name, level, ratio) in summary {
        println!("  {name:<11} level {level}: {ratio:.2}x");
    }
    sha256(&inputs[0])
}

/// One bench input, written to a file so both encoders read it from the page cache.
struct Input {
    name: &'static str,
    what: String,
    path: PathBuf,
    len: usize,
}

impl Input {
    fn write(work: &Path, name: &'static str, what: &str, data: Vec<u8>) -> Result<Input> {
        let path = work.join(format!("{name}.bin"));
        std::fs::write(&path, &data)?;
        Ok(Input {
            name,
            what: what.to_string(),
            path,
            len: data.len(),
        })
    }
}

/// Times both encoders on `input` at `level`, alternating them so load changes on a shared
/// machine hit both alike, and fails unless their outputs are identical.
fn compare(retrace: &Path, go: &Path, work: &Path, input: &Input, level: i32) -> Result<(Best, Best)> {
    let ours_out = work.join(format!("retrace-{}-{level}.gz", input.name));
    let go_out = work.join(format!("go-{}-{level}.gz", input.name));
    let (mut ours, mut theirs) = (Best::new(), Best::new());
    for _ in 0..REPS {
        let mut c = Command::new(retrace);
        c.args(["layer", "compress"])
            .arg(&input.path)
            .args(["--level", &level.to_string(), "-o", "-"]);
        ours.add(time_once(c, &ours_out)?);
        let mut c = Command::new(go);
        c.args(["-level", &level.to_string()])
            .stdin(Stdio::from(std::fs::File::open(&input.path)?));
        c.env("GOMAXPROCS", "1");
        theirs.add(time_once(c, &go_out)?);
    }
    let a = std::fs::read(&ours_out)?;
    let b = std::fs::read(&go_out)?;
    if a != b {
        bail!(
            "{} level {level}: retrace's output ({} bytes) differs from Go's ({} bytes)",
            input.name,
            a.len(),
            b.len()
        );
    }
    println!("  gzip level {level}: identical output ({} bytes)", a.len());
    Ok((ours, theirs))
}

/// Every `*.tar.gz` under `dir` (sorted by path), decompressed and concatenated, cut to 64 MiB.
fn layers(dir: &Path) -> Result<(usize, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tar.gz") {
                files.push(path);
            }
        }
    }
    files.sort();
    ensure!(!files.is_empty(), "no *.tar.gz under {}", dir.display());
    let mut data = Vec::new();
    for f in &files {
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        flate2::read::MultiGzDecoder::new(file)
            .read_to_end(&mut data)
            .with_context(|| format!("decompressing {}", f.display()))?;
        if data.len() >= INPUT_LEN {
            break;
        }
    }
    data.truncate(INPUT_LEN);
    Ok((files.len(), data))
}

/// sha256 throughput of `retrace::Digest`, the one place retrace hashes blobs.
fn sha256(input: &Input) -> Result<()> {
    let data = std::fs::read(&input.path)?;
    let mut best = Best::new();
    for _ in 0..REPS {
        let cpu0 = cpu_time(libc::RUSAGE_SELF);
        let start = Instant::now();
        let digest = retrace::Digest::of(&data);
        best.add((start.elapsed(), cpu_time(libc::RUSAGE_SELF) - cpu0));
        std::hint::black_box(digest);
    }
    // The sha2 crate picks the SHA extensions at run time when the CPU has them (ring's digest
    // measured the same on such a CPU, so retrace keeps one crate).
    #[cfg(target_arch = "x86_64")]
    let backend = if std::arch::is_x86_feature_detected!("sha") {
        "SHA-NI"
    } else {
        "software"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let backend = "sha2 crate";
    println!(
        "\nsha256 (retrace::Digest, {backend}): cpu {:.2} GB/s   wall {:.2} GB/s",
        data.len() as f64 / 1e9 / best.cpu.as_secs_f64(),
        data.len() as f64 / 1e9 / best.wall.as_secs_f64()
    );
    Ok(())
}
