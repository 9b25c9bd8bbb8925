//! `cargo xtask demo-fixture`: builds the offline demo image and regenerates `testdata/demo/demo.md`.
//!
//! 1. For each of seven Debian architectures, downloads `busybox-static` with apt and makes a root file
//!    system tarball from it: the binary, one symlink per applet the binary itself lists, `/etc/passwd`
//!    and `/etc/group` with a `demo` user, `/tmp`, `/root`. Modes, owners and mtimes are fixed and GNU
//!    tar sorts the names, so the tarball has the same bytes on every run.
//! 2. Builds `testdata/demo/Dockerfile` per platform with the classic builder (`DOCKER_BUILDKIT=0`,
//!    `--platform`, QEMU through binfmt for the foreign ones), checks the image config records the
//!    right os/architecture/variant, and pushes it to the local registry.
//! 3. Joins the seven manifests in a manifest list pushed with retrace's own registry client.
//! 4. Describes the list with `retrace::describe` into `testdata/demo/demo.md`.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use retrace::registry::manifest::{Descriptor, Index, Manifest, Platform, DOCKER_MANIFEST_LIST};
use retrace::registry::{Client, ClientOptions, Reference};

use crate::setup::{self, Apt};

/// The demo's repository in the local registry.
pub const DEMO_REPO: &str = "127.0.0.1:5000/retrace/demo";
pub const DEMO_TAG: &str = "latest";

/// The fixed mtime of every file the fixture makes (2024-01-01T00:00:00Z): any constant works, a
/// plausible date keeps tools that dislike the epoch quiet.
const FIXED_MTIME: i64 = 1_704_067_200;

/// One platform of the demo: Debian's architecture name and Docker's platform.
pub struct DemoPlatform {
    pub deb_arch: &'static str,
    pub os: &'static str,
    pub arch: &'static str,
    pub variant: Option<&'static str>,
}

/// In the order repo-info lists such images (amd64, arm variants, arm64, 386, ppc64le, s390x).
pub const PLATFORMS: &[DemoPlatform] = &[
    DemoPlatform {
        deb_arch: "amd64",
        os: "linux",
        arch: "amd64",
        variant: None,
    },
    DemoPlatform {
        deb_arch: "armel",
        os: "linux",
        arch: "arm",
        variant: Some("v5"),
    },
    DemoPlatform {
        deb_arch: "armhf",
        os: "linux",
        arch: "arm",
        variant: Some("v7"),
    },
    DemoPlatform {
        deb_arch: "arm64",
        os: "linux",
        arch: "arm64",
        variant: Some("v8"),
    },
    DemoPlatform {
        deb_arch: "i386",
        os: "linux",
        arch: "386",
        variant: None,
    },
    DemoPlatform {
        deb_arch: "ppc64el",
        os: "linux",
        arch: "ppc64le",
        variant: None,
    },
    DemoPlatform {
        deb_arch: "s390x",
        os: "linux",
        arch: "s390x",
        variant: None,
    },
];

