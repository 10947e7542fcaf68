//! The `stepcache` command, run as a program on caches filled through the library: every
//! command's text and JSON output against what was stored, filters and sorting, exit
//! codes, bad arguments, missing, damaged and write-protected directories.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value as Json;
use stepcache::{Arg, Cache, ElementType, Fingerprint, Key, Step, Value};

/// A scratch directory, removed on drop. (stepcache-tests has one too, but depending on
/// that crate would build the shared tier's dependencies into this one's tests.)
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("stepcache-cli-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o700));
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One stored entry: its key, payload length in f32s and compute cost.
struct Stored {
    key: Key,
    cost_us: u64,
}

/// Fills `dir` with six entries of three steps, oldest first: three small `t1_map`
/// maps, two `r1_map` maps of 400 KB (memory-mapped when read), one `report`.
fn fill(dir: &Path) -> Vec<Stored> {
    let cache = Cache::open(dir).unwrap();
    let plan: [(&str, u64, usize, u64); 6] = [
        ("t1_map", 15, 1000, 2_000_000),
        ("t1_map", 20, 1000, 3_000_000),
        ("t1_map", 25, 1000, 1_000_000),
        ("r1_map", 15, 100_000, 500_000),
        ("r1_map", 20, 100_000, 40_000_000),
        ("report", 15, 10, 0),
    ];
    let mut stored = Vec::new();
    for (step, tr, len, cost_us) in plan {
        let key = Key::of(step).arg("tr_ms", tr).build().unwrap();
        let value = Value::array(vec![tr as f32; len], &[len]).unwrap();
        cache.put_with_cost(&key, value, cost_us).unwrap();
        stored.push(Stored { key, cost_us });
        // Distinct creation times, so "newest first" has one answer.
        std::thread::sleep(Duration::from_millis(3));
    }
    stored
}

/// `stepcache --dir <dir> <args>`.
fn stepcache(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("stepcache").unwrap();
    cmd.env_remove("STEPCACHE_DIR")
        .env_remove("STEPCACHE_BUCKET")
        .arg("--dir")
        .arg(dir)
        .args(args);
    cmd
}

/// What a run printed and its exit code.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out = stepcache(dir, args).output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs `args` with `--json`, expecting exit code `code`; the document it printed.
fn json_with(dir: &Path, args: &[&str], code: i32) -> Json {
    let mut all = args.to_vec();
    all.push("--json");
    let run = run(dir, &all);
    assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
}

fn json(dir: &Path, args: &[&str]) -> Json {
    json_with(dir, args, 0)
}

/// The `key` fields of a JSON list of entries.
fn keys(entries: &Json) -> Vec<String> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect()
}

fn key_texts(stored: &[&Stored]) -> Vec<String> {
    stored.iter().map(|s| s.key.to_string()).collect()
}

/// Every file and directory under `root` with its kind, length, time and mode.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (bool, u64, i64, i64, u32)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            todo.extend(fs::read_dir(&path).unwrap().map(|item| item.unwrap().path()));
        }
        out.insert(
            path.strip_prefix(root).unwrap().to_path_buf(),
            (
                meta.is_dir(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec(),
                meta.permissions().mode(),
            ),
        );
    }
    out
}

/// The entry files under the cache directory, by name (the fingerprint's hex).
fn entry_files(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        for item in fs::read_dir(&path).unwrap() {
            let path = item.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                todo.push(path);
            } else if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.insert(name, path);
            }
        }
    }
    out
}

