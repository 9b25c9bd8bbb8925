//! The work one `retrace diff` run may spend beyond reading its operands: descending into nested
//! archives and computing unified text diffs. Both are driven by content an archive author chose,
//! so both are bounded for the run as a whole, not per file; what is skipped gets a note saying why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The bounds, with defaults that cover real images (a few nested wheels or jars, a few hundred
/// changed text files) while keeping a crafted layer to seconds and well under 1 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkLimits {
    /// Bytes decompressed while descending into nested archives, all of them together.
    pub nested_bytes: u64,
    /// Largest side of a text file shown as a unified diff.
    pub max_text_diff: u64,
    /// Time spent computing unified diffs, all files together.
    pub text_time: Duration,
    /// Time one file's unified diff may take before a coarser (still correct) diff is accepted.
    pub text_time_per_file: Duration,
    /// Bytes of unified diff text kept for the report, all files together.
    pub unified_bytes: u64,
}

impl Default for WorkLimits {
    fn default() -> WorkLimits {
        WorkLimits {
            nested_bytes: 512 << 20,
            max_text_diff: 64 << 10,
            text_time: Duration::from_secs(10),
            text_time_per_file: Duration::from_millis(500),
            unified_bytes: 64 << 20,
        }
    }
}

/// What has been spent so far against [`WorkLimits`].
#[derive(Debug, Default)]
pub struct WorkBudget {
    pub limits: WorkLimits,
    nested: AtomicU64,
    text_micros: AtomicU64,
    unified: AtomicU64,
}

impl WorkBudget {
    pub fn new(limits: WorkLimits) -> WorkBudget {
        WorkBudget {
            limits,
            ..WorkBudget::default()
        }
    }

    /// Nested-archive bytes still allowed.
    pub fn nested_left(&self) -> u64 {
        self.limits
            .nested_bytes
            .saturating_sub(self.nested.load(Ordering::Relaxed))
    }

    pub fn charge_nested(&self, bytes: u64) {
        self.nested.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The note for a nested archive not descended into because the budget is spent.
    pub fn nested_spent_note(&self) -> String {
        format!(
            "not descended: the run's budget of {} bytes for nested archives is spent",
            self.limits.nested_bytes
        )
    }

    /// Why no unified diff of files of `len_a` and `len_b` bytes should be made, if one should not.
    pub fn text_refusal(&self, len_a: usize, len_b: usize) -> Option<String> {
        let l = &self.limits;
        if len_a.max(len_b) as u64 > l.max_text_diff {
            return Some(format!("no unified diff: larger than {} bytes", l.max_text_diff));
        }
        if self.text_micros.load(Ordering::Relaxed) >= l.text_time.as_micros() as u64 {
            return Some(format!(
                "no unified diff: the run's {} s for text diffs is spent",
                l.text_time.as_secs()
            ));
        }
        if self.unified.load(Ordering::Relaxed) >= l.unified_bytes {
            return Some(format!(
                "no unified diff: the run's {} bytes of unified diffs are used",
                l.unified_bytes
            ));
        }
        None
    }

    /// When the next text diff must stop refining, given what is left of the run's time.
    pub fn text_deadline(&self) -> Instant {
        let left = (self.limits.text_time.as_micros() as u64).saturating_sub(self.text_micros.load(Ordering::Relaxed));
        Instant::now() + self.limits.text_time_per_file.min(Duration::from_micros(left))
    }

    pub fn charge_text(&self, took: Duration, unified_len: usize) {
        self.text_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.unified.fetch_add(unified_len as u64, Ordering::Relaxed);
    }
}
