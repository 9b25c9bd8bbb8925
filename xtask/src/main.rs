//! Project automation: `cargo xtask <task>`. Each task is a plain function so `.ci/run` and the
//! README call the same code a developer does.

mod bench_add;
mod bench_bounds;
mod bench_build;
mod bench_diff;
mod bench_gzip;
mod bench_parse;
mod demo;
mod setup;
mod test;

use anyhow::{anyhow, Result};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result: Result<()> = match args.first().map(String::as_str) {
        Some("setup") => setup::setup(),
        Some("stop") => setup::stop(),
        Some("test") => test::run(&args[1..]),
        Some("demo-fixture") => demo::run(&args[1..]),
        Some("demo") => demo::demo(),
        Some("image-fixture") => demo::image_fixture(&args[1..]),
        Some("bench") => bench(args.get(1).map(String::as_str), args.get(2..).unwrap_or(&[])),
        Some(other) => Err(anyhow!("unknown task `{other}`")),
        None => Err(anyhow!(
            "usage: cargo xtask <setup|stop|test|demo|demo-fixture|image-fixture DIR|bench NAME>"
        )),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        // Exit 2: the task could not do its job (for setup: this machine cannot run the project),
        // matching the CLI's convention that 2 is an error rather than a finding.
        std::process::exit(2);
    }
}

/// Benchmarks print ratios against a reference measured side by side in the same run.
fn bench(name: Option<&str>, rest: &[String]) -> Result<()> {
    match name {
        Some("gzip") => bench_gzip::run(rest),
        Some("reproduce") => run_example("reproduce_bench"),
        Some("diff") => bench_diff::run(),
        Some("build") => bench_build::run(),
        Some("parse") => bench_parse::run(rest),
        Some("add") => bench_add::run(),
        Some("bounds") => bench_bounds::run(),
        other => Err(anyhow!(
            "unknown bench `{}` (known: gzip, reproduce, diff, parse, build, add, bounds)",
            other.unwrap_or("")
        )),
    }
}

/// The cargo target directory (`CARGO_TARGET_DIR` or the workspace's `target/`).
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| setup::repo_root().join("target"))
}

/// Builds the `retrace` binary in release mode, as the benches measure it, and returns its path.
pub fn release_retrace() -> Result<std::path::PathBuf> {
    eprintln!("building retrace (release)...");
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "--package",
            "retrace",
            "--bin",
            "retrace",
        ])
        .current_dir(setup::repo_root())
        .status()?;
    if !status.success() {
        return Err(anyhow!("cargo build --release of retrace failed: {status}"));
    }
    Ok(target_dir().join("release/retrace"))
}

/// Runs a release-built example of the retrace crate that measures itself against a reference.
fn run_example(example: &str) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["run", "--release", "--example", example])
        .status()?;
    if !status.success() {
        return Err(anyhow!("bench `{example}` failed: {status}"));
    }
    Ok(())
}
