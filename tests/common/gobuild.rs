//! Builds the Go oracle (`testdata/oracle/gogzip`). Shared by the tests and by
//! `cargo xtask bench gzip` (which includes this file by path), so both run the same program.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the oracle from `src_dir` into `out_dir` unless a binary for the current source is
/// already there (binaries are named by a hash of main.go), and returns its path. The build goes
/// to a temporary name first, so concurrent callers never run a half-written file.
pub fn build_oracle(src_dir: &Path, out_dir: &Path) -> std::io::Result<PathBuf> {
    let src = std::fs::read(src_dir.join("main.go"))?;
    // FNV-1a is enough to tell source versions apart.
    let hash = src.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    std::fs::create_dir_all(out_dir)?;
    let bin = out_dir.join(format!("gogzip-{hash:016x}"));
    if bin.exists() {
        return Ok(bin);
    }
    let tmp = out_dir.join(format!("gogzip-{hash:016x}.{}.tmp", std::process::id()));
    let mut cmd = Command::new("go");
    cmd.arg("build").arg("-o").arg(&tmp).arg(".");
    cmd.current_dir(src_dir).env("GO111MODULE", "off");
    if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
        cmd.env("GOCACHE", out_dir.join("go-cache"));
    }
    let status = cmd.status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "go build of {} failed: {status}",
            src_dir.display()
        )));
    }
    std::fs::rename(&tmp, &bin)?;
    Ok(bin)
}
