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
//! `oci-layout` (one manifest and config per platform that built a layer, annotated as partial
//! when it stopped early), `replayed/blobs/sha256/*`, `report.json`, and `logs/<platform>.log`
//! with every step's output.

mod add_archive;
pub mod cache;
pub mod check;
pub mod exec;
pub mod input;
pub mod inputs;
pub mod layers;
mod network;
pub mod output;
mod platform;
pub mod proxy;
pub mod record;
pub mod report;
pub mod sources;
pub mod trees;
pub mod variants;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{chain, Chain};
use crate::plan::PlatformPlan;
use crate::recipe::{Platform, Recipe, RecipeError};
use crate::replay::exec::{Engines, ExecError, Executor};
use platform::PlatformResult;
pub use report::{LayerReport, PlatformReport, Report, Verdict};
use sources::{SourceEnv, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),

    /// The recipe's document does not parse; the error names its file, line and column.
    #[error(transparent)]
    Parse(#[from] crate::parse::ParseError),

    #[error("{}", document.display())]
    NoTag {
        document: PathBuf,
        #[source]
        source: input::NoTagError,
    },

    /// A `--platform` (or the recipe's `platforms`) that names no platform of the document, or
    /// several variants.
    #[error("{}", document.display())]
    Platform {
        document: PathBuf,
        #[source]
        source: crate::platform::SelectError,
    },

    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),

    #[error("the build stopped on {platforms} (see the table above and the logs)")]
    Failed { platforms: String },

    #[error("writing the images")]
    Output(#[source] crate::oci::OciError),

    #[error("the record of the build's inputs")]
    Record(#[source] record::RecordError),

    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why one platform stopped.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("step {position} `{step}`")]
    Source {
        position: usize,
        step: String,
        #[source]
        source: Box<SourceError>,
    },
    #[error("step {position} `{step}`")]
    Exec {
        position: usize,
        step: String,
        #[source]
        source: Box<ExecError>,
    },
    #[error("step {position} `{step}`: layer {layer}")]
    Layer {
        position: usize,
        step: String,
        layer: usize,
        #[source]
        source: LayerFailure,
    },
    /// A RUN that fetches from the network failed in a container without one.
    #[error("step {position} `{step}` needs the network ({what}){}", if *.offline { " and the build is offline" } else { " and the recipe gives RUN steps none" })]
    NeedsNetwork {
        position: usize,
        step: String,
        what: String,
        offline: bool,
    },
    #[error(
        "step {position} `{step}` made a layer, but the document lists only {layers}: the replay changed files \
         the original step did not"
    )]
    ExtraLayer {
        position: usize,
        step: String,
        layers: usize,
    },
    #[error("step {position} `{step}`: no base layer to run it on")]
    NoBase { position: usize, step: String },
    #[error("step {position} `{step}`: retrace cannot replay {action}")]
    CannotReplay {
        position: usize,
        step: String,
        action: String,
    },
    /// A build redone from a record found an input other than the recorded one.
    #[error("step {position} `{step}`")]
    Record {
        position: usize,
        step: String,
        #[source]
        source: record::RecordError,
    },
    #[error("skipped: another platform failed (use --keep-going to build the rest)")]
    Skipped,
    #[error("the log {}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Engine(Box<ExecError>),
    #[error(transparent)]
    Profile(#[from] layers::ProfileChoiceError),
    #[error("the build cache")]
    Cache(#[source] std::io::Error),
}

/// Why a step's layer could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum LayerFailure {
    #[error(transparent)]
    Capture(#[from] layers::CaptureError),
    /// A base layer's step names its source by something other than `file:<hex>`.
    #[error("`{0}` is not a file: reference")]
    NotFileReference(String),
    #[error(transparent)]
    Add(#[from] crate::add::AddError),
    #[error("unpacking the rebuilt layer")]
    Unpack(#[source] crate::archive::ArchiveError),
    #[error(transparent)]
    Chown(#[from] layers::ChownError),
    /// Reading the step's source (to key the cache, or to copy it into the layer) failed.
    #[error(transparent)]
    Source(std::io::Error),
    #[error("writing the layer blob")]
    Blob(#[source] std::io::Error),
    /// The blob of a layer matched after recovering lost times did not hash to the published
    /// digest when written: the search and the writer disagree, so the match is not claimed.
    #[error("writing the recovered layer's blob")]
    Proof(#[source] crate::blob::BlobError),
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
    /// `--offline`: fetch nothing (no download, no registry), give RUN steps no network.
    pub offline: bool,
    /// `--inputs DIR`: directories whose files satisfy sources by content.
    pub inputs: Vec<PathBuf>,
    /// `--from-record`: the inputs the recorded build read, by platform and step; any other input
    /// stops the platform before it is used.
    pub expected_inputs: Option<record::Expected>,
}

/// Shared state of one build.
struct Ctx<'a> {
    engines: &'a dyn Engines,
    sources: SourceEnv<'a>,
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
    proxy: std::sync::OnceLock<Result<proxy::DownloadProxy, ProxyError>>,
    /// Why fetching a published layer failed, once it has: later differing layers are then not
    /// fetched again (an offline machine would otherwise wait out every retry).
    published_unreachable: Mutex<Option<String>>,
    expected_inputs: Option<&'a record::Expected>,
}

/// Why the download proxy did not start; the build notes it and goes on without one.
#[derive(Debug, thiserror::Error)]
enum ProxyError {
    #[error(transparent)]
    Engine(Box<ExecError>),
    #[error("the engine is not on this machine")]
    RemoteEngine,
    #[error(transparent)]
    Start(std::io::Error),
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
    let mut chosen = Vec::new();
    for w in wanted {
        let found =
            crate::platform::select(w, plans, |p| p.platform.clone()).map_err(|source| BuildError::Platform {
                document: recipe.document.clone(),
                source,
            })?;
        chosen.extend(found);
    }
    Ok(chosen)
}

/// Refuses an output directory whose own directories are symbolic links: the build would write
/// its blobs, logs and images wherever they point. (Files are replaced by rename or removed
/// before they are written, so a symbolic link in a file's place is never written through.)
fn refuse_symlinks(out: &Path) -> Result<(), BuildError> {
    for dir in ["", "logs", "blobs", "blobs/sha256", "images"] {
        let path = out.join(dir);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(BuildError::Io {
                source: std::io::Error::other("is a symbolic link; the build does not write through links"),
                path,
            });
        }
    }
    Ok(())
}

/// Replays `plans` and writes every output. Returns the report; the caller maps it to an exit code.
pub fn replay(recipe: &Recipe, plans: &[&PlatformPlan], opts: &BuildOptions) -> Result<Report, BuildError> {
    replay_with(&exec::docker::DockerEngines, recipe, plans, opts)
}

/// [`replay`] on the engines `engines` connects each platform to.
pub fn replay_with(
    engines: &dyn Engines,
    recipe: &Recipe,
    plans: &[&PlatformPlan],
    opts: &BuildOptions,
) -> Result<Report, BuildError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    refuse_symlinks(&opts.out)?;
    let platforms: Vec<String> = plans.iter().map(|p| p.platform.to_string()).collect();
    let build_record = record::build_record(recipe, &platforms, opts);
    std::fs::create_dir_all(opts.out.join("logs")).map_err(io_err(&opts.out))?;
    let multi = if opts.progress {
        Some(indicatif::MultiProgress::new())
    } else {
        None
    };
    let ctx = Ctx {
        engines,
        sources: SourceEnv::new(recipe, opts.offline, opts.inputs.clone()),
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
        expected_inputs: opts.expected_inputs.as_ref(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| BuildError::Io {
            path: opts.out.clone(),
            source: std::io::Error::other(e),
        })?;
    let results: Vec<PlatformResult> =
        pool.install(|| plans.par_iter().map(|p| platform::replay_platform(&ctx, p)).collect());
    // The per-platform lines are already on the finished progress bars when those are drawn;
    // without bars (CI logs, pipes) the caller shows them. Notes (downloads that could not be
    // had) always travel with the report.
    let lines = if opts.progress {
        Vec::new()
    } else {
        std::mem::take(&mut *ctx.summary.lock().unwrap_or_else(|p| p.into_inner()))
    };
    let notes = std::mem::take(&mut *ctx.notes.lock().unwrap_or_else(|p| p.into_inner()));

    let built = built_images(plans, &results);
    output::write_layout(&opts.out, &recipe.tag, &built, opts.docker_archives).map_err(BuildError::Output)?;
    let platforms: Vec<PlatformReport> = results.into_iter().map(|r| r.report).collect();
    output::set_apart_replayed(&opts.out, &platforms).map_err(io_err(&opts.out.join("replayed")))?;
    let report = Report {
        recipe: recipe.file.display().to_string(),
        platforms,
        notes,
        record: Some(build_record),
        lines,
    };
    let report_path = opts.out.join("report.json");
    crate::fsutil::write_new(&report_path, |w| {
        w.write_all(&report.to_json())?;
        w.write_all(b"\n")
    })
    .map_err(io_err(&report_path))?;
    Ok(report)
}

/// The image of every platform that built a layer, partial when it stopped before the last.
fn built_images<'a>(plans: &[&'a PlatformPlan], results: &'a [PlatformResult]) -> Vec<output::Built<'a>> {
    plans
        .iter()
        .zip(results)
        .filter(|(_, r)| !r.layers.is_empty())
        .map(|(plan, r)| output::Built {
            plan,
            layers: &r.layers,
            partial: (!r.complete).then(|| partial_reason(plan, r)),
        })
        .collect()
}

/// What the annotation of a platform's partial image says: how far it was rebuilt, and why not
/// further.
fn partial_reason(plan: &PlatformPlan, result: &PlatformResult) -> String {
    let report = &result.report;
    let why = report.error.as_deref().or(report.stopped.as_deref());
    format!(
        "{} of {} layers rebuilt{}",
        result.layers.len(),
        plan.layers.len(),
        why.map(|w| format!("; stopped: {w}")).unwrap_or_default()
    )
}

impl Ctx<'_> {
    fn progress_bar(&self, plan: &PlatformPlan) -> Option<indicatif::ProgressBar> {
        let slots = plan.layers.len();
        self.multi.as_ref().map(|m| {
            let b = m.add(indicatif::ProgressBar::new(slots as u64));
            b.set_style(
                indicatif::ProgressStyle::with_template("{prefix:>16} [{bar:20}] {pos}/{len} {elapsed:>4} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(plan.platform.to_string());
            b
        })
    }

    /// Whether a platform not yet started is skipped because another failed.
    fn should_skip(&self) -> bool {
        !self.keep_going && self.failed.load(Ordering::SeqCst)
    }

    fn mark_failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }

    /// The one-line result of a platform, on its progress bar and in the summary.
    fn summarize(&self, report: &PlatformReport, bar: Option<&indicatif::ProgressBar>) {
        let count = |f: fn(Verdict) -> bool| report.layers.iter().filter(|l| f(l.verdict)).count();
        let imported = count(|v| v == Verdict::Imported);
        let line = format!(
            "{}: {}/{} layers match{}, {} cached, {:.1}s{}",
            report.platform,
            count(Verdict::is_match),
            report.layers.len(),
            if imported > 0 {
                format!(" ({imported} imported, not rebuilt)")
            } else {
                String::new()
            },
            report.cached_steps,
            report.seconds,
            report
                .error
                .as_ref()
                .or(report.stopped.as_ref())
                .map(|e| format!(" — stopped: {e}"))
                .unwrap_or_default()
        );
        if let Some(b) = bar {
            b.finish_with_message(line.clone());
        }
        self.summary.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    /// The network RUN containers get: none when the build is offline.
    fn run_network(&self) -> &str {
        if self.sources.offline {
            "none"
        } else {
            &self.sources.recipe.network
        }
    }

    /// Compares a rebuilt layer that still differs with the published one (from the content
    /// store, else fetched unless offline) and adds the likely cause to its reason.
    fn explain(&self, row: &mut LayerReport) {
        let Some(rebuilt) = row.rebuilt else { return };
        let rebuilt = crate::blob::blob_path(&self.out, &rebuilt);
        let mut unreachable = self.published_unreachable.lock().unwrap_or_else(|p| p.into_inner());
        let compared = match unreachable.as_ref() {
            // The first failure's full reason is on the first layer that hit it.
            Some(_) => Err("an earlier fetch of a published layer in this build failed (see that layer)".to_string()),
            None => sources::published_layer(&self.sources, &row.expected)
                .map_err(|e| chain(&e))
                .inspect_err(|why| *unreachable = Some(why.clone()))
                .and_then(|published| crate::diff::cause::classify_layers(&rebuilt, &published).map_err(|e| chain(&e))),
        };
        match compared {
            Ok(summary) => {
                row.reason = format!(
                    "{}; compared with the published layer: {}",
                    row.reason, summary.headline
                );
                row.causes = summary.causes;
            }
            Err(why) => row.reason = format!("{}; not compared with the published layer: {why}", row.reason),
        }
    }

    /// The build's download proxy, started on first use where RUN containers can reach it.
    fn download_proxy(&self, exec: &dyn Executor) -> Option<&proxy::DownloadProxy> {
        let recipe = self.sources.recipe;
        if recipe.downloads.is_empty() || self.run_network() != "bridge" {
            return None;
        }
        let started = self.proxy.get_or_init(|| {
            let ip = exec
                .host_address()
                .map_err(|e| ProxyError::Engine(Box::new(e)))?
                .ok_or(ProxyError::RemoteEngine)?;
            let files = self.prefetch_downloads();
            proxy::DownloadProxy::start(std::net::SocketAddr::new(ip, 0), files).map_err(ProxyError::Start)
        });
        match started {
            Ok(p) => Some(p),
            Err(why) => {
                let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
                let line = format!("downloads not served to RUN steps: {}", Chain(why));
                if !notes.contains(&line) {
                    notes.push(line);
                }
                None
            }
        }
    }

    /// The recipe's downloads in the cache, fetched and verified first when missing and
    /// reachable, by URL; those that cannot be had are left out (the proxy then reports them as
    /// misses) and noted.
    fn prefetch_downloads(&self) -> std::collections::BTreeMap<String, PathBuf> {
        let mut files = std::collections::BTreeMap::new();
        for d in &self.sources.recipe.downloads {
            match sources::prefetch(&self.sources, d) {
                Ok(path) => {
                    files.insert(d.url.clone(), path);
                }
                Err(e) => self
                    .notes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("download not available: {}", Chain(&e))),
            }
        }
        files
    }
}

/// Plans every platform of the recipe's document (parse, IR, mapping, plan).
pub fn plans(recipe: &Recipe) -> Result<Vec<PlatformPlan>, BuildError> {
    input::plan_inputs(recipe)?
        .iter()
        .map(|i| crate::plan::plan(i, &recipe.build_args, recipe.profile.as_deref()).map_err(BuildError::from))
        .collect()
}

/// `retrace build`: reads the recipe, replays the selected platforms and writes the outputs.
/// Returns the report and the output directory; the caller prints [`summary_text`] and maps the
/// report to an exit code with [`outcome`]. Nothing here prints.
pub fn command(
    recipe_path: &Path,
    out: Option<&Path>,
    mut opts: BuildOptions,
) -> Result<(Report, PathBuf), BuildError> {
    let recipe = crate::recipe::load(recipe_path)?;
    let plans = plans(&recipe)?;
    let selected = select(&plans, &recipe, &opts.platforms)?;
    opts.out = match (out, &recipe.output) {
        (Some(o), _) => o.to_path_buf(),
        (None, Some(o)) => o.clone(),
        (None, None) => PathBuf::from("retrace-out").join(recipe_path.file_stem().unwrap_or_default()),
    };
    let report = replay(&recipe, &selected, &opts)?;
    Ok((report, opts.out))
}

/// The table of verdicts and where the outputs are.
pub fn summary_text(report: &Report, out: &Path) -> String {
    format!(
        "{}report: {}   layout: {}   logs: {}\n",
        report.table(),
        out.join("report.json").display(),
        out.display(),
        out.join("logs").display()
    )
}

/// The build's outcome: an error (exit 2) when a platform stopped on one, after everything it did
/// build has been written and reported; `Differ` (exit 1) when a layer differs or was not built.
pub fn outcome(report: &Report) -> Result<crate::Outcome, BuildError> {
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
