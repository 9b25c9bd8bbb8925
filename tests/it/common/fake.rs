//! A fake engine for replays without a daemon: it commits the trees of `testdata/reproduce/layers.yaml`
//! (the seed layers research recovered, without their mtimes) for the RUN steps they belong to,
//! imports base layers as given, and fails every other RUN as a step without network would. Each
//! entry it commits carries the time the fake's replay of the step that last changed it ran
//! (`set_by`), or the base layer's own time for entries the base made: what a real replay's diff
//! holds, so the replay's timestamp search and verdicts run as they do against Docker.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use retrace::layer::{write_tar, Entry, EntryKind, Profile};
use retrace::platform::Platform;
use retrace::replay::exec::{Diff, Engines, ExecError, Executor, ImageId, RunSpec, Snapshot};

use super::fixtures::{self, FixtureEntry};

/// The replay clock: the fake's first step runs at this Unix time, later ones 2 s apart.
const CLOCK: i64 = 1_900_000_000;

/// One recorded RUN layer: the start of its step's text and its tree.
#[derive(Clone)]
struct Layer {
    step: String,
    entries: Arc<Vec<FixtureEntry>>,
}

/// Fake engines for the layers of `seed`/`platform` in `testdata/reproduce/layers.yaml`; diffs are
/// written under `dir`.
pub struct FakeEngines {
    layers: Vec<Layer>,
    dir: PathBuf,
}

impl FakeEngines {
    pub fn new(seed: &str, platform: &str, dir: &Path) -> FakeEngines {
        let layers = fixtures::fixtures()
            .into_iter()
            .filter(|l| l.seed == seed && l.platform == platform)
            .map(|l| Layer {
                step: l.step.trim_start_matches("RUN ").to_string(),
                entries: Arc::new(l.entries),
            })
            .collect();
        FakeEngines {
            layers,
            dir: dir.to_path_buf(),
        }
    }
}

impl Engines for FakeEngines {
    fn connect(&self, _endpoint: &str, _cache: &Path) -> Result<Box<dyn Executor>, ExecError> {
        Ok(Box::new(FakeExecutor {
            layers: self.layers.clone(),
            dir: self.dir.clone(),
            state: Mutex::new(State::default()),
        }))
    }
}

#[derive(Default)]
struct State {
    /// Each image's diff, by image id.
    diffs: HashMap<String, PathBuf>,
    /// When each layer-making step ran, by layer number (1-based).
    times: Vec<i64>,
    /// The base layer's own mtimes, by path.
    base: BTreeMap<String, i64>,
}

struct FakeExecutor {
    layers: Vec<Layer>,
    dir: PathBuf,
    state: Mutex<State>,
}

impl FakeExecutor {
    /// Records a new layer whose diff is `tar` and returns its snapshot.
    fn commit(&self, state: &mut State, tar: PathBuf) -> Snapshot {
        let started = next_start(state);
        state.times.push(started);
        let image = format!("fake:{}", state.times.len());
        state.diffs.insert(image.clone(), tar);
        Snapshot {
            image: ImageId(image),
            started,
            finished: started + 1,
        }
    }

    /// The tree of `layer` as the fake's replay committed it, written as a tar.
    fn tree(&self, state: &State, layer: &Layer) -> PathBuf {
        let entries: Vec<Entry> = layer.entries.iter().map(|e| entry(e, state)).collect();
        let path = self.dir.join(format!("diff-{}.tar", state.times.len() + 1));
        let mut tar = Vec::new();
        write_tar(&entries, &Profile::docker_18_06(), &mut tar).unwrap();
        std::fs::write(&path, tar).unwrap();
        path
    }
}

/// When the next step of the fake's replay starts.
fn next_start(state: &State) -> i64 {
    CLOCK + 2 * state.times.len() as i64
}

