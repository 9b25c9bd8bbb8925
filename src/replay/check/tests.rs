//! Every verdict path of [`check`], without an engine. These tests prove the decisions, not the
//! bytes: the expected digests are the layer writer's own output, whose bytes are proven against
//! Go's archive/tar and compress/gzip elsewhere (`tests/it/tar_oracle.rs`, `tests/it/deflate_go.rs`).

use super::*;
use crate::add::Trial;
use crate::layer::EntryKind;
use crate::reproduce::{SearchLimits, StepTime};

const REPLAYED: i64 = 1_800_000_000;
const RECORDED: i64 = 1_550_000_000;

fn profile() -> Profile {
    Profile::docker_18_06()
}

fn digest(entries: &[Entry]) -> Digest {
    layers::blob_digest(entries, &profile()).unwrap()
}

fn context<'a>(profile: &'a Profile, lower: &'a LowerDirs, search: bool) -> LayerContext<'a> {
    LayerContext {
        profile,
        lower,
        seen: None,
        replayed: (REPLAYED, REPLAYED + 5),
        recorded: Some(RECORDED),
        search: search.then(|| SearchInput {
            expected: Digest::of(b""),
            steps: vec![StepTime {
                created: RECORDED,
                base_tarball: false,
                copies_context: false,
            }],
            replayed_after: RECORDED,
            own_step_since: None,
            kept: BTreeMap::new(),
            limits: SearchLimits::default(),
        }),
        query: TimestampQuery {
            max_candidates: 10_000,
            replay_began: REPLAYED,
            step_began: REPLAYED,
        },
    }
}

fn committed(mtime: i64) -> Vec<Entry> {
    vec![
        Entry::dir("srv", 0o755).with_mtime(mtime),
        Entry::file("srv/app", 0o644, "hello").with_mtime(mtime),
    ]
}

fn check_committed(entries: &[Entry], expected: Digest, ctx: &LayerContext) -> Checked {
    let built = Built::Committed {
        entries,
        digest: digest(entries),
    };
    check(built, expected, ctx).unwrap()
}

#[test]
fn committed_bytes_that_are_the_published_ones_match_byte_for_byte_and_are_their_own_proof() {
    let (p, lower) = (profile(), LowerDirs::default());
    let entries = committed(RECORDED);
    let c = check_committed(&entries, digest(&entries), &context(&p, &lower, true));
    assert_eq!(
        (c.verdict, c.reason.as_str(), c.proof),
        (Verdict::Match, "byte for byte", None)
    );
}

#[test]
fn lost_mtimes_are_recovered_by_the_search_and_the_proof_carries_them() {
    let (p, lower) = (profile(), LowerDirs::default());
    let published = committed(RECORDED - 1);
    let c = check_committed(&committed(REPLAYED), digest(&published), &context(&p, &lower, true));
    assert_eq!(c.verdict, Verdict::MatchAfterTimestamps, "{}", c.reason);
    assert_eq!(c.variant.as_deref(), Some("plain"));
    assert_eq!(c.recovered_times.get("srv/app"), Some(&(RECORDED - 1)));
    assert_eq!(c.proof.as_deref(), Some(&published[..]));
}

#[test]
fn without_recorded_step_times_a_difference_cannot_be_searched() {
    let (p, lower) = (profile(), LowerDirs::default());
    let c = check_committed(
        &committed(REPLAYED),
        digest(&committed(RECORDED)),
        &context(&p, &lower, false),
    );
    assert_eq!(c.verdict, Verdict::Differs);
    assert!(c.reason.contains("timestamp search impossible"), "{}", c.reason);
}

#[test]
fn a_difference_no_time_explains_stays_differs_with_the_search_saying_so() {
    let (p, lower) = (profile(), LowerDirs::default());
    let other = vec![Entry::file("srv/other", 0o644, "x").with_mtime(RECORDED)];
    let c = check_committed(&committed(REPLAYED), digest(&other), &context(&p, &lower, true));
    assert_eq!(c.verdict, Verdict::Differs);
    assert!(c.reason.starts_with("rebuilt bytes differ"), "{}", c.reason);
    assert_eq!(c.tried[0], "plain");
    assert!(c.proof.is_none());
}

