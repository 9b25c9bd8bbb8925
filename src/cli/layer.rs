use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use retrace::layer::{self, Profile, WalkOptions};
use retrace::Outcome;

use super::out;

#[derive(Subcommand)]
pub enum Command {
    /// Write a diff directory as the layer a Docker release produced (gzip blob by default), and
    /// print its digests.
    Write(WriteArgs),
    /// Rebuild the layer of a base `ADD file:<hex> in /` step from its source tarball without an
    /// engine, trying the known builder variants. Exit 0 on a match, 1 otherwise.
    Add(AddArgs),
    /// Gzip a tar file exactly as Docker (Go's compress/gzip) did.
    Compress {
        /// The uncompressed layer tar.
        input: PathBuf,
        /// Compression level, -2..=9 (-1 = 6, Docker's default).
        #[arg(long, default_value_t = 6, allow_negative_numbers = true)]
        level: i32,
        /// Output file, written atomically; `-` or absent for standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Recover the lost mtimes of a rebuilt layer's diff tree by searching around the recorded step
    /// times until the tar+gzip digest equals the document's. Exit 0 on a match, 1 otherwise
    /// (including a spent budget, which it names).
    Reproduce(ReproduceArgs),
}

/// `retrace layer reproduce`: the lost mtimes of a rebuilt diff tree, searched within a budget.
#[derive(clap::Args)]
pub struct ReproduceArgs {
    /// The rebuilt diff directory of the layer.
    dir: PathBuf,
    /// The repo-info document that lists the layer.
    #[arg(long)]
    document: PathBuf,
    /// The platform, as os/arch[/variant] or as the document writes it ("linux; arm variant v7").
    #[arg(long)]
    platform: String,
    /// The layer number, 1-based, in the order the document lists layers.
    #[arg(long)]
    layer: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Give up without a match after hashing this many candidates.
    #[arg(long, default_value_t = retrace::build::layers::BUILD_SEARCH_CANDIDATES,
          value_parser = clap::value_parser!(u64).range(1..))]
    search_candidates: u64,
    /// Give up without a match after searching this many seconds.
    #[arg(long, default_value_t = retrace::reproduce::cli::REPRODUCE_SEARCH_SECONDS)]
    search_seconds: u64,
}

/// `retrace hash-file`: the `file:<hex>` source hash the classic builder records for COPY/ADD.
#[derive(clap::Args)]
pub struct HashFileArgs {
    path: PathBuf,
    /// A profile of docs/profiles.md, such as docker-17.06 (owner-name convention of that release).
    #[arg(long, default_value = "docker-18.06")]
    profile: String,
    /// The file's path relative to the build context (default: its base name).
    #[arg(long)]
    name: Option<String>,
}

impl Command {
    pub fn run(self) -> anyhow::Result<Outcome> {
        match self {
            Command::Write(args) => args.run(),
            Command::Add(args) => args.run(),
            Command::Compress { input, level, output } => {
                retrace::gzip::compress_file(&input, output.as_deref(), level).map_err(|e| match e {
                    retrace::gzip::CompressError::Write { path, source }
                        if path == Path::new(retrace::gzip::STDOUT) =>
                    {
                        out::write_error(source)
                    }
                    other => other.into(),
                })?;
                Ok(Outcome::Match)
            }
            Command::Reproduce(args) => args.run(),
        }
    }
}

impl ReproduceArgs {
    fn run(self) -> anyhow::Result<Outcome> {
        use retrace::reproduce::cli::{end_note, render_text, reproduce_layer, ReproduceOptions};
        let opts = ReproduceOptions {
            dir: &self.dir,
            document: &self.document,
            platform: &self.platform,
            layer: self.layer,
            max_candidates: self.search_candidates,
            max_time: std::time::Duration::from_secs(self.search_seconds),
        };
        let bar = search_bar(self.search_candidates);
        let report = reproduce_layer(&opts, &|done| bar.set_position(done));
        bar.finish_and_clear();
        let report = report?;
        if self.json {
            out::println(serde_json::to_string(&report)?)?;
            // The JSON holds `end`; people reading the terminal get the sentence too.
            if let Some(note) = end_note(&report) {
                eprintln!("retrace: {note}");
            }
        } else {
            out::print(render_text(&report))?;
        }
        Ok(if report.matched {
            Outcome::Match
        } else {
            Outcome::Differ
        })
    }
}

