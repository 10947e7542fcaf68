//! The browser around the engine: its clock, the messages that keep the memory tiers of
//! several tabs and workers coherent, and the origin's storage report.

use js_sys::{Function, Promise, Reflect};
use stepcache_core::{Clock, Fingerprint};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

/// `Date.now()` for wall time, `performance.now()` for compute time.
pub(crate) struct JsClock {
    performance: Option<JsValue>,
}

impl JsClock {
    pub(crate) fn new() -> Self {
        let performance = Reflect::get(&js_sys::global(), &"performance".into())
            .ok()
            .filter(|p| !p.is_undefined());
        JsClock { performance }
    }
}

impl Clock for JsClock {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn monotonic_us(&self) -> u64 {
        let now = self.performance.as_ref().and_then(|p| {
            let f: Function = Reflect::get(p, &"now".into()).ok()?.dyn_into().ok()?;
            f.call0(p).ok()?.as_f64()
        });
        now.map_or_else(|| self.now_ms() * 1000, |ms| (ms * 1000.0) as u64)
    }
}

/// What one cache tells the others sharing its database.
pub(crate) enum Notice {
    /// An entry was stored, replaced or removed.
    Changed(Fingerprint),
    /// Every entry, or every entry of a step, was removed.
    Cleared(Option<String>),
}

/// A BroadcastChannel named after the database; other tabs, workers and caches of the
/// same database in this context receive what we post.
pub(crate) struct Channel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Channel {
    /// Opens the channel of database `name`; `None` where BroadcastChannel is missing.
    pub(crate) fn open(name: &str, mut on_notice: impl FnMut(Notice) + 'static) -> Option<Channel> {
        let channel = BroadcastChannel::new(&format!("stepcache:{name}")).ok()?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(notice) = decode(&event.data()) {
                on_notice(notice);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(Channel {
            channel,
            _on_message: on_message,
        })
    }

    /// Tells the others; a failure to post only costs them a stale memory entry until
    /// their next check, so it is not an error.
    pub(crate) fn post(&self, notice: &Notice) {
        let message = js_sys::Object::new();
        let (kind, detail) = match notice {
            Notice::Changed(id) => ("changed", JsValue::from(id.to_string())),
            Notice::Cleared(step) => ("cleared", step.as_deref().map_or(JsValue::NULL, JsValue::from)),
        };
        let _ = Reflect::set(&message, &"stepcache".into(), &kind.into());
        let _ = Reflect::set(&message, &"detail".into(), &detail);
        let _ = self.channel.post_message(&message);
    }

    pub(crate) fn close(&self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

fn decode(data: &JsValue) -> Option<Notice> {
    let kind = Reflect::get(data, &"stepcache".into()).ok()?.as_string()?;
    let detail = Reflect::get(data, &"detail".into()).ok()?;
    match kind.as_str() {
        "changed" => detail.as_string()?.parse().ok().map(Notice::Changed),
        "cleared" => Some(Notice::Cleared(detail.as_string())),
        _ => None,
    }
}

/// The origin's storage: usage and quota in bytes, and whether it is persisted.
pub(crate) struct StorageReport {
    pub(crate) usage: Option<f64>,
    pub(crate) quota: Option<f64>,
    pub(crate) persisted: Option<bool>,
}

fn storage_manager() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    Reflect::get(&navigator, &"storage".into())
        .ok()
        .filter(|s| !s.is_undefined() && !s.is_null())
}

/// Calls `storage.<method>()` and awaits its promise; `None` where it does not exist.
async fn call_storage(method: &str) -> Option<JsValue> {
    let storage = storage_manager()?;
    let f: Function = Reflect::get(&storage, &method.into()).ok()?.dyn_into().ok()?;
    let promise: Promise = f.call0(&storage).ok()?.dyn_into().ok()?;
    JsFuture::from(promise).await.ok()
}

/// `navigator.storage.estimate()` and `persisted()`, where the browser has them.
pub(crate) async fn storage_report() -> StorageReport {
    let estimate = call_storage("estimate").await;
    let field = |name: &str| {
        estimate
            .as_ref()
            .and_then(|e| Reflect::get(e, &name.into()).ok())
            .and_then(|v| v.as_f64())
    };
    StorageReport {
        usage: field("usage"),
        quota: field("quota"),
        persisted: call_storage("persisted").await.and_then(|v| v.as_bool()),
    }
}

/// Asks the browser to keep this origin's storage (`navigator.storage.persist()`, only in
/// a Window). The browser may refuse; `stats()` reports whether it is persisted.
pub(crate) async fn request_persistence() {
    let _ = call_storage("persist").await;
}
