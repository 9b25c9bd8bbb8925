//! The typed model of a repo-info document: plain data, serde-serializable, free of parser types.
//!
//! A document holds one or more tag sections (`## `), each naming a manifest list (or OCI index) and
//! the images of its platforms (`### `). Everything the document states is kept; everything it omits
//! (older documents lack `Manifest MIME`, pull blocks, byte counts) is an `Option`, so consumers can
//! tell "absent" from "zero".

use std::fmt;

use serde::{Serialize, Serializer};

use crate::ir::{Command, Instruction};
use crate::Digest;

/// One parsed document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    pub tags: Vec<TagSection>,
}

/// One `## \`name:tag\`` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagSection {
    /// `name:tag` as written in the heading.
    pub tag: String,
    /// 1-based line of the heading.
    pub line: usize,
    /// Digest of the manifest list / index (from the `docker pull name@digest` block), when present.
    pub digest: Option<Digest>,
    /// `Manifest MIME` of the list or index; absent in documents written before 2017.
    pub media_type: Option<String>,
    /// The count written on the `Platforms: N` line by newer documents.
    pub platform_count: Option<u32>,
    /// The platforms listed under `Platforms:`, in order (attestation entries included).
    pub declared_platforms: Vec<Platform>,
    /// One entry per `### ` section, in document order.
    pub platforms: Vec<PlatformImage>,
    /// `- Key: value` fields this parser does not interpret, kept verbatim.
    pub extra_fields: Vec<Field>,
    /// What the section says instead of describing an image: older documents list tags the
    /// registry did not have yet as `**does not exist** (yet?)`, with no platforms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An OCI platform as repo-info writes it: `linux; arm variant v7`, `windows version 10.0.14393.2007; amd64`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub os_version: Option<String>,
}

impl Platform {
    /// Attestation manifests (provenance, SBOM) are listed as `unknown; unknown`.
    pub fn is_attestation(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    pub fn is_windows(&self) -> bool {
        self.os.eq_ignore_ascii_case("windows")
    }

    /// Whether a user's `os/arch[/variant]` selector names this platform. `linux/arm64` also matches
    /// `arm64 variant v8`, because v8 is the only arm64 variant and Docker treats it as the default;
    /// otherwise a selector without a variant matches only a platform without one (`linux/arm` does
    /// not silently pick one of v5/v6/v7).
    pub fn matches(&self, selector: &str) -> bool {
        let mut parts = selector.split('/');
        let (Some(os), Some(arch)) = (parts.next(), parts.next()) else {
            return false;
        };
        let variant = parts.next();
        if parts.next().is_some()
            || !os.eq_ignore_ascii_case(&self.os)
            || !arch.eq_ignore_ascii_case(&self.architecture)
        {
            return false;
        }
        match (variant, self.variant.as_deref()) {
            (None, None) => true,
            (None, Some(v)) => self.architecture == "arm64" && v == "v8",
            (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
            (Some(_), None) => false,
        }
    }
}

impl fmt::Display for Platform {
    /// `os/arch[/variant]`, the form `docker --platform` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The image of one platform (`### ` section).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformImage {
    pub platform: Platform,
    /// 1-based line of the `### ` heading.
    pub line: usize,
    /// Digest of the platform's manifest (its own pull block); missing in some older documents.
    pub digest: Option<Digest>,
    pub docker_version: Option<String>,
    pub media_type: Option<String>,
    pub total_size: Option<Size>,
    pub image_id: Option<Digest>,
    /// The image ID was written as bare hex (Docker 1.9-era v1 manifests), not as a digest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub legacy_image_id: bool,
    pub entrypoint: Option<Command>,
    pub cmd: Option<Command>,
    /// The image's `SHELL` (Windows images), from the `` `SHELL` `` field.
    pub shell: Option<Command>,
    pub history: Vec<HistoryEntry>,
    pub layers: Vec<Layer>,
    pub extra_fields: Vec<Field>,
}

/// A size as the document prints it, with the exact byte count when the document gives one
/// (`40.8 MB (40752666 bytes)`) or when the unit is bytes (`147.0 B` is exactly 147 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Size {
    pub bytes: Option<u64>,
    /// The human-readable text, e.g. `40.8 MB`.
    pub display: String,
}

/// One history entry of the `dockerfile` block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// 1-based line of the entry's first line (its date comment when present).
    pub line: usize,
    pub created: Option<Timestamp>,
    /// Build arguments from a `# ARGS:` line.
    pub args: Vec<BuildArg>,
    /// The instruction exactly as recorded (keyword included; lines joined with "\n").
    pub text: String,
    pub instruction: Instruction,
}

/// A `NAME=value` build argument; a bare `NAME` has no value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildArg {
    pub name: String,
    pub value: Option<String>,
}

