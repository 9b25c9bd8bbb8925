use std::path::PathBuf;

use retrace::commands::verify::VerifyOptions;

/// Re-hash every blob a build output's report.json calls rebuilt and check it, and each
/// platform's manifest and config, against the published digests.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The `retrace build` output directory (report.json and its OCI layout).
    out: PathBuf,
    /// The repo-info document whose layer digests are the published ones (default: report.json's
    /// `expected` digests).
    #[arg(long)]
    document: Option<PathBuf>,
    /// Once every claim holds, write a signed in-toto attestation per platform into
    /// OUT/attestations/ (a PKCS#8 PEM ed25519 or ECDSA P-256 private key; docs/attestations.md).
    #[arg(long, value_name = "KEY.pem")]
    sign: Option<PathBuf>,
    /// Also check each platform's attestation with this PEM public key.
    #[arg(long, value_name = "PUB.pem")]
    key: Option<PathBuf>,
}

impl VerifyArgs {
    pub fn options(self) -> VerifyOptions {
        VerifyOptions {
            out: self.out,
            document: self.document,
            sign: self.sign,
            key: self.key,
        }
    }
}
