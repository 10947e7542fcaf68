//! The one way an entry reaches a store: [`EntryWriter`].

use alloc::vec::Vec;

use super::{
    BlockHasher, BlockTable, EntryHeader, PayloadCheck, PayloadHasher, SEAL_LEN, TeamKey, block_count, encode_head,
    head_len,
};
use crate::bytes::SharedBytes;
use crate::error::{Error, ErrorKind, Result};

/// An entry on its way to a store, handed out in the order stores write it: the payload
/// in pieces, which the store checksums (with a [`super::PayloadHasher`]) as it writes
/// them, then the head, which holds that checksum and goes in front of the payload.
///
/// Every store writes through this, so encoding an entry (filling in the checksum,
/// encoding the head, checking its length) is written once, here. A store only decides
/// where the bytes go and how large its pieces are.
///
/// An entry bound for the shared tier may be sealed with the team's key
/// ([`EntryWriter::sealed`]): then [`EntryWriter::trailer`] goes after the payload.
///
/// An entry written to more than one store is checksummed once
/// ([`EntryWriter::prepared`]): then each store's hashing is skipped.
#[derive(Debug, Clone)]
pub struct EntryWriter<'a> {
    /// The header to encode, and the length of its head; `None` for verbatim bytes.
    header: Option<(EntryHeader, usize)>,
    payload: &'a [u8],
    /// What holds the payload, where the caller said ([`EntryWriter::owned_by`]).
    owner: Option<SharedBytes>,
    seal: Option<&'a TeamKey>,
    /// The finished head and the payload's checksum, once computed.
    prepared: Option<(Vec<u8>, PayloadCheck)>,
}

impl<'a> EntryWriter<'a> {
    /// The entry of `header` (its payload checksum and block table to be filled in) and
    /// `payload`.
    pub fn new(header: &EntryHeader, payload: &'a [u8]) -> Self {
        let mut header = header.clone();
        // Placeholders of the table's length, which the head's length depends on.
        header.blocks = BlockTable::placeholder(block_count(&header) as usize);
        let len = head_len(&header);
        EntryWriter {
            header: Some((header, len)),
            payload,
            owner: None,
            seal: None,
            prepared: None,
        }
    }

    /// An entry given whole as `bytes`, written as they are: one read from a bundle or
    /// another store (it is verified when read, like any entry), or damage a test plants.
    /// Its head is empty: every byte is payload.
    pub fn verbatim(bytes: &'a [u8]) -> Self {
        EntryWriter {
            header: None,
            payload: bytes,
            owner: None,
            seal: None,
            prepared: None,
        }
    }

    /// The same entry with its head and checksums computed now, in one pass over the
    /// payload ([`EntryWriter::head_first`]), for every store it is written to: their
    /// hashers ([`EntryWriter::hasher`]) then do nothing, and [`EntryWriter::head_from`]
    /// returns this head.
    ///
    /// # Errors
    /// As [`EntryWriter::head`].
    pub fn prepared(mut self) -> Result<Self> {
        if self.prepared.is_none() && self.header.is_some() {
            self.prepared = Some(self.head_first()?);
        }
        Ok(self)
    }

    /// Whether the head and checksums are computed already ([`EntryWriter::prepared`]): a
    /// store then need not hash the payload.
    pub fn is_prepared(&self) -> bool {
        self.prepared.is_some()
    }

    /// The same entry, whose payload `owner` holds: a store that writes on after the call
    /// has returned to it (an upload on another thread) can share the bytes rather than
    /// copy them ([`EntryWriter::payload_owner`]). Ignored unless `owner` views exactly
    /// the payload's bytes.
    pub fn owned_by(mut self, owner: SharedBytes) -> Self {
        let (held, payload) = (owner.as_bytes(), self.payload);
        if core::ptr::eq(held.as_ptr(), payload.as_ptr()) && held.len() == payload.len() {
            self.owner = Some(owner);
        }
        self
    }

