//! Shared hits written into the directory on a thread of the cache's own, after the call
//! that found them has returned (see `SharedTier::promote_in_background`): a hit then
//! costs its download, not its download and a write of the same bytes to disk.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::AsyncCache;

/// The thread that runs [`AsyncCache::promote_queued`], started on first need.
#[derive(Debug, Default)]
pub(crate) struct Promoter {
    running: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl Promoter {
    /// Has the thread write what `engine` queued, starting it if needed.
    pub(crate) fn kick(&self, engine: &Arc<AsyncCache>) {
        if !engine.promotions_queued() {
            return;
        }
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let (wake, _) = running.get_or_insert_with(|| {
            let (wake, woken) = channel::<()>();
            let engine = Arc::clone(engine);
            let thread = std::thread::Builder::new()
                .name("stepcache-promote".into())
                .spawn(move || {
                    while woken.recv().is_ok() {
                        // A failure (a full disk) drops them: they are read from the
                        // shared tier again.
                        let _ = pollster::block_on(engine.promote_queued());
                    }
                })
                .expect("a thread to write shared hits into the directory");
            (wake, thread)
        });
        let _ = wake.send(());
    }

    /// Lets the thread write what is queued, then stops it.
    pub(crate) fn finish(&self) {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((wake, thread)) = running {
            drop(wake);
            let _ = thread.join();
        }
    }
}