/// Whether this process runs as root (who may write where permissions say no).
fn running_as_root() -> bool {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

#[test]
fn ls_lists_what_was_stored_newest_first() {
    let scratch = Scratch::new("ls");
    let stored = fill(&scratch.0);
    let doc = json(&scratch.0, &["ls"]);
    assert_eq!(doc["dir"], scratch.0.display().to_string());
    let entries = doc["entries"].as_array().unwrap();
    let newest_first: Vec<&Stored> = stored.iter().rev().collect();
    assert_eq!(keys(&doc["entries"]), key_texts(&newest_first));
    for (e, s) in entries.iter().zip(&newest_first) {
        assert_eq!(e["step"], s.key.step());
        assert_eq!(e["fingerprint"], s.key.fingerprint().to_string());
        assert_eq!(e["cost_us"], s.cost_us);
        assert_eq!(e["tiers"], serde_json::json!(["store"]));
        assert_eq!(e["hits"], 0);
        let bytes = e["bytes"].as_u64().unwrap();
        assert!(bytes > 0 && bytes % 4096 == 0, "whole blocks: {bytes}");
        assert!(e["age_ms"].as_u64().unwrap() < 60_000);
    }
    let big = entries.iter().filter(|e| e["step"] == "r1_map");
    assert!(big.clone().all(|e| e["bytes"].as_u64().unwrap() >= 400_000));

    let text = run(&scratch.0, &["ls"]);
    assert_eq!(text.code, 0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 6 + 1, "{}", text.stdout);
    for column in ["KEY", "SIZE", "AGE", "COST", "TIER"] {
        assert!(lines[0].contains(column), "{}", lines[0]);
    }
    let report = &stored[5].key;
    let short = format!("report@b3:{}", &report.fingerprint().to_hex()[..12]);
    assert!(lines[1].starts_with(&short), "newest first: {}", lines[1]);
    assert!(lines[1].ends_with("store"), "{}", lines[1]);
    assert!(lines[2].contains("40.0 s"), "the cost column: {}", lines[2]);
    assert!(lines[7].starts_with("6 entries, "), "{}", lines[7]);
}

#[test]
fn ls_filters_sorts_and_limits() {
    let scratch = Scratch::new("ls-filters");
    let stored = fill(&scratch.0);
    let ls = |args: &[&str]| {
        let mut all = vec!["ls"];
        all.extend_from_slice(args);
        keys(&json(&scratch.0, &all)["entries"])
    };
    let of = |idx: &[usize]| key_texts(&idx.iter().map(|&i| &stored[i]).collect::<Vec<_>>());

    assert_eq!(ls(&["--step", "t1_map"]), of(&[2, 1, 0]));
    assert_eq!(ls(&["--step", "nothing"]), of(&[]));
    assert_eq!(ls(&["--larger-than", "100K"]), of(&[4, 3]));
    assert_eq!(ls(&["--newer-than", "1h"]).len(), 6);
    assert_eq!(ls(&["--older-than", "1h"]), of(&[]));
    assert_eq!(ls(&["--older-than", "1ms", "--step", "report"]), of(&[5]));
    assert_eq!(ls(&["--tier", "store"]).len(), 6);
    assert_eq!(ls(&["--tier", "memory"]), of(&[]), "a command has no memory tier");
    assert_eq!(ls(&["--sort", "cost"]), of(&[4, 1, 0, 2, 3, 5]));
    assert_eq!(ls(&["--sort", "cost", "--reverse"]), of(&[5, 3, 2, 0, 1, 4]));
    assert_eq!(ls(&["--sort", "age", "--reverse"]), of(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(ls(&["--sort", "step"]), of(&[4, 3, 5, 2, 1, 0]));
    assert_eq!(ls(&["--sort", "size", "--limit", "2"]), of(&[4, 3]));
    assert_eq!(ls(&["--limit", "0"]), of(&[]));
    assert_eq!(ls(&["--sort", "hits"]).len(), 6);
    let empty = run(&scratch.0, &["ls", "--step", "nothing"]);
    assert_eq!((empty.code, empty.stdout.as_str()), (0, "0 entries\n"));

    for bad in [
        &["ls", "--older-than", "7"][..],
        &["ls", "--larger-than", "5X"],
        &["ls", "--sort", "colour"],
        &["ls", "--tier", "disk"],
        &["ls", "--limit", "-1"],
        &["ls", "--frobnicate"],
        &["frobnicate"],
    ] {
        let run = run(&scratch.0, bad);
        assert_eq!(run.code, 2, "{bad:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn show_finds_an_entry_by_key_or_prefix() {
    let scratch = Scratch::new("show");
    let stored = fill(&scratch.0);
    let target = &stored[4].key;
    let hex = target.fingerprint().to_hex();
    let doc = json(&scratch.0, &["show", &target.to_string()]);
    assert_eq!(doc["key"], target.to_string());
    assert_eq!(doc["step"], "r1_map");
    assert_eq!(doc["state"], "stored");
    assert_eq!(doc["cost_us"], 40_000_000);
    assert_eq!(doc["tiers"], serde_json::json!(["store"]));
    let file = PathBuf::from(doc["file"].as_str().unwrap());
    assert_eq!(file, entry_files(&scratch.0)[&hex]);
    assert_eq!(doc["file_bytes"], fs::metadata(&file).unwrap().len());
    assert!(doc["file_bytes"].as_u64().unwrap() > 400_000);
    assert!(doc["bytes"].as_u64().unwrap() >= doc["file_bytes"].as_u64().unwrap());

    for prefix in [
        hex[..8].to_owned(),
        hex[..4].to_uppercase(),
        format!("b3:{}", &hex[..10]),
        format!("r1_map@{}", &hex[..6]),
        format!("r1_map@b3:{hex}"),
    ] {
        assert_eq!(
            json(&scratch.0, &["show", &prefix])["key"],
            target.to_string(),
            "{prefix}"
        );
    }

    let text = run(&scratch.0, &["show", &hex[..8]]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    for field in [
        "key",
        "step",
        "fingerprint",
        "state",
        "size",
        "created",
        "compute cost",
        "file",
    ] {
        assert!(
            text.stdout.lines().any(|l| l.starts_with(field)),
            "{field}: {}",
            text.stdout
        );
    }
    assert!(
        text.stdout.contains("40.0 s") && text.stdout.contains(" UTC ("),
        "{}",
        text.stdout
    );

    // Not there: exit 1. Not a key: exit 2.
    let other = Key::of("t1_map").arg("tr_ms", 99).build().unwrap();
    let missing = run(&scratch.0, &["show", &other.to_string()]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.starts_with("error: no entry matches"),
        "{}",
        missing.stderr
    );
    let wrong_step = run(&scratch.0, &["show", &format!("t1_map@{}", &hex[..8])]);
    assert_eq!(wrong_step.code, 1);
    for bad in ["xyz", "abc", "b3:", "r1_map@", &format!("{hex}00")] {
        let run = run(&scratch.0, &["show", bad]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.starts_with("error: ") && run.stderr.contains("is not a key"));
    }
}

#[test]
fn show_and_ls_print_how_an_entry_was_made() {
    let scratch = Scratch::new("provenance");
    let cache = Cache::open(&scratch.0).unwrap();
    let mask = [1u8, 0, 1, 1];
    let upstream = (Fingerprint::of_bytes(b"key"), Fingerprint::of_bytes(b"content"));
    let rich = Step::new("t1_map")
        .unwrap()
        .version(3)
        .key()
        .arg("tr_ms", 15)
        .arg("flip_deg", [2.0, 5.5])
        .arg("label", "phantom")
        .arg("big", 1u64 << 60)
        .arg("raw", Arg::Bytes(vec![1, 2, 3]))
        .array("mask", &mask, &[2, 2])
        .lineage_parts("s0", upstream.0, upstream.1)
        .build()
        .unwrap();
    let bare = Key::from_parts("report", Fingerprint::of_bytes(b"bare")).unwrap();
    for key in [&rich, &bare] {
        cache.put(key, Value::array(vec![1.0f32; 4], &[4]).unwrap()).unwrap();
    }
    drop(cache);

    let doc = json(&scratch.0, &["show", &rich.to_string()]);
    let made_by = format!("stepcache {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["provenance"],
        serde_json::json!({
            "made_by": made_by,
            "version": 3,
            "args": {
                "big": (1u64 << 60).to_string(),
                "flip_deg": [2, 5.5],
                "label": "phantom",
                "mask": {
                    "array": "u8",
                    "shape": [2, 2],
                    "fingerprint": Fingerprint::of_array(ElementType::U8, &[2, 2], &mask).to_string(),
                },
                "raw": { "bytes": 3 },
                "s0": { "lineage": upstream.0.to_string(), "content": upstream.1.to_string() },
                "tr_ms": 15,
            },
            "omitted": 0,
        })
    );
    let bare_doc = json(&scratch.0, &["show", &bare.to_string()]);
    assert_eq!(
        bare_doc["provenance"],
        serde_json::json!({ "made_by": made_by, "version": null, "args": null, "omitted": 0 })
    );
    let listed = json(&scratch.0, &["ls", "--step", "t1_map"]);
    assert_eq!(listed["entries"][0]["provenance"], doc["provenance"]);

    let text = run(&scratch.0, &["show", &rich.to_string()]).stdout;
    for line in [
        format!("made by       {made_by}"),
        "step version  3".to_owned(),
        "arguments     big = 1152921504606846976".to_owned(),
        "              flip_deg = [2, 5.5]".to_owned(),
        "              label = \"phantom\"".to_owned(),
        "              raw = <3 bytes>".to_owned(),
        format!("              s0 = lineage {}", upstream.0),
        "              tr_ms = 15".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    let text = run(&scratch.0, &["show", &bare.to_string()]).stdout;
    assert!(text.contains("arguments     not recorded"), "{text}");

    let ls = run(&scratch.0, &["ls", "--args", "--sort", "step"]).stdout;
    let lines: Vec<&str> = ls.lines().collect();
    assert!(lines[0].ends_with("  ARGS"), "{ls}");
    assert!(lines[1].starts_with("report@") && lines[1].ends_with("  -"), "{ls}");
    assert!(
        lines[2].contains("  big=1152921504606846976, flip_deg=[2, 5.5], "),
        "{ls}"
    );
    assert!(lines[2].ends_with('…') && lines[2].chars().count() < 140, "{ls}");
    assert!(!run(&scratch.0, &["ls"]).stdout.contains("ARGS"));
}

#[test]
fn show_refuses_an_ambiguous_prefix() {
    let scratch = Scratch::new("show-ambiguous");
    // Two keys whose fingerprints share their first 4 hex digits.
    let mut seen = BTreeMap::new();
    let (a, b) = (0u64..)
        .find_map(|n| {
            let key = Key::of("smooth").arg("sigma", n).build().unwrap();
            let prefix = key.fingerprint().to_hex()[..4].to_owned();
            seen.insert(prefix, key.clone()).map(|other| (other, key))
        })
        .unwrap();
    let cache = Cache::open(&scratch.0).unwrap();
    for key in [&a, &b] {
        cache.put(key, Value::bytes(vec![1; 10])).unwrap();
    }
    let prefix = &a.fingerprint().to_hex()[..4];
    let run = run(&scratch.0, &["show", prefix]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("ambiguous") && run.stderr.contains("2 entries"),
        "{}",
        run.stderr
    );
    let longer = common_prefix(&a, &b) + 1;
    assert_eq!(
        json(&scratch.0, &["show", &a.fingerprint().to_hex()[..longer]])["key"],
        a.to_string()
    );
}

fn common_prefix(a: &Key, b: &Key) -> usize {
    let (a, b) = (a.fingerprint().to_hex(), b.fingerprint().to_hex());
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[test]
fn stats_sum_the_entries_per_step() {
    let scratch = Scratch::new("stats");
    let stored = fill(&scratch.0);
    let listed = json(&scratch.0, &["ls"]);
    let doc = json(&scratch.0, &["stats"]);
    let entries = listed["entries"].as_array().unwrap();
    let bytes: u64 = entries.iter().map(|e| e["bytes"].as_u64().unwrap()).sum();
    assert_eq!(doc["entries"], 6);
    assert_eq!(doc["bytes"], bytes);
    assert_eq!(doc["cost_us"], stored.iter().map(|s| s.cost_us).sum::<u64>());
    assert_eq!(doc["damaged"], 0);
    assert_eq!(doc["read_only"], true);
    let steps = doc["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["r1_map", "report", "t1_map"]);
    let t1 = &steps[2];
    assert_eq!(t1["entries"], 3);
    assert_eq!(t1["cost_us"], 6_000_000);
    let t1_listed: Vec<&Json> = entries.iter().filter(|e| e["step"] == "t1_map").collect();
    assert_eq!(
        t1["bytes"],
        t1_listed.iter().map(|e| e["bytes"].as_u64().unwrap()).sum::<u64>()
    );
    assert_eq!(t1["oldest_ms"], t1_listed[2]["created_ms"]);
    assert_eq!(t1["newest_ms"], t1_listed[0]["created_ms"]);
    assert_eq!(
        (t1["hits"].as_u64(), t1["misses"].as_u64()),
        (Some(0), Some(0)),
        "puts only"
    );

    // A later session's lookups are counted with the directory when it closes.
    {
        let cache = Cache::open(&scratch.0).unwrap();
        for s in stored.iter().filter(|s| s.key.step() == "t1_map") {
            cache.get(&s.key).unwrap().unwrap();
        }
        assert!(
            cache
                .get(&Key::of("t1_map").arg("tr_ms", 99).build().unwrap())
                .unwrap()
                .is_none()
        );
    }
    let doc = json(&scratch.0, &["stats"]);
    let t1 = &doc["steps"].as_array().unwrap()[2];
    assert_eq!((t1["hits"].as_u64(), t1["misses"].as_u64()), (Some(3), Some(1)), "{t1}");
    assert_eq!(t1["saved_us"], 6_000_000, "three hits of 2 + 3 + 1 s computations");

    let text = run(&scratch.0, &["stats"]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout
            .starts_with(&format!("{}: 6 entries, ", scratch.0.display())),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("t1_map ") && l.contains(" 3 ")),
        "{}",
        text.stdout
    );
}

#[test]
fn clear_removes_a_step_or_everything() {
    let scratch = Scratch::new("clear");
    fill(&scratch.0);
    let run1 = run(&scratch.0, &["clear", "t1_map"]);
    assert_eq!((run1.code, run1.stdout.as_str()), (0, "removed 3 entries of t1_map\n"));
    let left = json(&scratch.0, &["ls"]);
    assert!(
        left["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["step"] != "t1_map")
    );
    assert_eq!(entry_files(&scratch.0).len(), 3);
    assert_eq!(
        json(&scratch.0, &["clear"]),
        serde_json::json!({ "step": null, "removed": 3 })
    );
    assert_eq!(
        json(&scratch.0, &["clear", "t1_map"]),
        serde_json::json!({ "step": "t1_map", "removed": 0 })
    );
    assert!(entry_files(&scratch.0).is_empty());
    let bad = run(&scratch.0, &["clear", "no such step!"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

/// Overwrites 8 bytes of `file` at `offset` (from the end if negative).
fn damage(file: &Path, offset: i64) {
    let mut bytes = fs::read(file).unwrap();
    let at = if offset < 0 {
        bytes.len() - offset.unsigned_abs() as usize
    } else {
        offset as usize
    };
    for b in &mut bytes[at..at + 8] {
        *b ^= 0xff;
    }
    fs::write(file, bytes).unwrap();
}

#[test]
fn verify_reports_and_removes_damaged_entries() {
    let scratch = Scratch::new("verify");
    let stored = fill(&scratch.0);
    let sound = json(&scratch.0, &["verify"]);
    assert_eq!((sound["checked"].as_u64(), sound["sound"].as_u64()), (Some(6), Some(6)));
    assert_eq!(sound["damaged"], serde_json::json!([]));

    // The payload of one entry, and the head of another.
    let files = entry_files(&scratch.0);
    let payload_hit = &stored[3].key;
    let head_hit = &stored[1].key;
    damage(&files[&payload_hit.fingerprint().to_hex()], -100);
    damage(&files[&head_hit.fingerprint().to_hex()], 0);

    // --no-remove reports, keeps the files, and changes nothing.
    let before = snapshot(&scratch.0);
    let kept = json_with(&scratch.0, &["verify", "--no-remove"], 1);
    assert_eq!(kept["read_only"], true);
    assert_eq!(kept["damaged"][0]["key"], payload_hit.to_string());
    assert_eq!(kept["damaged"][0]["removed"], false);
    assert_eq!(kept["damaged_unlisted"], 1);
    assert_eq!(snapshot(&scratch.0), before);

    let text = run(&scratch.0, &["verify"]);
    assert_eq!(text.code, 1, "{}", text.stderr);
    let first = text.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!("damaged {payload_hit}: payload checksum mismatch (removed)")
    );
    assert!(
        text.stdout.contains("verified 5 entries")
            && text.stdout.contains("4 sound, 1 damaged; 1 more with a damaged head"),
        "{}",
        text.stdout
    );
    let files = entry_files(&scratch.0);
    assert_eq!(files.len(), 4, "both damaged entries were removed");
    assert!(!files.contains_key(&payload_hit.fingerprint().to_hex()));

    let again = json(&scratch.0, &["verify"]);
    assert_eq!((again["checked"].as_u64(), again["sound"].as_u64()), (Some(4), Some(4)));
    assert_eq!(
        (again["damaged"].clone(), again["damaged_unlisted"].as_u64()),
        (serde_json::json!([]), Some(0))
    );
}

#[test]
fn gc_applies_a_budget_and_maximum_ages() {
    let scratch = Scratch::new("gc");
    let stored = fill(&scratch.0);
    let total: u64 = json(&scratch.0, &["stats"])["bytes"].as_u64().unwrap();

    // A dry run removes nothing, and says what would go.
    let before = snapshot(&scratch.0);
    let dry = json(&scratch.0, &["gc", "--budget", "0", "--dry-run"]);
    assert_eq!((dry["dry_run"].as_bool(), dry["count"].as_u64()), (Some(true), Some(6)));
    assert_eq!(dry["bytes"], total);
    assert_eq!(snapshot(&scratch.0), before);
    let text = run(&scratch.0, &["gc", "--max-age", "1d", "--dry-run"]);
    assert_eq!((text.code, text.stdout.as_str()), (0, "would remove 0 entries, 0 B\n"));

    // A budget removes the entries least worth keeping: first the one that cost
    // nothing to compute, then of the two large maps the one that was cheap.
    let budget = (total - 1).to_string();
    let doc = json(&scratch.0, &["gc", "--budget", &budget]);
    assert_eq!(keys(&doc["entries"]), key_texts(&[&stored[5]]));
    let total = json(&scratch.0, &["stats"])["bytes"].as_u64().unwrap();
    let doc = json(&scratch.0, &["gc", "--budget", &(total - 1).to_string()]);
    assert_eq!(keys(&doc["entries"]), key_texts(&[&stored[3]]));
    assert_eq!(doc["bytes"], doc["entries"][0]["bytes"]);
    assert!(json(&scratch.0, &["stats"])["bytes"].as_u64().unwrap() < total);

    // Maximum ages, per step and for the rest.
    std::thread::sleep(Duration::from_millis(5));
    let doc = json(&scratch.0, &["gc", "--step-max-age", "t1_map=2ms", "--max-age", "1d"]);
    assert_eq!(keys(&doc["entries"]).len(), 3);
    assert!(doc["entries"].as_array().unwrap().iter().all(|e| e["step"] == "t1_map"));
    let left = keys(&json(&scratch.0, &["ls"])["entries"]);
    assert_eq!(left, key_texts(&[&stored[4]]));
    let text = run(&scratch.0, &["gc", "--max-age", "1ms"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.starts_with("KEY "), "{}", text.stdout);
    assert!(text.stdout.ends_with("removed 1 entry, 392.0 KiB\n"), "{}", text.stdout);
    assert!(entry_files(&scratch.0).is_empty());

    for bad in [
        &["gc"][..],
        &["gc", "--dry-run"],
        &["gc", "--max-age", "0s"],
        &["gc", "--budget", "lots"],
        &["gc", "--step-max-age", "t1_map"],
        &["gc", "--step-max-age", "bad name=1d"],
    ] {
        let run = run(&scratch.0, bad);
        assert_eq!(run.code, 2, "{bad:?}: {}", run.stderr);
    }
}

#[test]
fn a_missing_directory_is_an_error_and_is_not_created() {
    let scratch = Scratch::new("missing");
    for args in [
        &["ls"][..],
        &["stats"],
        &["show", "abcd"],
        &["clear"],
        &["verify"],
        &["gc", "--budget", "1G"],
    ] {
        let run = run(&scratch.0, args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("error: StorageError: "), "{}", run.stderr);
        assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1);
        assert!(run.stdout.is_empty());
        assert!(!scratch.0.exists(), "{args:?} created the directory");
    }
    // A file where the directory should be.
    fs::write(&scratch.0, b"not a directory").unwrap();
    let run = run(&scratch.0, &["ls"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: InvalidConfig: "), "{}", run.stderr);
    fs::remove_file(&scratch.0).unwrap();
}

#[test]
fn reading_commands_change_nothing() {
    let scratch = Scratch::new("read-only");
    let stored = fill(&scratch.0);
    let hex = stored[0].key.fingerprint().to_hex();
    let before = snapshot(&scratch.0);
    for args in [
        &["ls"][..],
        &["ls", "--json"],
        &["show", &hex[..8]],
        &["stats"],
        &["verify", "--no-remove"],
        &["gc", "--budget", "0", "--dry-run"],
    ] {
        assert_eq!(run(&scratch.0, args).code, 0, "{args:?}");
        assert_eq!(snapshot(&scratch.0), before, "{args:?} changed the directory");
    }
}

#[test]
fn a_directory_that_is_not_a_cache_is_left_alone() {
    let scratch = Scratch::new("not-a-cache");
    fs::create_dir(&scratch.0).unwrap();
    fs::write(scratch.0.join("notes.txt"), b"mine").unwrap();
    fs::set_permissions(&scratch.0, fs::Permissions::from_mode(0o755)).unwrap();
    let before = snapshot(&scratch.0);
    for (args, out) in [
        (&["clear"][..], "removed 0 entries\n"),
        (&["verify"], "verified 0 entries (0 B): 0 sound, 0 damaged\n"),
        (&["gc", "--budget", "0"], "removed 0 entries, 0 B\n"),
        (&["ls"], "0 entries\n"),
    ] {
        let run = run(&scratch.0, args);
        assert_eq!((run.code, run.stdout.as_str()), (0, out), "{args:?}: {}", run.stderr);
        assert_eq!(
            snapshot(&scratch.0),
            before,
            "{args:?} changed a directory that is not a cache"
        );
    }
}

#[test]
fn a_write_protected_directory_is_read_and_not_written() {
    if running_as_root() {
        // Root writes where permissions say no, so chmod cannot protect anything here;
        // `reading_commands_change_nothing` shows the read-only open changes nothing.
        // Straight to stderr: the test harness would hide a `println!`.
        let _ = writeln!(
            std::io::stderr(),
            "a_write_protected_directory_is_read_and_not_written: skipped, running as root \
             (id -u is 0) and root writes where permissions say no"
        );
        return;
    }
    let scratch = Scratch::new("protected");
    let stored = fill(&scratch.0);
    damage(&entry_files(&scratch.0)[&stored[3].key.fingerprint().to_hex()], -100);
    // `chmod -R a-w`, and back.
    let protect = |on: bool| {
        let mut paths: Vec<PathBuf> = snapshot(&scratch.0).into_keys().map(|p| scratch.0.join(p)).collect();
        // Directories last when protecting (their files first), first when not.
        paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        if !on {
            paths.reverse();
        }
        for path in paths {
            let mode = match (path.is_dir(), on) {
                (true, true) => 0o500,
                (true, false) => 0o700,
                (false, true) => 0o400,
                (false, false) => 0o600,
            };
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    protect(true);
    let before = snapshot(&scratch.0);
    assert_eq!(json(&scratch.0, &["ls"])["entries"].as_array().unwrap().len(), 6);
    assert_eq!(json(&scratch.0, &["stats"])["entries"], 6);
    let verified = json_with(&scratch.0, &["verify"], 1);
    assert_eq!(verified["read_only"], true, "nothing can be removed");
    assert_eq!(verified["damaged"][0]["key"], stored[3].key.to_string());
    assert_eq!(verified["damaged"][0]["removed"], false);
    let clear = run(&scratch.0, &["clear"]);
    assert_eq!(clear.code, 3, "{}", clear.stderr);
    assert!(
        clear.stderr.starts_with("error: PermissionDenied: "),
        "{}",
        clear.stderr
    );
    assert_eq!(snapshot(&scratch.0), before);
    protect(false);
}

#[test]
fn the_directory_comes_from_stepcache_dir_and_help_documents_exit_codes() {
    let scratch = Scratch::new("env");
    fill(&scratch.0);
    let out = Command::cargo_bin("stepcache")
        .unwrap()
        .env("STEPCACHE_DIR", &scratch.0)
        .args(["stats", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["entries"], 6);

    let help = run(&scratch.0, &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
    let completions = run(&scratch.0, &["completions", "bash"]);
    assert_eq!(completions.code, 0);
    assert!(completions.stdout.contains("stepcache") && completions.stdout.contains("verify"));
    assert_eq!(run(&scratch.0, &["completions", "tcsh"]).code, 2);
}

/// Where each record's entry lies in a bundle (`docs/bundle-format.md`): after the
/// 16-byte header, records of kind 1, a 32-byte fingerprint and a u64 LE length.
fn bundle_entries(bundle: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut at = 16;
    let mut out = Vec::new();
    while bundle[at] == 1 {
        let len = u64::from_le_bytes(bundle[at + 33..at + 41].try_into().unwrap()) as usize;
        out.push(at + 41..at + 41 + len);
        at += 41 + len;
    }
    out
}

#[test]
fn export_and_import_carry_entries_between_directories() {
    let scratch = Scratch::new("export");
    let source = scratch.0.join("source");
    let target = scratch.0.join("target");
    let stored = fill(&source);
    let bundle_file = scratch.0.join("all.stepcache");
    let out = bundle_file.to_str().unwrap();

    let before = snapshot(&source);
    let doc = json(&source, &["export", out]);
    assert_eq!((doc["entries"].as_u64(), doc["damaged"].as_u64()), (Some(6), Some(0)));
    let bundle = fs::read(&bundle_file).unwrap();
    assert_eq!(doc["bytes"], bundle.len() as u64);
    assert_eq!(bundle_entries(&bundle).len(), 6);
    assert_eq!(snapshot(&source), before, "export changes nothing");
    let names: Vec<_> = fs::read_dir(&scratch.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no partial file left: {names:?}");

    // Into a directory that does not exist yet: import creates it.
    let doc = json(&target, &["import", out]);
    assert_eq!(
        (
            doc["imported"].as_u64(),
            doc["present"].as_u64(),
            doc["skipped"].as_u64()
        ),
        (Some(6), Some(0), Some(0))
    );
    assert_eq!(doc["refused"], serde_json::json!([]));
    let listed = |dir: &Path| {
        let mut keys = keys(&json(dir, &["ls"])["entries"]);
        keys.sort();
        keys
    };
    assert_eq!(listed(&target), listed(&source));
    let sound = json(&target, &["verify"]);
    assert_eq!(sound["sound"], 6);
    let text = run(&target, &["import", out]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(
        text.stdout,
        "read 6 entries (794.1 KiB): 0 imported, 6 already held, 0 skipped by policy, 0 refused\n"
    );

    // Through stdout and stdin: the same bytes; the report goes to stderr.
    let piped = stepcache(&source, &["export", "-"]).output().unwrap();
    assert!(piped.status.success());
    assert_eq!(piped.stdout, bundle);
    let stderr = String::from_utf8(piped.stderr).unwrap();
    assert!(
        stderr.starts_with("exported 6 entries (") && stderr.ends_with(" to stdout\n"),
        "{stderr}"
    );
    let fresh = scratch.0.join("fresh");
    let from_stdin = stepcache(&fresh, &["import", "-", "--json"])
        .write_stdin(bundle.clone())
        .output()
        .unwrap();
    assert!(from_stdin.status.success());
    let doc: Json = serde_json::from_slice(&from_stdin.stdout).unwrap();
    assert_eq!((doc["imported"].as_u64(), doc["file"].as_str()), (Some(6), Some("-")));

    // Filters: a step, entries newer than an age.
    let t1 = scratch.0.join("t1.stepcache");
    let doc = json(&source, &["export", "--step", "t1_map", t1.to_str().unwrap()]);
    assert_eq!(doc["entries"], 3);
    let doc = json(&source, &["export", "--since", "1h", t1.to_str().unwrap()]);
    assert_eq!(doc["entries"], 6);
    std::thread::sleep(Duration::from_millis(20));
    let doc = json(&source, &["export", "--since", "10ms", t1.to_str().unwrap()]);
    assert_eq!(doc["entries"], 0);
    assert_eq!(fs::metadata(&t1).unwrap().len(), 49, "an empty bundle");
    let text = run(&source, &["export", "--step", "report", t1.to_str().unwrap()]);
    assert_eq!(text.code, 0);
    assert_eq!(text.stdout, format!("exported 1 entry (322 B) to {}\n", t1.display()));
    drop(stored);
}

#[test]
fn import_refuses_damaged_entries_and_bundles() {
    let scratch = Scratch::new("import-damaged");
    let source = scratch.0.join("source");
    let stored = fill(&source);
    let bundle_file = scratch.0.join("all.stepcache");
    assert_eq!(run(&source, &["export", bundle_file.to_str().unwrap()]).code, 0);
    let bundle = fs::read(&bundle_file).unwrap();
    let ranges = bundle_entries(&bundle);

    // One entry's payload damaged: refused, the five others imported, exit 1.
    let mut damaged = bundle.clone();
    damaged[ranges[2].end - 5] ^= 0x10;
    let damaged_file = scratch.0.join("damaged.stepcache");
    fs::write(&damaged_file, &damaged).unwrap();
    let target = scratch.0.join("target");
    let doc = json_with(&target, &["import", damaged_file.to_str().unwrap()], 1);
    assert_eq!(doc["imported"], 5);
    assert_eq!(doc["refused"].as_array().unwrap().len(), 1);
    let refused = doc["refused"][0]["fingerprint"].as_str().unwrap();
    assert!(
        doc["refused"][0]["reason"].as_str().unwrap().contains("checksum"),
        "{doc}"
    );
    assert!(stored.iter().any(|s| s.key.fingerprint().to_string() == refused));
    assert_eq!(keys(&json(&target, &["ls"])["entries"]).len(), 5);
    let text = run(&target, &["import", damaged_file.to_str().unwrap()]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.starts_with(&format!("refused {refused}: ")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .ends_with("0 imported, 5 already held, 0 skipped by policy, 1 refused\n")
    );

    // Cut short in its fourth entry: the three before it are taken, then exit 1.
    let cut = scratch.0.join("cut.stepcache");
    fs::write(&cut, &bundle[..ranges[3].start + 10]).unwrap();
    let other = scratch.0.join("other");
    let text = run(&other, &["import", cut.to_str().unwrap()]);
    assert_eq!(text.code, 1, "{}", text.stderr);
    assert!(text.stderr.starts_with("error: InvalidBundle: "), "{}", text.stderr);
    assert!(
        text.stderr.contains("3 entries before it were taken"),
        "{}",
        text.stderr
    );
    assert_eq!(json(&other, &["verify"])["sound"], 3);

    // Not a bundle at all.
    let not = scratch.0.join("not.stepcache");
    fs::write(&not, b"hello, this is not a bundle").unwrap();
    let text = run(&other, &["import", not.to_str().unwrap()]);
    assert_eq!(text.code, 1);
    assert!(text.stderr.contains("not a stepcache bundle"), "{}", text.stderr);

    // A damaged entry in the cache is left out of an export, and kept: exit 1.
    let files = entry_files(&source);
    damage(&files[&stored[0].key.fingerprint().to_hex()], -100);
    let again = scratch.0.join("again.stepcache");
    let doc = json_with(&source, &["export", again.to_str().unwrap()], 1);
    assert_eq!((doc["entries"].as_u64(), doc["damaged"].as_u64()), (Some(5), Some(1)));
    assert_eq!(entry_files(&source).len(), 6, "export opens the cache read-only");
}

#[test]
fn export_import_push_and_pull_refuse_bad_arguments() {
    let scratch = Scratch::new("bundle-args");
    fill(&scratch.0);
    let elsewhere = std::env::temp_dir().join(format!("stepcache-cli-nowhere-{}", std::process::id()));
    let bad: [&[&str]; 11] = [
        &["push"],
        &["pull", "--since", "soon", "--bucket", "b"],
        &["push", "--bucket", "b", "--step", "bad name"],
        &["export"],
        &["import"],
        &["export", "--since", "0s", "out"],
        &["export", "--since", "soon", "out"],
        &["export", "--step", "bad name", "out"],
        &["export", "/nonexistent-dir/out.stepcache"],
        &["import", "/nonexistent-dir/in.stepcache"],
        &["import", "/tmp"],
    ];
    for args in bad {
        let run = run(&scratch.0, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}");
    }
    // Export reads an existing cache; it creates none.
    let run = run(&elsewhere, &["export", "-"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(!elsewhere.exists());
}
