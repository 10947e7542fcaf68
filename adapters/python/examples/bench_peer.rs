//! The Rust side of the Python package's benchmark (`bench/bench.py`): the Rust API
//! doing what the Python package does, on the same bytes, in a process that the
//! benchmark drives round by round so the two take turns.
//!
//! `bench_peer DIR` opens a cache in `DIR` (default settings, as `stepcache.open(DIR)`
//! in Python) and answers one command per line on standard input with one line:
//!
//! - `key MIB`: builds the key of step `bench_key` with the array argument `x`, the
//!   benchmark's f32 map of `MIB` MiB; prints the seconds it took and the key, which the
//!   benchmark compares with the key Python builds for its array;
//! - `put MIB [COUNT]` / `compute MIB [COUNT]`: stores that map under COUNT (default 1)
//!   new keys of step `bench_put`, one after another, with `Cache::put`, or
//!   `Cache::get_or_compute` whose compute returns a value made beforehand; prints the
//!   seconds per store. The values are made (copies of the map, moved into `Value`s)
//!   before the clock starts, as a compute would make them, then `sync` runs; the entries
//!   are removed after the clock stops;
//! - `putref MIB [COUNT]`: the same with the map itself, which the caller keeps, stored
//!   with `Cache::put_ref` (what Python's `put` of an array does).
//!
//! The map is `(i % 1000003) * 0.5` as f32 for element `i`, exactly what
//! `bench.py`'s `bench_array` makes with numpy.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::time::Instant;

use stepcache::{Cache, Key, Value, ValueRef};

type Failure = Box<dyn std::error::Error>;

/// The benchmark's map of `mib` MiB.
fn bench_array(mib: usize) -> Vec<f32> {
    (0..(mib << 20) / 4).map(|i| (i % 1_000_003) as f32 * 0.5).collect()
}

/// A new key of the put step, one per put so none finds an earlier entry.
fn put_key(serial: u64) -> Result<Key, stepcache::Error> {
    Key::of("bench_put").arg("serial", serial).build()
}

/// Answers one command line; `maps` keeps each size's map once made.
fn answer(cache: &Cache, maps: &mut HashMap<usize, Vec<f32>>, serial: &mut u64, line: &str) -> Result<String, Failure> {
    let mut words = line.split_whitespace();
    let (Some(command), Some(mib)) = (words.next(), words.next()) else {
        return Err(format!("expected COMMAND MIB, got {line:?}").into());
    };
    let mib: usize = mib.parse()?;
    let map = maps.entry(mib).or_insert_with(|| bench_array(mib));
    match command {
        "key" => {
            let start = Instant::now();
            let key = Key::of("bench_key").array("x", map, &[map.len()]).build()?;
            let secs = start.elapsed().as_secs_f64();
            Ok(format!("{secs} {key}"))
        }
        "put" | "compute" | "putref" => {
            let count: usize = words.next().map_or(Ok(1), str::parse)?;
            let keys = (0..count)
                .map(|_| {
                    *serial += 1;
                    put_key(*serial)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut values = (0..count)
                .map(|_| Value::array(map.clone(), &[map.len()]))
                .collect::<Result<Vec<_>, _>>()?;
            let shape = [map.len() as u64];
            // Between making the values and the clock, as the benchmark does in Python:
            // no earlier write is still on its way to the disk.
            std::process::Command::new("sync").status()?;
            let start = Instant::now();
            for key in &keys {
                match command {
                    "putref" => drop(cache.put_ref(key, ValueRef::slice(map, &shape)?)?),
                    "put" => drop(cache.put(key, values.pop().ok_or("no value")?)?),
                    _ => {
                        let value = values.pop().ok_or("no value")?;
                        drop(cache.get_or_compute(key, move || value)?);
                    }
                }
            }
            let secs = start.elapsed().as_secs_f64() / count as f64;
            for key in &keys {
                cache.invalidate(key)?;
            }
            Ok(format!("{secs}"))
        }
        other => Err(format!("unknown command {other:?}").into()),
    }
}

fn main() -> Result<(), Failure> {
    let dir = std::env::args().nth(1).ok_or("usage: bench_peer DIR")?;
    let cache = Cache::open(dir)?;
    let (mut maps, mut serial) = (HashMap::new(), 0);
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let reply = answer(&cache, &mut maps, &mut serial, &line?)?;
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(())
}
