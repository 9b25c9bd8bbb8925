//! One platform's replay, phase by phase. [`PlatformRun`] holds what the steps of a platform
//! share (the engine, the profile, the log, the parent image); each step goes through
//! [`PlatformRun::source`] (verified inputs), [`PlatformRun::snapshot`] (the build cache or the
//! engine) and, when it makes a layer, [`PlatformRun::check_layer`] (write, compare, variants,
//! timestamp search, explanation).

use std::io::Write;
use std::time::Instant;

use super::check::{self, Built, LayerContext};
use super::layers::{self, BlobInfo};
use super::report::{LayerReport, PlatformReport, Verdict};
use super::sources::{BaseOrigin, Resolved, SourceError};
use super::variants::{LowerDirs, Variant};
use super::{cache, network, Ctx, LayerFailure, StepError};
use crate::digest::Digest;
use crate::error::chain;
use crate::layer::{Entry, Profile};
use crate::plan::{Action, LayerSlot, PlanStep, PlatformPlan};
use crate::replay::exec::{ExecError, Executor, ImageId, RunSpec, Snapshot};
use crate::report_json::InputRecord;
use crate::reproduce::{SearchInput, SearchLimits, StepTime};

/// What a platform's replay produced, for the report and the OCI layout.
pub(super) struct PlatformResult {
    pub report: PlatformReport,
    /// The blobs of the layers built, bottom first: every layer's, or those below where the
    /// platform stopped.
    pub layers: Vec<BlobInfo>,
    /// Whether every layer of the platform was built.
    pub complete: bool,
}

/// A step's verified input: what it reads, and whether the layer is a published blob taken as is.
struct StepSource {
    resolved: Resolved,
    /// The published blob's origin when the recipe supplied the layer itself.
    imported: Option<String>,
    /// The build-context mtime the recipe states for a COPY source ...
    mtime: Option<i64>,
    /// ... and for single entries of it.
    mtimes: std::collections::BTreeMap<String, i64>,
    /// The context mode a `file:` source was verified under.
    context_mode: Option<u32>,
    /// A base layer rebuilt from its tarball without the engine (`retrace layer add`'s code):
    /// its blob and verdict; the engine only imports it for the steps after it.
    rebuilt_base: Option<crate::add::AddOutcome>,
    /// The input by content, for the record (a base layer's tarball, not the layer made of it).
    input: InputRecord,
}

/// The state one platform's steps share.
pub(super) struct PlatformRun<'a> {
    ctx: &'a Ctx<'a>,
    plan: &'a PlatformPlan,
    exec: Box<dyn Executor>,
    profile: Profile,
    log: std::fs::File,
    bar: Option<&'a indicatif::ProgressBar>,
    parent: Option<ImageId>,
    /// When the replay began (the earliest step start, cached steps included).
    replay_began: i64,
    /// The directories of the layers below the current step (for the opaque-marker variant).
    lower: LowerDirs,
    /// The replayed and published mtimes of the layers below (for the timestamp search).
    lower_times: crate::reproduce::lower::LowerTimes,
    /// The builder variant an earlier layer of this platform matched with: tried first.
    seen: Option<Variant>,
    layers: Vec<LayerReport>,
    blobs: Vec<BlobInfo>,
    /// The recorded time and kind of each step that made a layer in this replay, in layer order:
    /// what the timestamp search knows of the steps below and of the layer's own.
    /// `None` for a step without a recorded time.
    made: Vec<Option<StepTime>>,
    cached_steps: usize,
    /// The inputs read so far, for the record.
    inputs: Vec<InputRecord>,
}

