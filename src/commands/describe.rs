//! `retrace describe REF [--platform P] [-o FILE] [--offline]`: write an image's repo-info `remote` document.

use std::path::PathBuf;

use super::Console;
use crate::platform::Platform;
use crate::{describe, registry, Error, Outcome};

#[derive(Debug, Clone, Default)]
pub struct DescribeOptions {
    pub reference: String,
    /// Only this platform's image (chosen by the rule in `crate::platform`); all when absent.
    pub platform: Option<Platform>,
    /// Written atomically; the text is returned for standard output when absent.
    pub output: Option<PathBuf>,
    pub offline: bool,
    pub store: Option<PathBuf>,
    /// `Platforms:` without (seeds) or with (current repo-info) a count.
    pub style: describe::Style,
}

/// Describes the image into `output`, or to the console when there is none.
pub fn run(opts: &DescribeOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let (source, r) = registry::open(&opts.reference, opts.offline, opts.store.clone())?;
    let text = describe::render_styled(&describe::gather(&source, &r, opts.platform.as_ref())?, opts.style);
    match &opts.output {
        Some(path) => {
            crate::fsutil::write_atomic(path, |w| w.write_all(text.as_bytes())).map_err(|e| Error::io(path, e))?
        }
        None => console.print(text)?,
    }
    Ok(Outcome::Match)
}
