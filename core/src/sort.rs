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

/// The one sort instance: a heapsort, made stable by breaking ties on the index (indices
/// are distinct, so the order is total and the result is the stable one). A heapsort
/// because it is a few hundred bytes of WebAssembly against 2.4 KB for the standard
/// unstable sort (1.4 KB gzipped), and its O(n log n) worst case is all these short lists
/// need.
fn sort_indices(order: &mut [usize], cmp: &dyn Fn(usize, usize) -> Ordering) {
    let less = |a: usize, b: usize| cmp(a, b).then(a.cmp(&b)) == Ordering::Less;
    // Moves order[root] down until both children are smaller (a max-heap over 0..end).
    let sift_down = |order: &mut [usize], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(order[child], order[child + 1]) {
            child += 1;
        }
        if !less(order[root], order[child]) {
            break;
        }
        order.swap(root, child);
        root = child;
    };
    let n = order.len();
    for root in (0..n / 2).rev() {
        sift_down(order, root, n);
    }
    for end in (1..n).rev() {
        order.swap(0, end);
        sift_down(order, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    proptest! {
        /// The same order as the standard stable sort, for any list with repeated keys.
        #[test]
        fn matches_the_standard_stable_sort(keys in proptest::collection::vec(0u8..8, 0..200)) {
            let mut items: Vec<(u8, usize)> = keys.iter().copied().zip(0..).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|a| a.0); // stable
            super::sort_by(&mut items, |a, b| a.0.cmp(&b.0));
            prop_assert_eq!(items, expected);
        }
    }

    #[test]
    fn equal_keys_keep_their_order() {
        let mut items = vec![(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd'), (0, 'e'), (2, 'f')];
        super::sort_by(&mut items, |a, b| a.0.cmp(&b.0));
        assert_eq!(items, vec![(0, 'e'), (1, 'b'), (1, 'd'), (2, 'a'), (2, 'c'), (2, 'f')]);
    }
}