/// Replays one platform and reports every layer of it, built or not.
pub(super) fn replay_platform(ctx: &Ctx, plan: &PlatformPlan) -> PlatformResult {
    let start = Instant::now();
    let bar = ctx.progress_bar(plan);
    let mut run = None;
    let result = if ctx.should_skip() {
        Err(StepError::Skipped)
    } else {
        PlatformRun::start(ctx, plan, bar.as_ref()).and_then(|r| run.insert(r).run())
    };
    let engine = run.as_ref().and_then(|r| r.exec.engine_version().ok().flatten());
    let profile = run.as_ref().map(|r| r.profile.name().to_string());
    let (mut layers, blobs, cached_steps, inputs) = run
        .map(|r| (r.layers, r.blobs, r.cached_steps, r.inputs))
        .unwrap_or_default();
    // A step that needs the network stops an offline platform without an error: its layers are
    // reported as not built, with the reason (exit 1, not 2).
    let (error, stopped) = match result {
        Ok(()) => (None, None),
        Err(e @ StepError::NeedsNetwork { .. }) => (None, Some(chain(&e))),
        Err(e) => (Some(chain(&e)), None),
    };
    if error.is_some() {
        ctx.mark_failed();
    }
    report_unreached(plan, &mut layers, error.as_deref().or(stopped.as_deref()));
    let seconds = start.elapsed().as_secs_f64();
    let complete = error.is_none() && stopped.is_none() && layers.iter().all(|l| l.rebuilt.is_some());
    let report = PlatformReport {
        platform: plan.platform.to_string(),
        layers,
        error,
        stopped,
        seconds,
        cached_steps,
        engine,
        profile,
        inputs,
    };
    ctx.summarize(&report, bar.as_ref());
    PlatformResult {
        layers: blobs,
        complete,
        report,
    }
}

/// Adds a `not-built` row for every layer the replay did not reach, so the report always covers
/// the whole document; `why` is the reason the platform stopped, when it did.
fn report_unreached(plan: &PlatformPlan, layers: &mut Vec<LayerReport>, why: Option<&str>) {
    for &slot in &plan.layers {
        if layers.iter().any(|l| l.index == slot.index) {
            continue;
        }
        // The plan's guess names the step; the replay, which decides, did not get there.
        let step = plan.steps.iter().find(|s| s.layer.map(|l| l.index) == Some(slot.index));
        let reason = match why {
            Some(why) => format!("not built: {why}"),
            None => "no replayed step made this layer: the replay made fewer layers than the document lists".into(),
        };
        let mut row = LayerReport::new(slot, step.map(|s| s.text.clone()).unwrap_or_default());
        row.record(check::Checked::not_built(reason));
        layers.push(row);
    }
    layers.sort_by_key(|l| l.index);
}

