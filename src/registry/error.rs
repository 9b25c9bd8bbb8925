//! What can go wrong between retrace and a registry, each variant carrying the facts a user needs to
//! act: the URL, the HTTP status, the digest at fault.

use std::path::PathBuf;

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with a status the operation cannot use.
    #[error("{method} {url}: HTTP {status}{}", detail(message))]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },

    /// The request never got an answer (connection refused, reset, timeout), after all retries.
    #[error("{method} {url}: {message} (after {attempts} attempts)")]
    Transport {
        method: &'static str,
        url: String,
        message: String,
        attempts: u32,
    },

    /// Credentials were refused, or the token server did not hand out a token.
    #[error("authentication for {url} failed: {message}")]
    Auth { url: String, message: String },

    /// Bytes served under a digest do not hash to it. Nothing is stored in this case.
    #[error("{what} {expected} from {url}: content hashes to {found} ({size} bytes); nothing was stored")]
    DigestMismatch {
        what: &'static str,
        expected: Digest,
        found: Digest,
        url: String,
        size: u64,
    },

    /// More bytes arrived than the descriptor announced; the download was abandoned.
    #[error("{what} {digest} from {url}: more than the announced {expected} bytes; download abandoned")]
    TooLarge {
        what: &'static str,
        digest: Digest,
        url: String,
        expected: u64,
    },

    /// No complete answer arrived within a deadline (the per-request one, or the whole download's).
    #[error("{method} {url}: timed out: no complete answer within the {what} of {seconds} s")]
    Timeout {
        method: &'static str,
        url: String,
        what: &'static str,
        seconds: u64,
    },

    /// A blob arrived slower than the floor: a server dripping bytes is not waited on for an hour.
    #[error("{method} {url}: timed out: slower than {floor} bytes/s on average after {grace} s; abandoned")]
    TooSlow {
        method: &'static str,
        url: String,
        floor: u64,
        grace: u64,
    },

    /// A response body (manifest, config, token, error text) exceeded its cap; reading stopped there.
    #[error("{url}: {what} larger than the limit of {limit} bytes refused")]
    BodyTooLarge {
        what: &'static str,
        url: String,
        limit: u64,
    },

    /// The blob's bytes hash to its digest but their length is not the descriptor's `size`.
    #[error("{what} {digest}: {found} bytes, but its descriptor says {expected}; refused")]
    SizeMismatch {
        what: &'static str,
        digest: Digest,
        expected: u64,
        found: u64,
    },

    /// A descriptor names external `urls` for a layer retrace would have to fetch from elsewhere.
    #[error("{what}: layer {digest} lists external `urls`; only foreign (non-distributable) layers may, and retrace does not fetch them")]
    ExternalUrls { what: String, digest: Digest },

    #[error("{what}: unsupported media type `{media_type}`")]
    UnsupportedMediaType { what: String, media_type: String },

    #[error("{what}: invalid JSON")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    /// A Docker config whose JSON is well formed but whose `auths` entry is not usable.
    #[error("{what}: invalid JSON: {message}")]
    Credentials { what: String, message: String },

    #[error("invalid image reference `{text}`: {reason}")]
    Reference { text: String, reason: &'static str },

    /// `--offline` was asked for and the store (or layout) does not hold what is needed.
    #[error("offline: {what} is not in {place}; run `retrace pull` without --offline first")]
    NotAvailableOffline { what: String, place: String },

    #[error("{reference}")]
    Platform {
        reference: String,
        #[source]
        source: crate::platform::SelectError,
    },

    /// An `oci:` directory or `diff` operand without the `oci-layout` file every layout has.
    #[error("{}: not an OCI layout (no oci-layout file)", path.display())]
    NotLayout { path: PathBuf },

    #[error("{reference}: the index lists no manifests")]
    EmptyIndex { reference: String },

    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A `docker save` archive that does not have the shape `docker load` reads.
    #[error("{}: {message}", path.display())]
    BadArchive { path: PathBuf, message: String },

    /// A docker archive the archive reader refused (a limit, a bad path, a missing member).
    #[error("{}", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: crate::archive::ArchiveError,
    },

    /// `describe` of a docker archive: it holds none of the registry's facts a document states.
    #[error(
        "{}: a docker archive holds uncompressed layers and no registry manifest, so the digests, \
         sizes and dates of a repo-info document are not in it; describe the image in its registry",
        path.display()
    )]
    NotDescribable { path: PathBuf },

    /// `pull -o` from a source without a content store to copy blobs from.
    #[error("pull -o needs a registry or the store as its source, not a layout")]
    LayoutNeedsStore,

    #[error("cannot build the HTTP client")]
    HttpClient {
        #[source]
        source: reqwest::Error,
    },
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl RegistryError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> RegistryError {
        RegistryError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