/// One recorded entry with the time the fake's replay gave it.
fn entry(e: &FixtureEntry, state: &State) -> Entry {
    let mode = u32::from_str_radix(&e.mode, 8).unwrap();
    let mut out = match e.kind.as_str() {
        "dir" => Entry::dir(e.path.as_bytes(), mode),
        "symlink" => Entry::symlink(e.path.as_bytes(), e.target.clone().unwrap().into_bytes()),
        kind => panic!("the fake commits dirs and symlinks, not {kind}"),
    };
    if matches!(out.kind, EntryKind::Symlink(_)) {
        out.mode = mode;
    }
    out.opaque = e.opaque;
    let mtime = match e.set_by {
        1 => *state
            .base
            .get(&e.path)
            .unwrap_or_else(|| panic!("{} is not in the base layer", e.path)),
        n if n <= state.times.len() => state.times[n - 1],
        // The step being committed: its time is the one it is about to get.
        _ => next_start(state),
    };
    out.with_owner(e.uid.into(), e.gid.into()).with_mtime(mtime)
}

impl Executor for FakeExecutor {
    fn endpoint(&self) -> &str {
        "fake://"
    }

    fn engine_version(&self) -> Result<Option<String>, ExecError> {
        Ok(Some("fake".into()))
    }

    fn missing_paths(&self, _image: &ImageId, _paths: &[String]) -> Result<Vec<String>, ExecError> {
        Ok(Vec::new())
    }

    fn has_image(&self, image: &ImageId) -> bool {
        self.state.lock().unwrap().diffs.contains_key(&image.0)
    }

    fn top_layer(&self, image: &ImageId) -> Result<Option<String>, ExecError> {
        Ok(Some(image.0.clone()))
    }

    fn import_layer(
        &self,
        _platform: &Platform,
        _parent: Option<&ImageId>,
        layer_tar: &Path,
        _tag: &str,
    ) -> Result<Snapshot, ExecError> {
        let mut state = self.state.lock().unwrap();
        if state.times.is_empty() {
            state.base = base_times(layer_tar);
        }
        Ok(self.commit(&mut state, layer_tar.to_path_buf()))
    }

    fn run(&self, _parent: &ImageId, spec: &RunSpec, _tag: &str, log: &mut dyn Write) -> Result<Snapshot, ExecError> {
        let text = spec.argv.last().cloned().unwrap_or_default();
        let Some(layer) = self.layers.iter().find(|l| text.starts_with(&l.step)) else {
            // What a step that fetches does without network: it fails.
            let _ = writeln!(log, "fake: no recorded tree; the step fails as without network");
            return Err(ExecError::StepFailed {
                code: 1,
                hint: String::new(),
            });
        };
        let mut state = self.state.lock().unwrap();
        let tar = self.tree(&state, layer);
        Ok(self.commit(&mut state, tar))
    }

    fn copy(&self, _parent: &ImageId, _tar: Vec<u8>, _tag: &str) -> Result<Snapshot, ExecError> {
        Err(ExecError::Io(std::io::Error::other("the fake engine replays no COPY")))
    }

    fn workdir(&self, _parent: &ImageId, _path: &str, _tag: &str) -> Result<Snapshot, ExecError> {
        Err(ExecError::Io(std::io::Error::other(
            "the fake engine replays no WORKDIR",
        )))
    }

    fn diff(&self, image: &ImageId) -> Result<Diff, ExecError> {
        Ok(Diff::Tar(self.state.lock().unwrap().diffs[&image.0].clone()))
    }

    fn read_file(&self, _image: &ImageId, _path: &str, _limit: u64) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(None)
    }

    fn host_address(&self) -> Result<Option<std::net::IpAddr>, ExecError> {
        Ok(None)
    }
}

/// The mtimes of a base layer tar, by path without a trailing `/`.
fn base_times(tar: &Path) -> BTreeMap<String, i64> {
    let mut archive = tar::Archive::new(std::fs::File::open(tar).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
            (path, e.header().mtime().unwrap() as i64)
        })
        .collect()
}
