#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// On wasm there is one thread: `Arc` is only shared ownership there, and values holding
// JS-backed bytes are not `Send`. Natively everything shared is `Send + Sync`.
#![cfg_attr(target_family = "wasm", allow(clippy::arc_with_non_send_sync))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod bundle;
mod bytes;
mod checksum;
mod clock;
mod codec;
mod engine;
pub mod entry;
mod error;
pub mod evict;
mod fingerprint;
mod key;
mod map;
mod policy;
pub mod provenance;
mod record;
mod region;
mod sort;
mod stats;
mod step_arg;
mod store;
mod sync;
// Public only for stepcache's own crates (the browser adapters build their messages with
// `text!`): not part of the API, and hidden from its documentation.
#[doc(hidden)]
pub mod text;
#[cfg(feature = "parallel")]
mod tree_hash;
pub mod units;
mod value;
mod wire;

pub use bytes::{AlignedBytes, ByteOwner, SharedBytes};
pub use clock::{Clock, ManualClock};
pub use engine::{
    Cache, Computed, DEFAULT_RETRY_AFTER_MS, EntryInfo, EntryRead, EntryState, Hit, INDEX_REFRESH_MS, Imported,
    Incoming, MEMORY_SLOT_OVERHEAD, NoShared, PutReport, SharedTier, SkipReason, Source, Status, TierOutcome, Transfer,
};
pub use error::{Error, ErrorKind, Result};
pub use fingerprint::{ArrayHasher, Fingerprint};
pub use key::{
    Arg, Key, KeyBuilder, MAX_ARG_NAME, MAX_INLINE_ARG, MAX_LIST_DEPTH, MAX_STEP_NAME, Step, validate_step_name,
};
pub use policy::{
    Access, Config, DEFAULT_MEMORY_BUDGET, DEFAULT_POLICY, DEFAULT_STORE_BUDGET, Force, Retention, TypePolicy,
};
pub use provenance::{ArgValue, KeyArgs, NamedArg, Provenance, ProvenanceRecord};
pub use record::{FromPart, IntoPart, RECORD_MAGIC};
pub use stats::{SharedStats, Stats, TierStats, TypeStats};
pub use step_arg::StepArg;
pub use store::{Listed, LockGuard, MemoryStore, Release, Store};
pub use sync::{MaybeSend, MaybeSync};
pub use value::{Element, ElementType, MAX_DIMS, Value, ValueRef};