    /// What holds the payload, if the caller said ([`EntryWriter::owned_by`]).
    pub fn payload_owner(&self) -> Option<&SharedBytes> {
        self.owner.as_ref()
    }

    /// The same entry sealed with `key` (see [`TeamKey`]); a verbatim entry stays as it is.
    pub fn sealed(mut self, key: &'a TeamKey) -> Self {
        self.seal = self.header.as_ref().map(|_| key);
        self
    }

    /// The length of the head that goes before the payload (fixed before the checksum is
    /// known, since the checksum has a fixed size).
    pub fn head_len(&self) -> usize {
        self.header.as_ref().map_or(0, |(_, len)| *len)
    }

    /// Whether readers will accept this entry's head: its header is at most
    /// [`super::MAX_HEADER_LEN`] bytes, which bounds what damage can make a reader
    /// allocate. A raw payload's block table takes 16 bytes per MiB, so this caps such a
    /// payload at about 128 GiB (less its metadata).
    pub fn head_readable(&self) -> bool {
        self.header
            .as_ref()
            .is_none_or(|(header, _)| super::body_len(header) <= super::MAX_HEADER_LEN)
    }

    /// The entry's whole length: head, payload and trailer.
    pub fn len(&self) -> usize {
        self.head_len() + self.payload.len() + self.trailer_len()
    }

    /// The length of [`EntryWriter::trailer`]: 0 unless sealed.
    pub fn trailer_len(&self) -> usize {
        self.seal.map_or(0, |_| SEAL_LEN)
    }

    /// What goes after the payload, given the entry's `head`: the seal of a sealed entry
    /// (a keyed hash of the head and the whole payload), nothing otherwise.
    pub fn trailer(&self, head: &[u8]) -> Vec<u8> {
        self.seal
            .map_or_else(Vec::new, |key| key.seal(head, self.payload).to_vec())
    }

