//! Retention policies per result type, budgets, access modes and forced recompute.

use alloc::string::String;
use alloc::vec::Vec;
use core::str::FromStr;

use crate::error::{Error, ErrorKind, Result};
use crate::key::validate_step_name;

/// Where results of one type are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retention {
    /// Never stored: `get_or_compute` computes every time (concurrent callers still share one computation).
    Transient,
    /// Kept in the memory tier for the life of the cache object.
    Memory,
    /// Kept in memory and in the store, across sessions.
    Persistent,
}

impl Retention {
    /// Every name a retention is known by, its own name ([`Retention::name`]) first; what
    /// [`Retention::from_str`] reads, and what the bindings accept.
    pub const NAMES: [(&'static str, Retention); 4] = [
        ("transient", Retention::Transient),
        ("memory", Retention::Memory),
        ("cached", Retention::Memory),
        ("persistent", Retention::Persistent),
    ];

    /// The lowercase name (`"transient"`, `"memory"`, `"persistent"`).
    pub fn name(self) -> &'static str {
        match self {
            Retention::Transient => "transient",
            Retention::Memory => "memory",
            Retention::Persistent => "persistent",
        }
    }
}

impl FromStr for Retention {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match Retention::NAMES.iter().find(|(name, _)| *name == s) {
            Some((_, retention)) => Ok(*retention),
            None => Err(Error::new(
                ErrorKind::InvalidConfig,
                crate::text!(
                    "unknown retention \"",
                    s,
                    "\": use \"transient\", \"memory\" or \"persistent\""
                ),
            )),
        }
    }
}

/// The policy of one result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypePolicy {
    /// Where results are kept.
    pub retention: Retention,
    /// Results older than this many milliseconds are misses (and are removed); `None` keeps them.
    pub max_age_ms: Option<u64>,
    /// Whether stored payloads are compressed (kept only when it saves at least 1/8).
    pub compress: bool,
    /// Whether results are read from and written to the shared tier, where the cache has
    /// one (see `docs/shared.md`). A type that is not shared never leaves the machine.
    pub shared: bool,
}

impl TypePolicy {
    /// A policy with `retention`, no age limit and no compression.
    pub const fn new(retention: Retention) -> Self {
        TypePolicy {
            retention,
            max_age_ms: None,
            compress: false,
            shared: false,
        }
    }

    /// The same policy with a maximum age.
    pub const fn max_age_ms(mut self, ms: u64) -> Self {
        self.max_age_ms = Some(ms);
        self
    }

    /// The same policy with compression on or off.
    pub const fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// The same policy with sharing on or off: results of the type are read from and
    /// written to the cache's shared tier. Types kept only in memory are shared too; a
    /// transient type is never kept anywhere, so never shared.
    pub const fn shared(mut self, on: bool) -> Self {
        self.shared = on;
        self
    }
}

/// Which of reading, computing and writing a cache may do (pecapiku's `r`, `e`, `w`).
///
/// Switch them off one by one: a read-only cache (`read + compute`), a replay that
/// never computes (`read` only: a miss is [`ErrorKind::ComputeDisabled`]), a dry run
/// that stores nothing (`read + compute`), or a refresh that ignores stored results
/// (`compute + write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Access {
    /// Look results up.
    pub read: bool,
    /// Compute results on a miss in `get_or_compute`.
    pub compute: bool,
    /// Store results.
    pub write: bool,
}

impl Access {
    /// Everything allowed.
    pub const ALL: Access = Access {
        read: true,
        compute: true,
        write: true,
    };
}

impl Default for Access {
    fn default() -> Self {
        Access::ALL
    }
}

impl FromStr for Access {
    type Err = Error;
    /// Parses letters `r` (read), `e` or `c` (compute), `w` (write), e.g. `"rw"`; `""` allows nothing.
    fn from_str(s: &str) -> Result<Self> {
        let mut access = Access {
            read: false,
            compute: false,
            write: false,
        };
        for c in s.chars() {
            match c {
                'r' => access.read = true,
                'e' | 'c' => access.compute = true,
                'w' => access.write = true,
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidConfig,
                        crate::text!("access \"", s, "\": use the letters r (read), c (compute), w (write)"),
                    ));
                }
            }
        }
        Ok(access)
    }
}

/// Which steps must be recomputed regardless of what is cached (kwneuro's `force`).
///
/// A forced step's results stored *before* the force was set are misses; results
/// computed after it count again, so each key is recomputed once, not on every call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Force {
    /// Use cached results.
    #[default]
    None,
    /// Recompute every step.
    All,
    /// Recompute these steps only.
    Steps(Vec<String>),
}

