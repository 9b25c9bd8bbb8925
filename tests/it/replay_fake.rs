//! The replay and its verdicts without a daemon: postgres:alpine's amd64 platform replayed on the
//! fake engine (`common/fake.rs`). The base layer is rebuilt from its public tarball, the two RUN
//! layers research recovered are committed with the fake replay's own times, and the published
//! document is the oracle: the base must match byte for byte, the RUN layers after the timestamp
//! search, and the step that installs packages must stop the platform as not built.

use std::path::Path;

use retrace::platform::Platform;
use retrace::replay::{self, BuildOptions, Verdict};

use crate::common;
use crate::common::fake::FakeEngines;

#[test]
#[ignore = "needs ../shared; run by `cargo xtask test`"]
fn needs_shared_postgres_amd64_replays_on_the_fake_engine_with_every_verdict_from_the_document() {
    let Some(rootfs) = common::shared::seed_inputs("needs_shared_postgres_amd64_replays_on_the_fake_engine") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut recipe = retrace::recipe::load(&root.join("recipes/postgres-alpine.yaml")).unwrap();
    recipe.cache = dir.path().join("cache");
    let plans = replay::plans(&recipe).unwrap();
    let amd64: Platform = "linux/amd64".parse().unwrap();
    let selected = replay::select(&plans, &recipe, &[amd64]).unwrap();
    let options = BuildOptions {
        out: dir.path().join("out"),
        platforms: vec![],
        jobs: 1,
        keep_going: true,
        progress: false,
        docker_archives: false,
        no_cache: false,
        search_candidates: replay::layers::BUILD_SEARCH_CANDIDATES,
        offline: true,
        inputs: vec![rootfs],
        expected_inputs: None,
    };
    let engines = FakeEngines::new("002_016ef913fa1bb703.txt", "linux; amd64", dir.path());
    let report = replay::replay_with(&engines, &recipe, &selected, &options).unwrap();
    let platform = &report.platforms[0];
    assert!(platform.error.is_none(), "{:?}", platform.error);
    let verdicts: Vec<Verdict> = platform.layers.iter().map(|l| l.verdict).collect();
    assert_eq!(
        verdicts[..4],
        [
            Verdict::Match,
            Verdict::MatchAfterTimestamps,
            Verdict::MatchAfterTimestamps,
            Verdict::NotBuilt
        ],
        "{:#?}",
        platform.layers
    );
    assert!(verdicts[4..].iter().all(|v| *v == Verdict::NotBuilt));
    assert!(platform.stopped.as_deref().unwrap().contains("needs the network"));
    assert!(
        platform.layers[3].reason.contains("needs the network"),
        "{}",
        platform.layers[3].reason
    );
    // The search recovered the recorded step's time for what the fake's replay re-timed.
    let mkdir = &platform.layers[2];
    assert!(
        mkdir.recovered_mtimes.contains_key("docker-entrypoint-initdb.d"),
        "{mkdir:?}"
    );
}