    /// Whether the entry has no bytes at all (only a verbatim entry can be empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The payload cut where a store that writes the entry in pieces of `piece` bytes cuts
    /// it: the first piece fills the rest of the first `piece` bytes after the head, each
    /// later one is `piece` bytes (the last may be shorter). An empty payload is one empty
    /// piece.
    pub fn pieces(&self, piece: usize) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        let piece = piece.max(1);
        let first_len = piece.saturating_sub(self.head_len()).min(self.payload.len());
        let (first, rest) = self.payload.split_at(first_len);
        core::iter::once(first).chain(rest.chunks(piece))
    }

    /// A hasher for this entry's payload, to feed with [`EntryWriter::pieces`] as they
    /// are written and give to [`EntryWriter::head_from`]: the payload's checksum and the
    /// block table (if the entry has one) in one pass.
    pub fn hasher(&self) -> EntryHasher {
        EntryHasher {
            sums: (!self.is_prepared()).then(|| (PayloadHasher::new(), self.has_blocks().then(BlockHasher::new))),
        }
    }

    /// Whether the entry carries per-block checksums (see [`super::BlockTable`]).
    fn has_blocks(&self) -> bool {
        self.header
            .as_ref()
            .is_some_and(|(header, _)| !header.blocks.is_empty())
    }

    /// The head to write in front of the payload, from `hasher` fed with every payload
    /// byte in order; returns it with the payload's checksum, which tells this version of
    /// the entry from any other. Empty for a verbatim entry.
    ///
    /// # Errors
    /// As [`EntryWriter::head`].
    pub fn head_from(&self, hasher: EntryHasher) -> Result<(Vec<u8>, PayloadCheck)> {
        if let Some(prepared) = &self.prepared {
            return Ok(prepared.clone());
        }
        let Some((payload, blocks)) = hasher.sums else {
            // A hasher from a prepared copy of this entry: the same bytes, checksummed here.
            return self.head_first();
        };
        let check = payload.finish();
        let head = match blocks {
            Some(blocks) => self.head_with(check, blocks.finish()),
            None => self.head(check),
        }?;
        Ok((head, check))
    }

    /// The head to write in front of the payload, given the checksum of every payload byte
    /// in order (a [`super::PayloadHasher`] fed with [`EntryWriter::pieces`]); returns it
    /// with the checksum, which tells this version of the entry from any other. An
    /// entry's block table, if it has one, is computed here from the payload. Empty for a
    /// verbatim entry.
    ///
    /// # Errors
    /// [`ErrorKind::Storage`] if the head came out longer or shorter than
    /// [`EntryWriter::head_len`] said (the checksum has a fixed size, so this cannot
    /// happen; if it did, the payload would be misplaced and the write must fail).
    pub fn head(&self, check: PayloadCheck) -> Result<Vec<u8>> {
        if let Some((head, known)) = &self.prepared
            && *known == check
        {
            return Ok(head.clone());
        }
        let blocks = match self.has_blocks() {
            true => BlockTable::of(self.payload),
            false => BlockTable::default(),
        };
        self.head_with(check, blocks)
    }

    /// [`EntryWriter::head`], with the block table computed over the same bytes (used only
    /// if the entry has one).
    fn head_with(&self, check: PayloadCheck, blocks: BlockTable) -> Result<Vec<u8>> {
        let Some((header, len)) = &self.header else {
            return Ok(Vec::new());
        };
        let mut header = header.clone();
        header.payload_check = check;
        if !header.blocks.is_empty() {
            header.blocks = blocks;
        }
        let head = encode_head(&header);
        if head.len() != *len {
            return Err(Error::new(
                ErrorKind::Storage,
                "an entry's head changed length with its checksums",
            ));
        }
        Ok(head)
    }

    /// The head to write in front of the payload and the payload's checksum, for a store
    /// that writes the head first: both checksums (the payload's and its blocks', if it
    /// has them) in one pass over the payload, a piece at a time while it is in the
    /// processor's caches.
    ///
    /// # Errors
    /// As [`EntryWriter::head`].
    pub fn head_first(&self) -> Result<(Vec<u8>, PayloadCheck)> {
        /// Small enough that the second checksum reads the piece from the caches.
        const PIECE: usize = 256 << 10;
        if let Some(prepared) = &self.prepared {
            return Ok(prepared.clone());
        }
        let mut hasher = self.hasher();
        for piece in self.payload.chunks(PIECE) {
            hasher.update(piece);
        }
        self.head_from(hasher)
    }

    /// The whole entry in one buffer, and its payload checksum: for stores that write an
    /// entry in one piece.
    pub fn to_bytes(&self) -> Result<(Vec<u8>, PayloadCheck)> {
        let (head, check) = self.head_first()?;
        let trailer = self.trailer(&head);
        let mut bytes = Vec::with_capacity(self.len());
        bytes.extend_from_slice(&head);
        bytes.extend_from_slice(self.payload);
        bytes.extend_from_slice(&trailer);
        Ok((bytes, check))
    }
}

/// The checksums of an entry's payload computed as a store writes it (see
/// [`EntryWriter::hasher`]).
pub struct EntryHasher {
    /// The payload's checksum and the block table's, if the entry has one; `None` for an
    /// entry whose head is computed already (see [`EntryWriter::prepared`]).
    sums: Option<(PayloadHasher, Option<BlockHasher>)>,
}

impl EntryHasher {
    /// Takes the next piece of the payload.
    pub fn update(&mut self, piece: &[u8]) {
        if let Some((payload, blocks)) = &mut self.sums {
            payload.update(piece);
            if let Some(blocks) = blocks {
                blocks.update(piece);
            }
        }
    }
}

