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

/// What one fixture image is: its name (the registry repository and state directory), the
/// directory holding its Dockerfile and context files, and the platforms it is built for.
pub struct FixtureSpec<'a> {
    pub name: &'a str,
    pub source: PathBuf,
    pub platforms: Vec<&'a DemoPlatform>,
    pub doc: PathBuf,
}

/// `cargo xtask demo-fixture [--only ARCH] [--doc PATH]`: the demo image, seven platforms.
pub fn run(args: &[String]) -> Result<()> {
    let only = flag(args, "--only");
    let root = setup::repo_root();
    // `--doc PATH` writes the document elsewhere (CI keeps the committed one untouched, since every
    // build has new dates and digests).
    let doc = flag(args, "--doc").map_or_else(|| root.join("testdata/demo/demo.md"), PathBuf::from);
    let platforms = PLATFORMS
        .iter()
        .filter(|p| only.is_none_or(|o| o == p.deb_arch))
        .collect();
    let spec = FixtureSpec {
        name: "demo",
        source: root.join("testdata/demo"),
        platforms,
        doc,
    };
    build_fixture(&spec, only.is_none())
}

/// `cargo xtask image-fixture DIR [--platforms amd64,arm64] [--repo NAME] [--doc PATH]`: any
/// Dockerfile directory built the way the demo is, for the platforms named by Debian architecture
/// (amd64 and arm64 when not given). The document goes to `.retrace/NAME/NAME.md` by default.
pub fn image_fixture(args: &[String]) -> Result<()> {
    let Some(dir) = args.first().filter(|a| !a.starts_with("--")) else {
        bail!("usage: cargo xtask image-fixture DIR [--platforms amd64,arm64] [--repo NAME] [--doc PATH]");
    };
    let source = std::path::absolute(dir)?;
    let default_name = source
        .file_name()
        .and_then(|n| n.to_str())
        .context("the fixture directory has no usable name")?
        .to_string();
    let name = flag(args, "--repo").unwrap_or(&default_name);
    let mut platforms = Vec::new();
    for arch in flag(args, "--platforms").unwrap_or("amd64,arm64").split(',') {
        match PLATFORMS.iter().find(|p| p.deb_arch == arch) {
            Some(p) => platforms.push(p),
            None => bail!("unknown Debian architecture `{arch}` in --platforms"),
        }
    }
    let doc = flag(args, "--doc").map_or_else(
        || setup::state_dir().join(name).join(format!("{name}.md")),
        PathBuf::from,
    );
    let spec = FixtureSpec {
        name,
        source,
        platforms,
        doc,
    };
    build_fixture(&spec, true)
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// Builds, pushes and (when `describe`) joins the platforms in a manifest list and describes it.
pub fn build_fixture(spec: &FixtureSpec, describe: bool) -> Result<()> {
    let started = Instant::now();
    let state = setup::state_dir();
    let work = state.join(spec.name).join("ctx");
    fs::create_dir_all(&work)?;
    if !setup::registry_answers(setup::REGISTRY_ADDR) {
        bail!(
            "the local registry does not answer on {}; run `cargo xtask setup` first",
            setup::REGISTRY_ADDR
        );
    }
    let repo_name = format!("{}/retrace/{}", setup::REGISTRY_ADDR, spec.name);
    let mut apt = Apt::default();
    let client = Client::new(ClientOptions::default())?;
    let repo: Reference = format!("{repo_name}:latest").parse()?;
    let mut entries = Vec::new();
    for p in &spec.platforms {
        let t = Instant::now();
        let busybox = setup::busybox_binary(&mut apt, &state, p.deb_arch)?;
        let ctx = work.join(p.deb_arch);
        prepare_context(&spec.source, &busybox, &ctx)?;
        let tag = format!("{repo_name}:{}", p.deb_arch);
        docker_build_push(p, &ctx, &tag)?;
        entries.push(pushed_descriptor(&client, &repo, &tag, p)?);
        println!(
            "fixture {}: {} built and pushed in {:.1}s",
            spec.name,
            p.slug(),
            t.elapsed().as_secs_f64()
        );
    }
    if !describe {
        println!("fixture: --only given; manifest list and document left as they are");
        return Ok(());
    }
    let list = Index {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST_LIST.to_string()),
        manifests: entries,
    };
    let bytes = serde_json::to_vec_pretty(&list)?;
    let digest = client.push_manifest(&repo, "latest", DOCKER_MANIFEST_LIST, &bytes)?;
    println!("fixture {}: manifest list {repo} = {digest}", spec.name);

    let store = retrace::registry::Store::new(state.join("store"));
    let source = retrace::registry::Source::Online { client, store };
    let doc = retrace::describe::gather(&source, &repo, None)?;
    let text = retrace::describe::render(&doc);
    if let Some(parent) = spec.doc.parent() {
        fs::create_dir_all(parent)?;
    }
    retrace::fsutil::write_atomic(&spec.doc, |w| w.write_all(text.as_bytes()))?;
    println!(
        "fixture {}: wrote {} in {:.1}s total",
        spec.name,
        spec.doc.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Makes one platform's build context: the fixture's files (not its documents or `prepare.sh`) with
/// the fixed mtime and their checked-out modes, the busybox root file system tarball, and then
/// whatever `prepare.sh` makes that git cannot hold (hard links, setuid bits, odd names, mtimes).
fn prepare_context(source: &Path, busybox: &Path, ctx: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(ctx);
    fs::create_dir_all(ctx)?;
    make_rootfs_tar(busybox, &ctx.join("rootfs"), &ctx.join("rootfs.tar"))?;
    fs::remove_dir_all(ctx.join("rootfs"))?;
    copy_tree(source, ctx)?;
    // COPY records the source file's mtime in the layer; a fixed one keeps the layer independent of
    // when the repository was checked out. Directories are set after their contents.
    let mut paths = walk(ctx)?;
    paths.push(ctx.to_path_buf());
    for path in paths {
        if !path.symlink_metadata()?.file_type().is_symlink() {
            set_mtime(&path)?;
        }
    }
    let script = source.join("prepare.sh");
    if script.exists() {
        let status = Command::new("sh")
            .arg(&script)
            .current_dir(ctx)
            .env("FIXED_MTIME", FIXED_MTIME.to_string())
            .status()
            .context("running prepare.sh")?;
        if !status.success() {
            bail!("{} failed ({status})", script.display());
        }
    }
    Ok(())
}

/// Copies regular files, directories and symlinks, keeping modes; documents and `prepare.sh` stay
/// out, since they describe the fixture rather than belong to its context.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == "prepare.sh" || name_str.ends_with(".md") {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let meta = src.symlink_metadata()?;
        if meta.file_type().is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
        } else if meta.is_dir() {
            fs::create_dir_all(&dst)?;
            fs::set_permissions(&dst, meta.permissions())?;
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Builds one platform with the classic builder (`--platform`, QEMU through binfmt for foreign
/// ones) and pushes it.
fn docker_build_push(p: &DemoPlatform, ctx: &Path, tag: &str) -> Result<()> {
    let status = Command::new("docker")
        // No daemon cache: a cached COPY layer keeps the file times of whatever build first made
        // it (the builder's cache key is the content hash, which leaves mtimes out), so a fixture
        // is always built from its context as it is now.
        .args(["build", "--no-cache", "--platform", &p.slug(), "-t", tag])
        .arg(ctx)
        .env("DOCKER_BUILDKIT", "0")
        .status()
        .context("running docker build")?;
    if !status.success() {
        bail!("docker build for {} failed ({status})", p.slug());
    }
    let status = Command::new("docker")
        .args(["push", tag])
        .status()
        .context("running docker push")?;
    if !status.success() {
        bail!("docker push {tag} failed ({status})");
    }
    Ok(())
}

/// The pushed image's descriptor for the manifest list, after checking its config records the
/// platform the binaries are for (the classic builder takes it from --platform).
fn pushed_descriptor(client: &Client, repo: &Reference, tag: &str, p: &DemoPlatform) -> Result<Descriptor> {
    let pushed = client.manifest(&tag.parse()?)?;
    let Manifest::Image(m) = &pushed.manifest else {
        bail!("{tag} is not a single image manifest")
    };
    let config = retrace::registry::ImageConfig::parse(&client.blob_bytes(repo, &m.config.digest, 1 << 20)?, "config")?;
    let platform = Platform {
        os: p.os.to_string(),
        architecture: p.arch.to_string(),
        variant: p.variant.map(str::to_string),
        ..Platform::default()
    };
    let recorded = config.platform();
    if recorded.os != platform.os || recorded.architecture != platform.architecture {
        bail!("{tag}: config records {} but the binaries are {}", recorded, platform);
    }
    Ok(Descriptor {
        media_type: pushed.media_type.clone(),
        digest: pushed.digest,
        size: pushed.bytes.len() as u64,
        urls: None,
        platform: Some(platform),
        annotations: None,
    })
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
    // A read-only handle suffices (futimens asks for ownership, not write access) and also opens
    // directories.
    let f = fs::File::open(path)?;
    f.set_modified(t)
        .with_context(|| format!("setting the mtime of {}", path.display()))?;
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
