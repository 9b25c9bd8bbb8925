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
