//! Text that comes from registries and users (references, challenges, config.json, dates, history
//! lines, manifests) never makes these functions panic, whatever it is.

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
        let _ = s.parse::<Reference>();
        let _ = s.parse::<Platform>();
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
        let _ = Credentials::from_json(s.as_bytes(), "config.json");
        let _ = Credentials::from_json(format!(r#"{{"auths":{{"x":{{"auth":"{s}"}}}}}}"#).as_bytes(), "config.json");
    }

    #[test]
    fn dates_and_history_lines(s in "\\PC{0,80}", shell in proptest::option::of(proptest::collection::vec("\\PC{0,8}", 0..3))) {
        let _ = parse_rfc3339(&s);
        let _ = history_to_dockerfile(&s, shell.as_deref());
        let _ = history_to_dockerfile(&format!("|2 {s}"), None);
        let _ = history_to_dockerfile(&format!("/bin/sh -c #(nop) {s}"), None);
    }

    #[test]
    fn manifests(s in "\\PC{0,200}", ct in proptest::option::of("\\PC{0,40}")) {
        let _ = FetchedManifest::parse(s.into_bytes(), ct.as_deref(), "m");
    }
}