impl DemoPlatform {
    fn slug(&self) -> String {
        match self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.arch, v),
            None => format!("{}/{}", self.os, self.arch),
        }
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    // `--only ARCH` builds one platform (for iterating); `--doc PATH` writes the document elsewhere (CI
    // keeps the committed one untouched, since every build has new dates and digests).
    let only = flag("--only");
    let doc_path = flag("--doc").map(PathBuf::from);
    let started = Instant::now();
    let root = setup::repo_root();
    let state = setup::state_dir();
    let work = state.join("demo");
    fs::create_dir_all(&work)?;
    if !setup::registry_answers(setup::REGISTRY_ADDR) {
        bail!(
            "the local registry does not answer on {}; run `cargo xtask setup` first",
            setup::REGISTRY_ADDR
        );
    }
    let mut apt = Apt::default();
    let client = Client::new(ClientOptions::default())?;
    let repo: Reference = format!("{DEMO_REPO}:{DEMO_TAG}").parse()?;
    let mut entries = Vec::new();
    for p in PLATFORMS.iter().filter(|p| only.is_none_or(|o| o == p.deb_arch)) {
        let t = Instant::now();
        let busybox = setup::busybox_binary(&mut apt, &state, p.deb_arch)?;
        let ctx = work.join(p.deb_arch);
        let _ = fs::remove_dir_all(&ctx);
        fs::create_dir_all(&ctx)?;
        make_rootfs_tar(&busybox, &ctx.join("rootfs"), &ctx.join("rootfs.tar"))?;
        fs::remove_dir_all(ctx.join("rootfs"))?;
        fs::copy(root.join("testdata/demo/Dockerfile"), ctx.join("Dockerfile"))?;
        fs::copy(root.join("testdata/demo/entrypoint.sh"), ctx.join("entrypoint.sh"))?;
        // COPY records the source file's mtime in the layer; a fixed one keeps the layer independent of
        // when the repository was checked out.
        fs::set_permissions(ctx.join("entrypoint.sh"), fs::Permissions::from_mode(0o755))?;
        set_mtime(&ctx.join("entrypoint.sh"))?;
        let tag = format!("{DEMO_REPO}:{}", p.deb_arch);
        let status = Command::new("docker")
            .args(["build", "--platform", &p.slug(), "-t", &tag])
            .arg(&ctx)
            .env("DOCKER_BUILDKIT", "0")
            .status()
            .context("running docker build")?;
        if !status.success() {
            bail!("docker build for {} failed ({status})", p.slug());
        }
        let status = Command::new("docker")
            .args(["push", &tag])
            .status()
            .context("running docker push")?;
        if !status.success() {
            bail!("docker push {tag} failed ({status})");
        }
        let pushed = client.manifest(&tag.parse()?)?;
        let Manifest::Image(m) = &pushed.manifest else {
            bail!("{tag} is not a single image manifest")
        };
        let config =
            retrace::registry::ImageConfig::parse(&client.blob_bytes(&repo, &m.config.digest, 1 << 20)?, "config")?;
        let platform = Platform {
            os: p.os.to_string(),
            architecture: p.arch.to_string(),
            variant: p.variant.map(str::to_string),
            ..Platform::default()
        };
        // The config must say what the binaries are; the classic builder takes it from --platform.
        let recorded = config.platform();
        if recorded.os != platform.os || recorded.architecture != platform.architecture {
            bail!(
                "{tag}: config records {} but the binaries are {}",
                recorded,
                platform
            );
        }
        entries.push(Descriptor {
            media_type: pushed.media_type.clone(),
            digest: pushed.digest,
            size: pushed.bytes.len() as u64,
            urls: None,
            platform: Some(platform),
            annotations: None,
        });
        println!(
            "demo: {} built and pushed as {} in {:.1}s",
            p.slug(),
            pushed.digest,
            t.elapsed().as_secs_f64()
        );
    }
    if only.is_some() {
        println!("demo: --only given; manifest list and demo.md left as they are");
        return Ok(());
    }
    let list = Index {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST_LIST.to_string()),
        manifests: entries,
    };
    let bytes = serde_json::to_vec_pretty(&list)?;
    let digest = client.push_manifest(&repo, DEMO_TAG, DOCKER_MANIFEST_LIST, &bytes)?;
    println!("demo: manifest list {DEMO_REPO}:{DEMO_TAG} = {digest}");

    let store = retrace::registry::Store::new(state.join("store"));
    let source = retrace::registry::Source::Online { client, store };
    let doc = retrace::describe::gather(&source, &repo, None)?;
    let out = doc_path.unwrap_or_else(|| root.join("testdata/demo/demo.md"));
    let text = retrace::describe::render(&doc);
    retrace::fsutil::write_atomic(&out, |w| w.write_all(text.as_bytes()))?;
    println!(
        "demo: wrote {} in {:.1}s total",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Makes the root file system directory and a deterministic tarball of it.
fn make_rootfs_tar(busybox: &Path, dir: &Path, tar: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(dir);
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "usr/local/bin",
        "etc",
        "tmp",
        "root",
    ] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::copy(busybox, dir.join("bin/busybox"))?;
    // The binary lists its own applets (run under QEMU for foreign architectures, which also proves
    // the handler works before docker build needs it).
    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .with_context(|| format!("running {}", busybox.display()))?;
    if !out.status.success() {
        bail!(
            "{} --list-full failed: {}",
            busybox.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let applets = String::from_utf8(out.stdout)?;
    for path in applets.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if path == "bin/busybox" || path.contains("..") || path.starts_with('/') {
            continue;
        }
        let link = dir.join(path);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        if link.symlink_metadata().is_err() {
            symlink("/bin/busybox", &link)?;
        }
    }
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\ndemo:x:1000:1000:retrace demo:/srv/demo:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")?;
    fs::write(dir.join("etc/group"), "root:x:0:\ndemo:x:1000:\nnogroup:x:65534:\n")?;
    // Fixed modes, whatever the umask: directories 755 (/tmp 1777), files 644, the binary 755.
    for entry in walk(dir)? {
        let meta = entry.symlink_metadata()?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = if meta.is_dir() {
            if entry.ends_with("tmp") {
                0o1777
            } else {
                0o755
            }
        } else if entry.ends_with("bin/busybox") {
            0o755
        } else {
            0o644
        };
        fs::set_permissions(&entry, fs::Permissions::from_mode(mode))?;
    }
    let status = Command::new("tar")
        .args([
            "--sort=name",
            &format!("--mtime=@{FIXED_MTIME}"),
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--format=gnu",
            "-cf",
        ])
        .arg(tar)
        .arg("-C")
        .arg(dir)
        .args(["bin", "etc", "root", "sbin", "tmp", "usr"])
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("tar failed ({status})");
    }
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let p = e?.path();
            if p.symlink_metadata()?.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    Ok(out)
}

