//! Single flight: concurrent `get_or_compute` calls for one key compute it once.
//!
//! The first caller claims the key and computes; later callers wait on the claim and
//! receive the computed value. If the computing caller fails or is dropped, the
//! waiters wake with nothing and one of them claims the key in turn.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use crate::map::HashMap;

use super::held::Held;
use crate::fingerprint::Fingerprint;
use crate::sync::Lock;

#[derive(Default)]
struct FlightState {
    done: bool,
    value: Option<Held>,
    wakers: Vec<Waker>,
}

/// One computation in progress.
#[derive(Default)]
pub(crate) struct Flight {
    state: Lock<FlightState>,
}

impl Flight {
    /// Waits until the computation ends; its value, or `None` if it failed.
    pub(crate) async fn wait(&self) -> Option<Held> {
        poll_fn(|cx| {
            self.state.with(|s| {
                if s.done {
                    Poll::Ready(s.value.clone())
                } else {
                    s.wakers.push(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
        .await
    }

    fn finish(&self, value: Option<Held>) {
        let wakers = self.state.with(|s| {
            s.done = true;
            s.value = value;
            core::mem::take(&mut s.wakers)
        });
        for waker in wakers {
            waker.wake();
        }
    }
}

/// The computations in progress, by key.
#[derive(Default)]
pub(crate) struct Flights {
    active: HashMap<Fingerprint, Arc<Flight>>,
}

/// The result of trying to claim a key.
pub(crate) enum Claim {
    /// This caller computes; finish the flight with [`Flights::land`].
    Mine(Arc<Flight>),
    /// Another caller computes; wait on this.
    Wait(Arc<Flight>),
}

impl Flights {
    pub(crate) fn claim(&mut self, id: &Fingerprint) -> Claim {
        match self.active.get(id) {
            Some(flight) => Claim::Wait(Arc::clone(flight)),
            None => {
                let flight = Arc::new(Flight::default());
                self.active.insert(*id, Arc::clone(&flight));
                Claim::Mine(flight)
            }
        }
    }

    /// Ends `flight` for `id` and returns it so the caller can wake its waiters outside the lock.
    pub(crate) fn land(&mut self, id: &Fingerprint, flight: &Arc<Flight>) {
        if self.active.get(id).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            self.active.remove(id);
        }
    }

    pub(crate) fn contains(&self, id: &Fingerprint) -> bool {
        self.active.contains_key(id)
    }

    /// Any flight in progress, to wait on.
    pub(crate) fn any(&self) -> Option<Arc<Flight>> {
        self.active.values().next().cloned()
    }
}

/// Lands a claimed flight when dropped, so a cancelled or panicking computation never
/// leaves waiters hanging.
pub(crate) struct Landing<'a> {
    pub(crate) state: &'a Lock<super::state::State>,
    /// Which flights of the state it was claimed in (computations, or promotions).
    pub(crate) flights: fn(&mut super::state::State) -> &mut Flights,
    pub(crate) id: Fingerprint,
    pub(crate) flight: Arc<Flight>,
    pub(crate) value: Option<Held>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        self.state.with(|st| (self.flights)(st).land(&self.id, &self.flight));
        self.flight.finish(self.value.take());
    }
}
