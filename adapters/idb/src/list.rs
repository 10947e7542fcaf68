//! Listing the store, and finding what is out of step: an entry whose listing record is
//! damaged or whose chunks are missing (listed so that the engine removes it as a whole),
//! and chunks no listing record names (a superseded version damage left behind, or a put
//! that died), which listing removes.

use idb::{Database, Query, TransactionMode};
use stepcache_core::{Fingerprint, Listed, Result, text};
use wasm_bindgen::JsValue;

use crate::record::{self, Generation, Head};
use crate::{ENTRIES, HEADS, error, key_of, request};

/// How long chunks without chunk 0 may wait for their put to finish before listing takes
/// them for a put that died: 10 minutes, far longer than writing the largest entry takes.
/// A put paused for longer (a suspended tab) then fails with an error; it never completes
/// with chunks missing.
const ORPHAN_AGE_MS: u64 = 10 * 60 * 1000;

/// The chunks of one generation of one entry, as record keys show them.
#[derive(Debug)]
pub(crate) struct Chunks {
    hex: String,
    generation: Generation,
    /// How many chunks.
    pub(crate) count: usize,
    /// Whether chunk 0 is among them: it is written last, with the listing record, so
    /// chunks without it belong to a put that has not finished (or never will).
    pub(crate) has_first: bool,
}

/// The chunks of each entry and generation among record keys `keys`, in key order (keys
/// that are not chunk keys are left out).
///
/// IndexedDB returns keys sorted, and fingerprints have a fixed length, so the keys of
/// one generation are consecutive and the runs are sorted by entry: a vector of runs and
/// a binary search, not a map (a map's code is a few KB of the npm module).
pub(crate) fn chunks_of(keys: &[JsValue]) -> Vec<Chunks> {
    let mut out: Vec<Chunks> = Vec::new();
    for key in keys {
        let Some(key) = key.as_string() else { continue };
        let Some((hex, generation, i)) = record::parse_chunk_key(&key) else {
            continue;
        };
        match out.last_mut() {
            Some(run) if run.hex == hex && run.generation == generation => {
                run.count += 1;
                run.has_first |= i == 0;
            }
            _ => out.push(Chunks {
                hex: hex.to_owned(),
                generation,
                count: 1,
                has_first: i == 0,
            }),
        }
    }
    out
}

/// The runs of entry `hex` among `runs` (from [`chunks_of`]).
pub(crate) fn runs_of<'a>(runs: &'a [Chunks], hex: &str) -> impl Iterator<Item = &'a Chunks> {
    let start = runs.partition_point(|r| r.hex.as_str() < hex);
    runs[start..].iter().take_while(move |r| r.hex == hex)
}

/// Whether `runs` hold every chunk of an entry of `len` bytes in generation `generation`.
pub(crate) fn whole(runs: &[Chunks], hex: &str, generation: Generation, len: u64) -> bool {
    runs_of(runs, hex).any(|r| r.generation == generation && r.has_first && r.count == record::chunk_count(len))
}

/// The listings of every entry, or of entry `only` (none or one), whose records are
/// whole; what is out of step is removed on the way (as a whole, never in part).
pub(crate) async fn list(db: &Database, only: Option<&Fingerprint>, now_ms: u64) -> Result<Vec<Listed>> {
    let e = |err| error::from_idb("list entries", err);
    let tx = db
        .transaction(&[ENTRIES, HEADS], TransactionMode::ReadOnly)
        .map_err(e)?;
    let heads = tx.object_store(HEADS).map_err(e)?;
    let query = || only.map(|id| Query::Key(key_of(id)));
    let range = match only {
        Some(id) => Some(Query::from(record::entry_range(&id.to_hex()).map_err(e)?)),
        None => None,
    };
    // Every request asked before the first answer: one round trip.
    let keys = request::values(heads.get_all_keys(query(), None).map_err(e)?);
    let values = request::values(heads.get_all(query(), None).map_err(e)?);
    let chunk_keys = request::values(
        tx.object_store(ENTRIES)
            .map_err(e)?
            .get_all_keys(range, None)
            .map_err(e)?,
    );
    let (keys, values) = (keys.await.map_err(e)?, values.await.map_err(e)?);
    let chunks = chunks_of(&chunk_keys.await.map_err(e)?);
    let mut out = Vec::with_capacity(keys.len());
    // The generation each listing record names, by entry, sorted as the keys are.
    let mut named: Vec<(String, Generation)> = Vec::with_capacity(keys.len());
    for (key, value) in keys.iter().zip(values.iter()) {
        let Some(hex) = key.as_string() else { continue };
        let Ok(id) = text!("b3:", hex).parse::<Fingerprint>() else {
            continue;
        };
        // A damaged listing record, or one whose chunks are not all there, lists as an
        // empty entry, which the engine's header check rejects: it removes the entry
        // (listing record and every chunk) as a whole.
        let mut listed = Listed {
            id,
            len: 0,
            head: Vec::new(),
        };
        if let Some(head) = Head::decode(value) {
            if whole(&chunks, &hex, head.generation, head.len) {
                (listed.len, listed.head) = (head.len, head.lead);
            }
            named.push((hex, head.generation));
        }
        out.push(listed);
    }
    let mut orphans = Vec::new();
    for run in &chunks {
        let at = named.partition_point(|(hex, _)| *hex < run.hex);
        let current = named
            .get(at)
            .is_some_and(|(hex, generation)| *hex == run.hex && *generation == run.generation);
        if !current && (run.has_first || run.generation.age_ms(now_ms) > ORPHAN_AGE_MS) {
            orphans.push((run.hex.clone(), run.generation));
        }
    }
    if !orphans.is_empty() {
        // Housekeeping: if it fails, the next listing tries again.
        let _ = remove_generations(db, orphans).await;
    }
    Ok(out)
}

/// Removes the chunks of each `(hex, generation)` of `chunks`, in one transaction (chunks
/// no listing record names, or a failed put's). Boxed: both callers await one copy.
pub(crate) fn remove_generations(
    db: &Database,
    chunks: Vec<(String, Generation)>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + '_>> {
    Box::pin(async move {
        let e = |err| error::from_idb("remove left-behind chunks", err);
        let tx = db.transaction(&[ENTRIES], TransactionMode::ReadWrite).map_err(e)?;
        let entries = tx.object_store(ENTRIES).map_err(e)?;
        for (hex, generation) in &chunks {
            entries
                .delete(record::generation_range(hex, *generation, 0).map_err(e)?)
                .map_err(e)?;
        }
        crate::finish("remove left-behind chunks", tx).await
    })
}
