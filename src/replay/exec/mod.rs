//! The executor boundary: what a replay asks of a container engine, as plain data.
//!
//! The build driver (`crate::replay`) only sees this trait; `docker.rs` implements it over the Docker
//! Engine API and is the only module that knows bollard, tokio or that foreign platforms run under
//! QEMU (transparently, through binfmt handlers registered with the F flag). Every operation that
//! makes a layer returns a [`Snapshot`]: the engine's image, the directory holding exactly the diff
//! the engine committed, and when the step ran, which the timestamp search needs.

pub mod docker;

use std::io::{self, Write};
use std::path::PathBuf;

use crate::platform::Platform;

/// An image in the engine (for Docker: `sha256:<hex>` image ID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ImageId(pub String);

/// The result of one layer-making step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub image: ImageId,
    /// Unix seconds just before the step started and just after its commit; the mtimes of what
    /// the step created lie in between.
    pub started: i64,
    pub finished: i64,
}

/// Where the diff of a committed layer can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diff {
    /// A directory holding exactly the layer's changes in overlay2 form (whiteouts as 0/0
    /// character devices, opaque directories marked by the `trusted.overlay.opaque` xattr).
    Dir(PathBuf),
    /// The layer's tar as the engine exported it (`docker save`), already in tar form: whiteouts
    /// are `.wh.` files. Used when the engine's storage is not readable from here.
    Tar(PathBuf),
}

