//! `retrace build RECIPE`: replay a document's history through a container engine, every platform
//! in parallel, write the rebuilt layers with the document's byte profile, and compare each with the
//! published digest.
//!
//! Flow per platform (one rayon task each, at most `--jobs` at once): resolve and verify sources,
//! run each layer-making step through the [`Executor`] (or take it from the build cache), read the
//! exact diff the engine committed, write it as a blob with the profile of the document's Docker
//! release, and compare. A failing step stops its own platform; without `--keep-going` platforms
//! not yet started are skipped too, with it every platform runs as far as it can.
//!
//! Output in the output dir, each file written atomically: `blobs/sha256/*`, `index.json` +
//! `oci-layout` (one manifest and config per fully built platform), `report.json`, and
//! `logs/<platform>.log` with every step's output.

pub mod cache;
pub mod input;
pub mod layers;
pub mod output;
pub mod proxy;
pub mod report;
pub mod sources;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use crate::digest::Digest;
use crate::exec::docker::DockerExecutor;
use crate::exec::{ExecError, Executor, ImageId, RunSpec, Snapshot};
use crate::plan::{Action, LayerSlot, PlatformPlan};
use crate::recipe::{Platform, Recipe, RecipeError};
pub use report::{LayerReport, PlatformReport, Report, Verdict};
use sources::{Resolved, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),

    #[error("{0}")]
    Document(String),

    #[error("platform {wanted} is not in the document (it has: {have})")]
    UnknownPlatform { wanted: String, have: String },

    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),

    #[error("the build stopped on {platforms} (see the table above and the logs)")]
    Failed { platforms: String },

    #[error("writing the images: {0}")]
    Output(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why one platform stopped.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("step {position} `{step}`: {source}")]
    Source {
        position: usize,
        step: String,
        #[source]
        source: Box<SourceError>,
    },
    #[error("step {position} `{step}`: {source}{hint}")]
    Exec {
        position: usize,
        step: String,
        #[source]
        source: Box<ExecError>,
        hint: String,
    },
    #[error("step {position} `{step}`: layer {layer}: {message}")]
    Layer {
        position: usize,
        step: String,
        layer: usize,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub out: PathBuf,
    /// Empty: the recipe's platforms, or else every platform of the document.
    pub platforms: Vec<Platform>,
    pub jobs: usize,
    pub keep_going: bool,
    /// Draw progress bars (off in tests and when stderr is not a terminal).
    pub progress: bool,
    /// Also write `images/<platform>.tar`, a `docker load` archive, for every fully built platform.
    pub docker_archives: bool,
    /// Run every step again instead of taking it from the build cache (the cache is still
    /// refreshed with the new results).
    pub no_cache: bool,
    /// The timestamp search budget per differing layer, in candidates hashed (0: no search).
    pub search_candidates: u64,
}

/// What a platform's replay produced, for the report and the OCI layout.
struct PlatformResult {
    report: PlatformReport,
    /// The blobs written, by layer, when every layer of the platform was built.
    layers: Option<Vec<layers::BlobInfo>>,
}

/// Shared state of one build.
struct Ctx<'a> {
    recipe: &'a Recipe,
    out: PathBuf,
    cache: cache::BuildCache,
    no_cache: bool,
    search_candidates: u64,
    keep_going: bool,
    failed: AtomicBool,
    multi: Option<indicatif::MultiProgress>,
    summary: Mutex<Vec<String>>,
    /// Build-wide notes (downloads that could not be had, a proxy that could not start).
    notes: Mutex<Vec<String>>,
    /// The download proxy RUN steps use, once started (or why it could not be).
    proxy: std::sync::OnceLock<Result<proxy::DownloadProxy, String>>,
    /// Why fetching a published layer failed, once it has: later differing layers are then not
    /// fetched again (an offline machine would otherwise wait out every retry).
    published_unreachable: Mutex<Option<String>>,
}

