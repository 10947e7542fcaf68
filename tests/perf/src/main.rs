//! stepcache against the physical limit and its peers, in one run, on the same data.
//!
//! `cargo run --release --manifest-path tests/perf/Cargo.toml [-- --quick]`; see README.md
//! for what each section measures. Every table row is a stepcache figure, a peer's figure
//! measured in the same process on the same bytes, and their ratio.

mod large;
mod memory;
mod region;
mod report;
mod small;

use std::path::{Path, PathBuf};
use std::time::Instant;

use stepcache::Value;

/// How much work each section does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Sizes of the large f32 maps, in bytes.
    pub map_sizes: Vec<usize>,
    /// Timed runs of each hashing variant.
    pub hash_runs: usize,
    /// Timed runs of each large put or get, per size: (below 100 MiB, above).
    pub io_runs: (usize, usize),
    /// Small entries written and read per store.
    pub small_count: usize,
    /// Bytes of each small entry (and of each memory-tier value).
    pub small_len: usize,
    /// Values held in the memory tier.
    pub memory_count: usize,
    /// Timed batches (each one pass over every memory-tier value) per variant.
    pub memory_batches: usize,
    /// Sizes of the f32 volumes whose slices are read, in bytes.
    pub region_sizes: Vec<usize>,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            map_sizes: vec![40 << 20, 256 << 20],
            hash_runs: 15,
            io_runs: (31, 11),
            small_count: 10_000,
            small_len: 1024,
            memory_count: 10_000,
            memory_batches: 51,
            region_sizes: vec![4 << 20, 16 << 20, 64 << 20, 256 << 20],
        }
    }

    fn quick() -> Plan {
        Plan {
            map_sizes: vec![1 << 20, 4 << 20],
            hash_runs: 3,
            io_runs: (3, 3),
            small_count: 400,
            small_len: 1024,
            memory_count: 1_000,
            memory_batches: 5,
            region_sizes: vec![4 << 20],
        }
    }

    pub fn io_runs_for(&self, bytes: usize) -> usize {
        if bytes < 100 << 20 {
            self.io_runs.0
        } else {
            self.io_runs.1
        }
    }
}

/// A large f32 map, built once and shared by the sections that use it.
pub struct Map {
    pub label: String,
    pub len: usize,
    pub value: Value,
}

impl Map {
    fn new(bytes: usize) -> Map {
        let len = bytes / 4;
        // Noise, not a constant: nothing along the way may shortcut zeros or repeats.
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ bytes as u64;
        let data: Vec<f32> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let value = Value::array(data, &[len]).expect("a 1-D shape of the data's length");
        Map {
            label: format!("{} MiB", bytes >> 20),
            len,
            value,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.value.data()
    }
}

/// A scratch directory for one run, removed when dropped (also when a section panics).
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(base: &Path) -> std::io::Result<Scratch> {
        let root = base.join(format!("stepcache-perf-{}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        Ok(Scratch { root })
    }

    /// A new, empty subdirectory.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.root.join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Writes every dirty page to disk (untimed, between runs), so a run does not pay for
/// the write-back of the one before it.
pub fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::sync();
    }
}

/// Panics with context: a failed operation makes every figure after it meaningless.
pub fn ok<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// The CPU model and the vector and hash extensions blake3 and sha256 may use.
fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let has: Vec<&str> = ["avx2", "avx512f", "sha_ni"]
        .into_iter()
        .filter(|f| flags.split_whitespace().any(|x| x == *f))
        .collect();
    format!("{} ({})", field("model name"), has.join(", "))
}

/// The 1-minute load average: above ~0.5 another process shares the two cores, and
/// 2-thread figures (rayon hashing, 2-thread lookups) suffer first.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// A section's number, name, and the code that measures it and returns its tables.
type Section<'a> = (u32, &'static str, &'a dyn Fn() -> Vec<report::Table>);

/// CPU time counters in clock ticks: the machine's (steal, busy, total) from /proc/stat
/// and this process's own (user + system) from /proc/self/stat.
#[derive(Clone, Copy)]
struct CpuTimes {
    steal: u64,
    busy: u64,
    total: u64,
    own: u64,
}

fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3)? + f.get(4)?;
    let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let after = own_stat.rsplit_once(')')?.1;
    let g: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    Some(CpuTimes {
        steal: *f.get(7)?,
        busy: total - idle - f.get(7)?,
        total,
        own: g.get(11)? + g.get(12)?,
    })
}

