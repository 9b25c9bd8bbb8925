//! `retrace layer compress`: the CLI writes exactly the library's (Go-identical) gzip bytes, to
//! a file or to stdout, and fails cleanly (exit 2, file named, nothing written) on bad input.

use crate::common;

use std::process::Command;

use common::mixture;

fn retrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_retrace"))
}

#[test]
fn compress_to_file_and_stdout_matches_library() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("layer.tar");
    let data = mixture::tar_stream(300_000);
    std::fs::write(&input, &data).unwrap();

    for level in [6, 1, 9] {
        let out = dir.path().join(format!("layer-{level}.tar.gz"));
        let status = retrace()
            .args(["layer", "compress"])
            .arg(&input)
            .args(["--level", &level.to_string(), "-o"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(std::fs::read(&out).unwrap() == retrace::gzip::gzip(&data, level).unwrap());
    }

    // Default level 6, standard output.
    let out = retrace().args(["layer", "compress"]).arg(&input).output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout == retrace::gzip::gzip(&data, 6).unwrap());
    let out = retrace()
        .args(["layer", "compress"])
        .arg(&input)
        .args(["-o", "-", "--level", "-2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == retrace::gzip::gzip(&data, -2).unwrap());
}

#[test]
fn bad_level_and_missing_input_exit_2_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tar");
    std::fs::write(&input, b"data").unwrap();
    let out_path = dir.path().join("out.gz");

    let out = retrace()
        .args(["layer", "compress"])
        .arg(&input)
        .args(["--level", "10", "-o"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid compression level 10"));
    assert!(!out_path.exists());

    let missing = dir.path().join("missing.tar");
    let out = retrace()
        .args(["layer", "compress"])
        .arg(&missing)
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.tar"));
    assert!(!out_path.exists());
}

/// An output that is a device or pipe is written in place, never replaced by a renamed
/// temporary file (which would, e.g., turn /dev/null into a regular file).
#[test]
fn compress_into_a_fifo_keeps_the_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tar");
    let data = mixture::text(100_000, 4);
    std::fs::write(&input, &data).unwrap();
    let fifo = dir.path().join("out.fifo");
    if !Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
    {
        eprintln!("SKIPPED: mkfifo not available");
        return;
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let status = retrace()
        .args(["layer", "compress"])
        .arg(&input)
        .arg("-o")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(reader.join().unwrap() == retrace::gzip::gzip(&data, 6).unwrap());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}
