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

    #[error("{what}: unsupported media type `{media_type}`")]
    UnsupportedMediaType { what: String, media_type: String },

    #[error("{what}: invalid JSON: {message}")]
    Json { what: String, message: String },

    #[error("invalid image reference `{text}`: {reason}")]
    Reference { text: String, reason: &'static str },

    /// `--offline` was asked for and the store (or layout) does not hold what is needed.
    #[error("offline: {what} is not in {place}; run `retrace pull` without --offline first")]
    NotAvailableOffline { what: String, place: String },

    #[error("{reference}: no platform matches `{wanted}`; available: {available}")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },

    #[error("invalid platform `{text}`: expected os/arch[/variant], e.g. linux/arm/v7")]
    BadPlatform { text: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Other(String),
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