impl core::fmt::Debug for EntryHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EntryHasher")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ElementType;
    use crate::entry::{Codec, Head, decode_head, encode_head};

    /// The header of a raw byte payload of `len` bytes, with its block table's room.
    fn raw_header(len: u64) -> EntryHeader {
        let mut header = EntryHeader {
            key: crate::Fingerprint::from_bytes([5; 32]),
            step: "s".into(),
            created_ms: 1,
            cost_us: 1,
            elem: ElementType::U8,
            shape: alloc::vec![len],
            codec: Codec::Raw,
            raw_len: len,
            payload_len: len,
            payload_check: PayloadCheck::placeholder(),
            meta: alloc::vec::Vec::new(),
            provenance: Default::default(),
            blocks: BlockTable::default(),
        };
        header.blocks = BlockTable::placeholder(block_count(&header) as usize);
        header
    }

    /// An owner is kept only if it views exactly the payload's bytes: a copy of them, a
    /// part or a longer view would let a store upload other bytes than the entry's.
    #[test]
    fn an_owner_is_kept_only_if_it_holds_the_payload_itself() {
        let owner = SharedBytes::from_owner(alloc::vec![7u8; 64]);
        let header = raw_header(64);
        let kept = EntryWriter::new(&header, owner.as_bytes()).owned_by(owner.clone());
        assert!(kept.payload_owner().is_some_and(|o| o.as_bytes() == owner.as_bytes()));
        let copy = SharedBytes::from_owner(alloc::vec![7u8; 64]);
        let part = owner.slice(0..32).unwrap();
        let others = [copy, part.clone(), owner.clone()];
        let payloads = [owner.as_bytes(), owner.as_bytes(), part.as_bytes()];
        for (other, payload) in others.into_iter().zip(payloads) {
            let header = raw_header(payload.len() as u64);
            let writer = EntryWriter::new(&header, payload).owned_by(other);
            assert!(writer.payload_owner().is_none());
        }
        assert!(
            EntryWriter::new(&header, owner.as_bytes()).payload_owner().is_none(),
            "none unless told"
        );
    }

    /// Around the largest raw payload whose block table fits a header (about 128 GiB), a
    /// writer refuses exactly the heads that readers would refuse.
    #[test]
    fn a_head_is_written_only_if_readers_accept_it() {
        let (mut accepted, mut refused) = (0, 0);
        for gib in 124..=132u64 {
            let header = raw_header(gib << 30);
            let writer = EntryWriter::new(&header, &[]);
            let reads = matches!(decode_head(&encode_head(&header)), Ok(Head::Complete(..)));
            assert_eq!(writer.head_readable(), reads, "{gib} GiB");
            if reads { accepted += 1 } else { refused += 1 }
        }
        assert!(accepted > 0 && refused > 0, "the range holds the limit");
    }

    /// A prepared writer gives every store the same head, checksum and bytes as an
    /// unprepared one computes as it writes, sealed or not, with or without a block table.
    #[test]
    fn a_prepared_entry_is_the_entry_each_store_would_write() {
        let key = TeamKey::from_secret(b"a team secret of enough length").unwrap();
        for len in [0usize, 1, 5000, (3 << 20) + 17] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let header = raw_header(len as u64);
            let plain = EntryWriter::new(&header, &payload);
            let prepared = plain.clone().prepared().unwrap();
            assert!(prepared.is_prepared() && !plain.is_prepared());
            let expected = plain.head_first().unwrap();
            assert_eq!(prepared.head_first().unwrap(), expected, "{len}");
            assert_eq!(prepared.head(expected.1).unwrap(), expected.0, "{len}");
            for writer in [&plain, &prepared] {
                let mut hasher = writer.hasher();
                for piece in writer.pieces(1 << 20) {
                    hasher.update(piece);
                }
                assert_eq!(writer.head_from(hasher).unwrap(), expected, "{len}");
            }
            // A hasher of the prepared entry handed to an unprepared copy still counts.
            assert_eq!(plain.head_from(prepared.hasher()).unwrap(), expected, "{len}");
            assert_eq!(prepared.to_bytes().unwrap(), plain.to_bytes().unwrap(), "{len}");
            let (sealed, sealed_prepared) = (plain.clone().sealed(&key), prepared.clone().sealed(&key));
            assert_eq!(sealed_prepared.to_bytes().unwrap(), sealed.to_bytes().unwrap(), "{len}");
        }
    }
}
