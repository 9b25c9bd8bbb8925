//! Helpers of the `retrace build` CLI tests: made-up one-platform documents, the binary, and the
//! check that an output directory holds no half-written blob.

use std::path::Path;
use std::process::Command;

use retrace::digest::Digest;

/// A one-platform repo-info document for the kill test: base ADD, a quick RUN, a slow RUN, CMD.
/// The layer digests are made up, so the verdicts are `differs` and the exit code 1 (not 2:
/// nothing failed).
pub fn kill_document(base_ref: &str) -> String {
    document_with(
        "kill:test",
        &[
            &format!("ADD {base_ref} in / "),
            "RUN mkdir /a && echo one > /a/one",
            "RUN sleep 20 && echo two > /a/two",
            "CMD [\"sh\"]",
        ],
        3,
    )
}

/// The `file:` reference of a build-context file as Docker 18.06 (the made-up documents' release)
/// hashed it.
pub fn file_ref(path: &Path) -> String {
    let profile = retrace::layer::Profile::docker_18_06();
    format!(
        "file:{}",
        retrace::layer::hash_file_on_disk(path, None, &profile).unwrap().hex()
    )
}

/// The `retrace` binary under test.
pub fn retrace(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_retrace"));
    c.args(args);
    c
}

/// Every blob in the output hashes to its name: nothing half-written is ever visible.
pub fn assert_blobs_sound(out: &Path) {
    let dir = out.join("blobs/sha256");
    let Ok(rd) = std::fs::read_dir(&dir) else { return };
    for e in rd {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue; // a temporary file of the killed writer, never a named output
        }
        let d = Digest::of(&std::fs::read(&p).unwrap());
        assert_eq!(d.hex(), name, "corrupt blob {}", p.display());
    }
}

/// A temporary directory holding `rootfs.tar`, the amd64 busybox root file system, and that
/// tarball's `file:` reference (a build verifies every source before using it).
pub fn busybox_base() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("rootfs.tar");
    super::docker::rootfs_tar(&super::docker::busybox("amd64"), &tar);
    let base_ref = file_ref(&tar);
    (dir, base_ref)
}

/// What one `retrace build` of a made-up document gave.
pub struct BuildRun {
    pub code: Option<i32>,
    /// Standard output and standard error, in that order.
    pub text: String,
    pub out: std::path::PathBuf,
}

impl BuildRun {
    pub fn report(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.out.join("report.json")).unwrap()).unwrap()
    }
}

/// Writes `NAME.md` (`doc`) and `NAME.yaml` (a recipe of `tag` with the private cache `cache`,
/// followed by `recipe_tail`: its sources and downloads) into `root`, runs `retrace build` into
/// `root/out-NAME` with `extra` arguments, and prints what the build said.
pub fn build_document(root: &Path, name: &str, tag: &str, doc: &str, recipe_tail: &str, extra: &[&str]) -> BuildRun {
    std::fs::write(root.join(format!("{name}.md")), doc).unwrap();
    let recipe = root.join(format!("{name}.yaml"));
    std::fs::write(
        &recipe,
        format!("document: {name}.md\ntag: {tag}\ncache: cache\n{recipe_tail}"),
    )
    .unwrap();
    let out = root.join(format!("out-{name}"));
    let run = retrace(&["build", recipe.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!("{text}");
    BuildRun {
        code: run.status.code(),
        text,
        out,
    }
}

/// A one-platform document of `tag` with the given history lines (each made at 22:19:5N) and
/// `layers` made-up layer digests.
pub fn document_with(tag: &str, steps: &[&str], layers: usize) -> String {
    let fake = |s: &str| Digest::of(s.as_bytes()).to_string();
    let history: String = steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("# Wed, 30 Jan 2019 22:19:{:02} GMT\n{s}\n", 50 + i))
        .collect();
    let layer_list: String = (0..layers)
        .map(|i| {
            format!(
                "\t-\t`{}`  \n\t\tLast Modified: Wed, 30 Jan 2019 22:21:08 GMT  \n\t\tSize: 1.0 KB (1000 bytes)  \n\t\tMIME: application/vnd.docker.image.rootfs.diff.tar.gzip\n",
                fake(&format!("layer {i}"))
            )
        })
        .collect();
    format!(
        "## `{tag}`\n\n```console\n$ docker pull test@{list}\n```\n\n-\tManifest MIME: `application/vnd.docker.distribution.manifest.list.v2+json`\n-\tPlatforms:\n\t-\tlinux; amd64\n\n\
### `{tag}` - linux; amd64\n\n```console\n$ docker pull test@{man}\n```\n\n-\tDocker Version: 18.06.1-ce\n-\tManifest MIME: `application/vnd.docker.distribution.manifest.v2+json`\n-\tTotal Size: **3.0 KB (3000 bytes)**  \n\t(compressed transfer size, not on-disk size)\n-\tImage ID: `{id}`\n-\tDefault Command: `[\"sh\"]`\n\n\
```dockerfile\n{history}```\n\n-\tLayers:\n{layer_list}",
        list = fake("list"),
        man = fake("manifest"),
        id = fake("id"),
    )
}

/// A one-platform build to interrupt: `kill_document`'s base ADD, quick RUN and 20 s RUN, with a
/// recipe whose cache is private to the test (a unique base per run, so an earlier run's cache
/// cannot make this one trivial).
pub struct KillFixture {
    pub dir: tempfile::TempDir,
    pub recipe: std::path::PathBuf,
    pub out: std::path::PathBuf,
    pub cache: std::path::PathBuf,
}

impl KillFixture {
    pub fn new() -> KillFixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        super::docker::rootfs_tar(&super::docker::busybox("amd64"), &root.join("rootfs.tar"));
        // The base tarball's real `file:` hash: a build verifies every source before using it.
        let base_ref = file_ref(&root.join("rootfs.tar"));
        std::fs::write(root.join("doc.md"), kill_document(&base_ref)).unwrap();
        std::fs::write(
            root.join("recipe.yaml"),
            format!(
                "document: doc.md\ntag: kill:test\ncache: cache\nsources:\n  - for: {base_ref}\n    path: rootfs.tar\n"
            ),
        )
        .unwrap();
        KillFixture {
            recipe: root.join("recipe.yaml"),
            out: root.join("out"),
            cache: root.join("cache/build"),
            dir,
        }
    }

    /// Waits until the base and the quick RUN are in the build cache (the 20 s RUN is then
    /// running), failing if `child` ends first or nothing happens for 120 s.
    pub fn wait_until_slow_step(&self, child: &mut std::process::Child) {
        let t0 = std::time::Instant::now();
        loop {
            let n = std::fs::read_dir(&self.cache)
                .map(|d| {
                    d.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
                        .count()
                })
                .unwrap_or(0);
            if n >= 2 {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the build ended before it could be interrupted: {status}");
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(120),
                "no progress in 120 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}
