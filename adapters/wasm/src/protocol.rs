//! The protocol between `js/index.js` and this module, defined once, here: operation
//! codes, the codes of outcomes, sources, states, retentions and access letters, the tags
//! of the key description, and the order of the numbers each report carries.
//!
//! `js/protocol.js` is generated from these tables ([`javascript`]) and checked in; a
//! native test fails when it differs from what this file generates, so neither side can
//! change alone (`STEPCACHE_BLESS=1 cargo test -p stepcache-wasm` writes it anew).

// The bindings (on wasm) read the codes, the generator (in the native test) the names:
// each build uses part of the tables.
#![allow(dead_code)]

use stepcache_core::{DEFAULT_POLICY, Retention, TypePolicy};

/// Declares a code table: an enum whose codes are the positions in `ALL`, with the names
/// `index.js` knows them by.
macro_rules! codes {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every code, in code order.
            pub(crate) const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code, as it crosses to JavaScript.
            pub(crate) fn code(self) -> u8 {
                self as u8
            }

            /// The value of `code`, if it is one.
            pub(crate) fn from_code(code: impl TryInto<u8>) -> Option<Self> {
                let code = code.try_into().ok()?;
                Self::ALL.get(usize::from(code)).copied()
            }

            /// The name `index.js` uses.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

codes! {
    /// The operations of `RawCache::call`: first those on one key (see
    /// [`Operation::is_keyed`]), then those on none or several.
    Operation {
        /// Resolves to the hit or `undefined`.
        Get = "get",
        /// Resolves to whether the key is cached and fresh.
        Has = "has",
        /// Removes the key everywhere.
        Invalidate = "invalidate",
        /// Keeps the key from eviction in either tier until unpinned. Pins nest.
        Pin = "pin",
        /// Undoes one pin.
        Unpin = "unpin",
        /// Stores the value; resolves to `[memory outcome, store outcome]`.
        Put = "put",
        /// Stores the entry `arg` (bytes, read before this returns) made elsewhere under
        /// the key (`Cache::write`); resolves as put does, or rejects (`InvalidEntry`: not a
        /// sound entry of the key, nothing stored).
        ImportEntry = "importEntry",
        /// Resolves to the verified bytes of the key's stored entry (`Cache::read_entry`),
        /// or `undefined` if there is none or it was damaged (and is now removed).
        ReadEntry = "readEntry",
        /// Resolves to the hit of a region of the key's array, or `undefined`
        /// (`Cache::get_region`): `arg` is a `Float64Array` of `[anchor, start, end, ...]`,
        /// anchor 0 for ranges of the first dimensions, 1 for ranges of the last ones
        /// (`Cache::get_trailing_region`), an end of `Infinity` running to the
        /// dimension's end. `index.js` has checked the numbers.
        GetRegion = "getRegion",
        /// Resolves to the hit of the key, or of the value computed (and stored).
        GetOrCompute = "getOrCompute",
        /// The fingerprint (32 bytes) then the readable arguments (see
        /// `Key::encoded_args`) of the key described by `arg[0]` (see `convert::Reader`),
        /// whose array arguments are the `Uint8Array`s of the array `arg[1]`. The readable
        /// arguments go back with every write under the key, so the entries record them.
        Key = "key",
        /// Removes every entry, or those of the step `text`; resolves to how many.
        Clear = "clear",
        /// Resolves to the counters, this session's and all time's (`convert::stats_to_js`).
        Stats = "stats",
        /// Adds this session's counters since the last save to those kept in the database
        /// (`Cache::save_stats`); resolves to `undefined`.
        SaveStats = "saveStats",
        /// Resolves to every entry (`convert::entries_to_js`).
        Entries = "entries",
        /// Resolves to the state of each key of `arg`, an array of step, fingerprint, step,
        /// fingerprint... (`convert::statuses_to_js`).
        Status = "status",
        /// Recompute every step (`arg` true), none (false), or the steps of the array `arg`.
        SetForce = "setForce",
        /// Switches reading, computing and writing on or off (`arg`: bits, see [`ACCESS`]).
        SetAccess = "setAccess",
        /// Sets the retention (`arg`: its code, see [`RETENTIONS`]) of the step `text`.
        SetRetention = "setRetention",
        /// Drops the memory-tier entry of the fingerprint `text` (another tab changed it).
        Forget = "forget",
        /// Drops every memory-tier entry, or those of the step `text` (another tab cleared them).
        ForgetStep = "forgetStep",
        /// Closes the cache; later calls fail with `CacheClosed`.
        Close = "close",
    }
}

impl Operation {
    /// Whether the operation acts on the one key its call names.
    pub(crate) fn is_keyed(self) -> bool {
        self.code() <= Operation::GetOrCompute.code()
    }
}

codes! {
    /// The operations of `util`, which need no cache.
    Util {
        /// The fingerprint bytes (32) of the key `text` (step) + `arg` (fingerprint text),
        /// or the error that says why it is not a key.
        CheckKey = "checkKey",
        /// The fingerprint text (`b3:...`) of the bytes `arg`.
        FingerprintBytes = "fingerprintBytes",
        /// The largest value `index.js` copies into the module, in bytes: the store's limit
        /// on an entry. It refuses larger ones before copying them.
        MaxValueBytes = "maxValueBytes",
        /// A bundle's checksum of the framing bytes `arg` (`bundle::checksum`), 16 bytes.
        BundleChecksum = "bundleChecksum",
    }
}

codes! {
    /// What a tier did with a put (a failure crosses as its error's name instead).
    Outcome {
        /// Kept.
        Stored = "stored",
        /// Not kept: the type's retention does not use the tier.
        Policy = "skipped:policy",
        /// Not kept: writing is switched off.
        WriteDisabled = "skipped:write-disabled",
        /// Not kept: larger than the tier's budget.
        TooLarge = "skipped:too-large",
        /// Not kept: pinned and in-flight entries leave no room.
        NoRoom = "skipped:no-room",
        /// Not kept: the shared tier is only read here.
        ReadOnly = "skipped:read-only",
        /// Not kept: the shared tier is left alone after a failure (written later).
        Degraded = "skipped:degraded",
        /// Not kept: the key is stored already, and an import keeps what is stored.
        Present = "skipped:present",
    }
}

codes! {
    /// Where a hit came from.
    HitSource {
        /// The memory tier.
        Memory = "memory",
        /// IndexedDB.
        Store = "store",
        /// Computed by this call.
        Computed = "computed",
        /// Computed by another caller this one waited for.
        Waited = "waited",
        /// The shared tier (verified, then kept in IndexedDB).
        Shared = "shared",
    }
}

codes! {
    /// The state `status()` reports for a key.
    State {
        /// In the memory tier.
        Memory = "memory",
        /// In IndexedDB.
        Stored = "stored",
        /// Older than its type's maximum age.
        Expired = "expired",
        /// Its step is forced to recompute.
        Forced = "forced",
        /// Not cached.
        Missing = "missing",
        /// Not in this browser, but in the shared tier.
        Shared = "shared",
    }
}

codes! {
    /// A named parameter in the key description (see `convert::Reader`).
    ParamTag {
        /// A scalar or a list.
        Scalar = "scalar",
        /// A typed array: element code, shape, index of its bytes.
        Array = "array",
        /// Lineage: an upstream key and its content identity.
        Lineage = "lineage",
    }
}

codes! {
    /// A scalar in the key description (see `convert::Reader`).
    ScalarTag {
        /// One byte, 0 or 1.
        Bool = "bool",
        /// A zigzag varint of an i128.
        Int = "int",
        /// Eight bytes, little endian.
        Float = "float",
        /// A length and UTF-8.
        Text = "text",
        /// A count and that many scalars.
        List = "list",
        /// Nothing: an absent value (JavaScript's `null`, see `Arg::none`).
        Null = "null",
    }
}

/// The retentions by code, named as [`Retention::name`] names them.
pub(crate) const RETENTIONS: [Retention; 3] = [Retention::Transient, Retention::Memory, Retention::Persistent];

/// The retention of `code` (see [`RETENTIONS`]).
pub(crate) fn retention(code: f64) -> Option<Retention> {
    RETENTIONS.get(code as usize).copied().filter(|_| code >= 0.0)
}

/// How many numbers a policy crosses as (see [`policy_of`]).
pub(crate) const POLICY_LEN: usize = 4;

/// A policy from its [`POLICY_LEN`] numbers: retention code ([`RETENTIONS`]), maximum age
/// in ms (0: none), compress (0 or 1), shared (0 or 1). An unknown retention code keeps
/// the default's.
pub(crate) fn policy_of(numbers: &[f64]) -> TypePolicy {
    let [retention_code, max_age_ms, compress, shared] = [0, 1, 2, 3].map(|i| numbers.get(i).copied().unwrap_or(0.0));
    let mut policy = TypePolicy::new(retention(retention_code).unwrap_or(DEFAULT_POLICY.retention));
    policy.max_age_ms = (max_age_ms > 0.0).then_some(max_age_ms as u64);
    policy.compress = compress != 0.0;
    policy.shared = shared != 0.0;
    policy
}

/// The numbers of `policy` (see [`policy_of`]).
pub(crate) fn policy_numbers(policy: &TypePolicy) -> [f64; POLICY_LEN] {
    let code = RETENTIONS.iter().position(|r| *r == policy.retention).unwrap_or(0);
    [
        code as f64,
        policy.max_age_ms.unwrap_or(0) as f64,
        f64::from(u8::from(policy.compress)),
        f64::from(u8::from(policy.shared)),
    ]
}

/// The access letters and the bits they set: read, compute (`c` or `e`, execute), write.
pub(crate) const ACCESS: [(char, u8); 4] = [('r', 1), ('c', 2), ('e', 2), ('w', 4)];

/// The numbers of a hit, before its shape (`convert::hit_to_js`).
pub(crate) const HIT_NUMBERS: [&str; 4] = ["elem", "source", "createdMs", "costUs"];

/// The numbers of each tier in `stats()` (`convert::stats_to_js`), memory then store.
pub(crate) const TIER_NUMBERS: [&str; 7] = ["hits", "misses", "bytes", "entries", "budget", "evictions", "expired"];

/// The numbers of `stats()` after the two tiers.
pub(crate) const TOTAL_NUMBERS: [&str; 4] = ["hitRate", "savedUs", "corruptRemoved", "waitedComputes"];

/// The numbers of each result type in `stats()`, after the totals.
pub(crate) const TYPE_NUMBERS: [&str; 6] = ["hits", "misses", "puts", "computes", "computeUs", "savedUs"];

/// The numbers of the shared tier in `stats()` (`convert::stats_to_js`), after the types;
/// flags are 0 or 1.
pub(crate) const SHARED_NUMBERS: [&str; 9] = [
    "enabled",
    "hits",
    "misses",
    "rejected",
    "bytesRead",
    "errors",
    "pending",
    "degraded",
    "bytesWritten",
];

/// The numbers of each entry of `entries()` (`convert::entries_to_js`); flags are 0 or 1;
/// `provenanceBytes` is the length of its provenance record. Beside the numbers, one
/// array holds each entry's fingerprint (32 bytes) and provenance record in turn.
pub(crate) const ENTRY_NUMBERS: [&str; 8] = [
    "bytes",
    "createdMs",
    "costUs",
    "hits",
    "inMemory",
    "stored",
    "shared",
    "provenanceBytes",
];

/// The numbers of each key of `status()` (`convert::statuses_to_js`); times are NaN when
/// unknown.
pub(crate) const STATUS_NUMBERS: [&str; 3] = ["state", "createdMs", "costUs"];

/// `js/protocol.js`: these tables as a JavaScript module.
#[cfg(not(target_family = "wasm"))]
pub(crate) fn javascript() -> String {
    fn names(items: impl IntoIterator<Item = &'static str>) -> String {
        let quoted: Vec<String> = items.into_iter().map(|n| format!("\"{n}\"")).collect();
        format!("Object.freeze([{}])", quoted.join(", "))
    }
    fn codes(items: impl IntoIterator<Item = (String, u8)>) -> String {
        let fields: Vec<String> = items.into_iter().map(|(n, c)| format!("\"{n}\": {c}")).collect();
        format!("Object.freeze({{ {} }})", fields.join(", "))
    }
    // Every name core reads (Retention::NAMES), with the code of its retention.
    let retentions = Retention::NAMES.iter().map(|(name, r)| {
        let code = RETENTIONS.iter().position(|x| x == r).unwrap_or(0);
        ((*name).to_owned(), code as u8)
    });
    let tables = [
        (
            "OP",
            "operation codes of RawCache.call",
            codes(Operation::ALL.iter().map(|o| (o.name().to_owned(), o.code()))),
        ),
        (
            "UTIL",
            "operation codes of util",
            codes(Util::ALL.iter().map(|o| (o.name().to_owned(), o.code()))),
        ),
        (
            "OUTCOMES",
            "a tier's put outcome, by code",
            names(Outcome::ALL.iter().map(|o| o.name())),
        ),
        (
            "SOURCES",
            "where a hit came from, by code",
            names(HitSource::ALL.iter().map(|s| s.name())),
        ),
        (
            "STATES",
            "status() states, by code",
            names(State::ALL.iter().map(|s| s.name())),
        ),
        (
            "PARAM",
            "parameter tags of the key description",
            codes(ParamTag::ALL.iter().map(|t| (t.name().to_owned(), t.code()))),
        ),
        (
            "SCALAR",
            "scalar tags of the key description",
            codes(ScalarTag::ALL.iter().map(|t| (t.name().to_owned(), t.code()))),
        ),
        (
            "MAX_LIST_DEPTH",
            "how deeply lists nest in a key argument",
            stepcache_core::MAX_LIST_DEPTH.to_string(),
        ),
        ("RETENTIONS", "retention codes, by name", codes(retentions)),
        (
            "ACCESS",
            "access bits, by letter",
            codes(ACCESS.iter().map(|(l, b)| (l.to_string(), *b))),
        ),
        (
            "DEFAULT_POLICY",
            "the default policy's numbers: retention code, maxAgeMs (0: none), compress, shared",
            {
                let numbers: Vec<String> = policy_numbers(&DEFAULT_POLICY).iter().map(|n| n.to_string()).collect();
                format!("Object.freeze([{}])", numbers.join(", "))
            },
        ),
        ("HIT_NUMBERS", "a hit's numbers before its shape", names(HIT_NUMBERS)),
        (
            "TIER_NUMBERS",
            "stats(): each tier's numbers, memory then store",
            names(TIER_NUMBERS),
        ),
        (
            "TOTAL_NUMBERS",
            "stats(): the numbers after the tiers",
            names(TOTAL_NUMBERS),
        ),
        (
            "TYPE_NUMBERS",
            "stats(): each result type's numbers, after the totals",
            names(TYPE_NUMBERS),
        ),
        (
            "SHARED_NUMBERS",
            "stats(): the shared tier's numbers, after the types",
            names(SHARED_NUMBERS),
        ),
        ("ENTRY_NUMBERS", "entries(): each entry's numbers", names(ENTRY_NUMBERS)),
        ("STATUS_NUMBERS", "status(): each key's numbers", names(STATUS_NUMBERS)),
        (
            "ELEMENT_NAMES",
            "element type names by code (provenance records name array arguments' types by code)",
            names(stepcache_core::ElementType::ALL.map(stepcache_core::ElementType::name)),
        ),
    ];
    let mut out = String::from(
        "// The protocol between index.js and the WebAssembly module, generated from\n\
         // adapters/wasm/src/protocol.rs (STEPCACHE_BLESS=1 cargo test -p stepcache-wasm).\n\
         // Do not edit: a test fails when this file and protocol.rs disagree.\n",
    );
    for (name, what, value) in tables {
        out.push_str(&format!("\n/** {what} */\nexport const {name} = {value};\n"));
    }
    out
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    /// The checked-in `js/protocol.js` is what this file generates.
    #[test]
    fn protocol_js_is_generated_from_protocol_rs() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/protocol.js");
        let generated = javascript();
        if std::env::var_os("STEPCACHE_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write js/protocol.js");
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "js/protocol.js differs from what src/protocol.rs generates: run STEPCACHE_BLESS=1 cargo test -p stepcache-wasm"
        );
    }

    /// Codes round-trip, and a code past the end is no operation.
    #[test]
    fn codes_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_code(op.code()), Some(*op));
        }
        assert_eq!(Operation::from_code(Operation::ALL.len()), None);
        assert_eq!(Operation::from_code(255u8), None);
        assert_eq!(ScalarTag::from_code(ScalarTag::ALL.len() as u128), None);
        assert_eq!(retention(-1.0), None);
        assert_eq!(retention(2.0), Some(Retention::Persistent));
        let policy = TypePolicy::new(Retention::Memory).max_age_ms(5000).shared(true);
        assert_eq!(policy_of(&policy_numbers(&policy)), policy);
    }
}
