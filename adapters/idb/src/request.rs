//! Waiting for the answer to an IndexedDB request: one future for every kind of request.
//!
//! The `idb` crate's futures are a type per kind of request, each with its own pair of
//! event closures and tokio channels. Here the request's events settle a promise instead,
//! which `JsFuture` awaits, and the answer is read from the request itself: the same
//! answers and errors as the crate's futures (see `idb`'s mappers). With transactions
//! waited for the same way ([`finish`](crate::finish)), the npm package's `.wasm` links
//! no channels: 3.1 KB less of it gzipped.

use std::future::Future;

use js_sys::{Array, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::IdbRequest;

/// The record a get request read, `None` if there is none.
///
/// Its handlers are attached here, not when the future is first polled, so a request is
/// watched before it can finish (as with `idb`'s `into_future`).
pub(crate) fn value(request: impl Into<IdbRequest>) -> impl Future<Output = Result<Option<JsValue>, idb::Error>> {
    let answer = answer(request.into());
    async move {
        let value = answer.await?;
        Ok((!value.is_undefined() && !value.is_null()).then_some(value))
    }
}

/// The records or keys a getAll or getAllKeys request read. Handlers as for [`value`].
pub(crate) fn values(request: impl Into<IdbRequest>) -> impl Future<Output = Result<Vec<JsValue>, idb::Error>> {
    let answer = answer(request.into());
    async move {
        let value = answer.await?;
        if value.is_undefined() || value.is_null() {
            return Ok(Vec::new());
        }
        let array: Array = value
            .dyn_into()
            .map_err(|value| idb::Error::UnexpectedJsType("Array", value))?;
        Ok(array.to_vec())
    }
}

/// The result of `request`, or its error. Handlers as for [`value`].
pub(crate) fn answer(request: IdbRequest) -> impl Future<Output = Result<JsValue, idb::Error>> {
    let settled = JsFuture::from(Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    }));
    async move {
        match settled.await {
            Ok(_) => request.result().map_err(idb::Error::RequestResultNotFound),
            Err(_) => Err(match request.error() {
                Ok(Some(exception)) => idb::Error::DomException(exception),
                Ok(None) => idb::Error::DomExceptionNotFound,
                Err(thrown) => idb::Error::RequestErrorNotFound(thrown),
            }),
        }
    }
}
