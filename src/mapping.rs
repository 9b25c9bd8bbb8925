//! Which history step made which layer.
//!
//! Documents list the history and the layers separately and do not say which step produced which
//! layer. The rules of the builders (docker/docker `image.NewChildImage`, BuildKit's exporter):
//!
//! - ADD and COPY always produce a layer (the files are written even when identical).
//! - RUN produces a layer unless its filesystem diff is empty: the daemon then records the step as
//!   an `empty_layer` and appends nothing. That is rare, so a RUN is counted as making one.
//! - WORKDIR (Docker >= 1.13 and BuildKit) creates its directory: a layer when the directory was
//!   new, none when it existed. This is the usual source of uncertainty.
//! - Every other instruction only changes the config and never makes a layer.
//! - Windows builders, and the pre-1.10 builder whose images were converted to schema 2, commit one
//!   layer per step (empty ones included), so there the counts match the history one to one.
//!
//! The mapping is *certain* when exactly one assignment agrees with these rules and the counts
//! (e.g. layers == RUN/ADD/COPY steps, so no WORKDIR made one). Otherwise it is *ambiguous*: the
//! steps whose outcome differs between the possible assignments are named, and the best guess is
//! given with a per-step flag saying which numbers are nevertheless certain.

use serde::Serialize;

use crate::ir::Instruction;
use crate::model::PlatformImage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Certainty {
    Certain,
    Ambiguous,
}

/// The step-to-layer mapping of one platform image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub certainty: Certainty,
    /// Why, in words: which rule matched, or which steps could go either way.
    pub reason: String,
    /// For each history entry (same order): the 1-based number of the layer it made, or `None`.
    /// When ambiguous this is the best guess; see `step_certain`.
    pub steps: Vec<Option<usize>>,
    /// For each history entry: whether its value in `steps` is the same in every possible assignment.
    pub step_certain: Vec<bool>,
    /// 1-based history entries that may or may not have made a layer.
    pub undetermined: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Made exactly one layer under the rules in force.
    Makes,
    /// May or may not have made one.
    Flex,
    /// Made none.
    Never,
}

/// The largest steps-by-layers table the pairing builds. Real images have at most a few hundred
/// steps and a hundred layers (tens of thousands of pairs).
pub const MAX_MAPPING_CELLS: usize = 1 << 20;

/// Maps one platform's history to its layers.
pub fn map_platform(image: &PlatformImage) -> Mapping {
    let h = image.history.len();
    let n = image.layers.len();
    if let Some(m) = without_pairing(image) {
        return m;
    }
    let buildkit = image.history.iter().any(|e| e.instruction.is_buildkit());
    let builder = if buildkit { "BuildKit" } else { "classic builder" };
    let kinds: Vec<Kind> = image.history.iter().map(|e| kind(&e.instruction)).collect();
    let count = |kind: Kind| kinds.iter().filter(|k| **k == kind).count();
    let (always, maybe) = (count(Kind::Always), count(Kind::Maybe));
    let fixed = always + count(Kind::Usually);

    if (fixed..=fixed + maybe).contains(&n) {
        return within_range(image, &kinds, builder, fixed, maybe);
    }
    if n == h {
        return one_per_step(
            h,
            "one layer per step: the image was built by a builder that committed every step (pre-1.10 Docker, \
             converted to schema 2, or Windows)",
        );
    }
    if n < fixed {
        return fewer_layers(image, &kinds, builder, always, fixed);
    }
    more_layers(image, &kinds, builder, fixed + maybe)
}

