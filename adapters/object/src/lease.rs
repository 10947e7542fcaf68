//! Leases: one key computed once across machines, where the object store has conditional
//! writes (`If-None-Match: *` to create, `If-Match` to take over).
//!
//! A lease is an object `<prefix>v2/leases/<hex>` holding when it expires and who holds
//! it. Taking it is creating it only if it does not exist; a holder renews it while it
//! computes; a lease that expired (its holder died) is taken over only if it is still the
//! one that was read (`If-Match` on its ETag). Where the store has no conditional writes,
//! no lease is taken and each machine may compute (wasteful, never wrong).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opendal::{ErrorKind as OpendalKind, Operator};
use stepcache_core::Result;

use crate::error::{from_opendal, is_not_found};
use crate::on_runtime;

/// How long a lease lasts unless renewed: long enough that a holder's renewals arrive
/// well before it ends, short enough that a key whose holder died is free again soon.
const LEASE: Duration = Duration::from_secs(60);
/// How often a holder renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(20);
/// How often a waiter looks whether the lease is gone or expired.
const POLL: Duration = Duration::from_millis(100);
/// How long the last handle on a store waits, when it goes, for its leases' removals.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Lease removals under way. The last handle on the store waits for them when it goes (see
/// `Drop`), so a process that ends right after computing a key does not leave its lease
/// behind for the other machines to wait out.
#[derive(Debug, Default)]
pub(crate) struct Releases {
    in_flight: Arc<AtomicUsize>,
}

impl Drop for Releases {
    fn drop(&mut self) {
        let deadline = Instant::now() + RELEASE_WAIT;
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A lease's content: `<expiry ms> <holder>`.
fn body(holder: &str) -> Vec<u8> {
    format!("{} {holder}", now_ms() + LEASE.as_millis() as u64).into_bytes()
}

/// When the lease `bytes` expires (ms since the epoch); 0 (expired) if it is unreadable.
fn expiry(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// A name for this holder: process, thread and time, unique enough for a lease.
fn holder() -> String {
    format!("{}-{:?}-{}", std::process::id(), std::thread::current().id(), now_ms())
}

/// A held lease: renewed in the background until dropped, then removed.
pub(crate) struct Lease {
    renewal: tokio::task::JoinHandle<()>,
    operator: Operator,
    path: String,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        let (operator, path) = (self.operator.clone(), std::mem::take(&mut self.path));
        // Removed in the background: a drop cannot wait. If it fails, the lease expires.
        let in_flight = Arc::clone(&self.in_flight);
        in_flight.fetch_add(1, Ordering::AcqRel);
        crate::runtime().spawn(async move {
            let _ = operator.delete(&path).await;
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// Takes the lease at `path`, waiting while another holder has it; `None` if the store
/// cannot make conditional writes (then every machine may compute).
pub(crate) async fn take(operator: Operator, path: String, releases: &Releases) -> Result<Option<Lease>> {
    let in_flight = Arc::clone(&releases.in_flight);
    on_runtime(async move {
        let holder = holder();
        loop {
            match operator.write_with(&path, body(&holder)).if_not_exists(true).await {
                Ok(meta) => return Ok(Some(hold(operator, path, holder, meta.etag(), in_flight))),
                Err(e) if e.kind() == OpendalKind::ConditionNotMatch => {}
                Err(e) if e.kind() == OpendalKind::Unsupported => return Ok(None),
                Err(e) => return Err(from_opendal("take the lease", &path, e)),
            }
            // Held by someone: take it over if it expired, else wait.
            let (etag, expires) = match operator.stat(&path).await {
                Ok(meta) => {
                    let bytes = match operator.read(&path).await {
                        Ok(bytes) => bytes.to_vec(),
                        Err(e) if is_not_found(&e) => continue,
                        Err(e) => return Err(from_opendal("read the lease", &path, e)),
                    };
                    (meta.etag().map(str::to_owned), expiry(&bytes))
                }
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(from_opendal("look at the lease", &path, e)),
            };
            if expires < now_ms()
                && let Some(etag) = etag
            {
                match operator.write_with(&path, body(&holder)).if_match(&etag).await {
                    Ok(meta) => return Ok(Some(hold(operator, path, holder, meta.etag(), in_flight))),
                    Err(e) if e.kind() == OpendalKind::ConditionNotMatch => continue,
                    Err(e) => return Err(from_opendal("take over the lease", &path, e)),
                }
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await
}

/// The lease just written at `path` (with ETag `etag`), renewed every [`RENEW_EVERY`].
fn hold(operator: Operator, path: String, holder: String, etag: Option<&str>, in_flight: Arc<AtomicUsize>) -> Lease {
    let mut etag = etag.map(str::to_owned);
    let (renewer, renewed) = (operator.clone(), path.clone());
    let renewal = crate::runtime().spawn(async move {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let write = renewer.write_with(&renewed, body(&holder));
            let write = match &etag {
                Some(tag) => write.if_match(tag).await,
                None => write.await,
            };
            match write {
                Ok(meta) => etag = meta.etag().map(str::to_owned),
                // Taken over (our renewals did not arrive in time): it is theirs now.
                Err(_) => return,
            }
        }
    });
    Lease {
        renewal,
        operator,
        path,
        in_flight,
    }
}