impl<'a> PlatformRun<'a> {
    fn start(
        ctx: &'a Ctx<'a>,
        plan: &'a PlatformPlan,
        bar: Option<&'a indicatif::ProgressBar>,
    ) -> Result<PlatformRun<'a>, StepError> {
        let log_path = ctx.out.join("logs").join(format!("{}.log", plan.platform.slug()));
        // A file (or a symbolic link) left at the log's path is removed first, never written through.
        let _ = std::fs::remove_file(&log_path);
        let log = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(|source| StepError::Log { path: log_path, source })?;
        let recipe = ctx.sources.recipe;
        let exec = ctx
            .engines
            .connect(&recipe.endpoint_for(&plan.platform), &recipe.cache)
            .map_err(|e| StepError::Engine(Box::new(e)))?;
        let profile = layers::profile_for(plan.docker_version.as_deref()).map_err(StepError::Profile)?;
        Ok(PlatformRun {
            ctx,
            plan,
            exec,
            profile,
            log,
            bar,
            parent: None,
            replay_began: i64::MAX,
            lower: LowerDirs::default(),
            lower_times: Default::default(),
            seen: None,
            layers: Vec::new(),
            blobs: Vec::new(),
            made: Vec::new(),
            cached_steps: 0,
            inputs: Vec::new(),
        })
    }

    fn run(&mut self) -> Result<(), StepError> {
        let plan = self.plan;
        for step in &plan.steps {
            if matches!(step.action, Action::Config) {
                let _ = writeln!(self.log, "==> step {} {} (config only)", step.position, step.text);
                continue;
            }
            if let Some(b) = self.bar {
                b.set_message(super::report::truncate(&step.text, 60));
            }
            let _ = writeln!(self.log, "==> step {} {}", step.position, step.text);
            let slot = plan.layers.get(self.layers.len()).copied();
            let source = self.source(step, slot)?;
            if let Some(s) = &source {
                self.record_input(step, &s.input)?;
            }
            let snap = self.snapshot(step, source.as_ref())?;
            let _ = writeln!(
                self.log,
                "    image {} ran {}..{}",
                snap.image.0, snap.started, snap.finished
            );
            let before = self.parent.replace(snap.image.clone());
            self.replay_began = self.replay_began.min(snap.started);
            if let Some(entries) = self.layer_made(step, &snap, before.as_ref(), source.as_ref())? {
                let slot = slot.ok_or_else(|| StepError::ExtraLayer {
                    position: step.position,
                    step: short(step),
                    layers: plan.layers.len(),
                })?;
                self.made.push(step.created.map(|created| StepTime {
                    created,
                    base_tarball: matches!(&step.action, Action::Base { source } if source.starts_with("file:")),
                    copies_context: matches!(step.action, Action::Copy { .. }),
                }));
                self.check_layer(step, slot, &snap, source.as_ref(), entries)?;
            }
        }
        Ok(())
    }

    /// The committed diff of a step that made a layer, `None` for one that made none. Since
    /// Docker 1.10 a commit whose diff is empty is recorded as an `empty_layer` and adds no layer:
    /// a RUN that changed nothing, a WORKDIR whose directory existed. ADD, COPY and a layer the
    /// recipe supplies always make one.
    fn layer_made(
        &mut self,
        step: &PlanStep,
        snap: &Snapshot,
        parent: Option<&ImageId>,
        source: Option<&StepSource>,
    ) -> Result<Option<Vec<Entry>>, StepError> {
        let always = source.is_some_and(|s| s.imported.is_some() || s.rebuilt_base.is_some())
            || matches!(step.action, Action::Base { .. } | Action::Copy { .. });
        // The engine applies the same rule to its own commits: an empty diff adds no layer, so the
        // committed image's top layer is still the parent's.
        let top = |image| self.exec.top_layer(image).map_err(|e| self.exec_error(step, e));
        let added = match parent {
            Some(parent) if !always => top(&snap.image)? != top(parent)?,
            _ => true,
        };
        if !added {
            let _ = writeln!(
                self.log,
                "    empty diff: no layer (the builder records an empty layer)"
            );
            return Ok(None);
        }
        let diff = self.exec.diff(&snap.image).map_err(|e| self.exec_error(step, e))?;
        let entries = layers::capture(&diff).map_err(|e| self.layer_error(step, e.into()))?;
        Ok(Some(entries))
    }

    /// The verified input of a step: a base layer (a published blob by its digest, or a rootfs
    /// tarball by its `file:` hash), or the file or directory a COPY/ADD reads.
    fn source(&self, step: &PlanStep, slot: Option<LayerSlot>) -> Result<Option<StepSource>, StepError> {
        let env = &self.ctx.sources;
        let platform = &self.plan.platform;
        let err = |source: SourceError| StepError::Source {
            position: step.position,
            step: short(step),
            source: Box::new(source),
        };
        let supplied = slot
            .filter(|_| !matches!(step.action, Action::Workdir { .. }))
            .filter(|l| env.recipe.source_for(&l.expected.to_string(), platform).is_some());
        let base = match (&step.action, supplied) {
            (_, Some(slot)) => Some((String::new(), slot)),
            (Action::Base { source }, None) => slot.map(|slot| (source.clone(), slot)),
            _ => None,
        };
        let record = |reference: &str, resolved: &Resolved, origin: Option<&str>| {
            super::record::input(step.position, reference, resolved, origin)
                .map_err(|e| self.layer_error(step, LayerFailure::Source(e)))
        };
        if let Some((reference, slot)) = base {
            let (resolved, origin) =
                super::sources::resolve_base(env, platform, &reference, &slot.expected, &self.profile).map_err(err)?;
            return Ok(Some(match origin {
                BaseOrigin::Published { origin } => StepSource {
                    input: record(&slot.expected.to_string(), &resolved, Some(&origin))?,
                    resolved,
                    imported: Some(origin),
                    mtime: None,
                    mtimes: Default::default(),
                    context_mode: None,
                    rebuilt_base: None,
                },
                BaseOrigin::Tarball { path, context_mode } => {
                    let input = record(&reference, &resolved, None)?;
                    let (resolved, outcome) = self.rebuild_base(step, slot, &reference, &path)?;
                    StepSource {
                        resolved,
                        imported: None,
                        mtime: None,
                        mtimes: Default::default(),
                        context_mode: Some(context_mode),
                        rebuilt_base: Some(outcome),
                        input,
                    }
                }
            }));
        }
        let Action::Copy { source, .. } = &step.action else {
            return Ok(None);
        };
        let resolved = super::sources::resolve_copy(env, platform, source, &self.profile).map_err(err)?;
        let context_mode = match &resolved {
            Resolved::File { mode, .. } => *mode,
            _ => None,
        };
        let stated = env.recipe.source_for(source, platform);
        Ok(Some(StepSource {
            input: record(source, &resolved, None)?,
            resolved,
            imported: None,
            context_mode,
            rebuilt_base: None,
            mtime: stated.and_then(|s| s.mtime),
            mtimes: stated.map(|s| s.mtimes.clone()).unwrap_or_default(),
        }))
    }

    /// Adds a step's input to the record; in a build redone from a record, first checks it is the
    /// recorded one.
    fn record_input(&mut self, step: &PlanStep, input: &InputRecord) -> Result<(), StepError> {
        if let Some(expected) = self.ctx.expected_inputs {
            super::record::check(expected, &self.plan.platform.to_string(), input).map_err(|source| {
                StepError::Record {
                    position: step.position,
                    step: short(step),
                    source,
                }
            })?;
        }
        self.inputs.push(input.clone());
        Ok(())
    }

    /// Rebuilds a base layer from its verified tarball as `retrace layer add` does (the document's
    /// release, each known builder variant), and unpacks the result for the engine to import.
    fn rebuild_base(
        &self,
        step: &PlanStep,
        slot: LayerSlot,
        reference: &str,
        tarball: &std::path::Path,
    ) -> Result<(Resolved, crate::add::AddOutcome), StepError> {
        let file_hash = reference
            .strip_prefix("file:")
            .and_then(|hex| format!("sha256:{hex}").parse().ok())
            .ok_or_else(|| self.layer_error(step, LayerFailure::NotFileReference(reference.to_string())))?;
        let base = crate::add::BaseStep {
            file_hash,
            expected: slot.expected,
            profile: self.profile.clone(),
            created: step.created,
        };
        let outcome = crate::add::rebuild_base_layer(tarball, &base, &crate::add::AddOptions::default())
            .map_err(|e| self.layer_error(step, e.into()))?;
        let (path, diff_id) = super::sources::blob_layer_tar(self.ctx.sources.recipe, &outcome.blob)
            .map_err(|e| self.layer_error(step, LayerFailure::Unpack(e)))?;
        Ok((Resolved::LayerTar { path, diff_id }, outcome))
    }

    /// The step's committed image: from the build cache when an identical step ran before on
    /// the same parent, else from the engine (and then cached).
    fn snapshot(&mut self, step: &PlanStep, source: Option<&StepSource>) -> Result<Snapshot, StepError> {
        let key = self.cache_key(step, source)?;
        let cached = if self.ctx.no_cache {
            None
        } else {
            self.ctx.cache.get(&key)
        };
        if let Some(hit) = cached.filter(|e| self.exec.has_image(&e.image)) {
            self.cached_steps += 1;
            let _ = writeln!(self.log, "    (cached: {})", hit.image.0);
            return Ok(hit.into());
        }
        let tag = format!("{}-{}", self.plan.platform.slug(), &key.hex()[..16]);
        let snap = self.execute(step, source, &tag)?;
        self.ctx.cache.put(&key, &snap).map_err(StepError::Cache)?;
        Ok(snap)
    }

    /// What decides a step's result besides its action: the platform, the content of its
    /// source, a stated context mtime, and for RUN the network it gets.
    fn cache_key(&self, step: &PlanStep, source: Option<&StepSource>) -> Result<crate::digest::Digest, StepError> {
        let mut inputs = vec![self.plan.platform.to_string()];
        if let Some(s) = source {
            let key = s
                .resolved
                .content_key()
                .map_err(|e| self.layer_error(step, LayerFailure::Source(e)))?;
            inputs.push(key);
            inputs.extend(s.mtime.map(|t| format!("mtime:{t}")));
            inputs.extend(s.mtimes.iter().map(|(k, t)| format!("mtime:{k}:{t}")));
        }
        if let Action::Run { .. } = &step.action {
            inputs.push(self.ctx.run_network().to_string());
        }
        let endpoint = self.exec.endpoint();
        Ok(match source.and_then(|s| s.imported.as_ref()) {
            Some(_) => cache::key(endpoint, self.parent.as_ref(), &"import", &inputs),
            None => cache::key(endpoint, self.parent.as_ref(), &step.action, &inputs),
        })
    }

    /// Runs a step through the engine.
    fn execute(&mut self, step: &PlanStep, source: Option<&StepSource>, tag: &str) -> Result<Snapshot, StepError> {
        if let Some(StepSource {
            resolved: Resolved::LayerTar { path, .. },
            ..
        }) = source
        {
            return self
                .exec
                .import_layer(&self.plan.platform, self.parent.as_ref(), path, tag)
                .map_err(|e| self.exec_error(step, e));
        }
        let parent = self.parent.clone().ok_or_else(|| StepError::NoBase {
            position: step.position,
            step: short(step),
        })?;
        match (&step.action, source) {
            (
                Action::Run {
                    argv,
                    env,
                    workdir,
                    user,
                    volumes,
                },
                _,
            ) => {
                let mut env = env.clone();
                if let Some(p) = self.ctx.download_proxy(&*self.exec) {
                    p.take_misses();
                    env.extend(p.env());
                }
                let spec = RunSpec {
                    argv: argv.clone(),
                    env,
                    workdir: workdir.clone(),
                    user: user.clone(),
                    network: self.ctx.run_network().to_string(),
                    volumes: volumes.clone(),
                };
                let result = self.exec.run(&parent, &spec, tag, &mut self.log);
                result.map_err(|e| self.run_error(step, e))
            }
            (
                Action::Copy {
                    add,
                    dest,
                    workdir,
                    chown,
                    ..
                },
                Some(s),
            ) => {
                let tar = self.copy_tar(step, &parent, s, (dest, workdir, chown.as_deref(), *add))?;
                self.exec.copy(&parent, tar, tag).map_err(|e| self.exec_error(step, e))
            }
            (Action::Workdir { path }, _) => self
                .exec
                .workdir(&parent, path, tag)
                .map_err(|e| self.exec_error(step, e)),
            (action, _) => Err(StepError::CannotReplay {
                position: step.position,
                step: short(step),
                action: format!("{action:?}"),
            }),
        }
    }

    /// The tar a COPY/ADD extracts at `/`: the builder's owners (root, `--chown`, or a 20.10
    /// `COPY --from`'s own), and the directories it created owned by `--chown` that the parent
    /// image lacks.
    fn copy_tar(
        &self,
        step: &PlanStep,
        parent: &ImageId,
        s: &StepSource,
        (dest, workdir, chown, add): (&str, &str, Option<&str>, bool),
    ) -> Result<Vec<u8>, StepError> {
        let parts = s.resolved.parts().unwrap_or_default();
        // 20.10's builder keeps a stage's owners when no --chown is given (`preserveOwnership`);
        // earlier ones chowned a `COPY --from` to root like any other.
        let preserve = chown.is_none()
            && !parts.is_empty()
            && parts.iter().all(|p| p.stage)
            && self.profile.release() >= crate::layer::Release::Docker2010;
        let owner = if preserve {
            None
        } else {
            Some(self.chown_ids(step, parent, chown)?)
        };
        let abs = layers::absolute_dest(dest, workdir);
        let created = match (owner, parts.first()) {
            (Some(ids), Some(first)) if ids != (0, 0) => {
                let name = first
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let candidates = layers::chowned_dir_candidates(first.path.is_dir(), &abs, &name, parts.len() > 1);
                self.exec
                    .missing_paths(parent, &candidates)
                    .map_err(|e| self.exec_error(step, e))?
            }
            _ => Vec::new(),
        };
        let spec = layers::CopySpec {
            dest,
            workdir,
            owner,
            mtime: s.mtime,
            mtimes: &s.mtimes,
            add,
            created_dirs: &created,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        };
        layers::copy_tar(&s.resolved, &spec).map_err(|e| self.layer_error(step, LayerFailure::Source(e)))
    }

    /// The numeric owner of a COPY: root, or `--chown` with names looked up in the parent image's
    /// `/etc/passwd` and `/etc/group`, as the classic builder does.
    fn chown_ids(&self, step: &PlanStep, parent: &ImageId, spec: Option<&str>) -> Result<(u64, u64), StepError> {
        let Some(spec) = spec else { return Ok((0, 0)) };
        let (passwd, group) = if spec.split(':').any(|p| p.parse::<u64>().is_err()) {
            let read = |path| {
                self.exec
                    .read_file(parent, path, 16 << 20)
                    .map_err(|e| self.exec_error(step, e))
            };
            (read("/etc/passwd")?, read("/etc/group")?)
        } else {
            (None, None)
        };
        layers::resolve_chown(spec, passwd.as_deref(), group.as_deref()).map_err(|e| self.layer_error(step, e.into()))
    }

    /// Writes the committed layer, has [`check`] decide its verdict, and when it still differs
    /// names the cause.
    fn check_layer(
        &mut self,
        step: &PlanStep,
        slot: LayerSlot,
        snap: &Snapshot,
        source: Option<&StepSource>,
        entries: Vec<Entry>,
    ) -> Result<(), StepError> {
        let rebuilt_base = source.and_then(|s| s.rebuilt_base.as_ref());
        let mut blob = match rebuilt_base {
            Some(outcome) => self.store_blob(step, outcome)?,
            None => layers::write_blob(&entries, &self.profile, &crate::blob::blobs_dir(&self.ctx.out))
                .map_err(|e| self.layer_error(step, LayerFailure::Blob(e)))?,
        };
        let built = match (source.and_then(|s| s.imported.as_deref()), rebuilt_base) {
            (Some(origin), _) => Built::Imported {
                origin,
                same_bytes: blob.digest == slot.expected,
            },
            (None, Some(outcome)) => Built::Base(outcome),
            (None, None) => Built::Committed {
                entries: &entries,
                digest: blob.digest,
            },
        };
        // Only a committed layer that differs is searched, so only it needs the search's input.
        let differs = matches!(built, Built::Committed { digest, .. } if digest != slot.expected);
        let context = self.layer_context(step, slot, snap, differs.then_some(&entries[..]));
        let checked =
            check::check(built, slot.expected, &context).map_err(|e| self.layer_error(step, LayerFailure::Blob(e)))?;
        let mut row = LayerReport::new(slot, step.text.clone());
        row.rebuilt = Some(blob.digest);
        row.context_mode = source.and_then(|s| s.context_mode).map(|m| format!("{m:04o}"));
        if checked.tried.len() > 1 && checked.builder.is_some() {
            self.seen = checked.builder;
        }
        self.lower.apply(&entries);
        self.lower_times
            .apply(&entries, checked.times_known().then_some(&checked.recovered_times));
        // The layout holds the proof, the blob of the published digest; the replay's own bytes are
        // kept apart (named in report.json as `replayed`).
        if let Some(proof) = &checked.proof {
            let blobs = crate::blob::blobs_dir(&self.ctx.out);
            let written = layers::write_proof(proof, &self.profile, &blobs, &slot.expected)
                .map_err(|e| self.layer_error(step, LayerFailure::Proof(e)))?;
            row.replayed = Some(blob.digest);
            row.rebuilt = Some(written.digest);
            blob = written;
        }
        row.record(checked);
        if row.verdict == Verdict::Differs {
            self.ctx.explain(&mut row);
        }
        let _ = writeln!(
            self.log,
            "    layer {} {} -> {} ({})",
            slot.index,
            blob.digest,
            row.verdict.as_str(),
            row.reason
        );
        self.layers.push(row);
        self.blobs.push(blob);
        if let Some(b) = self.bar {
            b.inc(1);
        }
        Ok(())
    }

    /// What [`check`] needs to know around a committed layer: the profile, the layers below, the
    /// step's times and, for `differing` committed entries, the timestamp search's input and budget.
    fn layer_context(
        &self,
        step: &PlanStep,
        slot: LayerSlot,
        snap: &Snapshot,
        differing: Option<&[Entry]>,
    ) -> LayerContext<'_> {
        LayerContext {
            profile: &self.profile,
            lower: &self.lower,
            seen: self.seen,
            replayed: (snap.started, snap.finished),
            recorded: step.created,
            search: differing.and_then(|entries| self.search_input(slot.expected, entries, snap.started)),
            query: layers::TimestampQuery {
                max_candidates: self.ctx.search_candidates,
                replay_began: self.replay_began,
                step_began: snap.started,
            },
        }
    }

    /// Writes a rebuilt base layer's blob into the output under its digest.
    fn store_blob(&self, step: &PlanStep, outcome: &crate::add::AddOutcome) -> Result<BlobInfo, StepError> {
        crate::blob::BlobWriter::write_bytes(&crate::blob::blobs_dir(&self.ctx.out), &outcome.blob)
            .map_err(|e| self.layer_error(step, LayerFailure::Blob(e)))?;
        Ok(BlobInfo {
            digest: outcome.digest,
            diff_id: outcome.diff_id,
            size: outcome.size,
        })
    }

    /// What the timestamp search is told of this layer: the recorded times of the steps that made
    /// the layers up to it in this replay (the replay, not the document's guess, knows which step
    /// made which layer), and the entries the step kept from the layers below.
    fn search_input(&self, expected: Digest, committed: &[Entry], step_began: i64) -> Option<SearchInput> {
        Some(SearchInput {
            expected,
            steps: self.made.iter().copied().collect::<Option<Vec<_>>>()?,
            replayed_after: self.plan.recorded_latest.unwrap_or(i64::MAX),
            own_step_since: None,
            kept: self.lower_times.kept(committed, step_began),
            limits: SearchLimits::default(),
        })
    }

    /// A failed command's error also says what the step could not fetch: the hint is a fact of
    /// the failure, so it goes into the exec error, after the exit status.
    fn exec_error(&self, step: &PlanStep, mut source: ExecError) -> StepError {
        let misses = self.ctx.download_proxy(&*self.exec).map(|p| p.take_misses());
        let extra = network::hint(&step.text, self.ctx, &source, misses.as_ref());
        if let ExecError::StepFailed { hint, .. } = &mut source {
            if !extra.is_empty() {
                let sep = if hint.is_empty() { "" } else { "; " };
                *hint = format!("{hint}{sep}{extra}");
            }
        }
        StepError::Exec {
            position: step.position,
            step: short(step),
            source: Box::new(source),
        }
    }

    /// A RUN that failed without network access and visibly fetches something stops the platform
    /// as not built (it cannot be replayed offline); any other failure is an error.
    fn run_error(&self, step: &PlanStep, source: ExecError) -> StepError {
        let failed = matches!(source, ExecError::StepFailed { .. });
        match network::needs(&step.text).filter(|_| failed && self.ctx.run_network() == "none") {
            Some(what) => StepError::NeedsNetwork {
                position: step.position,
                step: short(step),
                what,
                offline: self.ctx.sources.offline,
            },
            None => self.exec_error(step, source),
        }
    }

    fn layer_error(&self, step: &PlanStep, source: LayerFailure) -> StepError {
        StepError::Layer {
            position: step.position,
            step: short(step),
            layer: step.layer.map(|l| l.index).unwrap_or(0),
            source,
        }
    }
}

fn short(step: &PlanStep) -> String {
    super::report::truncate(&step.text, 60)
}
