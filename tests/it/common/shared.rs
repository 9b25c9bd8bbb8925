//! The read-only facts shared beside the clone (`../shared`: public rootfs tarballs with the
//! documents that record their layers). Tests that need them skip loudly when they are missing,
//! and fail under `CI=true`, where `../shared` is always present.

use std::path::PathBuf;

/// `$RETRACE_SHARED`, else `../shared` beside the crate, else `/work/shared`; `None` (after a
/// loud skip line) when none exists.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    find(test, "bases/entries.tsv")
}

/// The seeds' public inputs, `<shared>/rootfs` (rootfs tarballs and the UTC file), like
/// [`shared_dir`].
pub fn seed_inputs(test: &str) -> Option<PathBuf> {
    find(test, "rootfs/README.md").map(|d| d.join("rootfs"))
}

/// The first shared directory holding `marker`, or the loud skip (a failure under CI).
fn find(test: &str, marker: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("RETRACE_SHARED").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")),
        Some(PathBuf::from("/work/shared")),
    ];
    if let Some(dir) = candidates.into_iter().flatten().find(|d| d.join(marker).is_file()) {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true but ../shared ({marker}) is missing beside the clone");
    }
    eprintln!(
        "SKIPPED: {test}: no shared directory with {marker} (set RETRACE_SHARED or put `shared/` beside the clone)"
    );
    None
}
