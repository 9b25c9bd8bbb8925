//! The writer against published layers: for steps whose effect on the file system is known
//! exactly, rebuild the layer from entries and search the only unknowns, the mtimes, within
//! windows taken from the document's history (the seconds before this step's `created`, or the
//! span during which an earlier step ran). The published digest and size must come out, with the
//! profile the document's `Docker Version` names. A 256-bit digest match is the proof; cases with
//! one unknown also check that exactly one time in the window matches.
//! Cases: testdata/layer/published-layers.json; digests, sizes, versions and times are read from
//! the seed documents, never written here.

use std::collections::HashMap;
use std::path::Path;

use retrace::layer::{write_blob, Entry, EntryKind, Profile};
use serde_json::Value;

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses `Sun, 18 Feb 2018 02:31:32 GMT`.
fn parse_http_date(s: &str) -> i64 {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let day: i64 = parts[1].parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .unwrap() as i64
        + 1;
    let year: i64 = parts[3].parse().unwrap();
    let hms: Vec<i64> = parts[4].split(':').map(|x| x.parse().unwrap()).collect();
    days_from_civil(year, month, day) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

struct Published {
    docker_version: String,
    /// (created, instruction) of every history entry of the platform, in order.
    history: Vec<(i64, String)>,
    digest: String,
    size: u64,
}

impl Published {
    /// Index of the history entry whose instruction starts with `prefix`.
    fn step(&self, prefix: &str) -> usize {
        self.history
            .iter()
            .position(|(_, i)| i.starts_with(prefix))
            .unwrap_or_else(|| panic!("no step starting with {prefix:?}"))
    }
}

/// Reads, from the platform's section of a seed, the Docker version, the history with its times
/// and the digest and size of the given layer.
fn read_seed(seed: &str, platform: &str, layer: usize) -> Published {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/seeds").join(seed);
    let text = std::fs::read_to_string(&path).unwrap();
    let heading = format!(" - {platform}\n");
    let start = text
        .find(&heading)
        .unwrap_or_else(|| panic!("{seed}: no section for {platform}"));
    let section = &text[start..];
    let section = &section[..section[1..].find("\n### ").map_or(section.len(), |i| i + 1)];
    let lines: Vec<&str> = section.lines().collect();
    let docker_version = lines
        .iter()
        .find_map(|l| l.strip_prefix("-\tDocker Version: "))
        .unwrap()
        .to_string();
    let mut history = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(date) = l.strip_prefix("# ") {
            if date.ends_with(" GMT") {
                history.push((parse_http_date(date), lines[i + 1].to_string()));
            }
        }
    }
    let layer_lines: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("-\t`sha256:"))
        .map(|(i, _)| i)
        .collect();
    let at = layer_lines[layer - 1];
    let digest = lines[at].split('`').nth(1).unwrap().to_string();
    let size_line = lines[at + 2];
    let size: u64 = size_line
        .rsplit('(')
        .next()
        .filter(|s| s.contains("bytes"))
        .map(|s| s.trim_end_matches(" bytes)").parse().unwrap())
        .unwrap_or_else(|| {
            size_line
                .split(':')
                .nth(1)
                .unwrap()
                .trim()
                .trim_end_matches(" B")
                .parse::<f64>()
                .unwrap() as u64
        });
    Published {
        docker_version,
        history,
        digest,
        size,
    }
}

/// An unknown mtime and the window it is searched in.
struct Var {
    name: String,
    lo: i64,
    hi: i64,
    /// Distance between candidates (1 s, or a day for snapshot epochs).
    step: i64,
    not_before: Option<String>,
}

fn vars_of(case: &Value, p: &Published) -> Vec<Var> {
    let own = p.step(case["step"].as_str().unwrap());
    case["vars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let (lo, hi, step) = if let Some(back) = v["within_seconds_before"].as_i64() {
                (p.history[own].0 - back, p.history[own].0, 1)
            } else if let Some(prefix) = v["midnight_days_before_step"].as_str() {
                // A snapshot epoch: midnight UTC of one of the days before that step ran.
                let t = p.history[p.step(prefix)].0;
                let midnight = t - t.rem_euclid(86400);
                (midnight - 86400 * v["days"].as_i64().unwrap(), midnight, 86400)
            } else {
                // The span in which an earlier step ran: after the entry before it, up to its commit.
                let i = p.step(v["during_step"].as_str().unwrap());
                (p.history[i - 1].0, p.history[i].0, 1)
            };
            Var {
                name: v["name"].as_str().unwrap().to_string(),
                lo,
                hi,
                step,
                not_before: v["not_before"].as_str().map(str::to_string),
            }
        })
        .collect()
}

