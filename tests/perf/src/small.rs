//! Section 4: many 1 KiB entries on disk, in a clean directory and after churn.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, TableDefinition};
use stepcache::{Cache, Durability, Key, TierOutcome, Value};

use crate::report::{Fig, Table};
use crate::{Plan, Scratch, ok, settle};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");

/// The entries every store writes and reads: the same keys and bytes for all.
struct Entries {
    keys: Vec<Key>,
    /// Each key's fingerprint: the peers' keys (as 64 hex digits, or 32 raw bytes).
    ids: Vec<[u8; 32]>,
    names: Vec<String>,
    raw: Vec<Vec<u8>>,
    values: Vec<Value>,
    /// The order of gets: every entry once, shuffled.
    order: Vec<usize>,
}

impl Entries {
    fn new(count: usize, len: usize) -> Entries {
        let mut next = crate::xorshift(0x2545_f491_4f6c_dd1du64);
        let keys: Vec<Key> = (0..count)
            .map(|i| ok(Key::of("perf_small").arg("i", i as u64).build(), "build a key"))
            .collect();
        let ids: Vec<[u8; 32]> = keys.iter().map(|k| *k.fingerprint().as_bytes()).collect();
        let names = keys.iter().map(|k| k.fingerprint().to_hex()).collect();
        // Every value differs (cacache stores content by hash and would deduplicate copies).
        let raw: Vec<Vec<u8>> = crate::random_buffers(&mut next, count, len);
        let values = raw.iter().map(|r| Value::bytes(r.clone())).collect();
        let mut order: Vec<usize> = (0..count).collect();
        for i in (1..count).rev() {
            order.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        Entries {
            keys,
            ids,
            names,
            raw,
            values,
            order,
        }
    }
}

/// One way to keep small entries on disk. Each call times its own operation.
trait SmallStore {
    fn label(&self) -> &'static str;
    fn put(&mut self, e: &Entries, i: usize) -> Duration;
    fn get(&mut self, e: &Entries, i: usize) -> Duration;
    fn clear(&mut self, e: &Entries);
}

struct Stepcache(Cache);

impl SmallStore for Stepcache {
    fn label(&self) -> &'static str {
        "stepcache"
    }
    fn put(&mut self, e: &Entries, i: usize) -> Duration {
        let value = e.values[i].clone();
        let start = Instant::now();
        let report = ok(self.0.put(&e.keys[i], value), "stepcache put");
        let took = start.elapsed();
        assert_eq!(report.store, TierOutcome::Stored);
        took
    }
    fn get(&mut self, e: &Entries, i: usize) -> Duration {
        let start = Instant::now();
        let hit = ok(self.0.get(&e.keys[i]), "stepcache get").expect("stored");
        let took = start.elapsed();
        assert_eq!(hit.value.data().as_bytes(), e.raw[i].as_slice());
        took
    }
    fn clear(&mut self, e: &Entries) {
        let removed = ok(self.0.clear(None), "stepcache clear");
        assert_eq!(removed as usize, e.keys.len());
    }
}

/// One file per entry, fanned out (`<ab>/<hex>`), written to a
/// temporary file and renamed into place.
struct Files {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Files {
    fn new(dir: PathBuf) -> Files {
        let tmp = dir.join("tmp");
        ok(fs::create_dir_all(&tmp), "create the peer's tmp");
        for shard in 0..256 {
            ok(fs::create_dir_all(dir.join(format!("{shard:02x}"))), "create a shard");
        }
        Files { dir, tmp }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(&name[..2]).join(name)
    }
}

impl SmallStore for Files {
    fn label(&self) -> &'static str {
        "one file per entry (write tmp + `rename`, `fs::read`)"
    }
    fn put(&mut self, e: &Entries, i: usize) -> Duration {
        let name = &e.names[i];
        let start = Instant::now();
        let tmp = self.tmp.join(format!("{name}.tmp"));
        ok(fs::write(&tmp, &e.raw[i]), "write the peer's file");
        ok(fs::rename(&tmp, self.path(name)), "rename the peer's file");
        start.elapsed()
    }
    fn get(&mut self, e: &Entries, i: usize) -> Duration {
        let start = Instant::now();
        let bytes = ok(fs::read(self.path(&e.names[i])), "read the peer's file");
        let took = start.elapsed();
        assert_eq!(bytes, e.raw[i]);
        took
    }
    fn clear(&mut self, e: &Entries) {
        for name in &e.names {
            ok(fs::remove_file(self.path(name)), "remove the peer's file");
        }
    }
}

struct Cacache(PathBuf);

