//! The Docker Engine executor (bollard over one shared tokio runtime).
//!
//! Design: rayon runs platforms in parallel on plain threads; each call here blocks that thread on
//! one process-wide multi-threaded tokio runtime (`block_on` is safe from many non-runtime threads
//! at once). One runtime keeps the number of OS threads fixed however many platforms run, and the
//! async code stays inside this module.
//!
//! Foreign platforms need nothing special here: the base image's config carries the platform's
//! architecture/variant, and the kernel runs its binaries through qemu-user-static because the
//! binfmt handlers are registered with the F flag (the interpreter is opened at registration, so
//! it works inside the container's mount namespace).
//!
//! Diff capture: on a local overlay2 engine the committed image's `GraphDriver.Data.UpperDir` is
//! the exact directory Docker's tar-split walked when the layer was created, so it is read in place
//! (no copy, whiteouts and opaque markers intact). Otherwise the image is exported (`docker save`)
//! and its last layer tar is kept; that path works for any storage driver and remote engines.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerConfig, ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CommitContainerOptions, CreateContainerOptions, DownloadFromContainerOptions, ImportImageOptions, LogsOptions,
    RemoveContainerOptions, UploadToContainerOptions, WaitContainerOptions,
};
use bollard::{body_full, ClientVersion, Docker};
use futures_util::StreamExt;

use super::{tar_file, Diff, ExecError, Executor, ImageId, RunSpec, Snapshot};
use crate::archive::{ArchiveError, DockerManifest, TarMembers};
use crate::platform::Platform;

/// The repository retrace tags its intermediate images with, so `docker image prune` keeps them
/// (they are the build cache) and a user can remove them all at once.
pub const CACHE_REPOSITORY: &str = "retrace-cache";

/// Requests may legitimately last as long as the slowest RUN step (compiling Python under QEMU
/// takes hours), so the client timeout is a day rather than bollard's two minutes.
const REQUEST_TIMEOUT_SECS: u64 = 24 * 3600;

/// The newest API version Docker 20.10 speaks; newer engines accept it too.
const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("retrace-docker")
            .build()
            // Creating a current-thread runtime fails only when the OS refuses its resources; nothing can go on then.
            .expect("the tokio runtime cannot be created (out of threads?)")
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub struct DockerExecutor {
    endpoint: String,
    docker: Docker,
    /// Whether the engine's files are on this machine (a unix socket), so UpperDir can be read.
    local: bool,
    /// Where exported layer tars are kept when the diff directory is not readable.
    export_dir: PathBuf,
}

/// The Docker Engine API at each platform's endpoint.
pub struct DockerEngines;

impl super::Engines for DockerEngines {
    fn connect(&self, endpoint: &str, cache: &Path) -> Result<Box<dyn super::Executor>, ExecError> {
        Ok(Box::new(DockerExecutor::connect(endpoint, &cache.join("exports"))?))
    }
}

impl DockerExecutor {
    /// Connects to `endpoint` (`unix://…`, `tcp://…`, `http://…`) and checks the engine answers.
    pub fn connect(endpoint: &str, export_dir: &Path) -> Result<DockerExecutor, ExecError> {
        let err = |source| ExecError::Connect {
            endpoint: endpoint.to_string(),
            source,
        };
        let docker = if endpoint.starts_with("unix://") {
            Docker::connect_with_unix(endpoint, REQUEST_TIMEOUT_SECS, &API_VERSION)
        } else {
            let http = endpoint.replacen("tcp://", "http://", 1);
            Docker::connect_with_http(&http, REQUEST_TIMEOUT_SECS, &API_VERSION)
        }
        .map_err(err)?;
        runtime().block_on(docker.ping()).map_err(err)?;
        Ok(DockerExecutor {
            endpoint: endpoint.to_string(),
            docker,
            local: endpoint.starts_with("unix://"),
            export_dir: export_dir.to_path_buf(),
        })
    }

