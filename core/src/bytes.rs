//! Shared, immutable bytes that may live on the heap, in a memory map, or in a JS buffer.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::ops::{Deref, Range};

use bytemuck::Pod;

use crate::sync::{MaybeSend, MaybeSync};

/// Anything that owns bytes and can be shared: a `Vec<u8>`, a memory map, a store's buffer.
pub trait ByteOwner: AsRef<[u8]> + MaybeSend + MaybeSync + 'static {}
impl<T: AsRef<[u8]> + MaybeSend + MaybeSync + 'static> ByteOwner for T {}

/// A cheap-to-clone view of immutable bytes owned by something else.
///
/// Getting a large entry from the filesystem hands back a view into a memory map, so a
/// 256 MiB map is never copied; a value given to `put` is shared by the memory tier
/// without a copy in the same way.
#[derive(Clone)]
pub struct SharedBytes {
    owner: Arc<dyn ByteOwner>,
    range: Range<usize>,
}

/// A `Vec` of plain numbers seen as bytes, so typed data is shared without a copy.
struct PodVec<T>(Vec<T>);

impl<T: Pod> AsRef<[u8]> for PodVec<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

impl SharedBytes {
    /// Shares every byte of `owner`.
    pub fn from_owner(owner: impl ByteOwner) -> Self {
        let len = owner.as_ref().len();
        SharedBytes {
            owner: Arc::new(owner),
            range: 0..len,
        }
    }

    /// Shares the bytes of a typed vector without copying them.
    pub fn from_pod_vec<T: Pod + MaybeSend + MaybeSync>(values: Vec<T>) -> Self {
        Self::from_owner(PodVec(values))
    }

    /// A view of `range` (relative to this view), or `None` if it is out of bounds.
    pub fn slice(&self, range: Range<usize>) -> Option<SharedBytes> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        Some(SharedBytes {
            owner: Arc::clone(&self.owner),
            range: self.range.start + range.start..self.range.start + range.end,
        })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // The range was checked against the owner when the view was made, and owners are
        // immutable, so this cannot go out of bounds.
        (*self.owner).as_ref().get(self.range.clone()).unwrap_or(&[])
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// The bytes as a typed slice without a copy, if their length and alignment allow it.
    ///
    /// Payloads read from the filesystem are 64-byte aligned, so this succeeds for them.
    pub fn try_as_slice<T: Pod>(&self) -> Option<&[T]> {
        bytemuck::try_cast_slice(self.as_bytes()).ok()
    }

    /// The bytes copied into a typed vector (works at any alignment), or `None` if the
    /// length is not a multiple of the element size.
    pub fn to_vec_of<T: Pod>(&self) -> Option<Vec<T>> {
        let size = core::mem::size_of::<T>();
        if size == 0 || !self.len().is_multiple_of(size) {
            return None;
        }
        Some(bytemuck::pod_collect_to_vec(self.as_bytes()))
    }
}

impl Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<Vec<u8>> for SharedBytes {
    fn from(bytes: Vec<u8>) -> Self {
        SharedBytes::from_owner(bytes)
    }
}

impl From<&[u8]> for SharedBytes {
    fn from(bytes: &[u8]) -> Self {
        SharedBytes::from_owner(bytes.to_vec())
    }
}

impl PartialEq for SharedBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SharedBytes {}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.len())
    }
}

/// A byte buffer aligned for any element type, for stores that read entries into memory,
/// so a payload at a 64-byte offset can still be viewed as `&[f64]` in place.
#[derive(Clone, Default)]
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        AlignedBytes {
            words: alloc::vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// `len` zero bytes, or `None` if this process cannot have that much memory: for a
    /// length read from a file, a record or a response, which damage or another machine
    /// may make larger than any entry this process could hold. Failing to allocate would
    /// abort the process; this asks the allocator first, then takes the zeroed memory
    /// [`AlignedBytes::zeroed`] takes (whose pages the system maps only when written).
    pub fn try_zeroed(len: usize) -> Option<Self> {
        alloc::vec::Vec::<u64>::new().try_reserve_exact(len.div_ceil(8)).ok()?;
        Some(Self::zeroed(len))
    }

    /// A copy of `bytes`.
    pub fn copy_of(bytes: &[u8]) -> Self {
        AlignedBytes {
            // Rounded up to whole words, the tail zeroed.
            words: bytemuck::pod_collect_to_vec(bytes),
            len: bytes.len(),
        }
    }

    /// The bytes, to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }

    /// Shortens the buffer to `len` bytes (no effect if it is already shorter).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
}

impl fmt::Debug for AlignedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBytes({} bytes)", self.len)
    }
}
