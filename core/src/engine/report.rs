//! What the engine's calls report back.

use crate::error::ErrorKind;
use crate::fingerprint::Fingerprint;
use crate::key::Key;
use crate::value::Value;

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The memory tier.
    Memory,
    /// The store (verified, then promoted to memory if the policy keeps it there).
    Store,
    /// Computed by this call.
    Computed,
    /// Computed by a concurrent call for the same key, which this call waited for.
    Waited,
    /// The shared tier (verified, then promoted into the store and memory as the policy says).
    Shared,
}

impl Source {
    /// Whether the value was found rather than computed by this call.
    pub fn is_hit(self) -> bool {
        matches!(self, Source::Memory | Source::Store | Source::Shared)
    }
}

/// A value found or computed, with where it came from.
///
/// A step computed from this value is keyed with [`crate::KeyBuilder::lineage`], which
/// binds [`Hit::fingerprint`] and [`Hit::content`].
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The value.
    pub value: Value,
    /// The fingerprint of the key the value belongs to.
    pub fingerprint: Fingerprint,
    /// The value's content identity ([`Value::content`]), the same whatever `source` is.
    pub content: Fingerprint,
    /// Where it came from.
    pub source: Source,
    /// When it was computed, ms since the epoch.
    pub created_ms: u64,
    /// How long it took to compute, microseconds (0 when unknown).
    pub cost_us: u64,
    /// What storing it did (only for values computed by this call).
    pub stored: Option<PutReport>,
}

/// Why a tier did not keep a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The type's retention does not use this tier.
    Policy,
    /// Writing is switched off (a dry run).
    WriteDisabled,
    /// The value alone is larger than the tier's budget.
    TooLarge,
    /// Pinned and in-use entries leave no room for it.
    NoRoom,
    /// The shared tier is left alone after a failure: the entry is written there later.
    Degraded,
    /// The shared tier is one this cache only reads (a browser's).
    ReadOnly,
    /// An entry for the key is stored already and is kept (an import never replaces one).
    Present,
    /// The caller keeps the bytes and may change them ([`crate::Cache::put_ref`]): the
    /// memory tier would need a copy.
    Borrowed,
}

/// What one tier did with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierOutcome {
    /// Stored.
    Stored,
    /// Not stored, for this documented reason.
    Skipped(SkipReason),
    /// Storing failed (only reported by `get_or_compute`; `put` returns the error).
    Failed(ErrorKind),
}

/// What `put` did in each tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PutReport {
    /// The memory tier.
    pub memory: TierOutcome,
    /// The store.
    pub store: TierOutcome,
    /// The shared tier: [`SkipReason::Policy`] for a type that is not shared or a cache
    /// without a shared tier. A failure here never fails the put: the entry is written to
    /// the shared tier later (see [`crate::Cache::flush_shared`]).
    pub shared: TierOutcome,
}

impl PutReport {
    pub(crate) fn skipped(reason: SkipReason) -> Self {
        PutReport {
            memory: TierOutcome::Skipped(reason),
            store: TierOutcome::Skipped(reason),
            shared: TierOutcome::Skipped(reason),
        }
    }

    /// Whether any tier kept the value.
    pub fn stored_anywhere(&self) -> bool {
        [self.memory, self.store, self.shared].contains(&TierOutcome::Stored)
    }
}

/// The state of one key, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// In the memory tier.
    Memory,
    /// In the store (header checked; the payload is verified when read).
    Stored,
    /// Stored but older than the type's maximum age.
    Expired,
    /// Stored but from before a forced recompute of its step.
    Forced,
    /// Not cached on this machine, but in the shared tier (its header checked; the entry
    /// is verified when read).
    Shared,
    /// Not cached.
    Missing,
}

impl EntryState {
    /// A lowercase name (`"memory"`, `"stored"`, ...), as the command line and the
    /// bindings print it.
    pub fn name(self) -> &'static str {
        match self {
            EntryState::Memory => "memory",
            EntryState::Stored => "stored",
            EntryState::Expired => "expired",
            EntryState::Forced => "forced",
            EntryState::Shared => "shared",
            EntryState::Missing => "missing",
        }
    }
}

/// The status of one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Status {
    /// The key.
    pub key: Key,
    /// Its state.
    pub state: EntryState,
    /// When it was computed, if cached.
    pub created_ms: Option<u64>,
    /// Its compute cost in microseconds, if cached.
    pub cost_us: Option<u64>,
}

/// One cached entry, as `entries` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The key's fingerprint.
    pub fingerprint: crate::Fingerprint,
    /// The step (result type) name.
    pub step: alloc::string::String,
    /// Bytes it occupies in the store (entry size), or in memory if it is only there.
    pub bytes: u64,
    /// When it was computed, ms since the epoch.
    pub created_ms: u64,
    /// How long it took to compute, microseconds (0 when unknown).
    pub cost_us: u64,
    /// Hits since this cache saw it stored.
    pub hits: u64,
    /// Whether it is in this cache's memory tier.
    pub in_memory: bool,
    /// Whether it is in the store.
    pub stored: bool,
    /// Whether it is in the shared tier (as of a listing of it; false if it is down).
    pub shared: bool,
    /// How it was made, as its entry records it ([`crate::provenance::ProvenanceRecord::decode`];
    /// empty for an entry only in memory, or of a format version before 3).
    pub provenance: crate::provenance::ProvenanceRecord,
}

impl EntryInfo {
    pub(crate) fn of<T>(
        id: &crate::Fingerprint,
        slot: &super::state::Slot<T>,
        hits: u64,
        in_memory: bool,
        stored: bool,
    ) -> Self {
        EntryInfo {
            fingerprint: *id,
            step: slot.step.clone(),
            bytes: slot.size,
            created_ms: slot.created_ms,
            cost_us: slot.cost_us,
            hits,
            in_memory,
            stored,
            shared: false,
            provenance: crate::provenance::ProvenanceRecord::default(),
        }
    }
}
