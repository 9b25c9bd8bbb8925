//! `retrace verify OUT [--document DOC]`: checks a build output's claims from its files alone,
//! without the replay. Every layer report.json calls rebuilt (`match`, `match-after-timestamps`)
//! must be in the output's OCI layout under its published digest (the document's, with
//! `--document`; else report.json's `expected`), its blob must hash to that digest, and each
//! platform's manifest must list it, with a config whose diff_ids are those of the layer blobs.
//! Exit 0 when every claim holds, 1 naming the first false one, 2 when the output or the document
//! cannot be read. The result is recorded in `OUT/verify.json`, which `retrace report` shows.

use std::io;
use std::path::{Path, PathBuf};

use super::Console;
use crate::digest::{Digest, DigestWriter};
use crate::error::chain;
use crate::registry::layout::Layout;
use crate::registry::manifest::{Descriptor, ImageConfig, ImageManifest, Manifest};
use crate::report_json::{PlatformReport, Report, Verdict, Verification};
use crate::{Error, Outcome};

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The build output directory.
    pub out: PathBuf,
    /// The repo-info document whose digests are the published ones.
    pub document: Option<PathBuf>,
    /// Once every claim holds, sign an attestation per platform with this private key.
    pub sign: Option<PathBuf>,
    /// Check each platform's attestation with this public key (a missing or unsigned one, or one
    /// that disagrees with report.json, is a false claim).
    pub key: Option<PathBuf>,
}

/// Why the output could not be checked at all (exit 2), as opposed to a claim that does not hold.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Report(crate::report_json::ReportJsonError),
    #[error(transparent)]
    Document(crate::parse::ParseError),
    #[error(transparent)]
    Key(crate::attest::AttestError),
    #[error("writing the attestation")]
    Attestation(#[source] crate::attest::AttestError),
}

/// A claim of the build output that does not hold, in words naming the platform and layer.
type FalseClaim = String;

/// What the checks covered when every claim held.
#[derive(Debug, Default)]
struct Checked {
    layers: usize,
    images: usize,
    /// The published manifest of each platform, when the document names it.
    manifests: Vec<(String, Option<Digest>)>,
}

/// Checks the output, prints the verdict and records it in `verify.json`.
pub fn run(opts: &VerifyOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let report_path = opts.out.join("report.json");
    let report_bytes = crate::report_json::read_bounded(&report_path).map_err(VerifyError::Report)?;
    let report = Report::parse(&report_bytes, &report_path).map_err(VerifyError::Report)?;
    let document = match &opts.document {
        Some(path) => Some(crate::parse::parse_file(path).map_err(VerifyError::Document)?),
        None => None,
    };
    let signing = opts.sign.as_deref().map(crate::attest::SigningKey::read).transpose();
    let signing = signing.map_err(VerifyError::Key)?;
    let public = opts.key.as_deref().map(crate::attest::VerifyingKey::read).transpose();
    let public = public.map_err(VerifyError::Key)?;
    let against = opts.document.as_ref().map_or_else(
        || "report.json's expected digests".to_string(),
        |d| d.display().to_string(),
    );
    let mut result = check(&opts.out, &report, document.as_ref());
    if let (Ok(checked), Some(key)) = (&result, &signing) {
        let verified = serde_json::json!({
            "against": against,
            "layers": checked.layers,
            "images": checked.images,
        });
        attest(&opts.out, &report, &checked.manifests, &verified, key)?;
    }
    if let (Ok(_), Some(key)) = (&result, &public) {
        result = attestations(&opts.out, &report, key).and(result);
    }
    let record = Verification {
        report: Digest::of(&report_bytes),
        document: opts.document.as_ref().map(|d| d.display().to_string()),
        layers: result.as_ref().map_or(0, |c| c.layers),
        images: result.as_ref().map_or(0, |c| c.images),
        false_claim: result.as_ref().err().cloned(),
    };
    if let Err(e) = record.write(&opts.out) {
        console.note(format!("note: the result is not recorded: {}", chain(&e)));
    }
    match result {
        Ok(c) => {
            console.println(format!(
                "verified {}: {} rebuilt layers under their published digests (against {against}), {} platform image(s)",
                opts.out.display(),
                c.layers,
                c.images
            ))?;
            Ok(Outcome::Match)
        }
        Err(claim) => {
            console.println(format!("false claim in {}: {claim}", opts.out.display()))?;
            Ok(Outcome::Differ)
        }
    }
}

/// Every claim, in order: the published digests, the layer blobs, the images.
fn check(out: &Path, report: &Report, document: Option<&crate::model::Document>) -> Result<Checked, FalseClaim> {
    let mut checked = Checked::default();
    for p in &report.platforms {
        let manifest = match document {
            Some(doc) => published(p, doc)?,
            None => None,
        };
        checked.manifests.push((p.platform.clone(), manifest));
        checked.layers += layer_blobs(out, p)?;
    }
    let images = platform_images(out)?;
    for p in report.platforms.iter().filter(|p| rebuilt(p).next().is_some()) {
        let (_, desc) = images
            .iter()
            .find(|(platform, _)| *platform == p.platform)
            .ok_or_else(|| format!("{}: the layout holds no image of this platform", p.platform))?;
        image(out, p, desc)?;
        checked.images += 1;
    }
    Ok(checked)
}

