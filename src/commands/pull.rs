//! `retrace pull REF [--platform P] [-o LAYOUT] [--offline]`: fetch an image into the local store,
//! verifying every blob, and optionally write an OCI layout.

use std::path::PathBuf;

use super::Console;
use crate::platform::Platform;
use crate::registry;
use crate::registry::pull::pull;
use crate::{Error, Outcome};

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub reference: String,
    /// All platforms when absent; chosen by the rule in `crate::platform`.
    pub platform: Option<Platform>,
    pub output: Option<PathBuf>,
    pub offline: bool,
    /// The content store; `$RETRACE_STORE` or `~/.cache/retrace` when absent.
    pub store: Option<PathBuf>,
}

/// Pulls, notes the summary and prints the top manifest's digest.
pub fn run(opts: &PullOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let (source, r) = registry::open(&opts.reference, opts.offline, opts.store.clone())?;
    let report = pull(&source, &r, opts.platform.as_ref(), opts.output.as_deref())?;
    let foreign = if report.foreign_skipped > 0 {
        format!(", {} foreign layers skipped", report.foreign_skipped)
    } else {
        String::new()
    };
    let summary = format!(
        "pulled {r}: {} platform(s) [{}], {} blobs verified ({} bytes, {} transferred now){foreign}",
        report.platforms.len(),
        report.platforms.join(", "),
        report.blobs,
        report.bytes,
        report.transferred,
    );
    console.note(summary);
    if let Some(top) = report.top {
        console.println(top)?;
    }
    Ok(Outcome::Match)
}
