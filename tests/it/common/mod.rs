//! Helpers shared by the integration tests: the Go oracle and input mixtures (DEFLATE tests), the
//! registry facility check and the repo-info document shape checker (registry tests).
#![allow(dead_code)]

pub mod bounded;
pub mod build;
pub mod docker;
pub mod fake;
pub mod fixtures;
pub mod gobuild;
pub mod mixture;
pub mod oracle;
pub mod proof;
pub mod shared;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub const REGISTRY: &str = "127.0.0.1:5000";

/// The demo image's platforms, in the order its manifest list (and so its document) lists them.
pub const DEMO_PLATFORMS: [&str; 7] = [
    "linux/amd64",
    "linux/arm/v5",
    "linux/arm/v7",
    "linux/arm64/v8",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
];

/// True when the local registry answers. When it does not and CI is not "true", prints the loud skip
/// line and returns false so the test can return; under CI a missing registry is a failure.
pub fn registry_here(test: &str) -> bool {
    let up = TcpStream::connect_timeout(&REGISTRY.parse().unwrap(), Duration::from_secs(2))
        .and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(s, "GET /v2/ HTTP/1.0\r\nHost: {REGISTRY}\r\n\r\n")?;
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).contains(" 200"))
        })
        .unwrap_or(false);
    if up {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true but no registry answers on {REGISTRY}; `cargo xtask setup` should have started it");
    }
    eprintln!("SKIPPED: {test}: no registry on {REGISTRY} (run `cargo xtask setup` as root)");
    false
}

/// The field structure of a repo-info remote document, with every value's format checked on the way.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Keys of the `-\t` fields before the first `###`, in order (`Manifest MIME`, `Platforms`).
    pub top: Vec<String>,
    pub platforms_listed: usize,
    /// Per `###` section: its field keys in order, plus `pull`, `history`, `Layers` markers.
    pub sections: Vec<Vec<String>>,
    /// Per layer: its field keys in order.
    pub layers: Vec<Vec<String>>,
    pub history_entries: usize,
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
}

fn is_date(s: &str) -> bool {
    // `Wed, 30 Jan 2019 22:19:52 GMT`
    let p: Vec<&str> = s.split(' ').collect();
    p.len() == 6
        && p[0].len() == 4
        && p[0].ends_with(',')
        && p[1].len() == 2
        && p[2].len() == 3
        && p[3].len() == 4
        && p[4].len() == 8
        && p[5] == "GMT"
}

/// `2.8 MB (2754728 bytes)` or `147.0 B`, and the number agrees with the byte count.
fn is_size(s: &str) -> bool {
    let (human, bytes) = match s.split_once(" (") {
        Some((h, rest)) => match rest.strip_suffix(" bytes)").and_then(|b| b.parse::<u64>().ok()) {
            Some(b) => (h, Some(b)),
            None => return false,
        },
        None => (s, None),
    };
    let Some((num, unit)) = human.split_once(' ') else {
        return false;
    };
    let Some((int, frac)) = num.split_once('.') else {
        return false;
    };
    if frac.len() != 1 || int.is_empty() || !int.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    match (unit, bytes) {
        ("B", None) => true,
        ("KB" | "MB" | "GB" | "TB", Some(b)) => {
            let scale = match unit {
                "KB" => 1e3,
                "MB" => 1e6,
                "GB" => 1e9,
                _ => 1e12,
            };
            (b as f64 / scale - num.parse::<f64>().unwrap()).abs() <= 0.05 + 1e-9
        }
        _ => false,
    }
}

fn backticked(s: &str) -> Option<&str> {
    s.strip_prefix('`')?.strip_suffix('`')
}

