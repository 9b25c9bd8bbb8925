//! Builds the Go oracles (`testdata/oracle/<name>`). Shared by the tests and by
//! `cargo xtask bench gzip` (which includes this file by path), so both run the same program.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// Builds the gzip/DEFLATE oracle `testdata/oracle/gogzip`; see [`build_go_program`].
pub fn build_oracle(src_dir: &Path, out_dir: &Path) -> std::io::Result<PathBuf> {
    build_go_program(src_dir, out_dir, "gogzip")
}

/// Builds the single-file Go program in `src_dir` into `out_dir` unless a binary for the current
/// source is already there (binaries are named by a hash of main.go), and returns its path.
///
/// Test threads of one process call this concurrently, so the build goes to a name unique to the
/// process *and* the call, and is renamed into place only when complete: nobody ever runs a
/// half-written file, and a rename that loses the race to an identical binary is harmless.
pub fn build_go_program(src_dir: &Path, out_dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let src = std::fs::read(src_dir.join("main.go"))?;
    // FNV-1a is enough to tell source versions apart.
    let hash = src.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    std::fs::create_dir_all(out_dir)?;
    let bin = out_dir.join(format!("{name}-{hash:016x}"));
    if bin.exists() {
        return Ok(bin);
    }
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let tmp = out_dir.join(format!("{name}-{hash:016x}.{}.{call}.tmp", std::process::id()));
    let mut cmd = Command::new("go");
    cmd.arg("build").arg("-o").arg(&tmp).arg(".");
    cmd.current_dir(src_dir)
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0");
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        cmd.env("GOCACHE", out_dir.join("go-cache"));
    }
    let status = cmd.status()?;
    if !status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(std::io::Error::other(format!(
            "go build of {} failed: {status}",
            src_dir.display()
        )));
    }
    std::fs::rename(&tmp, &bin)?;
    Ok(bin)
}