impl SmallStore for Cacache {
    fn label(&self) -> &'static str {
        "`cacache` `write_sync` / `read_sync`"
    }
    fn put(&mut self, e: &Entries, i: usize) -> Duration {
        let start = Instant::now();
        ok(cacache::write_sync(&self.0, &e.names[i], &e.raw[i]), "cacache write");
        start.elapsed()
    }
    fn get(&mut self, e: &Entries, i: usize) -> Duration {
        let start = Instant::now();
        let bytes = ok(cacache::read_sync(&self.0, &e.names[i]), "cacache read");
        let took = start.elapsed();
        assert_eq!(bytes, e.raw[i]);
        took
    }
    fn clear(&mut self, _: &Entries) {
        ok(cacache::clear_sync(&self.0), "cacache clear");
    }
}

struct Redb(Database);

impl SmallStore for Redb {
    fn label(&self) -> &'static str {
        "`redb` (a write txn per put, `Durability::None`; a read txn per get)"
    }
    fn put(&mut self, e: &Entries, i: usize) -> Duration {
        let start = Instant::now();
        let mut tx = ok(self.0.begin_write(), "redb begin_write");
        ok(tx.set_durability(redb::Durability::None), "redb set_durability");
        {
            let mut table = ok(tx.open_table(TABLE), "redb open_table");
            ok(table.insert(e.ids[i].as_slice(), e.raw[i].as_slice()), "redb insert");
        }
        ok(tx.commit(), "redb commit");
        start.elapsed()
    }
    fn get(&mut self, e: &Entries, i: usize) -> Duration {
        let start = Instant::now();
        let rx = ok(self.0.begin_read(), "redb begin_read");
        let table = ok(rx.open_table(TABLE), "redb open_table");
        let bytes = ok(table.get(e.ids[i].as_slice()), "redb get")
            .expect("stored")
            .value()
            .to_vec();
        let took = start.elapsed();
        assert_eq!(bytes, e.raw[i]);
        took
    }
    fn clear(&mut self, _: &Entries) {
        // One durable transaction, so the freed pages can be reused.
        let tx = ok(self.0.begin_write(), "redb begin_write");
        ok(tx.delete_table(TABLE), "redb delete_table");
        ok(tx.commit(), "redb commit");
    }
}