fn set_mtime(path: &Path) -> Result<()> {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(FIXED_MTIME as u64);
    let f = fs::OpenOptions::new().write(true).open(path)?;
    f.set_modified(t)?;
    Ok(())
}

/// `cargo xtask demo`: the README's first command. Sets the machine up, builds the demo image into
/// the local registry (its document goes to `.retrace/demo/demo.md`, so the committed
/// `testdata/demo/demo.md` stays the oracle), pulls it into retrace's verified content store (the
/// build compares a layer that differs with the published one from there), then runs `retrace
/// build recipes/demo.yaml`, which rebuilds every layer from the fixture's inputs (the rootfs
/// tarballs in `.retrace/demo/`), and passes on its exit code (0 every layer matches, 1 some differ).
pub fn demo() -> Result<()> {
    setup::setup()?;
    run(&["--doc".to_string(), ".retrace/demo/demo.md".to_string()])?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let retrace = |args: &[&str]| -> Result<i32> {
        let status = Command::new(&cargo)
            .args(["run", "--quiet", "--release", "--bin", "retrace", "--"])
            .args(args)
            .status()
            .context("running retrace")?;
        Ok(status.code().unwrap_or(2))
    };
    let reference = format!("{DEMO_REPO}:{DEMO_TAG}");
    if retrace(&["pull", &reference])? != 0 {
        bail!("retrace pull {reference} failed");
    }
    match retrace(&["build", "recipes/demo.yaml", "--docker-archives"])? {
        0 => Ok(()),
        1 => {
            eprintln!("demo: some rebuilt layers differ from the document (see retrace-out/demo/report.json)");
            std::process::exit(1)
        }
        code => bail!("retrace build recipes/demo.yaml failed (exit {code})"),
    }
}
