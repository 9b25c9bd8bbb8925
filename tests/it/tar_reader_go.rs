//! Differential test of retrace's tar reader (`archive::gotar`) against Go's archive/tar, the
//! reader inside the Docker daemon: every archive of Go's own test data (Debian's `golang-src`,
//! `src/archive/tar/testdata`) and every crafted case of `testdata/tar-reading/` is listed by
//! testdata/oracle/golist and by retrace, and the listings must be equal, entry by entry: every
//! header field, the content's sha256, and where and why reading stopped.
//!
//! `#[ignore]`d: run with `cargo xtask test` (group `needs_go_`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use retrace::archive::gotar::{GoTime, Header, Reader};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common;

/// The oracle hashes at most this much of an entry's content (sparse test files are 60 GB).
const MAX_HASHED: u64 = 64 << 20;

fn go_lister(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/oracle/golist");
    common::gobuild::build_go_program(&src, dir, "golist")
        .unwrap_or_else(|e| panic!("cannot build the Go tar lister ({e}); is `go` installed (`cargo xtask setup`)?"))
}

fn hex_map(m: &BTreeMap<Vec<u8>, Vec<u8>>) -> Value {
    m.iter()
        .map(|(k, v)| (to_hex(k), Value::from(to_hex(v))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn stamp(t: Option<GoTime>) -> Value {
    t.map_or(Value::Null, |t| json!([t.secs, t.nanos]))
}

fn describe(h: &Header) -> Value {
    json!({
        "typeflag": h.typeflag, "name": to_hex(&h.name), "linkname": to_hex(&h.linkname),
        "size": h.size, "mode": h.mode, "uid": h.uid, "gid": h.gid,
        "uname": to_hex(&h.uname), "gname": to_hex(&h.gname),
        "mtime": stamp(h.mtime), "atime": stamp(h.atime), "ctime": stamp(h.ctime),
        "devmajor": h.devmajor, "devminor": h.devminor,
        "xattrs": hex_map(&h.xattrs), "pax": hex_map(&h.pax_records), "format": h.format.0,
    })
}

/// Hashes at most [`MAX_HASHED`] bytes of the content, as the oracle does.
fn hash_content<R: Read>(reader: &mut Reader<R>, entry: &mut Value) {
    let mut hasher = Sha256::new();
    let mut limited = reader.take(MAX_HASHED);
    let outcome = std::io::copy(&mut limited, &mut hasher).and_then(|n| {
        let mut one = [0u8; 1];
        Ok(n == MAX_HASHED && limited.into_inner().read(&mut one)? > 0)
    });
    let (sha, more, error) = match outcome {
        Ok(more) => (json!(to_hex(hasher.finalize())), more, Value::Null),
        Err(e) => {
            let class = retrace::archive::gotar::GoTarError::from(e).go_class();
            (Value::Null, false, json!(class))
        }
    };
    entry["sha256"] = sha;
    entry["more"] = json!(more);
    entry["content_error"] = error;
}

/// retrace's listing of `path` in the oracle's shape.
fn list(path: &Path) -> Value {
    let file = std::fs::File::open(path).unwrap();
    let input: Box<dyn Read> = if path.extension().is_some_and(|e| e == "bz2") {
        Box::new(bzip2::read::BzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut reader = Reader::new(input);
    let mut entries = Vec::new();
    loop {
        match reader.next() {
            Ok(None) => return json!({ "entries": entries, "error": null }),
            Err(e) => return json!({ "entries": entries, "error": e.go_class() }),
            Ok(Some(h)) => {
                let mut entry = describe(&h);
                hash_content(&mut reader, &mut entry);
                entries.push(entry);
            }
        }
    }
}

/// The archives compared: Go's test data and the crafted cases.
fn archives() -> Vec<PathBuf> {
    let go = Path::new("/usr/lib/go/src/archive/tar/testdata");
    assert!(
        go.is_dir(),
        "{} is missing; `cargo xtask setup` installs golang-src",
        go.display()
    );
    let crafted = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tar-reading");
    let mut out = Vec::new();
    for dir in [go, crafted.as_path()] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".tar") || name.ends_with(".tar.bz2") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "needs the Go toolchain and golang-src; run by `cargo xtask test`"]
fn needs_go_tar_reader_lists_archives_as_go_does() {
    let dir = tempfile::tempdir().unwrap();
    let lister = go_lister(dir.path());
    let paths = archives();
    let out = common::run_ok(Command::new(&lister).args(&paths));
    let go: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(go.len(), paths.len());
    let mut differ = Vec::new();
    for (path, go) in paths.iter().zip(&go) {
        let ours = list(path);
        if &ours != go {
            differ.push(format!("{}:\n  go:   {go}\n  ours: {ours}", path.display()));
        }
    }
    eprintln!(
        "{} of {} archives read identically by retrace and Go",
        paths.len() - differ.len(),
        paths.len()
    );
    assert!(differ.is_empty(), "listings differ:\n{}", differ.join("\n"));
}

fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
