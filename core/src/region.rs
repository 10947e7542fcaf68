//! Regions of stored arrays (hyperslabs: a slice, a range of slices, a sub-box): where
//! their bytes lie in the array's data, which payload blocks hold them, and gathering
//! them into a value of their own.

use alloc::vec::Vec;
use core::ops::Range;

use crate::bytes::{AlignedBytes, SharedBytes};
use crate::entry::BLOCK_LEN;
use crate::error::{Error, ErrorKind, Result};
use crate::text;
use crate::value::ElementType;

/// Which dimensions a region's ranges are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The first ones, outermost first; the rest are taken whole.
    First,
    /// The last ones, in order; those before them are taken whole.
    Last,
}

/// Where the bytes of one region of a C-order array lie in the array's data: runs of
/// equal length, one for each index of the dimensions outside the run.
///
/// The run is the innermost dimensions the region covers whole, together with the
/// dimension just outside them (which it may cover in part): for an axial slice of a
/// `[z, y, x]` volume that is one run of `y * x` elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegionPlan {
    /// The region's shape.
    pub(crate) extents: Vec<u64>,
    /// The dimensions outside the run: each one's range and stride in bytes.
    outer: Vec<(Range<u64>, u64)>,
    /// Where the run of the outer dimensions' first indices starts, in bytes, before the
    /// outer dimensions' offsets are added.
    base: u64,
    /// The length of one run in bytes.
    run: u64,
    /// How many runs there are (0 for a region with an empty dimension).
    count: u64,
}

impl RegionPlan {
    /// The plan for `region` of an array of `elem` and `shape`: one range per dimension,
    /// for the first or the last dimensions as `anchor` says, the others taken whole; a
    /// range ending at `u64::MAX` runs to the end of its dimension.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a record (it has no dimensions to cut), more
    /// ranges than the array has dimensions, or a range that runs backwards or past the
    /// end of its dimension.
    pub(crate) fn new(elem: ElementType, shape: &[u64], region: &[Range<u64>], anchor: Anchor) -> Result<Self> {
        if elem == ElementType::Record {
            return Err(invalid(text!("a record has no regions: read it whole")));
        }
        if region.len() > shape.len() {
            return Err(invalid(text!(
                "the region has ",
                region.len(),
                " ranges, more than the array's ",
                shape.len(),
                " dimensions"
            )));
        }
        // The dimension of the first range.
        let first_given = match anchor {
            Anchor::First => 0,
            Anchor::Last => shape.len() - region.len(),
        };
        let ranges: Vec<Range<u64>> = (0..shape.len())
            .map(|dim| match dim.checked_sub(first_given).and_then(|i| region.get(i)) {
                Some(range) if range.end == u64::MAX => range.start..shape[dim],
                Some(range) => range.clone(),
                None => 0..shape[dim],
            })
            .collect();
        for (dim, (range, &len)) in ranges.iter().zip(shape).enumerate() {
            if range.start > range.end || range.end > len {
                return Err(invalid(text!(
                    "range ",
                    range.start,
                    "..",
                    range.end,
                    " of dimension ",
                    dim,
                    " is not within 0..",
                    len
                )));
            }
        }
        let extents: Vec<u64> = ranges.iter().map(|r| r.end - r.start).collect();
        // Byte strides. The header's layout check bounds every product by the data's length.
        let mut strides = alloc::vec![0u64; shape.len()];
        let mut stride = elem.size() as u64;
        for dim in (0..shape.len()).rev() {
            strides[dim] = stride;
            stride = stride.saturating_mul(shape[dim]);
        }
        // Widen the run outwards while the dimension is covered whole.
        let mut first = shape.len();
        let mut run = elem.size() as u64;
        while first > 0 {
            first -= 1;
            run = extents[first].saturating_mul(strides[first]);
            if ranges[first] != (0..shape[first]) {
                break;
            }
        }
        let base = ranges.get(first).map_or(0, |r| r.start.saturating_mul(strides[first]));
        let outer: Vec<(Range<u64>, u64)> = ranges[..first].iter().cloned().zip(strides).collect();
        let count = if extents.contains(&0) {
            0
        } else {
            outer.iter().fold(1u64, |n, (r, _)| n.saturating_mul(r.end - r.start))
        };
        Ok(RegionPlan {
            extents,
            outer,
            base,
            run,
            count,
        })
    }