/// Chooses the plans to replay: `wanted` (command line) else the recipe's platforms else all.
pub fn select<'a>(
    plans: &'a [PlatformPlan],
    recipe: &Recipe,
    wanted: &[Platform],
) -> Result<Vec<&'a PlatformPlan>, BuildError> {
    let wanted = if wanted.is_empty() { &recipe.platforms } else { wanted };
    if wanted.is_empty() {
        return Ok(plans.iter().collect());
    }
    wanted
        .iter()
        .map(|w| {
            plans
                .iter()
                .find(|p| w.selects(&p.platform))
                .ok_or_else(|| BuildError::UnknownPlatform {
                    wanted: w.to_string(),
                    have: plans
                        .iter()
                        .map(|p| p.platform.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect()
}

/// Replays `plans` and writes every output. Returns the report; the caller maps it to an exit code.
pub fn replay(recipe: &Recipe, plans: &[&PlatformPlan], opts: &BuildOptions) -> Result<Report, BuildError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    std::fs::create_dir_all(opts.out.join("logs")).map_err(io_err(&opts.out))?;
    let multi = if opts.progress {
        Some(indicatif::MultiProgress::new())
    } else {
        None
    };
    let ctx = Ctx {
        recipe,
        out: opts.out.clone(),
        cache: cache::BuildCache::new(&recipe.cache.join("build")),
        no_cache: opts.no_cache,
        search_candidates: opts.search_candidates,
        keep_going: opts.keep_going,
        failed: AtomicBool::new(false),
        multi,
        summary: Mutex::new(Vec::new()),
        notes: Mutex::new(Vec::new()),
        proxy: std::sync::OnceLock::new(),
        published_unreachable: Mutex::new(None),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| BuildError::Io {
            path: opts.out.clone(),
            source: std::io::Error::other(e),
        })?;
    let results: Vec<PlatformResult> = pool.install(|| plans.par_iter().map(|p| replay_platform(&ctx, p)).collect());
    // The per-platform lines are already on the finished progress bars when those are drawn;
    // without bars (CI logs, pipes) they go to stderr. Notes such as downloads that could not be
    // had always do.
    if !opts.progress {
        for line in ctx.summary.lock().unwrap().iter() {
            eprintln!("{line}");
        }
    }
    for line in ctx.notes.lock().unwrap().iter() {
        eprintln!("{line}");
    }

    let built: Vec<(&PlatformPlan, &Vec<layers::BlobInfo>)> = plans
        .iter()
        .zip(&results)
        .filter_map(|(p, r)| r.layers.as_ref().map(|l| (*p, l)))
        .collect();
    output::write_layout(&opts.out, &recipe.tag, &built, opts.docker_archives)
        .map_err(|e| BuildError::Output(e.to_string()))?;
    let report = Report {
        recipe: recipe.file.display().to_string(),
        platforms: results.into_iter().map(|r| r.report).collect(),
    };
    let report_path = opts.out.join("report.json");
    crate::fsutil::write_atomic(&report_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &report).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(io_err(&report_path))?;
    Ok(report)
}

fn replay_platform(ctx: &Ctx, plan: &PlatformPlan) -> PlatformResult {
    let start = Instant::now();
    let platform = plan.platform.to_string();
    let slots: Vec<LayerSlot> = plan
        .steps
        .iter()
        .filter_map(|s| s.layer)
        .chain(plan.unassigned_layers.iter().copied())
        .collect();
    let bar = ctx.multi.as_ref().map(|m| {
        let b = m.add(indicatif::ProgressBar::new(slots.len() as u64));
        b.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>16} [{bar:20}] {pos}/{len} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_prefix(platform.clone());
        b
    });
    let mut layers: Vec<LayerReport> = Vec::new();
    let mut blobs: Vec<layers::BlobInfo> = Vec::new();
    let mut cached_steps = 0;

    let result = if !ctx.keep_going && ctx.failed.load(Ordering::SeqCst) {
        Err(StepError::Other(
            "skipped: another platform failed (use --keep-going to build the rest)".into(),
        ))
    } else {
        run_steps(ctx, plan, bar.as_ref(), &mut layers, &mut blobs, &mut cached_steps)
    };
    let error = result.err().map(|e| e.to_string());
    if error.is_some() {
        ctx.failed.store(true, Ordering::SeqCst);
    }
    // Every layer the replay did not reach is reported, so the report always covers the document.
    for slot in &slots {
        if !layers.iter().any(|l| l.index == slot.index) {
            let step = plan.steps.iter().find(|s| s.layer.map(|l| l.index) == Some(slot.index));
            layers.push(LayerReport {
                index: slot.index,
                step: step.map(|s| s.text.clone()).unwrap_or_default(),
                expected: slot.expected,
                rebuilt: None,
                verdict: Verdict::NotBuilt,
                reason: match (&error, step) {
                    (_, None) => "no history step made this layer".into(),
                    (Some(_), _) => "an earlier step failed".into(),
                    (None, _) => "not reached".into(),
                },
                causes: Vec::new(),
                recovered_mtimes: Default::default(),
            });
        }
    }
    layers.sort_by_key(|l| l.index);
    let seconds = start.elapsed().as_secs_f64();
    let complete = error.is_none() && layers.iter().all(|l| l.rebuilt.is_some());
    let matched = layers
        .iter()
        .filter(|l| matches!(l.verdict, Verdict::Match | Verdict::MatchAfterTimestamps))
        .count();
    let line = format!(
        "{platform}: {matched}/{} layers match, {cached_steps} cached, {seconds:.1}s{}",
        layers.len(),
        error.as_ref().map(|e| format!(" — stopped: {e}")).unwrap_or_default()
    );
    if let Some(b) = &bar {
        b.finish_with_message(line.clone());
    }
    ctx.summary.lock().unwrap().push(line);
    PlatformResult {
        layers: complete.then_some(blobs),
        report: PlatformReport {
            platform,
            layers,
            error,
            seconds,
            cached_steps,
        },
    }
}

fn run_steps(
    ctx: &Ctx,
    plan: &PlatformPlan,
    bar: Option<&indicatif::ProgressBar>,
    layers_out: &mut Vec<LayerReport>,
    blobs: &mut Vec<layers::BlobInfo>,
    cached_steps: &mut usize,
) -> Result<(), StepError> {
    let recipe = ctx.recipe;
    let slug = plan.platform.slug();
    let log_path = ctx.out.join("logs").join(format!("{slug}.log"));
    let mut log =
        std::fs::File::create(&log_path).map_err(|e| StepError::Other(format!("{}: {e}", log_path.display())))?;
    let endpoint = recipe.endpoint_for(&plan.platform);
    let exec = DockerExecutor::connect(&endpoint, &recipe.cache.join("exports"))
        .map_err(|e| StepError::Other(e.to_string()))?;
    let profile = layers::profile_for(plan.docker_version.as_deref()).map_err(StepError::Other)?;
    let mut parent: Option<ImageId> = None;
    // When the platform's replay began (the earliest step start, cached steps included).
    let mut replay_began = i64::MAX;

    for step in &plan.steps {
        if matches!(step.action, Action::Config) {
            continue;
        }
        let short = report::truncate(&step.text, 60);
        if let Some(b) = bar {
            b.set_message(short.clone());
        }
        let _ = writeln!(log, "==> step {} {}", step.position, step.text);
        let exec_err = |source: ExecError| {
            let misses = download_proxy(ctx, &exec).map(|p| p.take_misses());
            let hint = network_hint(&step.text, recipe, &source, misses.as_ref());
            StepError::Exec {
                position: step.position,
                step: short.clone(),
                source: Box::new(source),
                hint,
            }
        };
        let src_err = |source: SourceError| StepError::Source {
            position: step.position,
            step: short.clone(),
            source: Box::new(source),
        };
        // Inputs beyond the action itself that decide the result (content of sources).
        let mut inputs = vec![plan.platform.to_string()];
        // A layer the recipe supplies as a published blob is imported instead of replayed (the
        // base image's own layers, or any step the user chooses not to rebuild).
        let supplied = step
            .layer
            .filter(|l| recipe.source_for(&l.expected.to_string(), &plan.platform).is_some());
        let resolved = match (&step.action, supplied) {
            (_, Some(slot)) => {
                Some(sources::resolve_base(recipe, &plan.platform, "", &slot.expected).map_err(src_err)?)
            }
            (Action::Base { source }, None) => {
                let slot = step.layer.expect("a base step makes layer 1");
                Some(sources::resolve_base(recipe, &plan.platform, source, &slot.expected).map_err(src_err)?)
            }
            (Action::Copy { source, .. }, None) => {
                Some(sources::resolve_copy(recipe, &plan.platform, source).map_err(src_err)?)
            }
            _ => None,
        };
        if let Some(r) = &resolved {
            inputs.push(r.content_key().map_err(|e| StepError::Other(e.to_string()))?);
        }
        // The build-context mtime the recipe states for a COPY source shapes the layer too.
        let copy_mtime = match &step.action {
            Action::Copy { source, .. } => recipe.source_for(source, &plan.platform).and_then(|s| s.mtime),
            _ => None,
        };
        if let Some(t) = copy_mtime {
            inputs.push(format!("mtime:{t}"));
        }
        if let Action::Run { .. } = &step.action {
            inputs.push(recipe.network.clone());
        }
        let key = match supplied {
            Some(_) => cache::key(exec.endpoint(), parent.as_ref(), &"import", &inputs),
            None => cache::key(exec.endpoint(), parent.as_ref(), &step.action, &inputs),
        };
        let tag = format!("{slug}-{}", &key.hex()[..16]);
        let cached = if ctx.no_cache { None } else { ctx.cache.get(&key) };
        let snap: Snapshot = match cached.filter(|e| exec.has_image(&e.image)) {
            Some(hit) => {
                *cached_steps += 1;
                let _ = writeln!(log, "    (cached: {})", hit.image.0);
                hit.into()
            }
            None => {
                let snap = match (&step.action, &resolved) {
                    (_, Some(Resolved::LayerTar { path, .. })) => exec
                        .import_layer(&plan.platform, parent.as_ref(), path, &tag)
                        .map_err(exec_err)?,
                    (
                        Action::Run {
                            argv,
                            env,
                            workdir,
                            user,
                        },
                        _,
                    ) => {
                        let mut env = env.clone();
                        if let Some(p) = download_proxy(ctx, &exec) {
                            p.take_misses();
                            env.extend(p.env());
                        }
                        let spec = RunSpec {
                            argv: argv.clone(),
                            env,
                            workdir: workdir.clone(),
                            user: user.clone(),
                            network: recipe.network.clone(),
                        };
                        let parent = parent
                            .as_ref()
                            .ok_or_else(|| StepError::Other("RUN before any base layer".into()))?;
                        exec.run(parent, &spec, &tag, &mut log).map_err(exec_err)?
                    }
                    (
                        Action::Copy {
                            add,
                            dest,
                            workdir,
                            chown,
                            ..
                        },
                        Some(r),
                    ) => {
                        let parent = parent
                            .as_ref()
                            .ok_or_else(|| StepError::Other("COPY before any base layer".into()))?;
                        // Names in --chown are looked up in the parent image, as the builder does.
                        let owner = match chown.as_deref() {
                            None => (0, 0),
                            Some(spec) => {
                                let (passwd, group) = if spec.split(':').any(|p| p.parse::<u64>().is_err()) {
                                    let read = |path| exec.read_file(parent, path, 16 << 20).map_err(exec_err);
                                    (read("/etc/passwd")?, read("/etc/group")?)
                                } else {
                                    (None, None)
                                };
                                layers::resolve_chown(spec, passwd.as_deref(), group.as_deref())
                                    .map_err(StepError::Other)?
                            }
                        };
                        let tar = layers::copy_tar(r, dest, workdir, owner, copy_mtime, *add)
                            .map_err(|e| StepError::Other(e.to_string()))?;
                        exec.copy(parent, tar, &tag).map_err(exec_err)?
                    }
                    (Action::Workdir { path }, _) => {
                        let parent = parent
                            .as_ref()
                            .ok_or_else(|| StepError::Other("WORKDIR before any base layer".into()))?;
                        exec.workdir(parent, path, &tag).map_err(exec_err)?
                    }
                    (a, _) => return Err(StepError::Other(format!("cannot replay {a:?}"))),
                };
                ctx.cache
                    .put(&key, &snap)
                    .map_err(|e| StepError::Other(format!("build cache: {e}")))?;
                snap
            }
        };
        let _ = writeln!(
            log,
            "    image {} ran {}..{}",
            snap.image.0, snap.started, snap.finished
        );
        parent = Some(snap.image.clone());
        replay_began = replay_began.min(snap.started);

        if let Some(slot) = step.layer {
            let layer_err = |message: String| StepError::Layer {
                position: step.position,
                step: short.clone(),
                layer: slot.index,
                message,
            };
            let diff = exec.diff(&snap.image).map_err(exec_err)?;
            let entries = layers::capture(&diff).map_err(layer_err)?;
            let blob = layers::write_blob(&entries, &profile, &ctx.out.join("blobs/sha256")).map_err(layer_err)?;
            let (verdict, mut reason, recovered_mtimes) = if blob.digest == slot.expected {
                (Verdict::Match, "byte for byte".to_string(), layers::Recovered::new())
            } else {
                layers::search_timestamps(
                    &entries,
                    &profile,
                    &ctx.recipe.document,
                    &plan.platform.to_string(),
                    slot.index,
                    ctx.search_candidates,
                    replay_began,
                )
            };
            let mut causes = Vec::new();
            if verdict == Verdict::Differs {
                let rebuilt = ctx.out.join("blobs/sha256").join(blob.digest.hex());
                match explain_difference(ctx, &slot.expected, &rebuilt) {
                    Ok(summary) => {
                        reason = format!("{reason}; compared with the published layer: {}", summary.headline);
                        causes = summary.causes;
                    }
                    Err(why) => reason = format!("{reason}; not compared with the published layer: {why}"),
                }
            }
            let _ = writeln!(
                log,
                "    layer {} {} -> {} ({})",
                slot.index,
                blob.digest,
                verdict.as_str(),
                reason
            );
            layers_out.push(LayerReport {
                index: slot.index,
                step: step.text.clone(),
                expected: slot.expected,
                rebuilt: Some(blob.digest),
                verdict,
                reason,
                causes,
                recovered_mtimes,
            });
            blobs.push(blob);
            if let Some(b) = bar {
                b.inc(1);
            }
        }
    }
    Ok(())
}

/// Compares a rebuilt layer that still differs with the published one (fetched into the content
/// store when needed) and names the likely cause.
fn explain_difference(
    ctx: &Ctx,
    expected: &Digest,
    rebuilt: &Path,
) -> Result<crate::diff::cause::CauseSummary, String> {
    if ctx.published_unreachable.lock().unwrap().is_some() {
        // The first failure's full reason is on the first layer that hit it.
        return Err("an earlier fetch of a published layer in this build failed (see that layer)".into());
    }
    let published = sources::published_layer(ctx.recipe, expected).inspect_err(|why| {
        *ctx.published_unreachable.lock().unwrap() = Some(why.clone());
    })?;
    crate::diff::cause::classify_layers(rebuilt, &published).map_err(|e| e.to_string())
}

/// When a RUN fails, names what it could not fetch and how to supply it: the `http://` URLs the
/// download proxy was asked for and did not have, the hosts of `https://` fetches (which no cache
/// can serve), and the URLs in the step's text.
fn network_hint(step: &str, recipe: &Recipe, err: &ExecError, misses: Option<&proxy::Misses>) -> String {
    if !matches!(err, ExecError::StepFailed { .. }) {
        return String::new();
    }
    let mut hint = String::new();
    if let Some(m) = misses {
        if !m.urls.is_empty() {
            hint.push_str(&format!(
                "; the download proxy had no file for {} — add each under `downloads:` with its sha256 (the file goes to {})",
                m.urls.iter().cloned().collect::<Vec<_>>().join(", "),
                recipe.cache.join("downloads/sha256/<sha256>").display()
            ));
        }
        if !m.tunnels.is_empty() {
            hint.push_str(&format!(
                "; https fetches from {} cannot be served from the cache and need network access",
                m.tunnels.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if !hint.is_empty() {
            return hint;
        }
    }
    let urls: Vec<&str> = step
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ';')
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .collect();
    if urls.is_empty() {
        return String::new();
    }
    hint = format!(
        "; the step fetches {} — without network access, `http://` files can be listed under `downloads:` (served to RUN steps by retrace's proxy); `https://` ones need the network",
        urls.join(", ")
    );
    if recipe.network == "none" {
        hint.push_str(" (the recipe sets `network: none`)");
    }
    hint
}

/// The recipe's downloads in the cache, fetched and verified first when missing and reachable,
/// by URL; those that cannot be had are left out (the proxy then reports them as misses).
fn prefetch_downloads(recipe: &Recipe, log: &mut Vec<String>) -> std::collections::BTreeMap<String, PathBuf> {
    let mut files = std::collections::BTreeMap::new();
    for d in &recipe.downloads {
        match sources::prefetch(recipe, d) {
            Ok(path) => {
                files.insert(d.url.clone(), path);
            }
            Err(e) => log.push(format!("download not available: {e}")),
        }
    }
    files
}

/// The build's download proxy, started on first use where RUN containers can reach it.
fn download_proxy<'a>(ctx: &'a Ctx, exec: &dyn Executor) -> Option<&'a proxy::DownloadProxy> {
    if ctx.recipe.downloads.is_empty() || ctx.recipe.network != "bridge" {
        return None;
    }
    let started = ctx.proxy.get_or_init(|| {
        let ip = exec
            .host_address()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the engine is not on this machine".to_string())?;
        let mut notes = Vec::new();
        let files = prefetch_downloads(ctx.recipe, &mut notes);
        ctx.notes.lock().unwrap().extend(notes);
        proxy::DownloadProxy::start(std::net::SocketAddr::new(ip, 0), files).map_err(|e| e.to_string())
    });
    match started {
        Ok(p) => Some(p),
        Err(why) => {
            let mut notes = ctx.notes.lock().unwrap();
            let line = format!("downloads not served to RUN steps: {why}");
            if !notes.contains(&line) {
                notes.push(line);
            }
            None
        }
    }
}

/// Plans every platform of the recipe's document (parse, IR, mapping, plan).
pub fn plans(recipe: &Recipe) -> Result<Vec<PlatformPlan>, BuildError> {
    input::plan_inputs(recipe)?
        .iter()
        .map(|i| crate::plan::plan(i, &recipe.build_args, recipe.profile.as_deref()).map_err(BuildError::from))
        .collect()
}

/// `retrace build`: reads the recipe, replays the selected platforms, writes the outputs, prints
/// the table and a summary. Differing layers give `Outcome::Differ`; a platform that stopped on an
/// error gives `Err` (exit 2) after everything it did build has been written and reported.
pub fn command(recipe_path: &Path, out: Option<&Path>, mut opts: BuildOptions) -> Result<crate::Outcome, BuildError> {
    let recipe = crate::recipe::load(recipe_path)?;
    let plans = plans(&recipe)?;
    let selected = select(&plans, &recipe, &opts.platforms)?;
    opts.out = match (out, &recipe.output) {
        (Some(o), _) => o.to_path_buf(),
        (None, Some(o)) => o.clone(),
        (None, None) => PathBuf::from("retrace-out").join(recipe_path.file_stem().unwrap_or_default()),
    };
    let report = replay(&recipe, &selected, &opts)?;
    print!("{}", report.table());
    println!(
        "report: {}   layout: {}   logs: {}",
        opts.out.join("report.json").display(),
        opts.out.display(),
        opts.out.join("logs").display()
    );
    if report.any_error() {
        let failed: Vec<String> = report
            .platforms
            .iter()
            .filter(|p| p.error.is_some())
            .map(|p| p.platform.clone())
            .collect();
        return Err(BuildError::Failed {
            platforms: failed.join(", "),
        });
    }
    Ok(if report.any_differs() {
        crate::Outcome::Differ
    } else {
        crate::Outcome::Match
    })
}

/// The digest a layer must have in the OCI layout of a platform that was fully built.
pub fn expected_digests(plan: &PlatformPlan) -> Vec<Digest> {
    plan.steps.iter().filter_map(|s| s.layer.map(|l| l.expected)).collect()
}