pub fn run(plan: &Plan, scratch: &Scratch) -> Vec<Table> {
    let n = plan.small_count;
    let kib = plan.small_len as f64 / 1024.0;
    let e = Entries::new(n, plan.small_len);
    let cache = ok(
        Cache::builder()
            .dir(scratch.dir("small-stepcache"))
            .memory_budget(0)
            .store_budget(1 << 40)
            .durability(Durability::Buffered)
            .open(),
        "open a stepcache",
    );
    let mut stores: Vec<Box<dyn SmallStore>> = vec![
        Box::new(Files::new(scratch.dir("small-files"))),
        Box::new(Stepcache(cache)),
        Box::new(Cacache(scratch.dir("small-cacache"))),
        Box::new(Redb(ok(
            Database::create(scratch.dir("small-redb").join("db.redb")),
            "create a redb database",
        ))),
    ];
    let bytes = Some(plan.small_len as u64);

    // Operations are interleaved across stores (entry i goes to every store in turn, then
    // entry i + 1), so every store meets the same filesystem state: deletions slow file
    // creation on the whole filesystem for minutes, whoever made them.
    let puts = |stores: &mut Vec<Box<dyn SmallStore>>| {
        let mut times = vec![Vec::with_capacity(n); stores.len()];
        for i in 0..n {
            for (s, store) in stores.iter_mut().enumerate() {
                times[s].push(store.put(&e, i));
            }
        }
        times
    };
    eprintln!("  put {n} into clean directories");
    settle();
    let clean_times = puts(&mut stores);
    let clean: Vec<Fig> = clean_times.iter().map(|t| Fig::per_op(t, bytes)).collect();
    settle();
    eprintln!("  get {n}");
    for &i in &e.order {
        for store in &mut stores {
            store.get(&e, i); // warm-up pass
        }
    }
    let mut get_times = vec![Vec::with_capacity(n); stores.len()];
    for &i in &e.order {
        for (s, store) in stores.iter_mut().enumerate() {
            get_times[s].push(store.get(&e, i));
        }
    }
    let gets: Vec<Fig> = get_times.iter().map(|t| Fig::per_op(t, bytes)).collect();
    // Churn: every store deletes all its entries (untimed), then at once all put again.
    settle();
    for store in &mut stores {
        eprintln!("  delete {n}: {}", store.label());
        store.clear(&e);
    }
    eprintln!("  put {n} again, after the deletions");
    let churned: Vec<Fig> = puts(&mut stores).iter().map(|t| Fig::per_op(t, bytes)).collect();
    for store in &mut stores {
        store.clear(&e);
    }
    drop(stores);

    // The engine alone, over a store that costs next to nothing: how a put's own cost
    // grows with the entries the cache holds (no filesystem effects).
    let engine = ok(
        stepcache_core::Cache::new(
            stepcache_core::MemoryStore::new(),
            stepcache::SystemClock::new(),
            stepcache::Config::new().memory_budget(0).store_budget(1 << 40),
        ),
        "create the engine",
    );
    let engine_times: Vec<Duration> = (0..n)
        .map(|i| {
            let value = e.values[i].clone();
            let start = Instant::now();
            let report = ok(pollster::block_on(engine.put(&e.keys[i], value)), "engine put");
            let took = start.elapsed();
            assert_eq!(report.store, TierOutcome::Stored);
            took
        })
        .collect();
    drop(engine);

    let sc = 1; // the order of `stores`
    let peers = [
        (0, "one file per entry: write tmp + `rename`"),
        (2, "`cacache::write_sync`"),
        (3, "`redb`, write txn per put, `Durability::None`"),
    ];
    let mut table = Table::new(format!("{n} entries of {kib} KiB on disk"));
    for (p, label) in peers {
        table.row(format!("put {kib} KiB, clean directory"), &clean[sc], label, &clean[p]);
    }
    let get_peers = [
        (0, "one file per entry: `fs::read`"),
        (2, "`cacache::read_sync`"),
        (3, "`redb`, read txn per get"),
    ];
    for (p, label) in get_peers {
        table.row(
            format!("get {kib} KiB (verified, page cache warm)"),
            &gets[sc],
            label,
            &gets[p],
        );
    }
    for (p, label) in peers {
        table.row(
            format!("put {kib} KiB after {n} deletions (churn)"),
            &churned[sc],
            format!("{label}, after {n} deletions"),
            &churned[p],
        );
    }
    table.row(
        format!("put {kib} KiB after {n} deletions (churn)"),
        &churned[sc],
        "stepcache itself, clean directory (churn penalty)",
        &clean[sc],
    );
    // Whether a put costs more as the cache holds more entries.
    let tenth = (n / 10).max(1);
    let ends = |t: &[Duration]| (Fig::per_op(&t[n - tenth..], bytes), Fig::per_op(&t[..tenth], bytes));
    let (last, first) = ends(&clean_times[sc]);
    table.row(
        format!(
            "put {kib} KiB, clean: the last {tenth} ({} to {n} entries held)",
            n - tenth
        ),
        &last,
        format!("stepcache itself: the first {tenth} (0 to {tenth} held)"),
        &first,
    );
    let (last, first) = ends(&engine_times);
    table.row(
        format!("engine alone (`MemoryStore`) put {kib} KiB: the last {tenth}"),
        &last,
        format!("engine alone: the first {tenth}"),
        &first,
    );
    table.note(format!(
        "Every put and get is timed on its own: figures are the median of {n} operations, \
         with their mean (tails included) beside it; the ratio compares medians, then means."
    ));
    table.note(
        "stepcache runs with `memory_budget(0)` and `Durability::Buffered`: every get reads \
         the entry from disk (its own file: opened, read and closed) and \
         verifies its XXH3-128 checksum. None of the disk stores \
         fsyncs here (cacache never does; redb commits with `Durability::None`, its \
         non-durable mode, which it allows per transaction). Gets run in one shuffled order, \
         the same for every store, after an untimed warm-up pass.",
    );
    table.note(format!(
        "Order: all clean puts, then all gets, then every store deletes its {n} entries \
         (untimed: stepcache `clear`, `remove_file` each, `cacache::clear_sync`, which removes \
         its content and index files, one redb transaction deleting the table), then all \
         puts again with no pause. Within each phase the stores take turns entry by entry, \
         so all of them meet the same filesystem: this ext4 has no journal and skips inodes \
         freed in the last minutes when creating files, whoever freed them. `sync` runs \
         (untimed) before the clean puts, the gets and the deletions."
    ));
    table.note(
        "The last two rows ask whether a put costs more when the cache holds more entries: \
         stepcache's first and last tenth of the clean puts (on the filesystem, so recent \
         deletions by anyone also weigh on the first ones), and the same puts through the \
         async engine over a `MemoryStore` (memory budget 0, nothing but the engine's own \
         work), driven by `pollster::block_on`.",
    );
    vec![table]
}