impl Force {
    /// Whether `step` is forced.
    pub fn covers(&self, step: &str) -> bool {
        match self {
            Force::None => false,
            Force::All => true,
            Force::Steps(steps) => steps.iter().any(|s| s == step),
        }
    }
}

/// Default memory-tier budget: 1 GiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 1 << 30;
/// Default store budget: 16 GiB.
pub const DEFAULT_STORE_BUDGET: u64 = 16 << 30;
/// The policy of types without one of their own, unless configured: persistent, no age
/// limit, no compression.
pub const DEFAULT_POLICY: TypePolicy = TypePolicy::new(Retention::Persistent);

/// How a cache keeps results: budgets, a default policy and per-type policies.
///
/// # Example
/// ```
/// use stepcache_core::{Config, Retention};
/// let config = Config::new()
///     .memory_budget(512 << 20)
///     .store_budget(4 << 30)
///     .default_retention(Retention::Memory)
///     .retention("t1_map", Retention::Persistent).unwrap()
///     .max_age_ms(7 * 24 * 3600 * 1000).unwrap();
/// assert_eq!(config.policy("t1_map").retention, Retention::Persistent);
/// assert_eq!(config.policy("other").retention, Retention::Memory);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) memory_budget: u64,
    pub(crate) store_budget: u64,
    pub(crate) default: TypePolicy,
    pub(crate) types: Vec<(String, TypePolicy)>,
    pub(crate) access: Access,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Defaults: 1 GiB memory, 16 GiB store, every type persistent, no age limit, no
    /// compression, not shared.
    pub fn new() -> Self {
        Config {
            memory_budget: DEFAULT_MEMORY_BUDGET,
            store_budget: DEFAULT_STORE_BUDGET,
            default: DEFAULT_POLICY,
            types: Vec::new(),
            access: Access::ALL,
        }
    }

    /// The memory tier's budget in bytes (0 keeps nothing in memory).
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// The store's budget in bytes (0 stores nothing).
    pub fn store_budget(mut self, bytes: u64) -> Self {
        self.store_budget = bytes;
        self
    }

    /// The retention of types without a policy of their own.
    pub fn default_retention(mut self, retention: Retention) -> Self {
        self.default.retention = retention;
        self
    }

    /// The policy of types without a policy of their own.
    pub fn default_policy(mut self, policy: TypePolicy) -> Self {
        self.default = policy;
        self
    }

    /// A maximum age for types without a policy of their own.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] for 0 (use no limit instead).
    pub fn max_age_ms(mut self, ms: u64) -> Result<Self> {
        check_age(Some(ms))?;
        self.default.max_age_ms = Some(ms);
        Ok(self)
    }

    /// Compression for types without a policy of their own.
    pub fn compression(mut self, on: bool) -> Self {
        self.default.compress = on;
        self
    }

    /// Sharing for types without a policy of their own (off unless set: nothing leaves the
    /// machine unless asked to).
    pub fn sharing(mut self, on: bool) -> Self {
        self.default.shared = on;
        self
    }

    /// Sets the retention of `step`, keeping the default's age, compression and sharing.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidStepName`].
    pub fn retention(self, step: &str, retention: Retention) -> Result<Self> {
        let policy = TypePolicy {
            retention,
            ..self.default
        };
        self.type_policy(step, policy)
    }

    /// Sets the whole policy of `step`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidStepName`], or [`ErrorKind::InvalidConfig`] for a zero age.
    pub fn type_policy(mut self, step: &str, policy: TypePolicy) -> Result<Self> {
        self.set_type_policy(step, policy)?;
        Ok(self)
    }

    /// [`Config::type_policy`] in place (for a running cache's `set_retention`).
    pub(crate) fn set_type_policy(&mut self, step: &str, policy: TypePolicy) -> Result<()> {
        validate_step_name(step)?;
        check_age(policy.max_age_ms)?;
        self.types.retain(|(s, _)| s != step);
        self.types.push((step.into(), policy));
        Ok(())
    }

    /// The initial access mode.
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// The policy that applies to `step`.
    pub fn policy(&self, step: &str) -> TypePolicy {
        self.types
            .iter()
            .find(|(s, _)| s == step)
            .map_or(self.default, |(_, p)| *p)
    }

    /// The memory tier's budget in bytes.
    pub fn memory_budget_bytes(&self) -> u64 {
        self.memory_budget
    }

    /// The store's budget in bytes.
    pub fn store_budget_bytes(&self) -> u64 {
        self.store_budget
    }
}

fn check_age(age: Option<u64>) -> Result<()> {
    if age == Some(0) {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            "a maximum age of 0 would make every entry a miss; leave it unset for no limit",
        ));
    }
    Ok(())
}