/// The mapping of a platform that needs no pairing of steps with layers: one too large to pair,
/// one without history, or a Windows image with a layer per step. `None` for every other.
fn without_pairing(image: &PlatformImage) -> Option<Mapping> {
    let h = image.history.len();
    let n = image.layers.len();
    if h.saturating_mul(n) > MAX_MAPPING_CELLS {
        // The pairing is a table of steps by layers; a document of tens of thousands of each
        // would take gigabytes and minutes, so it is left unmapped, saying why.
        return Some(unmappable(
            h,
            format!("{h} steps by {n} layers exceeds the mapping bound of {MAX_MAPPING_CELLS} step-layer pairs"),
        ));
    }
    if h == 0 {
        let what = if image.platform.is_attestation() {
            "attestation manifest (its layers are in-toto documents, not filesystem changes)"
        } else {
            "no history recorded"
        };
        return Some(Mapping {
            certainty: if image.platform.is_attestation() || n == 0 {
                Certainty::Certain
            } else {
                Certainty::Ambiguous
            },
            reason: format!("{what}: nothing to map"),
            steps: Vec::new(),
            step_certain: Vec::new(),
            undetermined: Vec::new(),
        });
    }
    if image.platform.is_windows() && n == h {
        return Some(one_per_step(h, "Windows: every step committed one layer"));
    }
    None
}

/// Fewer layers than RUN/ADD/COPY steps: some RUN made no layer (an empty diff). ADD/COPY still
/// make one each; WORKDIR none.
fn fewer_layers(image: &PlatformImage, kinds: &[Kind], builder: &str, always: usize, fixed: usize) -> Mapping {
    let (h, n) = (image.history.len(), image.layers.len());
    let roles: Vec<Role> = kinds
        .iter()
        .map(|k| match k {
            Kind::Always => Role::Makes,
            Kind::Usually => Role::Flex,
            _ => Role::Never,
        })
        .collect();
    if n < always {
        return unmappable(
            h,
            format!("{n} layers but {always} ADD/COPY steps, which make one each"),
        );
    }
    let reason = format!(
        "{builder}: {n} layers for {fixed} RUN/ADD/COPY steps: {} RUN step(s) changed nothing and left no layer; \
         candidates: {}",
        fixed - n,
        names(image, &roles)
    );
    assign(image, &roles, &vec![0; h], reason)
}

/// More layers than RUN/ADD/COPY/WORKDIR steps (`steps` of them): some other steps committed
/// layers too.
fn more_layers(image: &PlatformImage, kinds: &[Kind], builder: &str, steps: usize) -> Mapping {
    let (h, n) = (image.history.len(), image.layers.len());
    let roles: Vec<Role> = kinds
        .iter()
        .map(|k| match k {
            Kind::Never => Role::Flex,
            _ => Role::Makes,
        })
        .collect();
    let reason = format!(
        "{builder}: {n} layers but only {steps} RUN/ADD/COPY/WORKDIR steps: {} other step(s) committed a layer too; \
         candidates: {}",
        n - steps,
        names(image, &roles)
    );
    assign(image, &roles, &vec![0; h], reason)
}

/// Between one layer per RUN/ADD/COPY and one more per WORKDIR. Unless every WORKDIR made one
/// (then no RUN can have been empty), a WORKDIR that created its directory may have taken the
/// place of a RUN that changed nothing: both only show in the replay, so RUN and WORKDIR steps are
/// both flexible and the best guess prefers RUNs making a layer and new directories making one.
fn within_range(image: &PlatformImage, kinds: &[Kind], builder: &str, fixed: usize, maybe: usize) -> Mapping {
    let n = image.layers.len();
    let r = n - fixed;
    let prefer = workdir_preference(image);
    let all_existed = kinds.iter().zip(&prefer).all(|(k, p)| *k != Kind::Maybe || *p == 1);
    if r == 0 && maybe > 0 && all_existed {
        // Every WORKDIR names a directory an earlier step made, so none can have made a layer and
        // hence no RUN was empty.
        let roles: Vec<Role> = kinds
            .iter()
            .map(|k| if *k == Kind::Maybe { Role::Never } else { fixed_role(*k) })
            .collect();
        let reason = format!(
            "{builder}: {n} layers for {fixed} RUN/ADD/COPY steps, one each; the {maybe} WORKDIR step(s) made none \
             (their directories existed)"
        );
        return assign(image, &roles, &prefer, reason);
    }
    let run_role = if r == maybe { Role::Makes } else { Role::Flex };
    let roles: Vec<Role> = kinds
        .iter()
        .map(|k| match k {
            Kind::Always => Role::Makes,
            Kind::Usually => run_role,
            Kind::Maybe => Role::Flex,
            Kind::Never => Role::Never,
        })
        .collect();
    let base = format!("{builder}: {n} layers for {fixed} RUN/ADD/COPY steps");
    let reason = if maybe == 0 {
        format!("{base}, one each")
    } else if r == maybe {
        format!("{base}, one each, and each of the {maybe} WORKDIR step(s) made one (new directories)")
    } else {
        format!(
            "{base}: {r} more layer(s) than RUN/ADD/COPY steps if every RUN changed files; a WORKDIR makes one \
             only when it created its directory and a RUN none when it changed nothing, which is not recorded \
             (candidates: {})",
            names(image, &roles)
        )
    };
    assign(image, &roles, &prefer, reason)
}

