//! `retrace build` when the Docker daemon itself dies in the middle of a step: the build stops
//! with an error (exit 2) naming the engine, leaves no half-written output, and once the daemon is
//! back a rerun resumes from the build cache.
//!
//! A test binary of its own: it kills and restarts the daemon, which no other test may be using at
//! the time (test binaries run one after another; the tests inside one run in parallel). It only
//! kills a daemon `cargo xtask setup` started (its pid file in `.retrace/`), and restarts it with
//! that same setup. `#[ignore]`d and named `needs_docker_`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use common::build::{assert_blobs_sound, retrace, KillFixture};
use common::docker::daemon_or_skip;

fn state_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".retrace")
}

fn daemon_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The pid of the dockerd `cargo xtask setup` started, if that is the one running.
fn our_dockerd() -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(state_dir().join("dockerd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    exe.file_name().is_some_and(|n| n == "dockerd").then_some(pid)
}

/// Brings the daemon back with the project's own setup (which also clears the pid files a killed
/// daemon leaves), run from the xtask binary `.ci/run` built, not through cargo, which may hold
/// the build lock while tests run.
fn restart_dockerd() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let xtask = target.join("debug/xtask");
    assert!(
        xtask.is_file(),
        "{} is missing: run `cargo xtask setup` once",
        xtask.display()
    );
    let status = Command::new(&xtask).arg("setup").status().expect("run xtask setup");
    assert!(status.success(), "xtask setup failed to restart dockerd");
    let t0 = Instant::now();
    while !daemon_answers() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "dockerd did not come back in 120 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "needs a Docker daemon started by cargo xtask setup"]
fn needs_daemonkill_killed_daemon_stops_the_build_cleanly_and_a_rerun_resumes() {
    let test = "needs_daemonkill_killed_daemon_stops_the_build_cleanly_and_a_rerun_resumes";
    if !daemon_or_skip(test) {
        return;
    }
    let Some(pid) = our_dockerd() else {
        let why = "the running dockerd was not started by `cargo xtask setup`; not killing it";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: {why}");
        }
        eprintln!("SKIPPED: {test}: {why}");
        return;
    };
    let f = KillFixture::new();
    let out = f.out.clone();
    let args = [
        "build",
        f.recipe.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--search-candidates",
        "0",
    ];

    let mut child = retrace(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    f.wait_until_slow_step(&mut child);
    // SIGKILL: the daemon gets no chance to clean up either.
    assert!(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr).into_owned();
    eprintln!("{}{stderr}", String::from_utf8_lossy(&done.stdout));
    restart_dockerd();

    assert_eq!(done.status.code(), Some(2), "a dead engine is an error, not a verdict");
    assert!(stderr.contains("linux/amd64"), "the error names the platform: {stderr}");
    assert_blobs_sound(&out);
    // What was written is whole: the report says where the platform stopped.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let p = &report["platforms"][0];
    assert!(p["error"].as_str().is_some_and(|e| e.contains("unix://")), "{p}");
    assert_eq!(p["layers"][2]["verdict"], "not-built");

    // With the daemon back, the rerun takes the first two steps from the cache and finishes.
    let rerun = retrace(&args).output().unwrap();
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&rerun.stdout),
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(rerun.status.code(), Some(1), "made-up digests differ, nothing failed");
    assert_blobs_sound(&out);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["platforms"][0]["cached_steps"], 2);
    assert!(report["platforms"][0].get("error").is_none());
}