/// One entry of the `Layers:` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    pub line: usize,
    pub digest: Digest,
    /// Exact size in bytes; `None` only when the document gives a rounded size in KB/MB/GB without
    /// a byte count.
    pub size: Option<u64>,
    pub size_display: Option<String>,
    /// Missing for foreign (Windows base) layers in newer documents.
    pub last_modified: Option<Timestamp>,
    pub media_type: Option<String>,
}

impl Layer {
    /// Foreign layers (Windows base images) are not served by the registry and cannot be rebuilt.
    pub fn is_foreign(&self) -> bool {
        self.media_type.as_deref().is_some_and(|m| m.contains("foreign"))
    }
}

/// A field this parser keeps but does not interpret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A point in time with one-second resolution, always UTC. Serialized as RFC 3339 (`2019-01-30T22:19:52Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z (negative before, e.g. Go's zero time in year 1).
    pub unix: i64,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Timestamp {
    /// Parses the RFC 1123 form the documents use: `Wed, 30 Jan 2019 22:19:52 GMT` (the weekday is
    /// optional and not cross-checked; only the GMT/UTC zone is accepted because it is the only one
    /// the documents write). Returns a message in user words on failure.
    pub fn parse_rfc1123(text: &str) -> Result<Timestamp, String> {
        let t = text.trim();
        let t = match t.find(',') {
            Some(i) => t[i + 1..].trim_start(),
            None => t,
        };
        let parts: Vec<&str> = t.split_ascii_whitespace().collect();
        let [day, month, year, time, zone] = parts[..] else {
            return Err(format!(
                "expected a date like `Wed, 30 Jan 2019 22:19:52 GMT`, found `{text}`"
            ));
        };
        if !(zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC") || zone == "Z") {
            return Err(format!("expected the time zone GMT, found `{zone}`"));
        }
        let num = |s: &str, what: &str| {
            s.parse::<i64>()
                .map_err(|_| format!("invalid {what} `{s}` in date `{text}`"))
        };
        let day = num(day, "day")?;
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(month))
            .ok_or_else(|| format!("unknown month `{month}` in date `{text}`"))? as i64
            + 1;
        let year = num(year, "year")?;
        // RFC 1123 writes four-digit years; bounding them also keeps the arithmetic below in range.
        if !(0..=9999).contains(&year) {
            return Err(format!("year {year} out of range in date `{text}`"));
        }
        let hms: Vec<&str> = time.split(':').collect();
        let [h, m, s] = hms[..] else {
            return Err(format!("expected a time like 22:19:52 in date `{text}`"));
        };
        let (h, m, s) = (num(h, "hour")?, num(m, "minute")?, num(s, "second")?);
        if !(1..=days_in_month(year, month)).contains(&day) || h > 23 || m > 59 || s > 60 {
            return Err(format!("date `{text}` does not exist"));
        }
        Ok(Timestamp {
            unix: days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s,
        })
    }

    /// The RFC 3339 form in UTC, e.g. `2019-01-30T22:19:52Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of `days_from_civil`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123_converts_to_rfc3339() {
        let t = Timestamp::parse_rfc1123("Wed, 30 Jan 2019 22:19:52 GMT").unwrap();
        assert_eq!(t.unix, 1_548_886_792);
        assert_eq!(t.to_string(), "2019-01-30T22:19:52Z");
        let zero = Timestamp::parse_rfc1123("Mon, 01 Jan 0001 00:00:00 GMT").unwrap();
        assert_eq!(zero.to_string(), "0001-01-01T00:00:00Z");
        let leap = Timestamp::parse_rfc1123("Thu, 29 Feb 2024 23:59:59 GMT").unwrap();
        assert_eq!(leap.to_string(), "2024-02-29T23:59:59Z");
        assert!(Timestamp::parse_rfc1123("Thu, 30 Feb 2024 23:59:59 GMT").is_err());
        assert!(Timestamp::parse_rfc1123("Thu, 01 Foo 2024 23:59:59 GMT").is_err());
        assert!(Timestamp::parse_rfc1123("Thu, 01 Jan 2024 23:59:59 CET").is_err());
        // Found by the fuzzer: a huge year overflowed the day arithmetic.
        assert!(Timestamp::parse_rfc1123("Tue, 24 Dec 9999999999999999 01:46:04 GMT").is_err());
        assert!(Timestamp::parse_rfc1123("Tue, 24 Dec -5 01:46:04 GMT").is_err());
    }

    #[test]
    fn platform_selectors() {
        let p = |arch: &str, variant: Option<&str>| Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            os_version: None,
        };
        assert!(p("arm", Some("v7")).matches("linux/arm/v7"));
        assert!(!p("arm", Some("v7")).matches("linux/arm"));
        assert!(p("arm64", Some("v8")).matches("linux/arm64"));
        assert!(p("arm64", Some("v8")).matches("linux/arm64/v8"));
        assert!(p("amd64", None).matches("linux/amd64"));
        assert!(!p("amd64", None).matches("linux/amd64/v2"));
        assert!(!p("amd64", None).matches("linux"));
        assert_eq!(p("arm", Some("v7")).to_string(), "linux/arm/v7");
    }
}