/// How a RUN container is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    /// `bridge` or `none`.
    pub network: String,
    /// The image's `VOLUME`s: the builder's RUN container mounts a fresh anonymous volume on each,
    /// so what the command writes there never reaches the layer.
    pub volumes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot reach the Docker engine at {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("Docker engine at {endpoint} uses storage driver `{driver}` and is not local; the diff must come from `docker save`, which failed")]
    Storage {
        endpoint: String,
        driver: String,
        #[source]
        source: Box<ExecError>,
    },

    /// The step's command exited non-zero; the log file holds its output. The hint (empty, or
    /// what the step could not fetch) follows the status.
    #[error("the command exited with status {code}{}", if .hint.is_empty() { String::new() } else { format!("; {}", .hint) })]
    StepFailed { code: i64, hint: String },

    #[error("Docker engine at {endpoint}: {operation}")]
    Engine {
        endpoint: String,
        operation: &'static str,
        #[source]
        source: bollard::errors::Error,
    },

    /// A file read out of an image (`/etc/passwd` for `--chown`) is larger than retrace reads.
    #[error("Docker engine at {endpoint}: read file: {path} is larger than {limit} bytes")]
    FileTooLarge { endpoint: String, path: String, limit: u64 },

    /// The archive the engine sent for a file read out of an image does not read.
    #[error("Docker engine at {endpoint}: read file: {path}")]
    ReadFile {
        endpoint: String,
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The engine's own `docker save` output could not be read (the archive reader refused it).
    #[error("the engine's saved image")]
    SavedImage(#[source] crate::archive::ArchiveError),
}

/// Connects each platform's replay to its engine: the one way the replay reaches an engine, so a
/// fake that serves recorded diff trees (`tests/it/common/fake.rs`) runs every replay and
/// verdict path without a daemon.
pub trait Engines: Sync {
    /// The engine at `endpoint` (the recipe's, for this platform); `cache` is the recipe's cache
    /// directory, where an engine may keep what it exports.
    fn connect(&self, endpoint: &str, cache: &std::path::Path) -> Result<Box<dyn Executor>, ExecError>;
}

/// A container engine that can replay steps for one platform.
pub trait Executor: Send + Sync {
    /// A name for messages (`unix:///var/run/docker.sock`).
    fn endpoint(&self) -> &str;

    /// The engine's version (`20.10.24+dfsg1`), for the record of the build's inputs; `None`
    /// when the engine does not say.
    fn engine_version(&self) -> Result<Option<String>, ExecError>;

    /// Which of the absolute `paths` do not exist in `image`. The builder owns a directory a COPY
    /// creates by `--chown` only when it was missing, so the replay needs to know.
    fn missing_paths(&self, image: &ImageId, paths: &[String]) -> Result<Vec<String>, ExecError>;

    /// Whether `image` still exists (a build cache entry is only reusable if it does).
    fn has_image(&self, image: &ImageId) -> bool;

    /// The diff ID of `image`'s top layer. A commit whose diff is empty adds no layer, so a step
    /// that made none leaves its parent's top layer on top.
    fn top_layer(&self, image: &ImageId) -> Result<Option<String>, ExecError>;

    /// Makes an image of `platform` from an uncompressed layer tar (a rootfs or a published layer)
    /// on top of `parent` (none for a base), so later containers run under the right architecture.
    fn import_layer(
        &self,
        platform: &Platform,
        parent: Option<&ImageId>,
        layer_tar: &std::path::Path,
        tag: &str,
    ) -> Result<Snapshot, ExecError>;

    /// Runs a container from `parent`, streams its output to `log`, and commits it.
    fn run(&self, parent: &ImageId, spec: &RunSpec, tag: &str, log: &mut dyn Write) -> Result<Snapshot, ExecError>;

    /// Extracts `tar` (prepared by the caller: paths relative to `/`, owners and modes final) into
    /// a container of `parent` and commits it.
    fn copy(&self, parent: &ImageId, tar: Vec<u8>, tag: &str) -> Result<Snapshot, ExecError>;

    /// Creates a container of `parent` whose working directory is `path` (the engine creates it
    /// when missing) and commits it.
    fn workdir(&self, parent: &ImageId, path: &str, tag: &str) -> Result<Snapshot, ExecError>;

    /// Where the diff of `image`'s top layer can be read.
    fn diff(&self, image: &ImageId) -> Result<Diff, ExecError>;

    /// The content of the regular file `path` in `image` (at most `limit` bytes), `None` when
    /// there is no such file. The builder reads `/etc/passwd` and `/etc/group` this way to
    /// resolve `--chown` names as the classic builder does.
    fn read_file(&self, image: &ImageId, path: &str, limit: u64) -> Result<Option<Vec<u8>>, ExecError>;

    /// The address at which RUN containers on the bridge network reach this machine (where the
    /// build's download proxy listens), or `None` when the engine runs elsewhere.
    fn host_address(&self) -> Result<Option<std::net::IpAddr>, ExecError>;
}

/// Appends one regular file to a plain ustar stream. Such streams are only envelopes an engine
/// unpacks (`docker load`, the copy API), never layers, so their bytes need not match any Docker
/// release; the byte-exact layer writer is `crate::layer`.
pub fn tar_file(out: &mut Vec<u8>, name: &str, data: &[u8]) -> io::Result<()> {
    tar_header(out, name, 0o644, 0, 0, data.len() as u64, 0, b'0', "")?;
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    Ok(())
}

/// Appends one ustar header. Names longer than 100 bytes are split into prefix and name.
#[allow(clippy::too_many_arguments)]
pub fn tar_header(
    out: &mut Vec<u8>,
    name: &str,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: i64,
    typeflag: u8,
    link: &str,
) -> io::Result<()> {
    let mut h = [0u8; 512];
    let (prefix, short) = if name.len() <= 100 {
        ("", name)
    } else {
        let split = name[..name.len().min(156)]
            .rfind('/')
            .filter(|&i| name.len() - i - 1 <= 100 && i <= 155)
            .ok_or_else(|| io::Error::other(format!("path too long for the copy archive: {name}")))?;
        (&name[..split], &name[split + 1..])
    };
    if link.len() > 100 {
        return Err(io::Error::other(format!(
            "link target too long for the copy archive: {link}"
        )));
    }
    h[..short.len()].copy_from_slice(short.as_bytes());
    let octal = |field: &mut [u8], v: u64| {
        let s = format!("{:0width$o}", v, width = field.len() - 1);
        field[..s.len()].copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime.max(0) as u64);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    out.extend_from_slice(&h);
    Ok(())
}
