//! `retrace build RECIPE`: replay a recipe through Docker and verify every layer.

use std::path::PathBuf;

use retrace::commands::build::BuildCommandOptions;

#[derive(clap::Args)]
pub struct Args {
    /// The recipe (`recipes/*.yaml`, schema in docs/recipes.md).
    #[arg(required_unless_present = "from_record", conflicts_with = "from_record")]
    recipe: Option<PathBuf>,
    /// Redo the build a report.json records: its recipe and document (checked unchanged by
    /// sha256), its platforms and options, and exactly its inputs (any other input stops the
    /// platform). Combine with --no-cache to run every step again.
    #[arg(long, value_name = "REPORT_JSON")]
    from_record: Option<PathBuf>,
    /// Output directory (OCI layout, report.json, logs); default: the recipe's `output`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only these platforms (os/arch[/variant]); repeatable. Default: the recipe's, else all.
    /// `linux/arm64` is v8; `linux/arm` is an error when the document has several arm variants.
    #[arg(long = "platform")]
    platforms: Vec<retrace::platform::Platform>,
    /// How many platforms replay at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Keep building the other platforms after one fails.
    #[arg(long)]
    keep_going: bool,
    /// Also write `images/<platform>.tar` per fully built platform, for `docker load`.
    #[arg(long)]
    docker_archives: bool,
    /// Run every step again instead of reusing the build cache.
    #[arg(long)]
    no_cache: bool,
    /// Timestamp search budget per differing layer, in candidates (0 turns the search off).
    #[arg(long, default_value_t = retrace::replay::layers::BUILD_SEARCH_CANDIDATES)]
    search_candidates: u64,
    /// Fetch nothing: no download, no registry, no network for RUN steps. Sources come from the
    /// caches, the content stores and `--inputs`; a RUN step that needs the network stops its
    /// platform with `not-built` layers.
    #[arg(long)]
    offline: bool,
    /// A directory whose files satisfy sources by content (sha256 for `url`/`sha256:` sources,
    /// the `file:` hash for `file:` sources); repeatable.
    #[arg(long = "inputs", value_name = "DIR")]
    inputs: Vec<PathBuf>,
}

impl Args {
    pub fn options(self) -> BuildCommandOptions {
        BuildCommandOptions {
            recipe: self.recipe.unwrap_or_default(),
            from_record: self.from_record,
            out: self.out,
            build: retrace::replay::BuildOptions {
                out: PathBuf::new(),
                platforms: self.platforms,
                jobs: self.jobs,
                keep_going: self.keep_going,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                docker_archives: self.docker_archives,
                no_cache: self.no_cache,
                search_candidates: self.search_candidates,
                offline: self.offline,
                inputs: self.inputs,
                expected_inputs: None,
            },
        }
    }
}
