//! Renders the report page from the committed fixture builds in headless Chromium and keeps the
//! screenshot, so a human (and CI artifacts) can check that the layer grid reads at a glance.

use std::path::Path;
use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
#[ignore = "needs chromium: `cargo xtask test` runs it where chromium answers, and always under CI=true"]
fn needs_chromium_report_html_renders_in_a_browser() {
    let Some(browser) = chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is required when CI=true (apt-get install -y chromium)");
        }
        eprintln!("SKIPPED: needs_chromium_report_html_renders_in_a_browser: chromium not installed");
        return;
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let bin = env!("CARGO_BIN_EXE_retrace");
    let previous = out.join("night1.json");
    let night = |n: &str| {
        [
            format!("testdata/diff/report/{n}/httpd"),
            format!("testdata/diff/report/{n}/python"),
        ]
    };
    let status = Command::new(bin)
        .arg("report")
        .args(night("night1"))
        .arg("--json")
        .arg(&previous)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "night1 has differing layers");
    let status = Command::new(bin)
        .arg("report")
        .args(night("night2"))
        .arg("--previous")
        .arg(&previous)
        .arg("--html")
        .arg(&out)
        .arg("--junit")
        .arg(out.join("junit.xml"))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let page = out.join("index.html");
    let png = out.join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let result = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,800")
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let bytes = std::fs::read(&png).expect("chromium wrote no screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // A blank page compresses to a few KiB; the grid, badges and tables make it far larger.
    assert!(
        bytes.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        bytes.len()
    );
    eprintln!("screenshot: {}", png.display());
}