/// The rows report.json calls rebuilt.
fn rebuilt(p: &PlatformReport) -> impl Iterator<Item = &crate::report_json::LayerReport> {
    p.layers
        .iter()
        .filter(|l| matches!(l.verdict, Verdict::Match | Verdict::MatchAfterTimestamps))
}

/// Whether report.json's expected digests are the document's: the document must hold an image of
/// the platform whose layers are those digests, index for index. Returns that image's manifest
/// digest, when the document gives it.
fn published(p: &PlatformReport, doc: &crate::model::Document) -> Result<Option<Digest>, FalseClaim> {
    let images: Vec<&crate::model::PlatformImage> = doc
        .tags
        .iter()
        .flat_map(|t| &t.platforms)
        .filter(|i| i.platform.to_string() == p.platform)
        .collect();
    let differing = |image: &crate::model::PlatformImage| {
        p.layers
            .iter()
            .find(|l| image.layers.get(l.index.wrapping_sub(1)).map(|d| d.digest) != Some(l.expected))
    };
    let Some(first) = images.first() else {
        return Err(format!("{}: the document has no image of this platform", p.platform));
    };
    if let Some(image) = images.iter().find(|i| differing(i).is_none()) {
        return Ok(image.digest);
    }
    // No image of the platform has every expected digest (returned above), so the first has a
    // differing row.
    let l = differing(first).expect("the first image has a differing layer");
    let doc_digest = first.layers.get(l.index.wrapping_sub(1)).map(|d| d.digest.to_string());
    Err(format!(
        "{} layer {}: report.json expects {}, but the document lists {} (line {})",
        p.platform,
        l.index,
        l.expected,
        doc_digest.as_deref().unwrap_or("no such layer"),
        first.line
    ))
}

/// Every rebuilt layer's blob is the layout's blob under its published digest; a replayed blob
/// report.json names is where it says. Returns how many layers were checked.
fn layer_blobs(out: &Path, p: &PlatformReport) -> Result<usize, FalseClaim> {
    let mut n = 0;
    for l in rebuilt(p) {
        let at = |what: String| format!("{} layer {} ({}): {what}", p.platform, l.index, l.verdict.as_str());
        if l.rebuilt != Some(l.expected) {
            let named = l.rebuilt.map_or("none".to_string(), |d| d.to_string());
            return Err(at(format!(
                "report.json names {named} as rebuilt, not the published {}",
                l.expected
            )));
        }
        hashes_to(&crate::blob::blob_path(out, &l.expected), &l.expected).map_err(at)?;
        if let Some(replayed) = &l.replayed {
            let apart = crate::blob::blob_path(&out.join("replayed"), replayed);
            let path = if apart.is_file() {
                apart
            } else {
                crate::blob::blob_path(out, replayed)
            };
            hashes_to(&path, replayed).map_err(|w| at(format!("the replayed blob: {w}")))?;
        }
        n += 1;
    }
    Ok(n)
}

/// Whether the file at `path` hashes to `d`, read in a streaming pass.
fn hashes_to(path: &Path, d: &Digest) -> Result<(), FalseClaim> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = DigestWriter::new(io::sink());
    io::copy(&mut io::BufReader::new(file), &mut w).map_err(|e| format!("{}: {e}", path.display()))?;
    let (found, size, _) = w.finish();
    if found != *d {
        return Err(format!("{} hashes to {found} ({size} bytes), not {d}", path.display()));
    }
    Ok(())
}

/// The per-platform manifest descriptors of the layout, by platform (`linux/arm/v7`): those of
/// `index.json` and of the image indexes it names.
fn platform_images(out: &Path) -> Result<Vec<(String, Descriptor)>, FalseClaim> {
    let layout = Layout::open(out).map_err(|e| chain(&e))?;
    let index = layout.index().map_err(|e| chain(&e))?;
    let mut found = Vec::new();
    for desc in index.manifests {
        match desc.platform.as_ref() {
            Some(p) => found.push((p.to_string(), desc)),
            None => {
                let nested = layout.manifest(&desc.digest, Some(&desc.media_type));
                let Manifest::Index(nested) = nested.map_err(|e| format!("index.json: {}", chain(&e)))?.manifest else {
                    continue;
                };
                found.extend(
                    nested
                        .manifests
                        .into_iter()
                        .filter_map(|d| Some((d.platform.as_ref()?.to_string(), d))),
                );
            }
        }
    }
    Ok(found)
}

