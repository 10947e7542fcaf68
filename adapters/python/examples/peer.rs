//! A Rust process on the same cache directory as a Python one, for the package's tests
//! (`tests/test_rust_peer.py`): the two write and read each other's entries.
//!
//! `peer write DIR` stores a T1 map under the key the Python test builds for the same
//! arguments and prints that key; `peer read DIR` reads the entry the Python test
//! stored and prints its element type, shape, the sum of its elements and its metadata,
//! or fails if it is missing.

use std::process::ExitCode;

use stepcache::{Cache, Key, Step, Value};

/// The T1 step's key: the arguments `test_rust_peer.py` passes from Python.
fn t1_key() -> Result<Key, stepcache::Error> {
    let signal: Vec<f32> = (0..4 * 8 * 8).map(|i| i as f32 * 0.25).collect();
    Step::new("t1_map")?
        .version(1)
        .ignore("verbose")
        .key()
        .arg("tr_ms", 15.0)
        .arg("flip_deg", [2.0, 5.0, 10.0, 15.0])
        .array("signal", &signal, &[4, 8, 8])
        .arg("method", "vfa")
        .arg("verbose", true)
        .build()
}

fn run() -> Result<String, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: peer write|read DIR".into());
    };
    let cache = Cache::open(dir)?;
    match mode.as_str() {
        "write" => {
            let key = t1_key()?;
            let map: Vec<f32> = (0..64 * 64).map(|i| 800.0 + i as f32).collect();
            cache.put(
                &key,
                Value::array(map, &[64, 64])?.with_meta(br#"{"units":"ms"}"#.to_vec()),
            )?;
            Ok(key.to_string())
        }
        "read" => {
            let key = Key::of("py_map").arg("n", 3).arg("label", "from python").build()?;
            let hit = cache.get(&key)?.ok_or("the entry Python stored is missing")?;
            let sum: f64 = hit.value.as_slice::<f64>()?.iter().sum();
            let meta = String::from_utf8_lossy(hit.value.meta()).into_owned();
            Ok(format!(
                "{} {:?} {sum} {meta}",
                hit.value.element_type().name(),
                hit.value.shape()
            ))
        }
        other => Err(format!("unknown mode {other}").into()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("peer: {e}");
            ExitCode::FAILURE
        }
    }
}