    fn engine_err(&self, operation: &'static str) -> impl Fn(bollard::errors::Error) -> ExecError + '_ {
        move |source| ExecError::Engine {
            endpoint: self.endpoint.clone(),
            operation,
            source,
        }
    }

    /// Creates the container of step `tag`, named after it: a container left by a killed build
    /// (still running its command) is removed first, so a rerun never races an orphan.
    async fn create(&self, tag: &str, body: ContainerCreateBody) -> Result<String, ExecError> {
        let name = format!("retrace-{tag}");
        self.remove(&name).await;
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(self.engine_err("create container"))?;
        Ok(created.id)
    }

    /// Creates (without starting) a container of `image` that would only run `true`: the envelope
    /// for copying files in, reading them out, or committing a working directory.
    async fn create_idle(&self, tag: &str, image: &ImageId, working_dir: Option<&str>) -> Result<String, ExecError> {
        self.create(
            tag,
            ContainerCreateBody {
                image: Some(image.0.clone()),
                cmd: Some(vec!["true".into()]),
                working_dir: working_dir.map(str::to_string),
                ..Default::default()
            },
        )
        .await
    }

    /// Commits `container` as `retrace-cache:<tag>` and removes the container whatever happens.
    async fn commit_and_remove(&self, container: &str, tag: &str) -> Result<ImageId, ExecError> {
        let committed = self
            .docker
            .commit_container(
                CommitContainerOptions {
                    container: Some(container.to_string()),
                    repo: Some(CACHE_REPOSITORY.to_string()),
                    tag: Some(tag.to_string()),
                    pause: false,
                    ..Default::default()
                },
                ContainerConfig::default(),
            )
            .await
            .map_err(self.engine_err("commit"));
        self.remove(container).await;
        Ok(ImageId(committed?.id))
    }

    async fn remove(&self, container: &str) {
        // A container left behind is only clutter, never a wrong result, so removal errors are
        // not fatal.
        let _ = self
            .docker
            .remove_container(
                container,
                Some(RemoveContainerOptions {
                    force: true,
                    // The anonymous volumes of a RUN under `VOLUME` go with it.
                    v: true,
                    ..Default::default()
                }),
            )
            .await;
    }

    async fn inspect_id(&self, name: &str) -> Result<ImageId, ExecError> {
        let img = self
            .docker
            .inspect_image(name)
            .await
            .map_err(self.engine_err("inspect image"))?;
        Ok(ImageId(img.id.unwrap_or_default()))
    }

    /// Exports `image` and keeps its top layer's tar under `export_dir`.
    async fn export_top_layer(&self, image: &ImageId) -> Result<PathBuf, ExecError> {
        let mut stream = self.docker.export_image(&image.0);
        let tmp = tempfile::NamedTempFile::new_in(ensure_dir(&self.export_dir)?)?;
        let mut file = io::BufWriter::new(tmp.reopen()?);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.engine_err("save image"))?;
            file.write_all(&chunk)?;
        }
        file.flush()?;
        drop(file);
        let out = self
            .export_dir
            .join(format!("{}.tar", image.0.trim_start_matches("sha256:")));
        extract_top_layer(tmp.path(), &out).map_err(ExecError::SavedImage)?;
        Ok(out)
    }
}

fn ensure_dir(dir: &Path) -> io::Result<&Path> {
    std::fs::create_dir_all(dir)?;
    Ok(dir)
}

impl Executor for DockerExecutor {
    /// The engine's version (`20.10.24+dfsg1`), for the record of the build's inputs.
    fn engine_version(&self) -> Result<Option<String>, ExecError> {
        let version = runtime()
            .block_on(self.docker.version())
            .map_err(self.engine_err("version"))?;
        Ok(version.version)
    }

