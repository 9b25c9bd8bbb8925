//! The replay plan of one platform: the ordered steps to run, the image config each step sees and
//! leaves, and which step makes which layer. Pure data in, pure data out: no Docker, no file system.
//!
//! The input is deliberately small ([`PlanInput`]): the document model and the instruction IR are
//! turned into it by [`crate::replay::input::inputs_of`], so this module does not change when the
//! parser grows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use crate::digest::Digest;
use crate::recipe::Platform;

/// One platform's recorded history, reduced to what a replay needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    pub platform: Platform,
    /// The document's `Docker Version` (selects the layer byte profile); `None` when absent.
    pub docker_version: Option<String>,
    pub steps: Vec<InputStep>,
    /// The published layer digests in document order.
    pub layers: Vec<Digest>,
    /// The latest time the document records (a step's `created`, a layer's `Last Modified`): an
    /// mtime after it was set by a replay. `None`: no bound.
    pub recorded_latest: Option<i64>,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputStep {
    /// The history text verbatim, keyword included; reports name steps by it.
    pub text: String,
    /// The recorded `created` time in seconds since the epoch.
    pub created: Option<i64>,
    /// Build arguments recorded with the step (`# ARGS:`), `None` values meaning "declared, unset".
    pub args: Vec<(String, Option<String>)>,
    pub step: Step,
    /// Which layer (0-based) the step made, when a step-to-layer mapping already decided it;
    /// `None` lets the plan decide by instruction kind.
    pub makes_layer: Option<Option<usize>>,
}

/// What a history entry did, in the replay's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `script` is the text the shell ran (classic builder: given to `SHELL` + the text);
    /// `exec` is set instead for an exec-form RUN.
    Run {
        script: String,
        exec: Option<Vec<String>>,
    },
    /// `ADD`/`COPY` of a hashed source (`file:<hex>` / `dir:<hex>`) to a destination.
    Copy {
        add: bool,
        source: String,
        dest: String,
        chown: Option<String>,
    },
    Env(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Shell(Vec<String>),
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    Volume(Vec<String>),
    StopSignal(String),
    /// Anything else (ARG, MAINTAINER, ONBUILD, HEALTHCHECK, unknown): recorded, not replayed.
    Other(String),
}

/// The runtime part of an image config, as Docker keeps it, in the OCI config's field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    #[serde(rename = "User", skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(
        rename = "ExposedPorts",
        skip_serializing_if = "BTreeSet::is_empty",
        serialize_with = "as_empty_objects"
    )]
    pub exposed_ports: BTreeSet<String>,
    #[serde(rename = "Env", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(rename = "Entrypoint", skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        rename = "Volumes",
        skip_serializing_if = "BTreeSet::is_empty",
        serialize_with = "as_empty_objects"
    )]
    pub volumes: BTreeSet<String>,
    #[serde(rename = "WorkingDir", skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "StopSignal", skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// The shell of shell-form commands; empty means Docker's default `/bin/sh -c`.
    #[serde(rename = "Shell", skip_serializing_if = "Vec::is_empty")]
    pub shell: Vec<String>,
}

fn as_empty_objects<S: serde::Serializer>(set: &BTreeSet<String>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(set.len()))?;
    for k in set {
        m.serialize_entry(k, &serde_json::Map::new())?;
    }
    m.end()
}

impl ImageConfig {
    /// The shell used for shell-form RUN/CMD (Docker's default when no SHELL was recorded).
    pub fn effective_shell(&self) -> Vec<String> {
        if self.shell.is_empty() {
            vec!["/bin/sh".into(), "-c".into()]
        } else {
            self.shell.clone()
        }
    }

    /// Sets or replaces `key` in the environment, keeping the order Docker keeps (replace in place,
    /// append when new).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.set_envs(std::iter::once((key, value)));
    }

    /// Sets every pair in turn, as [`ImageConfig::set_env`] would one by one, in time linear in
    /// the environment and the pairs together: one ENV line may hold tens of thousands of pairs.
    pub fn set_envs<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut at: HashMap<String, usize> = env_keys(&self.env).map(|(k, i)| (k.to_string(), i)).collect();
        for (key, value) in pairs {
            let entry = format!("{key}={value}");
            match at.get(key) {
                Some(&i) => self.env[i] = entry,
                None => {
                    at.insert(key.to_string(), self.env.len());
                    self.env.push(entry);
                }
            }
        }
    }

    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env.iter().find_map(|e| e.strip_prefix(key)?.strip_prefix('='))
    }
}