/// What else ran on the machine since `start`: CPU time of other processes and kernel
/// threads (in cores' worth), and the share the hypervisor stole.
fn interference_since(start: Option<CpuTimes>) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    match (start, cpu_times()) {
        (Some(a), Some(b)) if b.total > a.total => {
            let wall = (b.total - a.total) as f64 / cores;
            let others = (b.busy - a.busy).saturating_sub(b.own - a.own) as f64 / wall;
            let steal = (b.steal - a.steal) as f64 / (b.total - a.total) as f64 * 100.0;
            format!("other processes and kernel threads used {others:.2} cores on average; steal {steal:.1}%")
        }
        _ => "unknown".into(),
    }
}

struct Options {
    quick: bool,
    only: Option<Vec<u32>>,
    dir: PathBuf,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        quick: false,
        only: None,
        dir: std::env::temp_dir(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--only" => {
                let list = args.next().ok_or("--only needs a list such as 1,3")?;
                let parsed: Result<Vec<u32>, _> = list.split(',').map(|s| s.trim().parse()).collect();
                opts.only = Some(parsed.map_err(|_| format!("--only {list}: not a list of section numbers"))?);
            }
            "--dir" => opts.dir = PathBuf::from(args.next().ok_or("--dir needs a directory")?),
            "--bench" => {} // passed by `cargo bench`
            "-h" | "--help" => {
                println!(
                    "stepcache-perf [--quick] [--only 1,2,3,4,5] [--dir SCRATCH_PARENT]\n\
                     Prints markdown tables: stepcache against the physical limit and its peers."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(opts)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let plan = if opts.quick { Plan::quick() } else { Plan::full() };
    let wanted = |n: u32| opts.only.as_ref().is_none_or(|o| o.contains(&n));
    let scratch = ok(Scratch::new(&opts.dir), "create the scratch directory");
    let started = Instant::now();

    println!("# stepcache performance against the physical limit and peers\n");
    println!(
        "mode: {} · build: {} · cores: {} · cpu: {} · scratch: {}",
        if opts.quick { "quick" } else { "full" },
        if cfg!(debug_assertions) {
            "debug (figures are not representative)"
        } else {
            "release"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu(),
        scratch.root.display(),
    );
    println!(
        "\nEvery figure is a median over runs of the same process, on the same data. \
         ratio = stepcache time ÷ peer time (below 1.00x stepcache is faster). \
         GB = 10^9 bytes.\n"
    );

    let maps: Vec<Map> = if wanted(1) || wanted(2) || wanted(3) {
        plan.map_sizes.iter().map(|&b| Map::new(b)).collect()
    } else {
        Vec::new()
    };

    let sections: [Section<'_>; 6] = [
        (1, "fingerprinting", &|| large::fingerprint(&plan, &maps)),
        (2, "persistent put", &|| large::put(&plan, &maps, &scratch)),
        (3, "persistent get", &|| large::get(&plan, &maps, &scratch)),
        (4, "small entries", &|| small::run(&plan, &scratch)),
        (5, "memory-tier hits", &|| memory::run(&plan, &scratch)),
        (6, "region reads", &|| region::run(&plan, &scratch)),
    ];
    for (n, name, section) in sections {
        if !wanted(n) {
            continue;
        }
        // What earlier sections left dirty (their clean-up deletes many files) is written
        // out now, rather than by kernel threads competing with this section.
        settle();
        let t = Instant::now();
        eprintln!("section {n} ({name}) ...");
        println!("## {n}. {name}\n");
        println!("load average before: {}\n", load());
        let cpu_start = cpu_times();
        for table in section() {
            table.print();
        }
        println!("during this section: {}\n", interference_since(cpu_start));
        eprintln!("section {n} ({name}) took {:.1} s", t.elapsed().as_secs_f64());
    }
    drop(scratch);
    println!("load average after: {}", load());
    println!("total time: {:.1} s", started.elapsed().as_secs_f64());
}

/// A deterministic xorshift64 generator (the seed must not be zero): the same workload in
/// every run, so figures compare.
/// `count` buffers of `len` pseudo-random bytes from `next`, all different.
pub(crate) fn random_buffers(next: &mut impl FnMut() -> u64, count: usize, len: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| (0..len.div_ceil(8)).flat_map(|_| next().to_le_bytes()).take(len).collect())
        .collect()
}

pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