    /// Which of the absolute `paths` do not exist in `image` (asked with the archive API's `HEAD`
    /// in one idle container). The builder owns a directory a COPY creates by `--chown` only
    /// when it was missing, so the replay needs to know.
    fn missing_paths(&self, image: &ImageId, paths: &[String]) -> Result<Vec<String>, ExecError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        runtime().block_on(async {
            let name = format!(
                "stat-{}",
                &image.0.trim_start_matches("sha256:")[..12.min(image.0.len())]
            );
            let id = self.create_idle(&name, image, None).await?;
            let mut missing = Vec::new();
            let mut result = Ok(());
            for path in paths {
                let options = bollard::query_parameters::ContainerArchiveInfoOptions { path: path.clone() };
                match self.docker.get_container_archive_info(&id, Some(options)).await {
                    Ok(_) => {}
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                        missing.push(path.clone())
                    }
                    Err(e) => {
                        result = Err(self.engine_err("stat a path")(e));
                        break;
                    }
                }
            }
            self.remove(&id).await;
            result.map(|()| missing)
        })
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn has_image(&self, image: &ImageId) -> bool {
        runtime().block_on(self.docker.inspect_image(&image.0)).is_ok()
    }

    fn top_layer(&self, image: &ImageId) -> Result<Option<String>, ExecError> {
        let img = runtime()
            .block_on(self.docker.inspect_image(&image.0))
            .map_err(self.engine_err("inspect image"))?;
        Ok(img.root_fs.and_then(|r| r.layers).and_then(|mut l| l.pop()))
    }

    fn import_layer(
        &self,
        platform: &Platform,
        parent: Option<&ImageId>,
        layer_tar: &Path,
        tag: &str,
    ) -> Result<Snapshot, ExecError> {
        let started = now();
        runtime().block_on(async {
            // The parent's layers are named in the archive's config but not shipped: `docker load`
            // finds them in its layer store by chain ID and only reads the new layer's tar.
            let parent_layers = match parent {
                Some(p) => {
                    let img = self
                        .docker
                        .inspect_image(&p.0)
                        .await
                        .map_err(self.engine_err("inspect image"))?;
                    img.root_fs.and_then(|r| r.layers).unwrap_or_default()
                }
                None => Vec::new(),
            };
            let archive = docker_archive(
                platform,
                &parent_layers,
                layer_tar,
                &format!("{CACHE_REPOSITORY}:{tag}"),
            )?;
            let mut stream = self.docker.import_image(
                ImportImageOptions {
                    quiet: true,
                    ..Default::default()
                },
                body_full(archive.into()),
                None,
            );
            while let Some(msg) = stream.next().await {
                msg.map_err(self.engine_err("load base image"))?;
            }
            let image = self.inspect_id(&format!("{CACHE_REPOSITORY}:{tag}")).await?;
            Ok(Snapshot {
                image,
                started,
                finished: now(),
            })
        })
    }

    fn run(&self, parent: &ImageId, spec: &RunSpec, tag: &str, log: &mut dyn Write) -> Result<Snapshot, ExecError> {
        runtime().block_on(async {
            let body = ContainerCreateBody {
                image: Some(parent.0.clone()),
                cmd: Some(spec.argv.clone()),
                // The parent is one of our own images whose config never has an entrypoint, but an
                // explicit empty one makes that independent of how the parent was made.
                entrypoint: Some(vec![]),
                env: Some(spec.env.clone()),
                working_dir: Some(spec.workdir.clone()).filter(|w| !w.is_empty()),
                user: Some(spec.user.clone()).filter(|u| !u.is_empty()),
                host_config: Some(HostConfig {
                    network_mode: Some(spec.network.clone()),
                    mounts: Some(volume_mounts(&spec.volumes)).filter(|m| !m.is_empty()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            // The step begins when its container is made: the init layer Docker makes with it
            // (the /etc/hosts, /etc/hostname and /etc/resolv.conf mount points) gives /etc that
            // time, and a RUN that copies /etc up keeps it, so it must count as the step's own.
            let started = now();
            let id = self.create(tag, body).await?;
            if let Err(e) = self.docker.start_container(&id, None).await {
                self.remove(&id).await;
                return Err(self.engine_err("start container")(e));
            }
            let mut logs = self.docker.logs(
                &id,
                Some(LogsOptions {
                    follow: true,
                    stdout: true,
                    stderr: true,
                    tail: "all".into(),
                    ..Default::default()
                }),
            );
            while let Some(chunk) = logs.next().await {
                match chunk {
                    Ok(out) => {
                        let _ = log.write_all(&out.into_bytes());
                    }
                    Err(_) => break,
                }
            }
            let _ = log.flush();
            let mut wait = self.docker.wait_container(&id, None::<WaitContainerOptions>);
            let mut code = 0;
            while let Some(r) = wait.next().await {
                match r {
                    Ok(w) => code = w.status_code,
                    // bollard reports a non-zero exit as an error carrying the code.
                    Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = c,
                    Err(e) => {
                        self.remove(&id).await;
                        return Err(self.engine_err("wait container")(e));
                    }
                }
            }
            if code != 0 {
                self.remove(&id).await;
                return Err(ExecError::StepFailed {
                    code,
                    hint: String::new(),
                });
            }
            let image = self.commit_and_remove(&id, tag).await?;
            Ok(Snapshot {
                image,
                started,
                finished: now(),
            })
        })
    }

    fn copy(&self, parent: &ImageId, tar: Vec<u8>, tag: &str) -> Result<Snapshot, ExecError> {
        runtime().block_on(async {
            // From the container's making, as for RUN (its init layer touches /etc).
            let started = now();
            let id = self.create_idle(tag, parent, None).await?;
            let uploaded = self
                .docker
                .upload_to_container(
                    &id,
                    Some(UploadToContainerOptions {
                        path: "/".into(),
                        ..Default::default()
                    }),
                    body_full(tar.into()),
                )
                .await;
            if let Err(e) = uploaded {
                self.remove(&id).await;
                return Err(self.engine_err("copy into container")(e));
            }
            let image = self.commit_and_remove(&id, tag).await?;
            Ok(Snapshot {
                image,
                started,
                finished: now(),
            })
        })
    }

    fn read_file(&self, image: &ImageId, path: &str, limit: u64) -> Result<Option<Vec<u8>>, ExecError> {
        runtime().block_on(async {
            let name = format!(
                "read-{}",
                &image.0.trim_start_matches("sha256:")[..12.min(image.0.len())]
            );
            let read_err = |source| ExecError::ReadFile {
                endpoint: self.endpoint.clone(),
                path: path.to_string(),
                source,
            };
            let id = self.create_idle(&name, image, None).await?;
            let mut stream = self
                .docker
                .download_from_container(&id, Some(DownloadFromContainerOptions { path: path.to_string() }));
            // The archive holds one entry (the file); a little over `limit` covers its header.
            let mut tar = Vec::new();
            let mut result = Ok(());
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => {
                        tar.extend_from_slice(&bytes);
                        if tar.len() as u64 > limit + 64 * 1024 {
                            result = Err(ExecError::FileTooLarge {
                                endpoint: self.endpoint.clone(),
                                path: path.to_string(),
                                limit,
                            });
                            break;
                        }
                    }
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                        self.remove(&id).await;
                        return Ok(None);
                    }
                    Err(e) => {
                        result = Err(self.engine_err("read file")(e));
                        break;
                    }
                }
            }
            self.remove(&id).await;
            result?;
            // The engine's own archive of one file, already held to `limit` bytes above, read
            // by the same Go-compatible reader as every archive.
            let mut reader = crate::archive::gotar::Reader::new(tar.as_slice());
            let first = reader.next().map_err(|e| read_err(std::io::Error::other(e)))?;
            // The archive of a single file has that file as its first and only entry.
            match first {
                Some(h) if h.typeflag == b'0' => {
                    let mut data = Vec::new();
                    reader.read_to_end(&mut data).map_err(read_err)?;
                    Ok(Some(data))
                }
                _ => Ok(None),
            }
        })
    }

    fn host_address(&self) -> Result<Option<std::net::IpAddr>, ExecError> {
        // Only a daemon on this machine shares its bridge with us.
        if !self.local {
            return Ok(None);
        }
        runtime().block_on(async {
            let bridge = self
                .docker
                .inspect_network("bridge", None)
                .await
                .map_err(self.engine_err("inspect the bridge network"))?;
            let configs = bridge.ipam.and_then(|ipam| ipam.config).unwrap_or_default();
            // The default bridge often records only its subnet; its gateway (docker0's address)
            // is then the subnet's first address, which is what the daemon assigns.
            let first_of_subnet = |subnet: &str| -> Option<std::net::IpAddr> {
                let (net, _) = subnet.split_once('/')?;
                let v4: std::net::Ipv4Addr = net.parse().ok()?;
                Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4) + 1)))
            };
            Ok(configs
                .iter()
                .find_map(|c| c.gateway.as_deref().and_then(|g| g.parse().ok()))
                .or_else(|| {
                    configs
                        .iter()
                        .find_map(|c| c.subnet.as_deref().and_then(first_of_subnet))
                }))
        })
    }

    fn workdir(&self, parent: &ImageId, path: &str, tag: &str) -> Result<Snapshot, ExecError> {
        runtime().block_on(async {
            let started = now();
            let id = self.create_idle(tag, parent, Some(path)).await?;
            let image = self.commit_and_remove(&id, tag).await?;
            Ok(Snapshot {
                image,
                started,
                finished: now(),
            })
        })
    }

    fn diff(&self, image: &ImageId) -> Result<Diff, ExecError> {
        runtime().block_on(async {
            let img = self
                .docker
                .inspect_image(&image.0)
                .await
                .map_err(self.engine_err("inspect image"))?;
            let driver = img.graph_driver.unwrap_or_default();
            if self.local && driver.name == "overlay2" {
                if let Some(upper) = driver.data.get("UpperDir") {
                    let upper = PathBuf::from(upper);
                    // The layer store made this directory by extracting the commit's tar, and
                    // its Chtimes set every time before 1970 or after 2262 to the epoch; only the
                    // tar headers it kept have the real ones, so such a layer is read from the
                    // engine's export instead.
                    if upper.is_dir() && !crate::layer::walk::holds_epoch_mtime(&upper).unwrap_or(true) {
                        return Ok(Diff::Dir(upper));
                    }
                }
            }
            self.export_top_layer(image)
                .await
                .map(Diff::Tar)
                .map_err(|e| ExecError::Storage {
                    endpoint: self.endpoint.clone(),
                    driver: driver.name.clone(),
                    source: Box::new(e),
                })
        })
    }
}

