//! Naming the likely cause of a differing layer, for `retrace build` to print next to a `differs`
//! verdict: only timestamps, different package versions, files that embed a build time, missing or
//! extra files, or plain content differences.

use std::path::Path;

use serde::Serialize;

use super::compare::{Change, ChangeKind};
use super::{diff_layer_files, Comparison, DiffError, DiffOptions};

/// The causes are report.json's vocabulary, so they live with its types.
pub use crate::report_json::Cause;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseSummary {
    /// One line for a report's `reason` field.
    pub headline: String,
    pub causes: Vec<Cause>,
}

/// Classifies the differences between a rebuilt and a published layer blob.
pub fn classify_layers(rebuilt: &Path, published: &Path) -> Result<CauseSummary, DiffError> {
    // The published layer is side A so "removed" means missing from the rebuild.
    let cmp = diff_layer_files(published, rebuilt, &DiffOptions::default())?;
    Ok(classify(&cmp))
}

/// Date and time shapes that builds embed: ISO dates, clock times, `Mon Jan  2`-style dates and
/// 10-digit epoch seconds. A heuristic: it only has to be right often enough to point a maintainer
/// at the file.
pub fn has_time_pattern(line: &str) -> bool {
    let b = line.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    for i in 0..b.len() {
        // YYYY-MM-DD
        if (0..4).all(|k| digit(i + k))
            && b.get(i + 4) == Some(&b'-')
            && digit(i + 5)
            && digit(i + 6)
            && b.get(i + 7) == Some(&b'-')
            && digit(i + 8)
        {
            return true;
        }
        // hh:mm:ss
        if digit(i)
            && digit(i + 1)
            && b.get(i + 2) == Some(&b':')
            && digit(i + 3)
            && digit(i + 4)
            && b.get(i + 5) == Some(&b':')
            && digit(i + 6)
        {
            return true;
        }
        // 10-digit epoch seconds between 2001 and 2286, not part of a longer number.
        if b[i] == b'1' && (0..10).all(|k| digit(i + k)) && !digit(i + 10) && (i == 0 || !digit(i - 1)) {
            return true;
        }
    }
    const MONTHS: [&str; 12] = [
        "Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ", "Nov ", "Dec ",
    ];
    MONTHS.iter().any(|m| line.contains(m)) && line.bytes().filter(u8::is_ascii_digit).count() >= 4
}

/// Whether every changed line of a unified diff carries a date or time.
fn only_time_lines(unified: &str) -> bool {
    let mut any = false;
    for line in unified.lines() {
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        if let Some(rest) = line.strip_prefix('+').or_else(|| line.strip_prefix('-')) {
            if !has_time_pattern(rest) {
                return false;
            }
            any = true;
        }
    }
    any
}

fn embeds_time(c: &Change) -> bool {
    if c.notes.iter().any(|n| n.starts_with("only the .pyc header differs")) {
        return true;
    }
    c.unified.as_deref().is_some_and(only_time_lines)
}

/// Classifies a comparison whose side A is the published layer and side B the rebuilt one.
pub fn classify(cmp: &Comparison) -> CauseSummary {
    let mut causes = Vec::new();
    if !cmp.differs {
        return CauseSummary {
            headline: "layers match".into(),
            causes,
        };
    }
    if cmp.changes.is_empty() {
        let compression_only = matches!((&cmp.a, &cmp.b), (Some(a), Some(b)) if a.diff_id == b.diff_id);
        causes.push(if compression_only {
            Cause::CompressionOnly
        } else {
            Cause::MetadataDiffers { paths: Vec::new() }
        });
    } else if cmp
        .changes
        .iter()
        .all(|c| c.change == ChangeKind::Changed && c.fields.iter().all(|f| f.field == "mtime"))
    {
        causes.push(Cause::OnlyTimestamps {
            paths: cmp.changes.len(),
        });
    } else {
        let mut missing = Vec::new();
        let mut extra = Vec::new();
        let mut embedded = Vec::new();
        let mut content = Vec::new();
        let mut metadata = Vec::new();
        let mut packages = Vec::new();
        for c in &cmp.changes {
            match c.change {
                ChangeKind::Removed => missing.push(c.path.clone()),
                ChangeKind::Added => extra.push(c.path.clone()),
                ChangeKind::Changed => {
                    if !c.packages.is_empty() {
                        packages.extend(c.packages.iter().cloned());
                    } else if c.has_field("content") {
                        if embeds_time(c) {
                            embedded.push(c.path.clone());
                        } else {
                            content.push(c.path.clone());
                        }
                    } else if c.fields.iter().any(|f| f.field != "mtime") {
                        metadata.push(c.path.clone());
                    }
                }
            }
        }
        if !packages.is_empty() {
            causes.push(Cause::PackageVersions { packages });
        }
        if !embedded.is_empty() {
            causes.push(Cause::EmbeddedTime { paths: embedded });
        }
        if !missing.is_empty() {
            causes.push(Cause::MissingFiles { paths: missing });
        }
        if !extra.is_empty() {
            causes.push(Cause::ExtraFiles { paths: extra });
        }
        if !content.is_empty() {
            causes.push(Cause::ContentDiffers { paths: content });
        }
        if !metadata.is_empty() {
            causes.push(Cause::MetadataDiffers { paths: metadata });
        }
    }
    CauseSummary {
        headline: causes.iter().map(headline).collect::<Vec<_>>().join("; "),
        causes,
    }
}

/// Up to three paths for a one-line headline, control characters escaped (the paths keep the
/// archive reader's text form in JSON).
fn list(paths: &[String]) -> String {
    let shown: Vec<std::borrow::Cow<'_, str>> = paths
        .iter()
        .take(3)
        .map(|p| crate::layer::name::escape_text(p))
        .collect();
    if paths.len() > 3 {
        format!("{} and {} more", shown.join(", "), paths.len() - 3)
    } else {
        shown.join(", ")
    }
}

fn headline(c: &Cause) -> String {
    match c {
        Cause::CompressionOnly => "same tar stream, only the compression differs".into(),
        Cause::OnlyTimestamps { paths } => format!("only timestamps differ ({paths} paths)"),
        Cause::PackageVersions { packages } => {
            let shown: Vec<String> = packages
                .iter()
                .take(3)
                .map(|p| {
                    format!(
                        "{} {} -> {}",
                        p.name,
                        p.a.as_deref().unwrap_or("(absent)"),
                        p.b.as_deref().unwrap_or("(absent)")
                    )
                })
                .collect();
            let more = if packages.len() > 3 {
                format!(" and {} more", packages.len() - 3)
            } else {
                String::new()
            };
            format!("package versions differ: {}{more}", shown.join(", "))
        }
        Cause::EmbeddedTime { paths } => format!("content embeds a build time: {}", list(paths)),
        Cause::MissingFiles { paths } => format!("missing from the rebuild: {}", list(paths)),
        Cause::ExtraFiles { paths } => format!("only in the rebuild: {}", list(paths)),
        Cause::ContentDiffers { paths } => format!("content differs: {}", list(paths)),
        Cause::MetadataDiffers { paths } if paths.is_empty() => "tar headers differ in encoding".into(),
        Cause::MetadataDiffers { paths } => format!("metadata differs: {}", list(paths)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headlines_escape_control_characters_in_paths() {
        let paths = vec![
            "a\nb".to_string(),
            "caf\\xe9".to_string(),
            "c".to_string(),
            "d".to_string(),
        ];
        assert_eq!(list(&paths), "a\\x0ab, caf\\xe9, c and 1 more");
    }
}
