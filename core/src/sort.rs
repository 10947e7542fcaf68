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

/// The one instance of the standard sort: the unstable one, made stable by breaking ties
/// on the index (indices are distinct, so the order is total and the result is the stable
/// one). The standard unstable sort is smaller in WebAssembly than the stable driftsort.
fn sort_indices(order: &mut [usize], cmp: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_unstable_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    #[test]
    fn equal_keys_keep_their_order() {
        let mut items = vec![(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd'), (0, 'e'), (2, 'f')];
        super::sort_by(&mut items, |a, b| a.0.cmp(&b.0));
        assert_eq!(items, vec![(0, 'e'), (1, 'b'), (1, 'd'), (2, 'a'), (2, 'c'), (2, 'f')]);
    }
}
