//! `cargo xtask setup`: installs and starts everything the tests and the demo fixture need, on a fresh
//! Debian machine as on a developer's one. Every step first looks whether its job is already done, so a
//! second run changes nothing; every step checks its own result, so a broken machine fails here with a
//! clear message (exit 2) instead of later inside a test.
//!
//! `cargo xtask stop` stops the daemons setup started (and only those: it reads the pid files setup
//! wrote, so a daemon someone else started is left alone).

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Debian packages the project needs, with why. `golang-go` is the test oracle (Go's archive/tar and
/// compress/gzip), `busybox-static` provides the demo image's binaries for the host architecture.
const PACKAGES: &[(&str, &str)] = &[
    ("docker.io", "the daemon the executor drives"),
    ("qemu-user-static", "runs foreign-architecture RUN steps"),
    (
        "docker-registry",
        "local registry for pull/push tests and the demo image",
    ),
    ("golang-go", "test oracle (Go's archive/tar, compress/gzip)"),
    (
        "golang-src",
        "Go's own archive/tar test data, read by the tar reader's differential test",
    ),
    ("skopeo", "independent registry client used to cross-check"),
    ("busybox-static", "demo image binaries"),
    ("chromium", "renders the report HTML in a real browser test"),
];

/// Debian architectures of the demo image besides the host's amd64; `apt-get download
/// busybox-static:<arch>` needs each of them known to dpkg.
pub const FOREIGN_ARCHES: &[&str] = &["arm64", "armhf", "armel", "i386", "ppc64el", "s390x"];

/// The QEMU binfmt handlers the demo's platforms need. i386 runs natively on an amd64 kernel.
const QEMU_HANDLERS: &[&str] = &["qemu-aarch64", "qemu-arm", "qemu-ppc64le", "qemu-s390x"];

pub const REGISTRY_ADDR: &str = "127.0.0.1:5000";

const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// A failure that means "this machine cannot run the project", reported with exit code 2.
#[derive(Debug)]
pub struct Cannot(pub String);

impl std::fmt::Display for Cannot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cannot {}

fn cannot(msg: impl Into<String>) -> anyhow::Error {
    anyhow!(Cannot(msg.into()))
}

/// The repository root: xtask lives one level below it.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Where setup keeps logs, pid files and the registry's storage (gitignored).
pub fn state_dir() -> PathBuf {
    repo_root().join(".retrace")
}

/// One line of the summary: what a step found or did.
struct Report(Vec<(String, String)>);

impl Report {
    fn note(&mut self, step: &str, what: impl Into<String>) {
        let what = what.into();
        println!("setup: {step}: {what}");
        self.0.push((step.to_string(), what));
    }
}

pub fn setup() -> Result<()> {
    let started = Instant::now();
    if !is_root()? {
        bail!(cannot(
            "cargo xtask setup must run as root: it installs Debian packages, mounts binfmt_misc and starts dockerd"
        ));
    }
    let state = state_dir();
    fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    let mut report = Report(Vec::new());

    let mut apt = Apt::default();
    ensure_packages(&mut apt, &mut report)?;
    ensure_foreign_arches(&mut apt, &mut report)?;
    ensure_binfmt(&mut report)?;
    verify_qemu(&mut apt, &state, &mut report)?;
    ensure_dockerd(&state, &mut report)?;
    ensure_registry(&state, &mut report)?;

    println!("setup: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn is_root() -> Result<bool> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .ok_or_else(|| anyhow!("no effective Uid in /proc/self/status"))?;
    Ok(uid == "0")
}

/// Runs `apt-get update` at most once per run, and only when something must be installed.
#[derive(Default)]
pub struct Apt {
    updated: bool,
}

impl Apt {
    pub fn update(&mut self) -> Result<()> {
        if self.updated {
            return Ok(());
        }
        // A failing mirror for one suite (e.g. security for one architecture) is common and harmless
        // when the packages needed come from another one, so a failed update is only a warning: the
        // install or download that follows is what must succeed.
        let status = Command::new("apt-get")
            .args(["update", "-qq", "-o", "DPkg::Lock::Timeout=300"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get update")?;
        if !status.success() {
            eprintln!("setup: warning: apt-get update reported errors ({status}); continuing");
        }
        self.updated = true;
        Ok(())
    }
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn ensure_packages(apt: &mut Apt, report: &mut Report) -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        report.note("packages", "all present");
        return Ok(());
    }
    for (pkg, why) in PACKAGES.iter().filter(|(p, _)| missing.contains(p)) {
        println!("setup: installing {pkg} ({why})");
    }
    apt.update()?;
    let status = Command::new("apt-get")
        // Another apt run (a developer's, or a parallel job) holds the dpkg lock for a while; waiting
        // for it beats failing.
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "-o",
            "DPkg::Lock::Timeout=300",
        ])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        // needrestart's interactive scan is noise on a CI machine.
        .env("NEEDRESTART_SUSPEND", "1")
        .status()
        .context("running apt-get install")?;
    let still: Vec<&str> = missing.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    if !status.success() || !still.is_empty() {
        bail!(cannot(format!(
            "apt-get install failed ({status}); still missing: {}",
            still.join(" ")
        )));
    }
    report.note("packages", format!("installed {}", missing.join(" ")));
    Ok(())
}

fn ensure_foreign_arches(apt: &mut Apt, report: &mut Report) -> Result<()> {
    let out = Command::new("dpkg").arg("--print-foreign-architectures").output()?;
    let known = String::from_utf8_lossy(&out.stdout).to_string();
    let missing: Vec<&str> = FOREIGN_ARCHES
        .iter()
        .copied()
        .filter(|a| !known.split_whitespace().any(|k| k == *a))
        .collect();
    if missing.is_empty() {
        report.note("dpkg architectures", "all present");
        return Ok(());
    }
    for arch in &missing {
        run(Command::new("dpkg").args(["--add-architecture", arch]))?;
    }
    // The architectures are new, so the package lists must be fetched again even if an update already
    // ran for the packages above.
    apt.updated = false;
    apt.update()?;
    report.note("dpkg architectures", format!("added {}", missing.join(" ")));
    Ok(())
}

/// Mounts binfmt_misc if needed and registers the QEMU handlers with the F (fix-binary) flag, so the
/// kernel opens the interpreter at registration time and it works inside containers whose root file
/// system does not contain QEMU.
fn ensure_binfmt(report: &mut Report) -> Result<()> {
    let register = Path::new(BINFMT_DIR).join("register");
    let mut did = Vec::new();
    if !register.exists() {
        let status = Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR])
            .status()
            .context("running mount")?;
        if !status.success() || !register.exists() {
            bail!(cannot(format!(
                "cannot mount binfmt_misc on {BINFMT_DIR} ({status}): this kernel or container has no binfmt_misc support, so foreign-architecture RUN steps cannot run"
            )));
        }
        did.push("mounted binfmt_misc".to_string());
    }
    for name in QEMU_HANDLERS {
        let conf = Path::new("/usr/lib/binfmt.d").join(format!("{name}.conf"));
        let line = fs::read_to_string(&conf)
            .with_context(|| format!("reading {} (is qemu-user-static installed?)", conf.display()))?;
        let line = with_fix_binary(line.trim()).with_context(|| format!("parsing {}", conf.display()))?;
        let entry = Path::new(BINFMT_DIR).join(name);
        if let Ok(current) = fs::read_to_string(&entry) {
            let enabled = current.lines().next() == Some("enabled");
            let flags = current.lines().find_map(|l| l.strip_prefix("flags: ")).unwrap_or("");
            if enabled && flags.contains('F') {
                continue;
            }
            // Registered without F (or disabled): the entry must be removed before it can be
            // registered again with the right flags.
            fs::write(&entry, "-1").with_context(|| format!("removing {}", entry.display()))?;
        }
        fs::write(&register, &line)
            .map_err(|e| cannot(format!("registering {name} in {}: {e}", register.display())))?;
        let current = fs::read_to_string(&entry).unwrap_or_default();
        if !current.contains("flags: ") || !current.lines().any(|l| l.starts_with("flags:") && l.contains('F')) {
            bail!(cannot(format!(
                "{name} registered but {} does not show flag F:\n{current}",
                entry.display()
            )));
        }
        did.push(format!("registered {name}"));
    }
    if did.is_empty() {
        report.note("binfmt", "QEMU handlers present with flag F");
    } else {
        report.note("binfmt", did.join(", "));
    }
    Ok(())
}