fn fixed_role(k: Kind) -> Role {
    match k {
        Kind::Always | Kind::Usually => Role::Makes,
        Kind::Maybe => Role::Flex,
        Kind::Never => Role::Never,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Always,
    Usually,
    Maybe,
    Never,
}

fn kind(i: &Instruction) -> Kind {
    match i {
        Instruction::Add(_) | Instruction::Copy(_) => Kind::Always,
        Instruction::Run(r) if r.windows_base => Kind::Always,
        Instruction::Run(_) => Kind::Usually,
        Instruction::Workdir(_) => Kind::Maybe,
        // An instruction this IR does not know may or may not write files.
        Instruction::Unknown { .. } => Kind::Maybe,
        _ => Kind::Never,
    }
}

fn one_per_step(h: usize, reason: &str) -> Mapping {
    Mapping {
        certainty: Certainty::Certain,
        reason: reason.to_string(),
        steps: (1..=h).map(Some).collect(),
        step_certain: vec![true; h],
        undetermined: Vec::new(),
    }
}

fn unmappable(h: usize, reason: String) -> Mapping {
    Mapping {
        certainty: Certainty::Ambiguous,
        reason,
        steps: vec![None; h],
        step_certain: vec![false; h],
        undetermined: (1..=h).collect(),
    }
}

/// `#7 WORKDIR /usr/local/apache2, #9 ...` for the flexible steps.
fn names(image: &PlatformImage, roles: &[Role]) -> String {
    let v: Vec<String> = roles
        .iter()
        .enumerate()
        .filter(|(_, r)| **r == Role::Flex)
        .map(|(i, _)| {
            let t = &image.history[i].text;
            let short: String = t.chars().take(48).collect();
            format!(
                "#{} {}{}",
                i + 1,
                short.trim_end(),
                if t.chars().count() > 48 { "…" } else { "" }
            )
        })
        .collect();
    v.join(", ")
}

/// For the best guess among WORKDIR steps: a directory already named by an earlier step most
/// likely existed (no layer), so such steps are picked last (higher value = less likely to make one).
fn workdir_preference(image: &PlatformImage) -> Vec<u8> {
    let mut out = vec![0u8; image.history.len()];
    for (i, e) in image.history.iter().enumerate() {
        if let Instruction::Workdir(dir) = &e.instruction {
            let dir = dir.trim_end_matches('/');
            let seen = dir.is_empty()
                || image.history[..i].iter().any(|p| match &p.instruction {
                    Instruction::Workdir(d) => d.trim_end_matches('/').starts_with(dir),
                    _ => p.text.contains(dir),
                });
            out[i] = u8::from(seen);
        }
    }
    out
}

/// Assigns layer numbers given each step's role and the layer count, computing for every step the
/// set of outcomes (layer number or none) over all assignments the rules allow: a step is certain
/// when that set has one element.
///
/// The best guess among the allowed assignments also uses the recorded times: a layer cannot have
/// been pushed before the step that made it was run, so a step created after a layer's `Last
/// Modified` did not make that layer. This is only a preference, never a certainty, because a
/// registry keeps the first push time of a blob that another build pushed earlier.
fn assign(image: &PlatformImage, roles: &[Role], prefer_skip: &[u8], reason: String) -> Mapping {
    let h = roles.len();
    let n = image.layers.len();
    let rules_only = Reach::new(roles, n, vec![vec![true; n]; h]);
    let by_time = (0..h)
        .map(|i| {
            (0..n)
                .map(|j| match (image.history[i].created, image.layers[j].last_modified) {
                    (Some(c), Some(l)) => l.unix >= c.unix,
                    _ => true,
                })
                .collect()
        })
        .collect();
    let timed = Reach::new(roles, n, by_time);

    let mut step_certain = Vec::with_capacity(h);
    let mut undetermined = Vec::new();
    for i in 0..h {
        let outcomes = rules_only.outcomes(roles, i);
        step_certain.push(outcomes.len() == 1);
        if outcomes.contains(&None) && outcomes.iter().any(Option::is_some) {
            undetermined.push(i + 1);
        }
    }
    // Walk one allowed assignment, preferring what the times and the per-step preference suggest.
    let guide = if timed.feasible() { &timed } else { &rules_only };
    let mut steps = Vec::with_capacity(h);
    let mut j = 0;
    for (i, &role) in roles.iter().enumerate() {
        let can_make = role != Role::Never && j < n && guide.allowed(i, j) && guide.back[i + 1][j + 1];
        let can_skip = role != Role::Makes && guide.back[i + 1][j];
        let make = match (can_make, can_skip) {
            (true, true) => prefer_skip[i] == 0,
            (m, _) => m,
        };
        if make {
            j += 1;
            steps.push(Some(j));
        } else {
            steps.push(None);
        }
    }
    let all = step_certain.iter().all(|c| *c) && j == n;
    Mapping {
        certainty: if all { Certainty::Certain } else { Certainty::Ambiguous },
        reason,
        steps,
        step_certain,
        undetermined,
    }
}

/// Forward and backward reachability over (step, layers made so far).
struct Reach {
    /// `fwd[i][j]`: after the first `i` steps exactly `j` layers can have been made.
    fwd: Vec<Vec<bool>>,
    /// `back[i][j]`: from step `i` with `j` layers made, the remaining steps can make the rest.
    back: Vec<Vec<bool>>,
    /// `allow[i][j]`: whether step `i` may make layer `j + 1`.
    allow: Vec<Vec<bool>>,
}

impl Reach {
    fn new(roles: &[Role], n: usize, allow: Vec<Vec<bool>>) -> Self {
        let h = roles.len();
        let mut fwd = vec![vec![false; n + 2]; h + 1];
        let mut back = vec![vec![false; n + 2]; h + 1];
        fwd[0][0] = true;
        for i in 0..h {
            for j in 0..=n {
                if !fwd[i][j] {
                    continue;
                }
                if roles[i] != Role::Makes {
                    fwd[i + 1][j] = true;
                }
                if roles[i] != Role::Never && j < n && allow[i][j] {
                    fwd[i + 1][j + 1] = true;
                }
            }
        }
        back[h][n] = true;
        for i in (0..h).rev() {
            for j in 0..=n {
                let skip = roles[i] != Role::Makes && back[i + 1][j];
                let make = roles[i] != Role::Never && j < n && allow[i][j] && back[i + 1][j + 1];
                back[i][j] = skip || make;
            }
        }
        Reach { fwd, back, allow }
    }

    fn feasible(&self) -> bool {
        self.back[0][0]
    }

    fn allowed(&self, i: usize, j: usize) -> bool {
        self.allow[i][j]
    }

    /// Every outcome step `i` has in some complete assignment: `Some(layer)` or `None`.
    fn outcomes(&self, roles: &[Role], i: usize) -> Vec<Option<usize>> {
        let n = self.back[0].len() - 2;
        let mut out = Vec::new();
        for j in 0..=n {
            if !self.fwd[i][j] {
                continue;
            }
            if roles[i] != Role::Makes && self.back[i + 1][j] && !out.contains(&None) {
                out.push(None);
            }
            if roles[i] != Role::Never && j < n && self.allowed(i, j) && self.back[i + 1][j + 1] {
                out.push(Some(j + 1));
            }
        }
        out
    }
}
