//! Docker test helpers: the daemon check and an offline busybox root file system.

use std::path::{Path, PathBuf};
use std::process::Command;

use retrace::recipe;

/// Whether the test may go on: a daemon answers, or it is missing and we say so loudly.
pub fn daemon_or_skip(test: &str) -> bool {
    let host = recipe::default_docker_host();
    let tmp = tempfile::tempdir().unwrap();
    match retrace::replay::exec::docker::DockerExecutor::connect(&host, tmp.path()) {
        Ok(_) => true,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: {test}: no Docker daemon ({e})");
            false
        }
        Err(e) => panic!("CI=true but the Docker daemon is unavailable: {e}"),
    }
}

/// The busybox-static binary of a Debian architecture, downloaded once per machine.
pub fn busybox(deb_arch: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("retrace-test-busybox").join(deb_arch);
    let bin = dir.join("bin/busybox");
    if bin.exists() {
        return bin;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let dl = tempfile::tempdir().unwrap();
    let ok = Command::new("apt-get")
        .args(["download", "-qq", &format!("busybox-static:{deb_arch}")])
        .current_dir(dl.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "apt-get download busybox-static:{deb_arch} failed (run `cargo xtask setup`)"
    );
    let deb = std::fs::read_dir(dl.path()).unwrap().next().unwrap().unwrap().path();
    let ok = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&dir)
        .status()
        .unwrap()
        .success();
    assert!(ok && bin.exists(), "unpacking {}", deb.display());
    bin
}

pub const MTIME: i64 = 1_704_067_200;

/// A minimal root file system tar: busybox, the applets the history uses, /etc, /tmp.
pub fn rootfs_tar(busybox: &Path, out: &Path) {
    rootfs_tar_with(busybox, out, "root:x:0:0:root:/root:/bin/sh\n", None)
}

/// [`rootfs_tar`] with the given `/etc/passwd` and, when some, `/etc/group`.
pub fn rootfs_tar_with(busybox: &Path, out: &Path, passwd: &str, group: Option<&str>) {
    let mut t = Vec::new();
    let h = retrace::replay::exec::tar_header;
    for d in ["bin/", "etc/", "root/", "usr/", "usr/local/", "usr/local/bin/"] {
        h(&mut t, d, 0o755, 0, 0, 0, MTIME, b'5', "").unwrap();
    }
    h(&mut t, "tmp/", 0o1777, 0, 0, 0, MTIME, b'5', "").unwrap();
    let data = std::fs::read(busybox).unwrap();
    h(&mut t, "bin/busybox", 0o755, 0, 0, data.len() as u64, MTIME, b'0', "").unwrap();
    t.extend_from_slice(&data);
    t.resize(t.len().div_ceil(512) * 512, 0);
    for applet in [
        "sh", "mkdir", "echo", "cat", "chown", "true", "uname", "sleep", "touch", "wget",
    ] {
        h(&mut t, &format!("bin/{applet}"), 0o777, 0, 0, 0, MTIME, b'2', "busybox").unwrap();
    }
    retrace::replay::exec::tar_file(&mut t, "etc/passwd", passwd.as_bytes()).unwrap();
    if let Some(group) = group {
        retrace::replay::exec::tar_file(&mut t, "etc/group", group.as_bytes()).unwrap();
    }
    t.extend_from_slice(&[0u8; 1024]);
    std::fs::write(out, t).unwrap();
}
