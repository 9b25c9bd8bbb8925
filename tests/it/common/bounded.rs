//! Runs the `retrace` binary the way the hostile-input tests need: under a 1 GiB address-space
//! limit (`ulimit -v`) and a wall-clock limit (`timeout`), so an input that makes retrace use
//! unbounded memory or time fails the test by being killed instead of by a timing assertion.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Address space granted to the binary, in KiB (1 GiB).
pub const MEMORY_KIB: u64 = 1 << 20;

/// What one bounded run gave.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// Asserts a clean refusal: exit 2 and an error message containing every one of `needles`.
    pub fn refused(&self, needles: &[&str]) {
        assert_eq!(self.code, Some(2), "expected exit 2, stderr: {}", self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks `{n}`: {}", self.stderr);
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// Runs `retrace ARGS` in `dir` under the memory limit, killed after `seconds`.
pub fn retrace_in(dir: &Path, args: &[&str], seconds: u64) -> Run {
    // Where /usr/bin/time is installed it reports the run's wall time and peak memory on stderr,
    // which `--nocapture` shows: the figures behind "bounded" for each hostile input.
    let measure = if Path::new("/usr/bin/time").exists() {
        "/usr/bin/time -f 'bounded run: %e s, peak %M KiB'"
    } else {
        ""
    };
    let script = format!("ulimit -v {MEMORY_KIB} && exec {measure} timeout -s KILL {seconds} \"$0\" \"$@\"");
    let out: Output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_retrace"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert_ne!(
        out.status.code(),
        Some(137),
        "killed after {seconds} s or out of memory: retrace {args:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Some(figures) = stderr.lines().find(|l| l.starts_with("bounded run:")) {
        eprintln!("{figures}: retrace {}", args.join(" "));
    }
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr,
    }
}

/// Runs `retrace ARGS` from the crate root.
pub fn retrace(args: &[&str], seconds: u64) -> Run {
    retrace_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, seconds)
}