    /// The region's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.run.saturating_mul(self.count)
    }

    /// The byte ranges of the runs within the array's data, in ascending order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        let mut index: Vec<u64> = self.outer.iter().map(|(r, _)| r.start).collect();
        let mut left = self.count;
        core::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let start = self.base + index.iter().zip(&self.outer).map(|(i, (_, s))| i * s).sum::<u64>();
            // The next index, the last dimension fastest.
            for (i, (range, _)) in index.iter_mut().zip(&self.outer).rev() {
                *i += 1;
                if *i < range.end {
                    break;
                }
                *i = range.start;
            }
            Some(start..start + self.run)
        })
    }

    /// The payload blocks ([`BLOCK_LEN`]) the runs touch, as ascending ranges of block
    /// numbers, adjacent ones merged: what a store reads for this region.
    pub(crate) fn blocks(&self) -> Vec<Range<u64>> {
        let block = BLOCK_LEN as u64;
        let mut spans: Vec<Range<u64>> = Vec::new();
        for run in self.runs() {
            let (first, end) = (run.start / block, (run.end - 1) / block + 1);
            match spans.last_mut() {
                Some(last) if first <= last.end => last.end = last.end.max(end),
                _ => spans.push(first..end),
            }
        }
        spans
    }

    /// The region's bytes, gathered from `pieces`: parts of the array's data, each with
    /// the offset where it starts, in ascending order. A region of one run (a slice of the
    /// outermost dimension) is a view of the piece that holds it, not a copy. `None` if a
    /// run is not within one piece (the pieces do not cover the plan).
    pub(crate) fn gather(&self, pieces: &[(u64, SharedBytes)]) -> Option<SharedBytes> {
        let within = |piece: &(u64, SharedBytes), run: &Range<u64>| {
            let from = usize::try_from(run.start.checked_sub(piece.0)?).ok()?;
            let to = from.checked_add(usize::try_from(self.run).ok()?)?;
            (to <= piece.1.len()).then_some(from..to)
        };
        if self.count == 1 {
            let run = self.runs().next()?;
            return pieces.iter().find_map(|piece| piece.1.slice(within(piece, &run)?));
        }
        let mut out = AlignedBytes::zeroed(usize::try_from(self.len()).ok()?);
        let mut at = 0;
        let mut piece = 0;
        for run in self.runs() {
            // Runs ascend, so the piece that holds one is never before the last one's.
            let range = loop {
                match within(pieces.get(piece)?, &run) {
                    Some(range) => break range,
                    None => piece += 1,
                }
            };
            let len = range.len();
            out.as_mut_slice()[at..at + len].copy_from_slice(&pieces[piece].1.as_bytes()[range]);
            at += len;
        }
        Some(SharedBytes::from_owner(out))
    }
}