/// What the executor does for a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Action {
    /// The step made the first layer from a source (a rootfs tarball or a published layer blob):
    /// import it as the base image.
    Base { source: String },
    /// Run a container from the previous image with this argv, environment, directory and user.
    Run {
        argv: Vec<String>,
        env: Vec<String>,
        workdir: String,
        user: String,
        /// The `VOLUME`s declared before the step (their writes are discarded).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        volumes: Vec<String>,
    },
    /// Put a verified source into the previous image's file system.
    Copy {
        add: bool,
        source: String,
        dest: String,
        chown: Option<String>,
        workdir: String,
    },
    /// Make the working directory exist (a layer only when it did not).
    Workdir { path: String },
    /// Only the image config changes.
    Config,
}

/// A layer the plan expects a step to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LayerSlot {
    /// 1-based, in document order (the numbering reports use).
    pub index: usize,
    pub expected: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanStep {
    /// 0-based position in the history.
    pub position: usize,
    pub text: String,
    pub created: Option<i64>,
    pub action: Action,
    pub layer: Option<LayerSlot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformPlan {
    pub platform: Platform,
    /// The Docker release whose layer bytes are reproduced (document's or the recipe's override).
    pub docker_version: Option<String>,
    pub steps: Vec<PlanStep>,
    /// The final image config.
    #[serde(skip)]
    pub config: ImageConfig,
    /// Layers the plan could not attribute to a step (reported as `not-built`).
    pub unassigned_layers: Vec<LayerSlot>,
    /// Every layer of the document, in order. A step's `layer` is the plan's guess; the replay
    /// takes the next of these for each step that really made one.
    #[serde(skip)]
    pub layers: Vec<LayerSlot>,
    /// The input's `recorded_latest`, the timestamp search's bound.
    #[serde(skip)]
    pub recorded_latest: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("{platform}: the history has {steps} layer-making steps but the document lists {layers} layers")]
    LayerCount {
        platform: String,
        steps: usize,
        layers: usize,
    },
}

/// Orders the steps of one platform, tracks the config each one sees and assigns layers.
pub fn plan(
    input: &PlanInput,
    build_args: &[(String, String)],
    docker_version_override: Option<&str>,
) -> Result<PlatformPlan, PlanError> {
    let assignment = assign_layers(input)?;
    let mut config = ImageConfig::default();
    let mut steps = Vec::with_capacity(input.steps.len());
    for (pos, s) in input.steps.iter().enumerate() {
        let layer = assignment[pos].map(|i| LayerSlot {
            index: i + 1,
            expected: input.layers[i],
        });
        let action = action_of(s, layer, &mut config, build_args);
        steps.push(PlanStep {
            position: pos,
            text: s.text.clone(),
            created: s.created,
            action,
            layer,
        });
    }
    let assigned: BTreeSet<usize> = assignment.iter().flatten().copied().collect();
    let unassigned_layers = (0..input.layers.len())
        .filter(|i| !assigned.contains(i))
        .map(|i| LayerSlot {
            index: i + 1,
            expected: input.layers[i],
        })
        .collect();
    Ok(PlatformPlan {
        platform: input.platform.clone(),
        docker_version: docker_version_override
            .map(str::to_string)
            .or_else(|| input.docker_version.clone()),
        steps,
        config,
        unassigned_layers,
        recorded_latest: input.recorded_latest,
        layers: input
            .layers
            .iter()
            .enumerate()
            .map(|(i, d)| LayerSlot {
                index: i + 1,
                expected: *d,
            })
            .collect(),
    })
}

/// What replaying step `s` does, given the config of the steps before it (which a config step
/// or a WORKDIR updates).
fn action_of(
    s: &InputStep,
    layer: Option<LayerSlot>,
    config: &mut ImageConfig,
    build_args: &[(String, String)],
) -> Action {
    match &s.step {
        Step::Copy {
            add,
            source,
            dest,
            chown,
        } => {
            if layer.is_some_and(|l| l.index == 1) && dest == "/" {
                Action::Base { source: source.clone() }
            } else {
                Action::Copy {
                    add: *add,
                    source: source.clone(),
                    dest: dest.clone(),
                    chown: chown.clone(),
                    workdir: config.working_dir.clone(),
                }
            }
        }
        Step::Run { script, exec } => {
            let argv = match exec {
                Some(argv) => shell_or_exec(argv, config),
                None => {
                    let mut argv = config.effective_shell();
                    argv.push(script.clone());
                    argv
                }
            };
            Action::Run {
                argv,
                env: run_env(config, &s.args, build_args),
                workdir: config.working_dir.clone(),
                user: config.user.clone(),
                volumes: config.volumes.iter().cloned().collect(),
            }
        }
        // Every WORKDIR is replayed: whether it made a layer (it created its directory) shows
        // only in the replay, which decides the layer it takes.
        Step::Workdir(path) => {
            config.working_dir = resolve_workdir(&config.working_dir, &expand(path, config));
            Action::Workdir {
                path: config.working_dir.clone(),
            }
        }
        other => {
            apply_config(config, other);
            Action::Config
        }
    }
}

