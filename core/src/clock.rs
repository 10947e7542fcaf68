//! Time comes from the host: the core never reads a clock of its own.

/// A source of time, provided by the host (`SystemTime` natively, `Date.now()` in JS).
pub trait Clock: crate::sync::MaybeSend + crate::sync::MaybeSync {
    /// Wall-clock milliseconds since the Unix epoch (for ages and created-at).
    fn now_ms(&self) -> u64;

    /// A monotonic microsecond counter (for measuring compute cost). Defaults to the
    /// wall clock, which is only as fine as milliseconds.
    fn monotonic_us(&self) -> u64 {
        self.now_ms().saturating_mul(1000)
    }
}

/// A clock that the caller moves by hand: for tests and simulations.
pub struct ManualClock {
    now: crate::sync::Lock<u64>,
}

impl ManualClock {
    /// A clock at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        ManualClock {
            now: crate::sync::Lock::new(now_ms),
        }
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.now.with(|now| *now += ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.with(|now| *now)
    }
}
