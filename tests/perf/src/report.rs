//! Timing helpers, medians, and the markdown tables every section prints.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Times `f`; what it returns is dropped after the clock stops (freeing a 256 MiB buffer
/// or unmapping a file is not part of the operation measured).
pub fn time<R>(f: impl FnOnce() -> R) -> Duration {
    let start = Instant::now();
    let out = black_box(f());
    let took = start.elapsed();
    drop(out);
    took
}

/// Runs every variant once to warm up, then `runs` rounds in which each variant runs
/// once, so slow drifts of a shared machine hit every variant alike. The order within a
/// round is shuffled (deterministically), so no variant always follows the same other one
/// (whose freed memory or dirty caches it would inherit). Each variant gets the run index
/// (0 for the warm-up) and returns the time it measured.
pub fn interleave(runs: usize, variants: &mut [&mut dyn FnMut(usize) -> Duration]) -> Vec<Vec<Duration>> {
    for v in variants.iter_mut() {
        v(0);
    }
    let mut out = vec![Vec::with_capacity(runs); variants.len()];
    let mut order: Vec<usize> = (0..variants.len()).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for run in 1..=runs {
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            out[i].push(variants[i](run));
        }
    }
    out
}

/// The median of some durations (the mean of the middle two for an even count).
pub fn median(times: &[Duration]) -> Duration {
    assert!(!times.is_empty(), "median of no runs");
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2
    }
}

/// One measured figure: the median time of one operation, with what it moved.
#[derive(Debug, Clone)]
pub struct Fig {
    /// Median time of one operation.
    pub median: Duration,
    /// Mean time of one operation (shown for per-operation timings, where tails matter).
    pub mean: Option<Duration>,
    /// Bytes one operation moves, to show GB/s.
    pub bytes: Option<u64>,
    /// Whether to show a rate beside the time (not for an operation that moves nothing).
    pub rate: bool,
}

impl Fig {
    /// The median of several runs of one large operation.
    pub fn runs(times: &[Duration], bytes: Option<u64>) -> Fig {
        Fig {
            median: median(times),
            mean: None,
            bytes,
            rate: true,
        }
    }

    /// Every operation timed on its own: median and mean per operation.
    pub fn per_op(times: &[Duration], bytes: Option<u64>) -> Fig {
        let total: Duration = times.iter().sum();
        Fig {
            median: median(times),
            mean: Some(total / times.len() as u32),
            bytes,
            rate: true,
        }
    }

    /// Batches of `ops` operations each (of all threads together): the median batch's
    /// wall time divided by the operations it held.
    pub fn batches(times: &[Duration], ops: usize) -> Fig {
        Fig {
            median: median(times) / ops as u32,
            mean: None,
            bytes: None,
            rate: true,
        }
    }

    /// The same figure shown as a time alone.
    pub fn time_only(mut self) -> Fig {
        self.rate = false;
        self
    }

    fn show(&self) -> String {
        let mut s = fmt_dur(self.median);
        match (self.rate, self.bytes) {
            (false, _) => {}
            (true, Some(bytes)) => s += &format!(" · {}", fmt_gbps(bytes, self.median)),
            (true, None) => {
                // Throughput from the mean where there is one: a tail slows a batch too.
                let per = self.mean.unwrap_or(self.median);
                s += &format!(" · {}", fmt_ops(1.0 / per.as_secs_f64()));
            }
        }
        if let Some(mean) = self.mean {
            s += &format!(" (mean {})", fmt_dur(mean));
        }
        s
    }
}

/// One line of a table: a stepcache figure against one peer's.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub fig: Fig,
    pub peer: String,
    pub peer_fig: Fig,
}

impl Row {
    pub fn new(what: impl Into<String>, fig: &Fig, peer: impl Into<String>, peer_fig: &Fig) -> Row {
        Row {
            what: what.into(),
            fig: fig.clone(),
            peer: peer.into(),
            peer_fig: peer_fig.clone(),
        }
    }

    fn ratio(&self) -> String {
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        let mut s = format!("{:.2}x", r(self.fig.median, self.peer_fig.median));
        if let (Some(a), Some(b)) = (self.fig.mean, self.peer_fig.mean) {
            s += &format!(" (mean {:.2}x)", r(a, b));
        }
        s
    }
}

/// A titled group of rows, printed as one markdown table with its notes below.
#[derive(Debug, Default)]
pub struct Table {
    pub title: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Table {
        Table {
            title: title.into(),
            ..Table::default()
        }
    }

    pub fn row(&mut self, what: impl Into<String>, fig: &Fig, peer: impl Into<String>, peer_fig: &Fig) {
        self.rows.push(Row::new(what, fig, peer, peer_fig));
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn print(&self) {
        println!("### {}\n", self.title);
        println!("| what | stepcache | peer | peer figure | ratio |");
        println!("|---|---:|---|---:|---:|");
        for row in &self.rows {
            println!(
                "| {} | {} | {} | {} | {} |",
                row.what,
                row.fig.show(),
                row.peer,
                row.peer_fig.show(),
                row.ratio()
            );
        }
        println!();
        for note in &self.notes {
            println!("- {note}");
        }
        if !self.notes.is_empty() {
            println!();
        }
    }
}

/// Three significant digits in the largest unit that keeps the number at least 1.
pub fn fmt_dur(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{} ns", sig3(ns))
    } else if ns < 1e6 {
        format!("{} µs", sig3(ns / 1e3))
    } else if ns < 1e9 {
        format!("{} ms", sig3(ns / 1e6))
    } else {
        format!("{} s", sig3(ns / 1e9))
    }
}

fn sig3(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Decimal gigabytes per second, as the performance notes give them.
pub fn fmt_gbps(bytes: u64, d: Duration) -> String {
    format!("{:.2} GB/s", bytes as f64 / d.as_secs_f64() / 1e9)
}

fn fmt_ops(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2}M ops/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{}k ops/s", sig3(per_s / 1e3))
    } else {
        format!("{} ops/s", sig3(per_s))
    }
}
