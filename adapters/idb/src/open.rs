//! Opening the database: schema creation and upgrades, blocked upgrades, and closing our
//! connection when another tab needs to upgrade.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use stepcache_core::text;

use idb::{Database, DatabaseEvent, Factory, ObjectStoreParams};
use stepcache_core::{Error, ErrorKind, Result};
use wasm_bindgen::JsCast;
use web_sys::IdbOpenDbRequest;

use crate::error::from_idb;
use crate::{ENTRIES, HEADS, request};

/// The schema version. Version 2: object stores `entries` (chunks keyed
/// `<hex>:<generation>:<number>`) and `heads` (listing records naming the generation),
/// out-of-line keys. A later version adds its migration step to [`upgrade`] and keeps the
/// earlier ones.
pub const SCHEMA_VERSION: u32 = 2;

/// An open connection and whether a `versionchange` from elsewhere closed it.
pub(crate) struct Connection {
    pub(crate) db: Rc<Database>,
    closed: Rc<Cell<bool>>,
}

impl Connection {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }
}

fn upgrade(event: idb::event::VersionChangeEvent) -> std::result::Result<(), UpgradeError> {
    let old = event.old_version()?;
    let db = event.database()?;
    if old >= 1 {
        let names = db.store_names();
        if !(names.iter().any(|n| n == ENTRIES) && names.iter().any(|n| n == HEADS)) {
            // Someone else's database of this name: leave it as it was.
            abort_upgrade(event);
            return Err(UpgradeError::Foreign);
        }
    }
    if old == 1 {
        // Version 1 kept one generation per entry under other keys: its entries are
        // dropped (a cache's entries can be computed again), its stores made anew.
        db.delete_object_store(ENTRIES)?;
        db.delete_object_store(HEADS)?;
    }
    if old < 2 {
        db.create_object_store(ENTRIES, ObjectStoreParams::new())?;
        db.create_object_store(HEADS, ObjectStoreParams::new())?;
    }
    Ok(())
}

/// Why an upgrade did not happen.
enum UpgradeError {
    /// The database is not ours (see [`foreign_error`]).
    Foreign,
    /// IndexedDB refused a step.
    Idb(idb::Error),
}

impl From<idb::Error> for UpgradeError {
    fn from(e: idb::Error) -> Self {
        UpgradeError::Idb(e)
    }
}

/// Aborts the upgrade transaction of `event`, so the database keeps its version.
fn abort_upgrade(event: idb::event::VersionChangeEvent) {
    let event = web_sys::IdbVersionChangeEvent::from(event);
    let transaction = event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::IdbOpenDbRequest>().ok())
        .and_then(|request| request.transaction());
    if let Some(transaction) = transaction {
        let _ = transaction.abort();
    }
}

/// The error for a database named `name` that is not a stepcache database.
fn foreign_error(name: &str) -> Error {
    Error::new(
        ErrorKind::Storage,
        text!(
            "database \"",
            name,
            "\" exists but is not a stepcache database (no \"",
            ENTRIES,
            "\" and \"",
            HEADS,
            "\" stores); use another name"
        ),
    )
}

fn blocked_error(name: &str) -> Error {
    Error::new(
        ErrorKind::Blocked,
        text!(
            "database \"",
            name,
            "\" is held open at an older schema version by another tab or worker; \
             close or reload it, then try again"
        ),
    )
}

/// Watches an open or delete request for IndexedDB's `blocked` event, so waiting on the
/// request ends with a clear error instead of hanging while another tab holds the database.
#[derive(Default)]
struct Blocked {
    flag: Rc<Cell<bool>>,
    waker: Rc<RefCell<Option<Waker>>>,
}

impl Blocked {
    fn handler(&self) -> impl FnOnce(idb::event::VersionChangeEvent) + 'static {
        let (flag, waker) = (Rc::clone(&self.flag), Rc::clone(&self.waker));
        move |_| {
            flag.set(true);
            if let Some(w) = waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// `future`'s output, or `None` if the request was blocked first.
    async fn unless<F: std::future::Future>(&self, future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        poll_fn(|cx| {
            if self.flag.get() {
                return Poll::Ready(None);
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            future.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

fn factory() -> Result<Factory> {
    // The idb crate's error read by variant (`from_idb`), not through its `Display`; the
    // kind is ours: no IndexedDB here is a permission, not a storage failure.
    Factory::new().map_err(|e| {
        let cause = from_idb("open IndexedDB", e);
        Error::new(ErrorKind::PermissionDenied, cause.message())
    })
}

/// Opens `name` at [`SCHEMA_VERSION`], creating or upgrading its object stores.
pub(crate) async fn open(name: &str) -> Result<Connection> {
    let mut request = factory()?
        .open(name, Some(SCHEMA_VERSION))
        .map_err(|e| from_idb("open the database", e))?;
    let upgrade_error: Rc<RefCell<Option<UpgradeError>>> = Rc::default();
    let report = Rc::clone(&upgrade_error);
    request.on_upgrade_needed(move |event| *report.borrow_mut() = upgrade(event).err());
    let blocked = Blocked::default();
    request.on_blocked(blocked.handler());
    // The handlers are left to JavaScript's garbage collector, as the idb crate's own
    // future leaves them: they outlive this call if it gives up on a blocked request.
    request.forget_callbacks();
    let answer = request::answer(IdbOpenDbRequest::from(request).into());
    let opened = blocked
        .unless(async { answer.await.and_then(Database::try_from) })
        .await;
    let mut db = match opened {
        None => return Err(blocked_error(name)),
        Some(Err(e)) => {
            let err = from_idb("open the database", e);
            return Err(match upgrade_error.borrow_mut().take() {
                Some(UpgradeError::Foreign) => foreign_error(name),
                Some(UpgradeError::Idb(detail)) => {
                    let detail = from_idb("upgrade", detail);
                    Error::new(err.kind(), text!(err.message(), "; upgrade failed: ", detail.message()))
                }
                None => err,
            });
        }
        Some(Ok(db)) => db,
    };
    // Never block another tab's upgrade: close on `versionchange`; the store reopens
    // (and so upgrades or fails clearly) on its next call.
    let names = db.store_names();
    if !(names.iter().any(|n| n == ENTRIES) && names.iter().any(|n| n == HEADS)) {
        db.close();
        return Err(foreign_error(name));
    }
    let closed = Rc::new(Cell::new(false));
    let flag = Rc::clone(&closed);
    db.on_version_change(move |event| {
        flag.set(true);
        if let Some(target) = event.target().and_then(|t| t.dyn_into::<web_sys::IdbDatabase>().ok()) {
            target.close();
        }
    });
    Ok(Connection {
        db: Rc::new(db),
        closed,
    })
}

/// Deletes the database `name`.
pub(crate) async fn delete(name: &str) -> Result<()> {
    let mut request = factory()?
        .delete(name)
        .map_err(|e| from_idb("delete the database", e))?;
    let blocked = Blocked::default();
    request.on_blocked(blocked.handler());
    // As in `open`.
    request.forget_callbacks();
    match blocked
        .unless(request::answer(IdbOpenDbRequest::from(request).into()))
        .await
    {
        None => Err(blocked_error(name)),
        Some(result) => result.map(|_| ()).map_err(|e| from_idb("delete the database", e)),
    }
}