/// Makes sure the flags field (the last `:`-separated field) of a binfmt.d line contains F.
fn with_fix_binary(line: &str) -> Result<String> {
    let (head, flags) = line
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("not a binfmt line: {line}"))?;
    if flags.chars().any(|c| !c.is_ascii_uppercase()) {
        bail!("unexpected flags field `{flags}` in {line}");
    }
    Ok(if flags.contains('F') {
        line.to_string()
    } else {
        format!("{head}:{flags}F")
    })
}

/// Runs an arm64 busybox directly on the host: the kernel can only start it through the QEMU handler,
/// so `busybox true` succeeding proves binfmt works end to end.
fn verify_qemu(apt: &mut Apt, state: &Path, report: &mut Report) -> Result<()> {
    let bin = busybox_binary(apt, state, "arm64")?;
    let out = Command::new(&bin)
        .args(["uname", "-m"])
        .output()
        .map_err(|e| cannot(format!("cannot execute arm64 busybox {}: {e}", bin.display())))?;
    let machine = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || machine != "aarch64" {
        bail!(cannot(format!(
            "arm64 busybox under QEMU failed ({}): uname -m said `{machine}`; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    report.note("qemu", format!("arm64 busybox runs under QEMU (uname -m = {machine})"));
    Ok(())
}

/// The static busybox binary of one Debian architecture, downloaded with apt and unpacked under
/// `.retrace/busybox/<arch>/`. Shared by setup (QEMU check) and the demo fixture.
pub fn busybox_binary(apt: &mut Apt, state: &Path, arch: &str) -> Result<PathBuf> {
    let dir = state.join("busybox").join(arch);
    let bin = dir.join("bin/busybox");
    if bin.exists() {
        return Ok(bin);
    }
    let debs = state.join("busybox/debs");
    fs::create_dir_all(&debs)?;
    let pkg = format!("busybox-static:{arch}");
    let download = |cwd: &Path| {
        Command::new("apt-get")
            .args(["download", "-qq", &pkg])
            .current_dir(cwd)
            .stderr(Stdio::piped())
            .output()
    };
    let mut out = download(&debs).context("running apt-get download")?;
    if !out.status.success() {
        // The package lists may predate the architecture; refresh once and retry.
        apt.update()?;
        out = download(&debs).context("running apt-get download")?;
    }
    if !out.status.success() {
        bail!(cannot(format!(
            "apt-get download {pkg} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let deb = fs::read_dir(&debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("busybox-static_") && n.ends_with(&format!("_{arch}.deb")))
        })
        .ok_or_else(|| anyhow!("apt-get download {pkg} left no .deb in {}", debs.display()))?;
    let tmp = state.join("busybox").join(format!(".{arch}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir)?;
    if !bin.exists() {
        bail!("{} has no bin/busybox", deb.display());
    }
    Ok(bin)
}

fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn ensure_dockerd(state: &Path, report: &mut Report) -> Result<()> {
    let what = if docker_answers() {
        "already running".to_string()
    } else {
        let log = state.join("dockerd.log");
        remove_stale_docker_pid_file();
        let pid = spawn_daemon(&mut Command::new("dockerd"), &log)?;
        fs::write(state.join("dockerd.pid"), pid.to_string())?;
        wait_for("dockerd", Duration::from_secs(90), &log, docker_answers)?;
        format!("started (pid {pid}, log {})", log.display())
    };
    let driver = capture(Command::new("docker").args(["info", "--format", "{{.Driver}} {{.ServerVersion}}"]))?;
    report.note(
        "dockerd",
        format!("{what}; storage driver and version: {}", driver.trim()),
    );
    Ok(())
}

/// A dockerd that was killed leaves `/var/run/docker.pid` behind, and a new one then refuses to
/// start ("pid file found"). The file is removed only when no process has that pid.
fn remove_stale_docker_pid_file() {
    // dockerd's own, and that of the containerd it supervises (a new dockerd waits for the old
    // containerd to answer when its pid file names it).
    for path in ["/var/run/docker.pid", "/var/run/docker/containerd/containerd.pid"] {
        remove_stale_pid_file(Path::new(path));
    }
}

fn remove_stale_pid_file(path: &Path) {
    let Ok(text) = fs::read_to_string(path) else { return };
    // A killed daemon whose parent never reaps it stays a zombie (state Z): not alive.
    let alive = text.trim().parse::<u32>().is_ok_and(|pid| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
    });
    if !alive {
        let _ = fs::remove_file(path);
    }
}

/// Starts a daemon in its own process group (so a Ctrl-C on setup does not kill it), with stdout and
/// stderr appended to `log`.
fn spawn_daemon(cmd: &mut Command, log: &Path) -> Result<u32> {
    let file = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .map_err(|e| cannot(format!("cannot start {:?}: {e}", cmd.get_program())))?;
    Ok(child.id())
}

fn wait_for(what: &str, timeout: Duration, log: &Path, ready: impl Fn() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text
        .lines()
        .rev()
        .take(25)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    bail!(cannot(format!(
        "{what} did not answer within {}s; last lines of {}:\n{}",
        timeout.as_secs(),
        log.display(),
        tail.join("\n")
    )))
}

/// True when `GET /v2/` on the registry answers with HTTP 200 (or 401, for a registry with auth).
pub fn registry_answers(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") || head.contains(" 401")
}

/// Where the blob file server listens (see `ensure_registry`).
pub const BLOB_SERVER_ADDR: &str = "127.0.0.1:5001";

/// The registry's configuration. Blob GETs and HEADs are redirected (distribution's `redirect`
/// storage middleware) to a static file server over the registry's own storage, the way Docker Hub
/// redirects them to its CDN: docker-registry itself sends no `Last-Modified` for blobs, and
/// repo-info documents report the one the blob's server sends. The file server also honours Range
/// requests, so resumed downloads are exercised against a real server.
fn registry_config(storage: &Path) -> String {
    format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: http://{BLOB_SERVER_ADDR}/\n\
         http:\n  addr: {REGISTRY_ADDR}\n",
        storage.display()
    )
}

fn tcp_answers(addr: &str) -> bool {
    TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)).is_ok()
}

/// Whether the process in a pid file setup wrote is still running the given program.
fn our_process(pidfile: &Path, program: &str) -> Option<u32> {
    let pid: u32 = fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == program).then_some(pid)
}

fn ensure_registry(state: &Path, report: &mut Report) -> Result<()> {
    let dir = state.join("registry");
    let storage = dir.join("storage");
    fs::create_dir_all(&storage)?;

    // The blob file server first: the registry redirects to it.
    if tcp_answers(BLOB_SERVER_ADDR) {
        report.note("blob server", format!("already answering on {BLOB_SERVER_ADDR}"));
    } else {
        let log = dir.join("blobserver.log");
        let pid = spawn_daemon(
            Command::new("busybox")
                .args(["httpd", "-f", "-vv", "-p", BLOB_SERVER_ADDR, "-h"])
                .arg(&storage),
            &log,
        )?;
        fs::write(state.join("blobserver.pid"), pid.to_string())?;
        wait_for("busybox httpd", Duration::from_secs(15), &log, || {
            tcp_answers(BLOB_SERVER_ADDR)
        })?;
        report.note(
            "blob server",
            format!("started busybox httpd on {BLOB_SERVER_ADDR} (pid {pid})"),
        );
    }

    let config = dir.join("config.yml");
    let wanted = registry_config(&storage);
    let current = fs::read_to_string(&config).unwrap_or_default();
    let pidfile = state.join("registry.pid");
    if registry_answers(REGISTRY_ADDR) {
        match our_process(&pidfile, "docker-registry") {
            // Ours, but started with an older configuration: restart it so the redirect applies.
            Some(pid) if current != wanted => {
                stop_pid(pid, "docker-registry")?;
            }
            _ => {
                report.note("registry", format!("already answering on {REGISTRY_ADDR}"));
                return Ok(());
            }
        }
    }
    fs::write(&config, wanted)?;
    let log = dir.join("registry.log");
    let pid = spawn_daemon(Command::new("docker-registry").arg("serve").arg(&config), &log)?;
    fs::write(&pidfile, pid.to_string())?;
    wait_for("docker-registry", Duration::from_secs(30), &log, || {
        registry_answers(REGISTRY_ADDR)
    })?;
    report.note(
        "registry",
        format!("started on {REGISTRY_ADDR} (pid {pid}, log {})", log.display()),
    );
    Ok(())
}

fn stop_pid(pid: u32, program: &str) -> Result<()> {
    run(Command::new("kill").arg(pid.to_string()))?;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let start = Instant::now();
    while proc_dir.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
    }
    if proc_dir.exists() {
        bail!("{program} (pid {pid}) did not stop within 30s");
    }
    Ok(())
}

/// Stops the daemons setup started, found through their pid files. A pid whose process no longer
/// runs the daemon's program has been reused by something else and is left alone.
pub fn stop() -> Result<()> {
    let state = state_dir();
    for (name, program) in [
        ("registry", "docker-registry"),
        ("blobserver", "busybox"),
        ("dockerd", "dockerd"),
    ] {
        let pidfile = state.join(format!("{name}.pid"));
        if !pidfile.exists() {
            println!("stop: {name}: not started by setup");
            continue;
        }
        match our_process(&pidfile, program) {
            Some(pid) => {
                stop_pid(pid, program)?;
                println!("stop: {name}: stopped pid {pid}");
            }
            None => println!("stop: {name}: no longer running"),
        }
        fs::remove_file(&pidfile)?;
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn capture(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_binary_flag_is_added_once() {
        assert_eq!(
            with_fix_binary(":qemu-arm:M::\\x7f:\\xff:/q:OC").unwrap(),
            ":qemu-arm:M::\\x7f:\\xff:/q:OCF"
        );
        assert_eq!(
            with_fix_binary(":qemu-arm:M::\\x7f:\\xff:/q:OPF").unwrap(),
            ":qemu-arm:M::\\x7f:\\xff:/q:OPF"
        );
        assert_eq!(
            with_fix_binary(":qemu-arm:M::\\x7f:\\xff:/q:").unwrap(),
            ":qemu-arm:M::\\x7f:\\xff:/q:F"
        );
    }
}