/// Which layer each step made. A mapping given in the input wins; otherwise ADD/COPY/RUN each make
/// one layer, and when the document has more layers than that, the earliest WORKDIRs made the rest
/// (the classic builder commits a WORKDIR only when it created the directory).
fn assign_layers(input: &PlanInput) -> Result<Vec<Option<usize>>, PlanError> {
    let given: Option<Vec<Option<usize>>> = input.steps.iter().map(|s| s.makes_layer).collect();
    if let Some(given) = given.filter(|g| !g.is_empty()) {
        return Ok(given);
    }
    let mandatory = input
        .steps
        .iter()
        .filter(|s| matches!(s.step, Step::Run { .. } | Step::Copy { .. }))
        .count();
    let workdirs = input
        .steps
        .iter()
        .filter(|s| matches!(s.step, Step::Workdir(_)))
        .count();
    let n = input.layers.len();
    if n < mandatory || n > mandatory + workdirs {
        return Err(PlanError::LayerCount {
            platform: input.platform.to_string(),
            steps: mandatory,
            layers: n,
        });
    }
    let mut extra = n - mandatory;
    let mut next = 0;
    let mut out = Vec::with_capacity(input.steps.len());
    for s in &input.steps {
        let makes = match s.step {
            Step::Run { .. } | Step::Copy { .. } => true,
            Step::Workdir(_) if extra > 0 => {
                extra -= 1;
                true
            }
            _ => false,
        };
        if makes {
            out.push(Some(next));
            next += 1;
        } else {
            out.push(None);
        }
    }
    Ok(out)
}

/// An exec-form RUN's recorded argv, or the shell form it really was: the classic builder records
/// `|N A=b` and then the argv joined by spaces, so a shell-form RUN under a custom SHELL that
/// repo-info did not know looks the same. When the argv starts with the step's shell, the rest is
/// one script again.
fn shell_or_exec(argv: &[String], config: &ImageConfig) -> Vec<String> {
    let shell = config.effective_shell();
    if argv.len() > shell.len() && argv.starts_with(&shell) {
        let mut out = shell.clone();
        out.push(argv[shell.len()..].join(" "));
        out
    } else {
        argv.to_vec()
    }
}

/// The environment of a RUN container: the image's, plus the recorded build args that the image
/// environment does not already set (the classic builder's rule), plus the recipe's extra args.
/// Linear in the environment and the args together: a key already set is found in a set.
fn run_env(config: &ImageConfig, args: &[(String, Option<String>)], extra: &[(String, String)]) -> Vec<String> {
    let mut env = config.env.clone();
    let mut set: HashSet<String> = env_keys(&config.env).map(|(k, _)| k.to_string()).collect();
    let mut add = |k: &str, v: &str| {
        if set.insert(k.to_string()) {
            env.push(format!("{k}={v}"));
        }
    };
    for (k, v) in args {
        if let Some(v) = v {
            add(k, v);
        }
    }
    for (k, v) in extra {
        add(k, v);
    }
    env
}

/// The key of each `KEY=value` entry with its position; the first position of a repeated key,
/// which is the one `env_value` reads and `set_env` replaces.
fn env_keys(env: &[String]) -> impl Iterator<Item = (&str, usize)> {
    let mut seen = HashSet::new();
    env.iter()
        .enumerate()
        .filter_map(|(i, e)| e.split_once('=').map(|(k, _)| (k, i)))
        .filter(move |(k, _)| seen.insert(*k))
}

