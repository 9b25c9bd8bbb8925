//! `cargo xtask test`: the project's test command (the README's second command, run by `.ci/run`).
//!
//! Tests that need an outside facility (Go as the DEFLATE oracle, a Docker daemon, the local
//! registry, Chromium) are `#[ignore]`d in the code and named with a `needs_<facility>_` prefix, so
//! a plain `cargo test` reports them as ignored rather than passing them silently. This task runs
//! the ordinary tests first, then each group of ignored tests whose facility answers here. Under
//! CI (`CI=true`) every group runs, so a missing facility is a failure, never a skip. The closing
//! line counts skipped tests separately so nobody mistakes a skip for a pass.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// One group of tests that need something outside the process, and how to tell whether it is here.
struct Facility {
    prefix: &'static str,
    what: &'static str,
    available: fn() -> bool,
}

const FACILITIES: &[Facility] = &[
    Facility {
        prefix: "needs_go_",
        what: "the Go toolchain (`go`)",
        available: go_available,
    },
    Facility {
        prefix: "needs_docker_",
        what: "a Docker daemon",
        available: docker_available,
    },
    // Kills and restarts the daemon, so it runs on its own: since the integration tests are one
    // binary, a test of another group would otherwise lose the daemon under it.
    Facility {
        prefix: "needs_daemonkill_",
        what: "a Docker daemon this test may kill and restart (run alone)",
        available: docker_available,
    },
    Facility {
        prefix: "needs_registry_",
        what: "a registry on 127.0.0.1:5000",
        available: registry_available,
    },
    Facility {
        prefix: "needs_shared_",
        what: "the shared data beside the clone (../shared: corpus, bases, rootfs)",
        available: shared_available,
    },
    Facility {
        prefix: "needs_seeds_",
        what: "a Docker daemon and the seed inputs in ../shared/rootfs",
        available: seeds_available,
    },
    Facility {
        prefix: "needs_chromium_",
        what: "Debian's chromium",
        available: chromium_available,
    },
];

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

pub fn run(extra: &[String]) -> Result<()> {
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    let mut total = Counts::default();
    let mut failed_runs = Vec::new();

    let base = cargo_test(false, extra)?;
    total.passed += base.0.passed;
    total.failed += base.0.failed;
    if !base.1 {
        failed_runs.push("ordinary tests".to_string());
    }
    let mut skipped = base.0.ignored;

    for facility in FACILITIES {
        let here = (facility.available)();
        if !here && !ci {
            eprintln!(
                "\n!!! SKIPPED: tests `{}*` need {}, which is not available here.",
                facility.prefix, facility.what
            );
            eprintln!("!!!          Run `cargo xtask setup` (as root) to install and start it.\n");
            continue;
        }
        if !here {
            eprintln!(
                "CI=true but {} is missing: running `{}*` anyway so they fail loudly",
                facility.what, facility.prefix
            );
        }
        let (counts, ok) = cargo_test(true, &[facility.prefix.to_string()])?;
        total.passed += counts.passed;
        total.failed += counts.failed;
        skipped = skipped.saturating_sub(counts.passed + counts.failed);
        if !ok {
            failed_runs.push(format!("tests `{}*`", facility.prefix));
        }
    }

    println!(
        "\nxtask test: {} passed, {} failed, {} skipped",
        total.passed, total.failed, skipped
    );
    if !failed_runs.is_empty() {
        bail!("failing: {}", failed_runs.join(", "));
    }
    Ok(())
}

/// Runs `cargo test --workspace` (only the ignored tests when `ignored`), streaming its output and
/// summing the per-binary `test result:` lines.
fn cargo_test(ignored: bool, filters: &[String]) -> Result<(Counts, bool)> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // --no-fail-fast: one failing test binary must not hide the results of the others.
    cmd.args(["test", "--workspace", "--no-fail-fast", "--"]);
    if ignored {
        cmd.arg("--ignored");
    }
    cmd.args(filters);
    cmd.stdout(Stdio::piped());
    let mut child = cmd.spawn().context("running cargo test")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut counts = Counts::default();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            counts.passed += field(rest, " passed");
            counts.failed += field(rest, " failed");
            counts.ignored += field(rest, " ignored");
        }
    }
    let status = child.wait()?;
    Ok((counts, status.success()))
}

/// Reads the number before `label` in a libtest summary such as `ok. 5 passed; 0 failed; ...`.
fn field(summary: &str, label: &str) -> u64 {
    summary
        .split(';')
        .find_map(|part| {
            part.trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ")
                .strip_suffix(label.trim_start())
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn command_ok(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn go_available() -> bool {
    command_ok("go", &["version"])
}

fn docker_available() -> bool {
    command_ok("docker", &["info"])
}

fn shared_available() -> bool {
    let shared = crate::setup::repo_root().join("../shared");
    ["corpus", "bases/entries.tsv", "rootfs/README.md"]
        .iter()
        .all(|p| shared.join(p).exists())
}

fn seeds_available() -> bool {
    crate::setup::repo_root().join("../shared/rootfs").is_dir() && docker_available()
}

fn chromium_available() -> bool {
    command_ok("chromium", &["--version"])
}

fn registry_available() -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&"127.0.0.1:5000".parse().unwrap(), Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn reads_libtest_summaries() {
        let s = "ok. 5 passed; 1 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.00s";
        assert_eq!(field(s, " passed"), 5);
        assert_eq!(field(s, " failed"), 1);
        assert_eq!(field(s, " ignored"), 3);
        assert_eq!(field("FAILED. 2 passed; 4 failed; 0 ignored", " failed"), 4);
    }
}
