//! How an entry is kept in IndexedDB: one byte array per entry, copied out of
//! WebAssembly memory once.
//!
//! Why not hand IndexedDB views of WebAssembly memory and skip that copy: structured
//! clone serialises a view's whole underlying ArrayBuffer, i.e. all of WebAssembly memory
//! for every part (hundreds of MiB once maps are cached), which Chromium then refuses
//! (measured: the transaction aborts). Why not chunks: splitting a 64 MiB payload into
//! 4 MiB records gave no consistent gain over four runs (0.75x to 1.32x of one record's
//! put time), so one record stays, which also keeps each entry one atomic value.

use js_sys::{Array, ArrayBuffer, Uint8Array};
use stepcache_core::AlignedBytes;
use stepcache_core::entry::LIST_HEAD_LEN;
use wasm_bindgen::{JsCast, JsValue};

/// The listing record of an entry: its total length (u64 LE), then its first bytes.
pub(crate) fn head(parts: &[&[u8]], total: usize) -> Vec<u8> {
    let mut head = Vec::with_capacity(8 + LIST_HEAD_LEN);
    head.extend_from_slice(&(total as u64).to_le_bytes());
    for part in parts {
        let room = (8 + LIST_HEAD_LEN).saturating_sub(head.len());
        head.extend_from_slice(&part[..part.len().min(room)]);
    }
    head
}

/// The entry as one new byte array (the one copy out of WebAssembly memory).
pub(crate) fn entry(parts: &[&[u8]], total: u32) -> Uint8Array {
    let entry = Uint8Array::new_with_length(total);
    let mut offset = 0u32;
    for part in parts {
        let end = offset + part.len() as u32;
        entry.subarray(offset, end).copy_from(part);
        offset = end;
    }
    entry
}

fn bytes_of(value: &JsValue) -> Option<Uint8Array> {
    (value.is_instance_of::<Uint8Array>() || value.is_instance_of::<ArrayBuffer>()).then(|| Uint8Array::new(value))
}

/// The entry's bytes from a record: one byte array (or an array of them, read for safety).
/// Anything else is damage: it reads as no bytes, which the entry check rejects.
pub(crate) fn read(value: &JsValue) -> AlignedBytes {
    let parts: Vec<Uint8Array> = if Array::is_array(value) {
        let parts: Option<Vec<Uint8Array>> = Array::from(value).iter().map(|p| bytes_of(&p)).collect();
        parts.unwrap_or_default()
    } else {
        bytes_of(value).into_iter().collect()
    };
    let total: usize = parts.iter().map(|p| p.length() as usize).sum();
    let mut bytes = AlignedBytes::zeroed(total);
    let mut at = 0;
    for part in parts {
        let len = part.length() as usize;
        part.copy_to(&mut bytes.as_mut_slice()[at..at + len]);
        at += len;
    }
    bytes
}
