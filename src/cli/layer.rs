use std::path::PathBuf;

use clap::Subcommand;
use retrace::commands::hash_file::HashFileOptions;
use retrace::commands::layer_add::LayerAddOptions;
use retrace::commands::layer_write::LayerWriteOptions;
use retrace::commands::Console;
use retrace::Outcome;

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
    Reproduce {
        /// The rebuilt diff directory of the layer.
        dir: PathBuf,
        /// The repo-info document that lists the layer.
        #[arg(long)]
        document: PathBuf,
        /// The platform, as os/arch[/variant] or as the document writes it ("linux; arm variant v7").
        #[arg(long)]
        platform: retrace::platform::Platform,
        /// The layer number, 1-based, in the order the document lists layers.
        #[arg(long)]
        layer: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Give up without a match after hashing this many candidates.
        #[arg(long, default_value_t = retrace::replay::layers::BUILD_SEARCH_CANDIDATES,
              value_parser = clap::value_parser!(u64).range(1..))]
        search_candidates: u64,
        /// Give up without a match after searching this many seconds.
        #[arg(long, default_value_t = retrace::commands::layer_reproduce::REPRODUCE_SEARCH_SECONDS)]
        search_seconds: u64,
    },
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
    pub fn run(self, console: &mut Console<'_>) -> anyhow::Result<Outcome> {
        use retrace::commands::{layer_add, layer_compress, layer_reproduce, layer_write};
        Ok(match self {
            Command::Write(args) => layer_write::run(&args.options(), console)?,
            Command::Add(args) => layer_add::run(&args.options()?, console)?,
            Command::Compress { input, level, output } => {
                layer_compress::run(&layer_compress::LayerCompressOptions { input, level, output }, console)?
            }
            Command::Reproduce {
                dir,
                document,
                platform,
                layer,
                json,
                search_candidates,
                search_seconds,
            } => layer_reproduce::run(
                &layer_reproduce::LayerReproduceOptions {
                    dir,
                    document,
                    platform,
                    layer,
                    json,
                    max_candidates: search_candidates,
                    max_time: std::time::Duration::from_secs(search_seconds),
                    progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                },
                console,
            )?,
        })
    }
}

impl HashFileArgs {
    pub fn options(self) -> HashFileOptions {
        HashFileOptions {
            path: self.path,
            profile: self.profile,
            name: self.name,
        }
    }
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
    platform: Option<retrace::platform::Platform>,
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
    /// Without a document: the `Docker Version` that wrote the layer (`17.06.2-ce`), or its profile
    /// name (`docker-17.06`).
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
    fn options(self) -> LayerWriteOptions {
        LayerWriteOptions {
            dir: self.dir,
            profile: self.profile,
            output: self.output,
            tar: self.tar,
            unshare_whiteouts: self.unshare_whiteouts,
            json: self.json,
        }
    }
}

impl AddArgs {
    fn options(self) -> anyhow::Result<LayerAddOptions> {
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
        use retrace::commands::layer_add::StepFacts;
        let facts = match (document, file_hash) {
            (Some(document), _) => StepFacts::Document {
                document,
                // clap's `requires = "platform"` on --document makes this a usage error first.
                platform: platform.ok_or_else(|| anyhow::anyhow!("--document needs --platform"))?,
                layer,
                tag,
            },
            (None, Some(hash)) => StepFacts::Given(BaseStep {
                file_hash: retrace::Digest::from_hex(hash.trim_start_matches("file:"))?,
                expected: expected.unwrap_or_default().parse()?,
                // clap's `requires_all` makes a missing --docker-version a usage error first.
                profile: retrace::layer::Profile::resolve(&docker_version.unwrap_or_default())?,
                created: None,
            }),
            (None, None) => anyhow::bail!("give --document or --file-hash"),
        };
        Ok(LayerAddOptions {
            source,
            facts,
            name,
            output,
            json,
        })
    }
}
