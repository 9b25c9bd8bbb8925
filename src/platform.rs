//! The one platform type and its one matching rule. Every `--platform` is parsed into a
//! [`Platform`] at the CLI edge, and every command that picks images by platform (`parse`,
//! `build`, `pull`, `describe`, `layer reproduce`, `layer add`) picks them with [`select`].
//! The document (`model::Platform`), the recipe and the OCI descriptor
//! (`registry::manifest::Platform`) keep only their own serialization shapes and convert to this
//! type to be compared.
//!
//! The rule, as written in ARCHITECTURE.md:
//! - os, architecture and variant compare without regard to ASCII case;
//! - `linux/arm64` and `linux/arm64/v8` are the same platform (v8 is Docker's default arm64 variant);
//! - a selector with a variant names exactly that variant (`linux/arm/v7` selects v7);
//! - a selector without one names every variant of its os and architecture, and choosing images
//!   with it is an error listing the variants when the candidates hold more than one
//!   (`linux/arm` against an image with arm v5 and v7).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// An OCI platform such as `linux/arm/v7`. The documents spell it `linux; arm variant v7`; both
/// forms parse, and `Display` gives the slash form used on the command line and in reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// A platform that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a platform (expected os/arch or os/arch/variant, e.g. linux/arm/v7)")]
pub struct PlatformError {
    pub text: String,
}

/// Why [`select`] chose nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("no platform matches `{wanted}`; platforms present: {present}")]
    NoMatch { wanted: Platform, present: String },
    #[error("`{wanted}` is ambiguous: the image has {variants}; name one of them")]
    Ambiguous { wanted: Platform, variants: String },
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parses the document's spelling, `linux; arm variant v7` or `linux; amd64`.
    pub fn from_document(text: &str) -> Option<Platform> {
        let (os, rest) = text.split_once(';')?;
        let rest = rest.trim();
        let (arch, variant) = match rest.split_once(" variant ") {
            Some((a, v)) => (a.trim(), Some(v.trim())),
            None => (rest, None),
        };
        // Each part must be one word that the slash form can print back: no slash, semicolon or space.
        let word = |p: &str| !p.is_empty() && !p.contains(|c: char| c == '/' || c == ';' || c.is_whitespace());
        if !word(os.trim()) || !word(arch) || variant.is_some_and(|v| !word(v)) {
            return None;
        }
        Some(Platform::new(os.trim(), arch, variant))
    }

    /// The variant, with arm64's default v8 filled in: Docker treats `linux/arm64` as v8.
    fn effective_variant(&self) -> Option<&str> {
        match self.variant.as_deref() {
            None if self.architecture.eq_ignore_ascii_case("arm64") => Some("v8"),
            v => v,
        }
    }

    /// Whether `self`, as a user or recipe names it, admits the concrete platform `other`: the
    /// same os and architecture, and the same variant unless `self` names none.
    pub fn selects(&self, other: &Platform) -> bool {
        let any_variant = self.effective_variant().is_none();
        self.os.eq_ignore_ascii_case(&other.os)
            && self.architecture.eq_ignore_ascii_case(&other.architecture)
            && (any_variant || eq_variant(self.effective_variant(), other.effective_variant()))
    }

    /// Whether the two name the same platform (`linux/arm64` and `linux/arm64/v8` do).
    pub fn same(&self, other: &Platform) -> bool {
        self.os.eq_ignore_ascii_case(&other.os)
            && self.architecture.eq_ignore_ascii_case(&other.architecture)
            && eq_variant(self.effective_variant(), other.effective_variant())
    }

    /// A file-name-safe spelling (`linux-arm-v7`) for logs, cache tags and image archives.
    pub fn slug(&self) -> String {
        self.to_string().replace('/', "-")
    }
}