/// The timestamp search's progress on standard error, out of its candidate budget; hidden when
/// standard error is not a terminal (a log, a pipe, a test).
fn search_bar(budget: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(budget);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "searching timestamps [{bar:30}] {human_pos}/{human_len} candidates {elapsed:>4} (~{eta} left at most)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Runs a layer writer into `path` atomically, or into a sink when only the digests are wanted.
fn write_to<T>(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<T>,
) -> anyhow::Result<T> {
    Ok(match path {
        Some(p) => retrace::fsutil::write_atomic(p, write).with_context(|| format!("writing {}", p.display()))?,
        None => write(&mut std::io::sink())?,
    })
}

pub fn hash_file(args: HashFileArgs) -> anyhow::Result<Outcome> {
    let profile = Profile::from_name(&args.profile)?;
    let digest = layer::hash_file_on_disk(&args.path, args.name.as_deref(), &profile)
        .with_context(|| format!("hashing {}", args.path.display()))?;
    out::println(format!("file:{}", digest.hex()))?;
    Ok(Outcome::Match)
}

/// `retrace layer write`: a diff directory written as a Docker release's layer.
#[derive(clap::Args)]
pub struct WriteArgs {
    /// The graphdriver diff directory (overlay2 `diff`).
    dir: PathBuf,
    /// A profile of docs/profiles.md: docker-1.10, -1.12, -1.13, -17.06, -17.12, -18.06, -20.10.
    #[arg(long)]
    profile: String,
    /// Where to write the layer (written atomically); without it only the digests are printed.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Write the uncompressed tar instead of the gzip blob.
    #[arg(long)]
    tar: bool,
    /// Write whiteouts that share one inode (Linux >= 5.8) as independent ones, as the kernels
    /// of 2017-2019 builders made them.
    #[arg(long)]
    unshare_whiteouts: bool,
    /// Print `{"digest":…,"diff_id":…,"size":…}` as JSON.
    #[arg(long)]
    json: bool,
}

/// `retrace layer add`: a base layer rebuilt from its source tarball.
#[derive(clap::Args)]
pub struct AddArgs {
    /// The source tarball (tar, or tar compressed with gzip, xz or bzip2).
    source: PathBuf,
    /// The repo-info document that lists the layer.
    #[arg(long, required_unless_present = "file_hash", requires = "platform")]
    document: Option<PathBuf>,
    /// The platform, as os/arch[/variant] or as the document writes it ("linux; arm variant v7").
    #[arg(long)]
    platform: Option<String>,
    /// The layer number, 1-based, in the order the document lists layers.
    #[arg(long, default_value_t = 1)]
    layer: usize,
    /// Only the platform's image in this tag (default: the one whose `file:` hash the source gives).
    #[arg(long)]
    tag: Option<String>,
    /// Without a document: the step's `file:` hash (hex, with or without `file:`).
    #[arg(long, conflicts_with = "document", requires_all = ["expected", "docker_version"])]
    file_hash: Option<String>,
    /// Without a document: the published layer digest.
    #[arg(long)]
    expected: Option<String>,
    /// Without a document: the `Docker Version` that wrote the layer.
    #[arg(long)]
    docker_version: Option<String>,
    /// The source's path relative to the build context, as hashed (default: its file name).
    #[arg(long)]
    name: Option<String>,
    /// Write the matched blob (or, without a match, the release's plain one) here, atomically.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

impl WriteArgs {
    fn run(self) -> anyhow::Result<Outcome> {
        let WriteArgs {
            dir,
            profile,
            output,
            tar,
            unshare_whiteouts,
            json,
        } = self;
        let profile = Profile::from_name(&profile)?;
        let mut entries = layer::read_tree(&dir, &WalkOptions::default())?;
        if unshare_whiteouts {
            layer::unshare_whiteouts(&mut entries);
        }
        let info = if tar {
            let info = write_to(output.as_deref(), |w| layer::write_tar_digest(&entries, &profile, w))?;
            if !json {
                out::println(format!("diff_id {}\nsize {}", info.diff_id, info.size))?;
            }
            serde_json::to_string(&info)?
        } else {
            let info = write_to(output.as_deref(), |w| layer::write_blob(&entries, &profile, w))?;
            if !json {
                out::println(format!(
                    "digest {}\ndiff_id {}\nsize {}",
                    info.digest, info.diff_id, info.size
                ))?;
            }
            serde_json::to_string(&info)?
        };
        if json {
            out::println(info)?;
        }
        Ok(Outcome::Match)
    }
}

impl AddArgs {
    fn run(self) -> anyhow::Result<Outcome> {
        let AddArgs {
            source,
            document,
            platform,
            layer,
            tag,
            file_hash,
            expected,
            docker_version,
            name,
            output,
            json,
        } = self;
        use retrace::add::BaseStep;
        use retrace::commands::layer_add::{run, LayerAddOptions, StepFacts};
        let facts = match (document, file_hash) {
            (Some(document), _) => StepFacts::Document {
                document,
                platform: platform.unwrap_or_default(),
                layer,
                tag,
            },
            (None, Some(hash)) => StepFacts::Given(BaseStep {
                file_hash: retrace::Digest::from_hex(hash.trim_start_matches("file:"))?,
                expected: expected.unwrap_or_default().parse()?,
                docker_version: docker_version.unwrap_or_default(),
                created: None,
            }),
            (None, None) => anyhow::bail!("give --document or --file-hash"),
        };
        let opts = LayerAddOptions {
            source,
            facts,
            name,
            output,
            json,
        };
        use retrace::commands::layer_add::LayerAddError;
        let matched = run(&opts, &mut std::io::stdout().lock()).map_err(|e| match e {
            LayerAddError::Output { path, source } if path == Path::new(retrace::gzip::STDOUT) => {
                out::write_error(source)
            }
            other => other.into(),
        })?;
        Ok(if matched { Outcome::Match } else { Outcome::Differ })
    }
}
