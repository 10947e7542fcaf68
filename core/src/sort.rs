//! One sort for the whole crate.
//!
//! Each `sort_by` call on a different element type instantiates the standard library's
//! stable sort again (about 3 KiB of WebAssembly each). The crate's few sorts are of short
//! lists off the hot path, so they all go through one instance that sorts indices with a
//! comparator behind `dyn`, which keeps the npm package's `.wasm` smaller.

use alloc::vec::Vec;
use core::cmp::Ordering;

/// Sorts `items` by `cmp`, stably.
pub(crate) fn sort_by<T>(items: &mut Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    sort_indices(&mut order, &|a, b| cmp(&items[a], &items[b]));
    let mut taken: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.iter().filter_map(|&i| taken[i].take()));
}

/// The one instance of the standard sort.
fn sort_indices(order: &mut [usize], cmp: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_by(|&a, &b| cmp(a, b));
}