/// One anonymous volume per `VOLUME` path, as the classic builder's RUN container has (the image
/// content there is copied into the fresh volume, and what the command writes stays in it). They
/// are host mounts rather than the container config's `Volumes`, so the committed image does not
/// carry them into the later COPY and WORKDIR steps, which the builder never mounts them for.
fn volume_mounts(paths: &[String]) -> Vec<Mount> {
    paths
        .iter()
        .map(|p| Mount {
            target: Some(p.clone()),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        })
        .collect()
}

/// A `docker load` archive of one image: `manifest.json`, the config (carrying the platform, so
/// containers of this image and its children run as that architecture) and the layer tar.
fn docker_archive(
    platform: &Platform,
    parent_layers: &[String],
    layer_tar: &Path,
    repo_tag: &str,
) -> io::Result<Vec<u8>> {
    let diff_id = crate::Digest::of_reader(io::BufReader::new(std::fs::File::open(layer_tar)?))?;
    let mut diff_ids: Vec<String> = parent_layers.to_vec();
    diff_ids.push(diff_id.to_string());
    let history: Vec<serde_json::Value> = diff_ids
        .iter()
        .map(|_| serde_json::json!({"created": "1970-01-01T00:00:00Z", "created_by": "retrace: imported layer"}))
        .collect();
    let mut config = serde_json::json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    if let Some(v) = &platform.variant {
        config["variant"] = serde_json::Value::String(v.clone());
    }
    let config = serde_json::to_vec(&config)?;
    let config_name = format!("{}.json", crate::Digest::of(&config).hex());
    let mut layers: Vec<String> = (0..parent_layers.len())
        .map(|i| format!("parent-{i}/layer.tar"))
        .collect();
    layers.push("layer.tar".into());
    let manifest = DockerManifest::to_json(&[DockerManifest {
        config: config_name.clone(),
        layers,
        repo_tags: vec![repo_tag.to_string()],
    }]);
    let mut out = Vec::new();
    tar_file(&mut out, "manifest.json", &manifest)?;
    tar_file(&mut out, &config_name, &config)?;
    let mut layer = Vec::new();
    std::fs::File::open(layer_tar)?.read_to_end(&mut layer)?;
    tar_file(&mut out, "layer.tar", &layer)?;
    out.extend_from_slice(&[0u8; 1024]);
    Ok(out)
}

/// Copies the last layer of the engine's `docker save` archive to `out` (atomically). The archive
/// is the engine's own output, but it is read through the archive reader's member index like any
/// other, which bounds it and finds members without a second pass.
fn extract_top_layer(archive: &Path, out: &Path) -> Result<(), ArchiveError> {
    let members = TarMembers::index(archive)?;
    let images = DockerManifest::read(&members)?;
    let top = images
        .first()
        .and_then(|m| m.layers.last())
        .ok_or_else(|| ArchiveError::MissingMember {
            member: "a layer named in manifest.json".into(),
        })?;
    let mut content = members.open(top)?;
    crate::fsutil::write_new(out, |w| io::copy(&mut content, w).map(|_| ()))?;
    Ok(())
}