fn apply_config(config: &mut ImageConfig, step: &Step) {
    match step {
        Step::Env(pairs) => config.set_envs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        Step::User(u) => config.user = u.clone(),
        Step::Shell(s) => config.shell = s.clone(),
        Step::Cmd(c) => config.cmd = Some(c.clone()),
        Step::Entrypoint(e) => {
            // Docker resets CMD when ENTRYPOINT is set after it in the same build.
            config.entrypoint = Some(e.clone());
        }
        Step::Expose(ports) => {
            for p in ports {
                let p = if p.contains('/') { p.clone() } else { format!("{p}/tcp") };
                config.exposed_ports.insert(p);
            }
        }
        Step::Label(pairs) => {
            for (k, v) in pairs {
                config.labels.insert(k.clone(), v.clone());
            }
        }
        Step::Volume(v) => config.volumes.extend(v.iter().cloned()),
        Step::StopSignal(s) => config.stop_signal = Some(s.clone()),
        Step::Run { .. } | Step::Copy { .. } | Step::Workdir(_) | Step::Other(_) => {}
    }
}

/// `$VAR` / `${VAR}` expansion against the image environment, as the builder does for WORKDIR.
fn expand(text: &str, config: &ImageConfig) -> String {
    // Looked up in a map made once, so the time is linear in the text and the environment.
    let values: HashMap<&str, &str> = env_keys(&config.env)
        .map(|(k, i)| (k, config.env[i][k.len() + 1..].as_ref()))
        .collect();
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(b) = after.strip_prefix('{') {
            match b.find('}') {
                Some(j) => (&b[..j], &b[j + 1..]),
                None => ("", after),
            }
        } else {
            let j = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..j], &after[j..])
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(values.get(name).copied().unwrap_or(""));
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn resolve_workdir(current: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!(
            "{}/{}",
            if current.is_empty() {
                ""
            } else {
                current.trim_end_matches('/')
            },
            path
        )
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(text: &str, step: Step) -> InputStep {
        InputStep {
            text: text.into(),
            created: Some(1_549_398_256),
            args: vec![],
            step,
            makes_layer: None,
        }
    }

    #[test]
    fn exec_form_runs_keep_their_argv_unless_it_starts_with_the_shell() {
        let mut config = ImageConfig::default();
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shell_or_exec(&argv(&["/bin/busybox", "touch", "/x"]), &config),
            argv(&["/bin/busybox", "touch", "/x"])
        );
        config.shell = argv(&["/bin/bash", "-eo", "pipefail", "-c"]);
        assert_eq!(
            shell_or_exec(
                &argv(&["/bin/bash", "-eo", "pipefail", "-c", "echo", "a", "b"]),
                &config
            ),
            argv(&["/bin/bash", "-eo", "pipefail", "-c", "echo a b"])
        );
    }

    #[test]
    fn config_flows_into_later_steps_and_workdir_expands() {
        let input = PlanInput {
            platform: "linux/amd64".parse().unwrap(),
            docker_version: Some("18.06.1-ce".into()),
            layers: vec![Digest::of(b"1"), Digest::of(b"2")],
            recorded_latest: None,
            steps: vec![
                step(
                    "ADD file:aa in /",
                    Step::Copy {
                        add: true,
                        source: "file:aa".into(),
                        dest: "/".into(),
                        chown: None,
                    },
                ),
                step(
                    "ENV P=/usr/local/x",
                    Step::Env(vec![("P".into(), "/usr/local/x".into())]),
                ),
                step("WORKDIR $P", Step::Workdir("$P".into())),
                step(
                    "SHELL [/bin/ash -eo pipefail -c]",
                    Step::Shell(vec!["/bin/ash".into(), "-eo".into(), "pipefail".into(), "-c".into()]),
                ),
                step(
                    "RUN true",
                    Step::Run {
                        script: "true".into(),
                        exec: None,
                    },
                ),
                step("EXPOSE 80", Step::Expose(vec!["80".into()])),
            ],
        };
        let p = plan(&input, &[], None).unwrap();
        assert_eq!(
            p.steps[0].action,
            Action::Base {
                source: "file:aa".into()
            }
        );
        // Every WORKDIR is replayed (the replay decides whether it made a layer); its path is
        // expanded against the environment the step saw.
        assert_eq!(
            p.steps[2].action,
            Action::Workdir {
                path: "/usr/local/x".into()
            }
        );
        assert_eq!(p.steps[2].layer, None);
        match &p.steps[4].action {
            Action::Run { argv, env, workdir, .. } => {
                assert_eq!(argv, &["/bin/ash", "-eo", "pipefail", "-c", "true"]);
                assert_eq!(env, &["P=/usr/local/x"]);
                assert_eq!(workdir, "/usr/local/x");
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(p.steps[4].layer.unwrap().index, 2);
        assert!(p.config.exposed_ports.contains("80/tcp"));
    }
}