/// Reads a document's shape; panics with the line at fault when a value has the wrong format.
pub fn shape(doc: &str) -> Shape {
    let mut shape = Shape::default();
    let lines: Vec<&str> = doc.lines().collect();
    let mut i = 0;
    let fail = |i: usize, why: &str| -> ! { panic!("line {}: {why}: {:?}", i + 1, lines[i]) };
    assert!(
        lines[0].starts_with("## `") && lines[0].ends_with('`'),
        "first line: {:?}",
        lines[0]
    );
    let mut in_section = false;
    let mut in_platforms = false;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("### `") {
            in_section = true;
            in_platforms = false;
            shape.sections.push(Vec::new());
        } else if line == "```console" {
            let pull = lines[i + 1];
            let ok = pull
                .strip_prefix("$ docker pull ")
                .and_then(|r| r.split_once('@'))
                .is_some_and(|(_, d)| is_digest(d));
            if !ok || lines[i + 2] != "```" {
                fail(i + 1, "pull block");
            }
            if in_section {
                shape.sections.last_mut().unwrap().push("pull".into());
            }
            i += 2;
        } else if line == "```dockerfile" {
            i += 1;
            while lines[i] != "```" {
                let date = lines[i]
                    .strip_prefix("# ")
                    .unwrap_or_else(|| fail(i, "history date line"));
                if !is_date(date) {
                    fail(i, "history date");
                }
                i += 1;
                let first = lines[i].split(' ').next().unwrap_or("");
                if first.is_empty() || !first.chars().all(|c| c.is_ascii_uppercase()) {
                    fail(i, "instruction");
                }
                shape.history_entries += 1;
                i += 1;
            }
            shape.sections.last_mut().unwrap().push("history".into());
        } else if let Some(rest) = line.strip_prefix("-\t") {
            let (key, value) = rest.split_once(':').unwrap_or_else(|| fail(i, "field without a colon"));
            let value = value.trim_start_matches(' ');
            match key {
                "Manifest MIME" if !backticked(value).is_some_and(|v| v.starts_with("application/vnd.")) => {
                    fail(i, "media type")
                }
                "Platforms" => in_platforms = true,
                "Docker Version" if value.is_empty() => fail(i, "docker version"),
                "Total Size" => {
                    let v = value
                        .strip_prefix("**")
                        .and_then(|v| v.strip_suffix("**  "))
                        .unwrap_or_else(|| fail(i, "total size"));
                    if !is_size(v) || lines[i + 1] != "\t(compressed transfer size, not on-disk size)" {
                        fail(i, "total size");
                    }
                    i += 1;
                }
                "Image ID" if !backticked(value).is_some_and(is_digest) => fail(i, "image id"),
                "Entrypoint" | "Default Command" => {
                    let v = backticked(value).unwrap_or_else(|| fail(i, "command"));
                    let parsed: Vec<String> = serde_json::from_str(v).unwrap_or_else(|_| fail(i, "JSON array"));
                    assert!(!parsed.is_empty() || key == "Default Command");
                }
                _ => {}
            }
            if in_section {
                shape.sections.last_mut().unwrap().push(key.to_string());
            } else {
                shape.top.push(key.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("\t-\t") {
            if in_section {
                let d = rest
                    .strip_suffix("  ")
                    .and_then(backticked)
                    .unwrap_or_else(|| fail(i, "layer digest"));
                if !is_digest(d) {
                    fail(i, "layer digest");
                }
                shape.layers.push(Vec::new());
            } else if in_platforms {
                if !rest.contains("; ") {
                    fail(i, "platform");
                }
                shape.platforms_listed += 1;
            }
        } else if let Some(rest) = line.strip_prefix("\t\t") {
            let (key, value) = rest.split_once(": ").unwrap_or_else(|| fail(i, "layer field"));
            match key {
                "Last Modified" if !value.strip_suffix("  ").is_some_and(is_date) => fail(i, "last modified"),
                "Size" if !value.strip_suffix("  ").is_some_and(is_size) => fail(i, "layer size"),
                "MIME" if !value.starts_with("application/vnd.") => fail(i, "layer MIME"),
                "Last Modified" | "Size" | "MIME" => {}
                _ => fail(i, "unknown layer field"),
            }
            shape.layers.last_mut().unwrap().push(key.to_string());
        } else if !line.is_empty() && !line.starts_with("## ") {
            fail(i, "unexpected line");
        }
        i += 1;
    }
    shape
}

/// Runs `cmd`, fails the test with its stderr unless it succeeds, and returns its stdout.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