fn invalid(message: alloc::string::String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

#[cfg(test)]
// One range is the common region (a slice of the outermost dimension), not a mistake.
// And a backwards range is what the error case is made of.
#[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    use super::*;

    /// The region's elements picked one by one: the reference the plan must agree with.
    fn naive(shape: &[u64], region: &[Range<u64>], data: &[u8], size: usize) -> Vec<u8> {
        let ranges: Vec<Range<u64>> = (0..shape.len())
            .map(|d| region.get(d).cloned().unwrap_or(0..shape[d]))
            .collect();
        let total: u64 = shape.iter().product();
        let mut out = Vec::new();
        for flat in 0..total {
            let mut rest = flat;
            let mut inside = true;
            for d in (0..shape.len()).rev() {
                let i = rest % shape[d];
                rest /= shape[d];
                inside &= ranges[d].contains(&i);
            }
            if inside {
                let at = flat as usize * size;
                out.extend_from_slice(&data[at..at + size]);
            }
        }
        out
    }

    /// A shape, a range within each dimension, and how many of them a region gives.
    fn shape_and_region() -> impl Strategy<Value = (Vec<u64>, Vec<Range<u64>>, usize)> {
        proptest::collection::vec(1u64..6, 0..5).prop_flat_map(|shape| {
            let ranges: Vec<_> = shape
                .iter()
                .map(|&n| (0..=n, 0..=n).prop_map(|(a, b)| a.min(b)..a.max(b)))
                .collect();
            let len = shape.len();
            (Just(shape), ranges, 0..=len)
        })
    }

    proptest! {
        /// Every region of every small array gathers exactly the elements it names.
        #[test]
        fn gathers_exactly_the_region((shape, ranges, given) in shape_and_region(), wide: bool) {
            let region = ranges[..given].to_vec();
            let elem = if wide { ElementType::F64 } else { ElementType::U8 };
            let size = elem.size();
            let len = shape.iter().product::<u64>() as usize * size;
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let plan = RegionPlan::new(elem, &shape, &region, Anchor::First).unwrap();
            // The last dimensions' ranges, given for them: the plan of the same ranges with
            // whole ones before them.
            let skip = shape.len() - given;
            let mut padded: Vec<Range<u64>> = shape.iter().map(|&n| 0..n).collect();
            padded[skip..].clone_from_slice(&ranges[skip..]);
            let last = RegionPlan::new(elem, &shape, &ranges[skip..], Anchor::Last).unwrap();
            prop_assert_eq!(&last, &RegionPlan::new(elem, &shape, &padded, Anchor::First).unwrap());
            let expected = naive(&shape, &region, &data, size);
            prop_assert_eq!(plan.len() as usize, expected.len());
            let extents: u64 = plan.extents.iter().product();
            prop_assert_eq!(extents as usize * size, expected.len());
            let got = plan.gather(&[(0, SharedBytes::from(data.clone()))]).unwrap();
            prop_assert_eq!(got.as_bytes(), &expected[..]);
            // Runs ascend and do not overlap.
            let runs: Vec<_> = plan.runs().collect();
            prop_assert!(runs.windows(2).all(|w| w[0].end <= w[1].start));
        }
    }

    #[test]
    fn an_axial_slice_is_one_run_in_one_or_two_blocks() {
        // A 256 MiB volume of f32, [256, 512, 512]: one z slice is 1 MiB.
        let plan = RegionPlan::new(ElementType::F32, &[256, 512, 512], &[10..11], Anchor::First).unwrap();
        assert_eq!(plan.extents, vec![1, 512, 512]);
        assert_eq!(plan.runs().collect::<Vec<_>>(), vec![10 << 20..11 << 20]);
        assert_eq!(plan.blocks(), vec![10..11]);
        // Slices of 352 KB at any offset: one block, or two where one crosses a boundary.
        for z in 0..300 {
            let plan = RegionPlan::new(ElementType::F32, &[300, 300, 300], &[z..z + 1], Anchor::First).unwrap();
            let blocks = plan.blocks();
            assert_eq!(blocks.len(), 1);
            let (start, end) = (z * 360_000, (z + 1) * 360_000);
            assert_eq!(blocks[0], start >> 20..((end - 1) >> 20) + 1, "slice {z}");
        }
    }

    #[test]
    fn blocks_merge_only_when_adjacent() {
        // One byte of each 1 MiB row: blocks 0 to 3, read as one span.
        let rows = RegionPlan::new(ElementType::U8, &[4, 1 << 20], &[0..4, 0..1], Anchor::First).unwrap();
        assert_eq!(rows.blocks(), vec![0..4]);
        // The first of each pair of 1 MiB rows: every other block, four spans.
        let pairs = RegionPlan::new(ElementType::U8, &[4, 2, 1 << 20], &[0..4, 0..1], Anchor::First).unwrap();
        assert_eq!(pairs.blocks(), vec![0..1, 2..3, 4..5, 6..7]);
    }

    #[test]
    fn an_open_end_runs_to_the_end_of_its_dimension() {
        let open = RegionPlan::new(ElementType::U8, &[4, 6], &[1..u64::MAX, 2..3], Anchor::First).unwrap();
        assert_eq!(
            open,
            RegionPlan::new(ElementType::U8, &[4, 6], &[1..4, 2..3], Anchor::First).unwrap()
        );
    }

    #[test]
    fn last_dimensions_are_counted_from_the_end() {
        let shape = [3, 4, 6];
        let last = RegionPlan::new(ElementType::U8, &shape, &[1..2, 2..u64::MAX], Anchor::Last).unwrap();
        let first = RegionPlan::new(ElementType::U8, &shape, &[0..3, 1..2, 2..6], Anchor::First).unwrap();
        assert_eq!(last, first);
        let all = RegionPlan::new(ElementType::U8, &shape, &[], Anchor::Last).unwrap();
        assert_eq!(all.extents, vec![3, 4, 6]);
        let too_many = RegionPlan::new(ElementType::U8, &shape, &[0..1, 0..1, 0..1, 0..1], Anchor::Last);
        assert_eq!(too_many.unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn bad_regions_are_invalid_arguments() {
        let bad = [
            RegionPlan::new(ElementType::F32, &[4, 4], &[0..1, 0..1, 0..1], Anchor::First),
            RegionPlan::new(ElementType::F32, &[4, 4], &[3..2], Anchor::First),
            RegionPlan::new(ElementType::F32, &[4, 4], &[0..5], Anchor::First),
            RegionPlan::new(ElementType::Record, &[4], &[0..1], Anchor::First),
            RegionPlan::new(ElementType::F32, &[4, 4], &[5..u64::MAX], Anchor::First),
        ];
        for result in bad {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn gather_refuses_pieces_that_do_not_cover_the_runs() {
        let data = SharedBytes::from((0..32u8).collect::<Vec<u8>>());
        let part = |range: Range<usize>| (range.start as u64, data.slice(range).unwrap());
        // One run (rows 1 and 2): a view of the piece that holds it.
        let plan = RegionPlan::new(ElementType::U8, &[4, 8], &[1..3], Anchor::First).unwrap();
        assert!(plan.gather(&[part(0..12)]).is_none());
        assert!(plan.gather(&[part(0..8), part(16..32)]).is_none());
        assert_eq!(
            plan.gather(&[part(0..4), part(8..24)]).unwrap().as_bytes(),
            &data.as_bytes()[8..24]
        );
        // Two runs (column 1 of rows 1 and 2): copied from the pieces that hold each.
        let plan = RegionPlan::new(ElementType::U8, &[4, 8], &[1..3, 1..2], Anchor::First).unwrap();
        assert!(plan.gather(&[part(8..12)]).is_none());
        assert_eq!(plan.gather(&[part(8..12), part(16..20)]).unwrap().as_bytes(), &[9, 17]);
    }
}