/// The platform's image: its manifest and config hash to their names, the manifest lists the
/// published digest of every rebuilt layer at its index, and the config's diff_ids are the tars
/// inside the listed layer blobs.
fn image(out: &Path, p: &PlatformReport, desc: &Descriptor) -> Result<(), FalseClaim> {
    let layout = Layout::open(out).map_err(|e| chain(&e))?;
    let at = |what: String| format!("{} image {}: {what}", p.platform, desc.digest);
    let fetched = layout
        .manifest(&desc.digest, Some(&desc.media_type))
        .map_err(|e| at(chain(&e)))?;
    let Manifest::Image(manifest) = fetched.manifest else {
        return Err(at("not an image manifest".into()));
    };
    for l in rebuilt(p) {
        let listed = manifest.layers.get(l.index.wrapping_sub(1)).map(|d| d.digest);
        if listed != Some(l.expected) {
            let listed = listed.map_or("nothing".to_string(), |d| d.to_string());
            return Err(format!(
                "{} layer {}: the manifest {} lists {listed} there, not the published {}",
                p.platform, l.index, desc.digest, l.expected
            ));
        }
    }
    let config = layout.json_blob(&manifest.config.digest).map_err(|e| at(chain(&e)))?;
    let config = ImageConfig::parse(&config, "the config").map_err(|e| at(chain(&e)))?;
    diff_ids(&layout, &manifest, &config).map_err(at)
}

/// Each layer blob the manifest lists has its size and digest, and the tar inside it the config's
/// diff_id at its index.
fn diff_ids(layout: &Layout, manifest: &ImageManifest, config: &ImageConfig) -> Result<(), FalseClaim> {
    let ids = config
        .rootfs
        .as_ref()
        .map(|r| r.diff_ids.as_slice())
        .unwrap_or_default();
    if ids.len() != manifest.layers.len() {
        return Err(format!(
            "the config lists {} diff_ids for {} layers",
            ids.len(),
            manifest.layers.len()
        ));
    }
    for (i, (layer, diff_id)) in manifest.layers.iter().zip(ids).enumerate() {
        let at = |what: String| format!("layer {}: {what}", i + 1);
        let size = layout.verify_blob(&layer.digest).map_err(|e| at(chain(&e)))?;
        if size != layer.size {
            return Err(at(format!(
                "the manifest says {} bytes, the blob has {size}",
                layer.size
            )));
        }
        let blob = std::fs::File::open(layout.blob_path(&layer.digest)).map_err(|e| at(e.to_string()))?;
        let mut tar = DigestWriter::new(io::sink());
        crate::archive::decompress(io::BufReader::new(blob), &crate::archive::Limits::default(), &mut tar)
            .map_err(|e| at(chain(&e)))?;
        let found = tar.finish().0;
        if found != *diff_id {
            return Err(at(format!(
                "the tar inside hashes to {found}, the config's diff_id is {diff_id}"
            )));
        }
    }
    Ok(())
}

/// Signs one attestation per platform with a rebuilt layer, into `OUT/attestations/`.
fn attest(
    out: &Path,
    report: &Report,
    manifests: &[(String, Option<Digest>)],
    verified: &serde_json::Value,
    key: &crate::attest::SigningKey,
) -> Result<(), VerifyError> {
    for p in report.platforms.iter().filter(|p| rebuilt(p).next().is_some()) {
        let manifest = manifests
            .iter()
            .find(|(name, _)| *name == p.platform)
            .and_then(|(_, d)| *d);
        let envelope = crate::attest::sign(&crate::attest::statement(report, p, manifest, verified), key);
        let path = crate::attest::path(out, &p.platform);
        let io = |source| {
            VerifyError::Attestation(crate::attest::AttestError::Io {
                path: path.clone(),
                source,
            })
        };
        std::fs::create_dir_all(out.join("attestations")).map_err(io)?;
        // Plain data with string keys, so serializing cannot fail.
        let json = serde_json::to_vec_pretty(&envelope).expect("an envelope serializes");
        crate::fsutil::write_atomic(&path, |w| w.write_all(&json)).map_err(io)?;
    }
    Ok(())
}

/// Each platform's attestation verifies with `key` and attests exactly the layers report.json
/// calls rebuilt, under their published digests, with report.json's verdicts.
fn attestations(out: &Path, report: &Report, key: &crate::attest::VerifyingKey) -> Result<(), FalseClaim> {
    for p in report.platforms.iter().filter(|p| rebuilt(p).next().is_some()) {
        let path = crate::attest::path(out, &p.platform);
        let statement = crate::attest::open(&path, key).map_err(|e| format!("{}: {}", p.platform, chain(&e)))?;
        let at = |what: &str| format!("{}: {}: {what}", p.platform, path.display());
        if statement["_type"] != crate::attest::STATEMENT_TYPE
            || statement["predicateType"] != crate::attest::PREDICATE_TYPE
        {
            return Err(at("not a retrace rebuild statement"));
        }
        let layers: Vec<String> = rebuilt(p).map(|l| l.expected.hex()).collect();
        let subjects: Vec<&str> = statement["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["name"].as_str().is_some_and(|n| n.contains(" layer ")))
            .filter_map(|s| s["digest"]["sha256"].as_str())
            .collect();
        if subjects != layers {
            return Err(at(
                "its subjects are not the published digests of the layers report.json calls rebuilt",
            ));
        }
        let verdicts = serde_json::to_value(&p.layers).expect("report rows serialize");
        if statement["predicate"]["layers"] != verdicts {
            return Err(at("its layer verdicts are not report.json's"));
        }
    }
    Ok(())
}