fn eq_variant(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// Chooses, from `candidates`, those whose platform (`platform_of`) `wanted` selects, by the rule in
/// the module documentation: none is an error listing what is present, and several distinct
/// variants chosen by a selector without one is an error listing them. Several candidates of the
/// one chosen platform (a document's tags) are all returned, in order.
pub fn select<'a, T>(
    wanted: &Platform,
    candidates: impl IntoIterator<Item = &'a T>,
    platform_of: impl Fn(&T) -> Platform,
) -> Result<Vec<&'a T>, SelectError>
where
    T: 'a,
{
    let all: Vec<(&T, Platform)> = candidates.into_iter().map(|c| (c, platform_of(c))).collect();
    let chosen: Vec<&(&T, Platform)> = all.iter().filter(|(_, p)| wanted.selects(p)).collect();
    let mut kinds: Vec<&Platform> = Vec::new();
    for (_, p) in &chosen {
        if !kinds.iter().any(|k| k.same(p)) {
            kinds.push(p);
        }
    }
    match kinds.len() {
        0 => Err(SelectError::NoMatch {
            wanted: wanted.clone(),
            present: list(all.iter().map(|(_, p)| p)),
        }),
        1 => Ok(chosen.into_iter().map(|(c, _)| *c).collect()),
        _ => Err(SelectError::Ambiguous {
            wanted: wanted.clone(),
            variants: list(kinds.into_iter()),
        }),
    }
}

/// The distinct platforms, in order, joined with commas.
fn list<'a>(platforms: impl Iterator<Item = &'a Platform>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for p in platforms {
        let s = p.to_string();
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    seen.join(", ")
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

impl FromStr for Platform {
    type Err = PlatformError;

    /// `os/arch[/variant]`, or the document's `linux; arm variant v7`.
    fn from_str(s: &str) -> Result<Platform, PlatformError> {
        let bad = || PlatformError { text: s.to_string() };
        if s.contains(';') {
            return Platform::from_document(s).ok_or_else(bad);
        }
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty() || p.contains(char::is_whitespace)) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(bad()),
        }
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Platform, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn platforms_parse_in_both_spellings() {
        assert_eq!(p("linux; arm variant v7"), p("linux/arm/v7"));
        assert_eq!(p("linux; amd64"), p("linux/amd64"));
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/arm/v7").slug(), "linux-arm-v7");
        for bad in ["linux", "linux//v7", "a/b/c/d", "linux/ arm", ";", "linux; "] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    /// The rule, case by case: (selector, candidates, chosen or the error's text).
    #[test]
    fn the_one_rule() {
        let demo = ["linux/amd64", "linux/arm/v5", "linux/arm/v7", "linux/arm64/v8"];
        let cases: &[(&str, &[&str], Result<&[&str], &str>)] = &[
            (
                "linux/arm",
                &demo,
                Err("`linux/arm` is ambiguous: the image has linux/arm/v5, linux/arm/v7"),
            ),
            ("linux/arm/v7", &demo, Ok(&["linux/arm/v7"])),
            ("linux/arm64", &demo, Ok(&["linux/arm64/v8"])),
            ("linux/arm64/v8", &["linux/arm64"], Ok(&["linux/arm64"])),
            ("LINUX/AMD64", &demo, Ok(&["linux/amd64"])),
            (
                "linux/arm",
                &["linux/arm/v7", "linux/amd64", "linux/arm/v7"],
                Ok(&["linux/arm/v7", "linux/arm/v7"]),
            ),
            ("linux/amd64/v2", &demo, Err("no platform matches `linux/amd64/v2`")),
            (
                "linux/s390x",
                &demo,
                Err("platforms present: linux/amd64, linux/arm/v5"),
            ),
        ];
        for (wanted, candidates, want) in cases {
            let plats: Vec<Platform> = candidates.iter().map(|c| p(c)).collect();
            let got = select(&p(wanted), &plats, Clone::clone);
            match (got, want) {
                (Ok(got), Ok(want)) => {
                    let got: Vec<String> = got.iter().map(|p| p.to_string()).collect();
                    assert_eq!(got, *want, "{wanted}");
                }
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{wanted}: {e}"),
                (got, want) => panic!("{wanted}: got {got:?}, want {want:?}"),
            }
        }
    }
}
