//! Attestations of a verified build output: per platform, an in-toto Statement v1 whose subjects
//! are the published digests of the rebuilt layers (and of the published manifest, when the
//! document names it) and whose predicate is retrace's rebuild predicate (every layer's verdict
//! and the record of the inputs), in a DSSE envelope signed with the user's ed25519 or ECDSA
//! P-256 key (PKCS#8 PEM). The signatures are the `ed25519-dalek` and `p256` crates'; only DSSE's
//! pre-authentication encoding and the envelope's JSON shape are written here, as no maintained
//! crate offers them alone. Format and example: docs/attestations.md.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::digest::Digest;
use crate::report_json::{PlatformReport, Report};

/// The in-toto Statement version written.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// retrace's predicate: the verdict of every layer and what the build was made from.
pub const PREDICATE_TYPE: &str = "https://retrace.dev/rebuild/v1";
/// DSSE's payload type of an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// An envelope larger than this is refused before it is read (it is read through report.json's
/// bounded reader): a thousand-layer predicate is well under 1 MiB.
pub const MAX_ENVELOPE_BYTES: u64 = crate::report_json::MAX_REPORT_BYTES;

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The statement's bytes, base64 (standard alphabet, padded).
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope, over the pre-authentication encoding of its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// sha256 of the public key's DER (SubjectPublicKeyInfo), hex; a hint, never trusted.
    #[serde(default)]
    pub keyid: String,
    /// base64 of the signature: ed25519's 64 bytes, or ECDSA P-256 (SHA-256) as ASN.1 DER.
    pub sig: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key's text is a secret, so the message names only the file.
    #[error("{}: not a PKCS#8 PEM {what} key of ed25519 or ECDSA P-256", path.display())]
    Key { path: PathBuf, what: &'static str },
    #[error("{}: larger than {limit} bytes; not an envelope retrace wrote", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}: not a DSSE envelope: {message}", path.display())]
    Envelope { path: PathBuf, message: String },
    #[error("{}: no signature verifies with the key", path.display())]
    BadSignature { path: PathBuf },
}

/// A private key to sign with.
pub enum SigningKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A public key to verify with.
#[derive(Debug, Clone)]
pub enum VerifyingKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

fn read_pem(path: &Path) -> Result<String, AttestError> {
    std::fs::read_to_string(path).map_err(|source| AttestError::Io {
        path: path.into(),
        source,
    })
}

impl SigningKey {
    /// Reads a PKCS#8 PEM private key (`openssl genpkey -algorithm ed25519`, or `-algorithm EC
    /// -pkeyopt ec_paramgen_curve:P-256`).
    pub fn read(path: &Path) -> Result<SigningKey, AttestError> {
        use p256::pkcs8::DecodePrivateKey;
        let pem = read_pem(path)?;
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem) {
            return Ok(SigningKey::Ed25519(k));
        }
        p256::ecdsa::SigningKey::from_pkcs8_pem(&pem)
            .map(SigningKey::P256)
            .map_err(|_| AttestError::Key {
                path: path.into(),
                what: "private",
            })
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Ed25519(k) => VerifyingKey::Ed25519(k.verifying_key()),
            SigningKey::P256(k) => VerifyingKey::P256(*k.verifying_key()),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        match self {
            SigningKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            SigningKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

impl VerifyingKey {
    /// Reads a PEM public key (`openssl pkey -in KEY.pem -pubout`).
    pub fn read(path: &Path) -> Result<VerifyingKey, AttestError> {
        use p256::pkcs8::DecodePublicKey;
        let pem = read_pem(path)?;
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem) {
            return Ok(VerifyingKey::Ed25519(k));
        }
        p256::ecdsa::VerifyingKey::from_public_key_pem(&pem)
            .map(VerifyingKey::P256)
            .map_err(|_| AttestError::Key {
                path: path.into(),
                what: "public",
            })
    }

    /// sha256 of the key's SubjectPublicKeyInfo DER, hex: the envelope's `keyid`.
    pub fn keyid(&self) -> String {
        use p256::pkcs8::EncodePublicKey;
        let der = match self {
            VerifyingKey::Ed25519(k) => k.to_public_key_der(),
            VerifyingKey::P256(k) => k.to_public_key_der(),
        };
        // Encoding a valid in-memory public key as SPKI DER does not fail.
        Digest::of(der.expect("a public key encodes as DER").as_bytes()).hex()
    }

    fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match self {
            VerifyingKey::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(sig).is_ok_and(|s| k.verify_strict(message, &s).is_ok())
            }
            VerifyingKey::P256(k) => p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify(message, &s).is_ok()),
        }
    }
}