#[test]
fn a_builder_variant_that_gives_the_published_bytes_is_named_and_kept_as_proof() {
    let p = profile();
    let mut lower = LowerDirs::default();
    lower.apply(&[Entry::dir("etc", 0o755)]);
    let entries = vec![Entry::dir("etc/new", 0o755).with_mtime(RECORDED)];
    let mut marked = entries.clone();
    marked[0].opaque = true;
    let c = check_committed(&entries, digest(&marked), &context(&p, &lower, true));
    assert_eq!(c.verdict, Verdict::Match);
    assert_eq!(c.variant.as_deref(), Some("opaque-new-dirs"));
    assert_eq!(c.builder, Some(Variant::OpaqueNewDirs));
    assert_eq!(c.tried, ["plain", "opaque-new-dirs"]);
    assert_eq!(c.proof, Some(marked));
}

#[test]
fn an_embedded_date_set_back_makes_a_match_after_timestamps() {
    let (p, lower) = (profile(), LowerDirs::default());
    let shadow =
        |day: i64| Entry::file("etc/shadow", 0o640, format!("app:!:{day}:0:99999:7:::\n")).with_mtime(RECORDED);
    let c = check_committed(
        &[shadow(REPLAYED / 86_400)],
        digest(&[shadow(RECORDED / 86_400)]),
        &context(&p, &lower, true),
    );
    assert_eq!(c.verdict, Verdict::MatchAfterTimestamps, "{}", c.reason);
    assert!(c.reason.ends_with("embedded dates recovered)"), "{}", c.reason);
    assert_eq!(c.recovered_dates.len(), 1);
    assert!(matches!(&c.proof.as_deref().unwrap()[0].kind, EntryKind::File(d) if d.starts_with(b"app:!:17939:")));
}

#[test]
fn an_imported_layer_is_never_a_match_whatever_its_bytes() {
    let (p, lower) = (profile(), LowerDirs::default());
    for same_bytes in [true, false] {
        let built = Built::Imported {
            origin: "the recipe",
            same_bytes,
        };
        let c = check(built, Digest::of(b""), &context(&p, &lower, true)).unwrap();
        assert_eq!(c.verdict, Verdict::Imported);
        assert_eq!(c.reason.contains("rewrite of it differs"), !same_bytes);
    }
}

#[test]
fn a_base_layer_takes_the_verdict_of_its_trials() {
    let (p, lower) = (profile(), LowerDirs::default());
    let trial = |variant: &str, matched| Trial {
        profile: "docker-17.06".into(),
        variant: variant.into(),
        digest: Digest::of(b""),
        diff_id: Digest::of(b""),
        matched,
    };
    let outcome = |matched| AddOutcome {
        matched,
        expected: Digest::of(b""),
        digest: Digest::of(b""),
        diff_id: Digest::of(b""),
        size: 0,
        profile: "docker-17.06".into(),
        variant: if matched { "opaque-init-dirs" } else { "plain" }.into(),
        tried: vec![trial("plain", false), trial("opaque-init-dirs", matched)],
        source: crate::add::SourceMatch {
            name: "rootfs.tar".into(),
            mode: "0644".into(),
            owner_name: String::new(),
        },
        implicit_dirs: Vec::new(),
        seconds: 0.0,
        blob: Vec::new(),
    };
    let ctx = context(&p, &lower, true);
    let hit = check(Built::Base(&outcome(true)), Digest::of(b""), &ctx).unwrap();
    assert_eq!(
        (hit.verdict, hit.variant.as_deref()),
        (Verdict::Match, Some("opaque-init-dirs"))
    );
    let miss = check(Built::Base(&outcome(false)), Digest::of(b""), &ctx).unwrap();
    assert_eq!(miss.verdict, Verdict::Differs);
    assert_eq!(miss.tried, ["docker-17.06 plain", "docker-17.06 opaque-init-dirs"]);
}

#[test]
fn a_layer_not_reached_is_not_built_with_its_reason() {
    let c = Checked::not_built("not built: step 4 needs the network".into());
    assert_eq!(c.verdict, Verdict::NotBuilt);
    assert!(!c.times_known());
}