fn entry_from(v: &Value, values: &HashMap<String, i64>) -> Entry {
    let path = v["path"].as_str().unwrap();
    let mode = u32::from_str_radix(v["mode"].as_str().unwrap(), 8).unwrap();
    let mut e = match v["kind"].as_str().unwrap() {
        "dir" => Entry::dir(path, mode),
        "symlink" => Entry::symlink(path, v["target"].as_str().unwrap()),
        "file" => Entry::file(path, mode, v["content"].as_str().unwrap().as_bytes().to_vec()),
        k => panic!("unknown kind {k}"),
    };
    if let EntryKind::Symlink(_) = e.kind {
        e.mode = mode;
    }
    e.uid = v["uid"].as_u64().unwrap_or(0);
    e.gid = v["gid"].as_u64().unwrap_or(0);
    e.opaque = v["opaque"].as_bool().unwrap_or(false);
    e.with_mtime(values[v["mtime"].as_str().unwrap()])
}

/// Tries every assignment of the variables (the first one outermost, each window newest first);
/// records each match and stops at the first when `exhaustive` is false.
fn search(
    vars: &[Var],
    values: &mut HashMap<String, i64>,
    exhaustive: bool,
    try_one: &mut dyn FnMut(&HashMap<String, i64>) -> bool,
    hits: &mut Vec<HashMap<String, i64>>,
) -> bool {
    let Some((var, rest)) = vars.split_first() else {
        if try_one(values) {
            hits.push(values.clone());
            return !exhaustive;
        }
        return false;
    };
    let lo = var
        .not_before
        .as_ref()
        .map_or(var.lo, |other| var.lo.max(values[other]));
    // Newest first: entries mostly carry times within a few seconds of the commit.
    let mut t = var.hi;
    while t >= lo {
        values.insert(var.name.clone(), t);
        if search(rest, values, exhaustive, try_one, hits) {
            return true;
        }
        t -= var.step;
    }
    false
}

#[test]
fn published_layers_are_reproduced_byte_for_byte() {
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/layer/published-layers.json"))
            .unwrap(),
    )
    .unwrap();
    for case in &cases {
        let p = read_seed(
            case["seed"].as_str().unwrap(),
            case["platform"].as_str().unwrap(),
            case["layer"].as_u64().unwrap() as usize,
        );
        let profile = Profile::for_docker_version(&p.docker_version).unwrap();
        let vars = vars_of(case, &p);
        let exhaustive = vars.len() == 1;
        let mut tried = 0u64;
        let mut try_one = |values: &HashMap<String, i64>| {
            tried += 1;
            let entries: Vec<Entry> = case["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| entry_from(v, values))
                .collect();
            let info = write_blob(&entries, &profile, &mut std::io::sink()).unwrap();
            info.digest.to_string() == p.digest && info.size == p.size
        };
        let mut hits = Vec::new();
        search(&vars, &mut HashMap::new(), exhaustive, &mut try_one, &mut hits);
        let what = format!("{} ({}) layer {}", case["seed"], case["platform"], case["layer"]);
        if exhaustive {
            assert_eq!(
                hits.len(),
                1,
                "{what}: expected exactly one mtime to give {}, got {hits:?}",
                p.digest
            );
        } else {
            assert!(
                !hits.is_empty(),
                "{what}: no assignment of {} candidates gives {}",
                tried,
                p.digest
            );
        }
        let mut found: Vec<String> = hits[0]
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k} = step created {:+}s",
                    v - p.history[p.step(case["step"].as_str().unwrap())].0
                )
            })
            .collect();
        found.sort();
        eprintln!(
            "{what}: reproduced {} ({}) after {tried} candidates: {}",
            p.digest,
            profile,
            found.join(", ")
        );
    }
}