/// DSSE's pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`, lengths
/// in ASCII decimal, what each signature signs.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The in-toto Statement of one platform of a verified build output: the rebuilt layers'
/// published digests (and the published `manifest`, when known) as subjects, every layer's row
/// and the record of the inputs as the predicate.
pub fn statement(report: &Report, platform: &PlatformReport, manifest: Option<Digest>, verified: &Value) -> Value {
    let sha256 = |d: &Digest| json!({ "sha256": d.hex() });
    let mut subject: Vec<Value> = manifest
        .iter()
        .map(|d| json!({ "name": format!("{} manifest", platform.platform), "digest": sha256(d) }))
        .collect();
    subject.extend(
        platform.layers.iter().filter(|l| l.verdict.is_match()).map(
            |l| json!({ "name": format!("{} layer {}", platform.platform, l.index), "digest": sha256(&l.expected) }),
        ),
    );
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "builder": { "id": "retrace", "version": env!("CARGO_PKG_VERSION") },
            "recipe": report.recipe,
            "platform": platform.platform,
            "layers": platform.layers,
            "record": report.record,
            "engine": platform.engine,
            "profile": platform.profile,
            "inputs": platform.inputs,
            "verification": verified,
        },
    })
}

/// Signs `statement` into a DSSE envelope.
pub fn sign(statement: &Value, key: &SigningKey) -> Envelope {
    // `json!` values have only string keys, so they always serialize.
    let payload = serde_json::to_vec(statement).expect("a statement serializes");
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    Envelope {
        payload: b64.encode(&payload),
        payload_type: PAYLOAD_TYPE.to_string(),
        signatures: vec![EnvelopeSignature {
            keyid: key.verifying_key().keyid(),
            sig: b64.encode(sig),
        }],
    }
}

/// Reads the envelope at `path` (bounded), checks that a signature verifies with `key`, and
/// returns the statement it signs.
pub fn open(path: &Path, key: &VerifyingKey) -> Result<Value, AttestError> {
    let bytes = crate::report_json::read_bounded(path).map_err(|e| match e {
        crate::report_json::ReportJsonError::Io { source, .. } => AttestError::Io {
            path: path.into(),
            source,
        },
        _ => AttestError::TooLarge {
            path: path.into(),
            limit: MAX_ENVELOPE_BYTES,
        },
    })?;
    let bad = |message: String| AttestError::Envelope {
        path: path.into(),
        message,
    };
    let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(bad(format!(
            "payloadType `{}`, not {PAYLOAD_TYPE}",
            envelope.payload_type
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(&envelope.payload)
        .map_err(|e| bad(format!("payload: {e}")))?;
    let message = pae(&envelope.payload_type, &payload);
    let signed = envelope
        .signatures
        .iter()
        .filter_map(|s| b64.decode(&s.sig).ok())
        .any(|sig| key.verifies(&message, &sig));
    if !signed {
        return Err(AttestError::BadSignature { path: path.into() });
    }
    serde_json::from_slice(&payload).map_err(|e| bad(format!("payload: {e}")))
}

/// Where the attestation of `platform` (`linux/arm/v7`) lives in a build output.
pub fn path(out: &Path, platform: &str) -> PathBuf {
    out.join("attestations")
        .join(format!("{}.intoto.json", platform.replace('/', "-")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }
}
