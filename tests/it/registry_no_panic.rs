//! Text that comes from registries and users (references, challenges, config.json, dates, history
//! lines, manifests) never makes these functions panic, whatever it is, and what they accept keeps
//! its meaning: a parsed value prints back to text that parses to the same value, and a refusal
//! names the input it refuses.

use proptest::prelude::*;
use retrace::describe::{history_to_dockerfile, parse_rfc3339};
use retrace::platform::Platform;
use retrace::registry::auth::{Challenge, Credentials};
use retrace::registry::manifest::FetchedManifest;
use retrace::registry::Reference;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn references_and_platforms(s in "\\PC{0,60}") {
        if let Ok(r) = s.parse::<Reference>() {
            let again: Reference = r.to_string().parse().unwrap();
            prop_assert_eq!(again.to_string(), r.to_string());
        }
        if let Ok(p) = s.parse::<Platform>() {
            prop_assert_eq!(p.to_string().parse::<Platform>().unwrap(), p);
        }
    }

    #[test]
    fn reference_like_text(s in "[a-z0-9:/@._-]{0,40}(sha256:[0-9a-f]{0,64})?") {
        if let Ok(r) = s.parse::<Reference>() {
            // What parses prints back to something that parses to the same reference.
            let again: Reference = r.to_string().parse().unwrap();
            prop_assert_eq!(again.repository, r.repository);
            prop_assert_eq!(again.digest, r.digest);
        }
    }

    #[test]
    fn challenges_and_docker_configs(s in "\\PC{0,80}") {
        let _ = Challenge::parse(&s);
        let _ = Challenge::parse(&format!("Bearer {s}"));
        for text in [s.clone(), format!(r#"{{"auths":{{"x":{{"auth":"{s}"}}}}}}"#)] {
            if let Err(e) = Credentials::from_json(text.as_bytes(), "my-config.json") {
                let message = retrace::error::chain(&e);
                prop_assert!(message.contains("my-config.json"), "{}", message);
            }
        }
    }

    #[test]
    fn dates_and_history_lines(s in "\\PC{0,80}", shell in proptest::option::of(proptest::collection::vec("\\PC{0,8}", 0..3))) {
        if let Some(t) = parse_rfc3339(&s) {
            let printed = retrace::model::Timestamp { unix: t }.to_rfc3339();
            prop_assert_eq!(parse_rfc3339(&printed), Some(t), "{} printed as {}", s, printed);
        }
        let _ = history_to_dockerfile(&s, shell.as_deref());
        let _ = history_to_dockerfile(&format!("|2 {s}"), None);
        let _ = history_to_dockerfile(&format!("/bin/sh -c #(nop) {s}"), None);
    }

    #[test]
    fn manifests(s in "\\PC{0,200}", ct in proptest::option::of("\\PC{0,40}")) {
        if let Err(e) = FetchedManifest::parse(s.into_bytes(), ct.as_deref(), "manifest-under-test") {
            let message = retrace::error::chain(&e);
            prop_assert!(message.contains("manifest-under-test"), "{}", message);
        }
    }
}
