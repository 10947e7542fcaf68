//! The bundle's round trips, its detection of every truncation and of damage to every
//! framing byte, and its behaviour on arbitrary input, through both readers.

use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::entry::{self, test_entry};

type Record = (Fingerprint, Vec<u8>);

/// Real entries with payloads of `sizes` bytes, each under its own key.
fn entries(sizes: &[usize]) -> Vec<Record> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let payload: Vec<u8> = (0..n).map(|j| (j * 31 + i * 7) as u8).collect();
            let (bytes, _) = test_entry(i as u8, &payload);
            (Fingerprint::from_bytes([i as u8; 32]), bytes)
        })
        .collect()
}

/// Records of `sizes` bytes that are not entries (the container does not care).
fn raw_records(sizes: impl IntoIterator<Item = usize>) -> Vec<Record> {
    sizes
        .into_iter()
        .map(|n| {
            let bytes: Vec<u8> = (0..n).map(|j| (j ^ n) as u8).collect();
            (Fingerprint::of_bytes(&bytes), bytes)
        })
        .collect()
}

/// The bundle of `records`, through the writer.
fn write(records: &[Record]) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    let mut writer = BundleWriter::new();
    for (fingerprint, bytes) in records {
        out.extend_from_slice(&writer.record_head(fingerprint, bytes.len() as u64).unwrap());
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&writer.finish());
    out
}

/// Everything [`BundleSlices`] reads from `bytes`: the records, then how it ended.
fn read_slices(bytes: &[u8]) -> (Vec<Record>, Result<u64, BundleError>) {
    let mut records = Vec::new();
    for record in BundleSlices::new(bytes) {
        match record {
            Ok((fingerprint, entry)) => records.push((fingerprint, entry.to_vec())),
            Err(error) => return (records, Err(error)),
        }
    }
    let count = records.len() as u64;
    (records, Ok(count))
}

/// Everything `reader` reads from `bytes` fed in pieces of `sizes` (cycled; a 0 is an
/// empty piece), then how [`BundleReader::finish`] ends it.
fn read_pushed(bytes: &[u8], mut reader: BundleReader, sizes: &[usize]) -> (Vec<Record>, Result<u64, BundleError>) {
    let mut records = Vec::new();
    let mut rest = bytes;
    assert!(sizes.iter().any(|&size| size > 0), "pieces that make progress");
    let mut sizes = sizes.iter().cycle();
    loop {
        let (mut piece, after) = rest.split_at((*sizes.next().unwrap()).min(rest.len()));
        rest = after;
        loop {
            match reader.feed(&mut piece) {
                Ok(Some(record)) => records.push(record),
                Ok(None) => {
                    assert!(piece.is_empty(), "None only once the piece is used up");
                    break;
                }
                Err(error) => {
                    assert_eq!(reader.finish(), Err(error), "finish repeats the error");
                    assert_eq!(reader.feed(&mut &b"more"[..]), Err(error), "errors are sticky");
                    return (records, Err(error));
                }
            }
        }
        if rest.is_empty() {
            return (records, reader.finish());
        }
    }
}

/// The offsets of every framing byte of `bundle` (every byte outside entry bytes).
fn framing_offsets(records: &[Record]) -> Vec<usize> {
    let mut offsets: Vec<usize> = (0..HEADER_LEN).collect();
    let mut at = HEADER_LEN;
    for (_, bytes) in records {
        offsets.extend(at..at + RECORD_HEAD_LEN);
        at += RECORD_HEAD_LEN + bytes.len();
    }
    offsets.extend(at..at + END_LEN);
    offsets
}

/// Whether `known`, what a reader told the input's length read, agrees with `slices`,
/// what [`BundleSlices`] read: the same, or cut short as `Truncated` where a record head
/// says more bytes follow than the length leaves room for.
fn agrees_when_told_len(
    known: &(Vec<Record>, Result<u64, BundleError>),
    slices: &(Vec<Record>, Result<u64, BundleError>),
) -> bool {
    known == slices || (slices.1.is_err() && known.1 == Err(BundleError::Truncated) && slices.0.starts_with(&known.0))
}

/// Reads `bundle` every way: as slices, pushed whole, byte by byte and in pieces of 7,
/// with and without its length. Asserts every way reads the same (told the length, a
/// reader may report `Truncated` sooner), and returns that.
fn read_every_way(bundle: &[u8]) -> (Vec<Record>, Result<u64, BundleError>) {
    let slices = read_slices(bundle);
    let len = bundle.len() as u64;
    for sizes in [&[usize::MAX][..], &[1], &[7, 0]] {
        assert_eq!(read_pushed(bundle, BundleReader::new(), sizes), slices);
        let known = read_pushed(bundle, BundleReader::with_len(len), sizes);
        assert!(
            agrees_when_told_len(&known, &slices),
            "{known:?} read where {slices:?} was"
        );
    }
    slices
}

#[test]
fn round_trips_no_records() {
    let bundle = write(&[]);
    assert_eq!(bundle.len(), HEADER_LEN + END_LEN);
    assert_eq!(read_every_way(&bundle), (vec![], Ok(0)));
}

#[test]
fn round_trips_one_record() {
    let records = entries(&[100]);
    let bundle = write(&records);
    assert_eq!(read_every_way(&bundle), (records.clone(), Ok(1)));
    let (fingerprint, entry) = &records[0];
    assert!(entry::decode_checked(entry, fingerprint, None).is_ok());
}

#[test]
fn round_trips_many_records_of_many_sizes() {
    let sizes: Vec<usize> = (0..=70)
        .chain([127, 128, 255, 256, 1000, 4095, 4096, 4097, 6000])
        .collect();
    let mut records = entries(&sizes);
    records.extend(raw_records((0..=70).chain([1000, 4096, 6000])));
    let bundle = write(&records);
    assert_eq!(read_every_way(&bundle), (records.clone(), Ok(records.len() as u64)));
}

#[test]
fn round_trips_a_record_of_a_few_mib() {
    let records = entries(&[3 << 20, 5]);
    let bundle = write(&records);
    let expected = (records.clone(), Ok(2));
    assert_eq!(read_slices(&bundle), expected);
    for sizes in [&[usize::MAX][..], &[65536], &[100_003, 1, 17]] {
        assert_eq!(read_pushed(&bundle, BundleReader::new(), sizes), expected);
        assert_eq!(
            read_pushed(&bundle, BundleReader::with_len(bundle.len() as u64), sizes),
            expected
        );
    }
}

#[test]
fn chunks_of_every_size_read_the_same() {
    let mut records = entries(&[0, 1, 63, 64, 65, 300]);
    records.extend(raw_records([0, 1, 40, 41, 42, 0]));
    let bundle = write(&records);
    let expected = (records.clone(), Ok(records.len() as u64));
    for size in 1..=64 {
        assert_eq!(
            read_pushed(&bundle, BundleReader::new(), &[size]),
            expected,
            "chunks of {size}"
        );
        let known = BundleReader::with_len(bundle.len() as u64);
        assert_eq!(
            read_pushed(&bundle, known, &[size]),
            expected,
            "chunks of {size}, length known"
        );
    }
}

#[test]
fn every_truncation_is_reported() {
    let mut records = entries(&[0, 20]);
    records.extend(raw_records([0, 3]));
    let bundle = write(&records);
    for cut in 0..bundle.len() {
        let (read, end) = read_every_way(&bundle[..cut]);
        assert_eq!(end, Err(BundleError::Truncated), "cut at {cut}");
        assert_eq!(
            read[..],
            records[..read.len()],
            "cut at {cut}: only whole records, as written"
        );
        // Told the whole bundle's length, a reader fed only part of it agrees.
        let known = BundleReader::with_len(bundle.len() as u64);
        assert_eq!(read_pushed(&bundle[..cut], known, &[1]), (read, end), "cut at {cut}");
    }
}

#[test]
fn damage_to_every_framing_byte_is_detected() {
    let records = entries(&[0, 1, 70]);
    let bundle = write(&records);
    for at in framing_offsets(&records) {
        for mask in [1u8, 2, 4, 8, 16, 32, 64, 128, 0xff] {
            let mut damaged = bundle.clone();
            damaged[at] ^= mask;
            let (read, end) = read_every_way(&damaged);
            assert!(end.is_err(), "byte {at} ^ {mask:#x} went unnoticed");
            // A record handed out before the damage showed is as written, or its entry
            // fails the check every import makes: never a wrong entry for a key.
            for (i, (fingerprint, entry)) in read.iter().enumerate() {
                let as_written = records.get(i) == Some(&(*fingerprint, entry.clone()));
                assert!(
                    as_written || entry::decode_checked(entry, fingerprint, None).is_err(),
                    "byte {at} ^ {mask:#x}: record {i} is a wrong entry"
                );
            }
        }
    }
}

#[test]
fn damage_to_entry_bytes_is_left_to_the_entry_check() {
    let records = entries(&[10]);
    let mut bundle = write(&records);
    let last_payload_byte = bundle.len() - END_LEN - 1;
    bundle[last_payload_byte] ^= 1;
    let (read, end) = read_every_way(&bundle);
    assert_eq!(end, Ok(1));
    assert_eq!(
        entry::decode_checked(&read[0].1, &read[0].0, None),
        Err(entry::Corrupt::PayloadChecksum)
    );
}

#[test]
fn dropped_and_reordered_records_are_detected() {
    let records = entries(&[5, 6, 7]);
    let bundle = write(&records);
    let record_len = |i: usize| RECORD_HEAD_LEN + records[i].1.len();
    let (a, b) = (HEADER_LEN, HEADER_LEN + record_len(0));
    let c = b + record_len(1);
    // Record 1 dropped: the end record counts three.
    let dropped = [&bundle[..b], &bundle[c..]].concat();
    assert_eq!(read_every_way(&dropped).1, Err(BundleError::EndMismatch));
    // Records 0 and 1 swapped: the same count and total, another order of heads.
    let swapped = [&bundle[..a], &bundle[b..c], &bundle[a..b], &bundle[c..]].concat();
    assert_eq!(read_every_way(&swapped).1, Err(BundleError::Checksum));
    // One record's head and entry both replaced by another's (its length kept).
    let mut foreign = bundle.clone();
    foreign[a + 1] ^= 1;
    assert_eq!(read_every_way(&foreign).1, Err(BundleError::Checksum));
}

#[test]
fn bytes_after_the_end_are_reported() {
    let bundle = write(&entries(&[3]));
    for extra in [&b"\0"[..], &HEADER, &bundle] {
        let long = [&bundle[..], extra].concat();
        let (read, end) = read_every_way(&long);
        assert_eq!((read.len(), end), (1, Err(BundleError::TrailingBytes)));
    }
}

#[test]
fn foreign_files_and_other_versions_are_named() {
    let (entry, _) = test_entry(1, b"not a bundle");
    assert_eq!(read_every_way(&entry).1, Err(BundleError::BadMagic));
    let mut bundle = write(&[]);
    bundle[8] = 2;
    assert_eq!(read_every_way(&bundle).1, Err(BundleError::UnknownVersion(2)));
    bundle[8] = 1;
    bundle[15] = 1;
    assert_eq!(read_every_way(&bundle).1, Err(BundleError::BadHeader));
    assert_eq!(&HEADER[..8], &MAGIC);
    assert_eq!(HEADER[8..10], FORMAT_VERSION.to_le_bytes());
}

/// A bundle's header and one record head saying `len` bytes of entry follow.
fn head_saying(len: u64) -> Vec<u8> {
    let mut bytes = HEADER.to_vec();
    bytes.push(KIND_ENTRY);
    bytes.extend_from_slice(&[9; 32]);
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes
}

#[test]
fn lengths_over_the_limit_are_rejected() {
    let fingerprint = Fingerprint::from_bytes([9; 32]);
    let mut writer = BundleWriter::new();
    assert_eq!(
        writer.record_head(&fingerprint, MAX_ENTRY_LEN + 1),
        Err(BundleError::EntryTooLong(MAX_ENTRY_LEN + 1))
    );
    assert!(writer.record_head(&fingerprint, MAX_ENTRY_LEN).is_ok());
    for len in [MAX_ENTRY_LEN + 1, u64::MAX] {
        assert_eq!(read_every_way(&head_saying(len)).1, Err(BundleError::EntryTooLong(len)));
    }
    // At the limit, a length is taken at its word until the input runs out.
    assert_eq!(
        read_every_way(&head_saying(MAX_ENTRY_LEN)).1,
        Err(BundleError::Truncated)
    );
}

#[test]
fn entry_buffers_grow_with_the_bytes_received() {
    let capacity = |reader: &BundleReader| match &reader.state {
        State::Entry { bytes, .. } => bytes.capacity(),
        _ => panic!("not in an entry"),
    };
    // A length field saying 1 GiB, and 1000 bytes of it: the buffer holds about those.
    let mut reader = BundleReader::new();
    assert_eq!(reader.feed(&mut &head_saying(1 << 30)[..]), Ok(None));
    for piece in [[5u8; 10], [6; 10]].iter().cycle().take(100) {
        assert_eq!(reader.feed(&mut &piece[..]), Ok(None));
    }
    assert!(
        capacity(&reader) <= 2000,
        "{} bytes held for 1000 received",
        capacity(&reader)
    );
    // Told the bundle's length, the reader allocates each entry once, at its length.
    let bundle = write(&raw_records([5000]));
    let mut reader = BundleReader::with_len(bundle.len() as u64);
    assert_eq!(reader.feed(&mut &bundle[..HEADER_LEN + RECORD_HEAD_LEN + 1]), Ok(None));
    assert_eq!(capacity(&reader), 5000);
    // And a length the bundle cannot hold is reported before anything is allocated.
    let mut reader = BundleReader::with_len(HEADER_LEN as u64 + 100);
    assert_eq!(reader.feed(&mut &head_saying(100)[..]), Err(BundleError::Truncated));
}

#[test]
fn errors_say_what_happened_and_convert() {
    let all = [
        BundleError::Truncated,
        BundleError::BadMagic,
        BundleError::UnknownVersion(3),
        BundleError::BadHeader,
        BundleError::BadKind(7),
        BundleError::EntryTooLong(1 << 41),
        BundleError::EndMismatch,
        BundleError::Checksum,
        BundleError::TrailingBytes,
        BundleError::OutOfMemory(1 << 30),
    ];
    for error in all {
        let message = alloc::format!("{error}");
        let converted = Error::from(error);
        let kind = if matches!(error, BundleError::OutOfMemory(_)) {
            ErrorKind::StorageFull
        } else {
            ErrorKind::InvalidBundle
        };
        assert_eq!((converted.kind(), converted.message()), (kind, &*message));
    }
    assert_eq!(alloc::format!("{}", BundleError::BadKind(7)).matches('7').count(), 1);
    assert_eq!(ErrorKind::InvalidBundle.name(), "InvalidBundle");
}

/// A bundle of a few small records, as proptest input.
fn small_bundle() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0..100usize, 0..5).prop_map(|sizes| write(&raw_records(sizes)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any split of a bundle into pieces reads the same records.
    #[test]
    fn random_splits_read_the_same(
        sizes in proptest::collection::vec(0..200usize, 0..12),
        splits in proptest::collection::vec(1..100usize, 1..20),
    ) {
        let records = raw_records(sizes);
        let bundle = write(&records);
        let expected = (records.clone(), Ok(records.len() as u64));
        prop_assert_eq!(read_pushed(&bundle, BundleReader::new(), &splits), expected.clone());
        let known = BundleReader::with_len(bundle.len() as u64);
        prop_assert_eq!(read_pushed(&bundle, known, &splits), expected);
    }

    /// Arbitrary bytes, with or without a valid header in front, never panic a reader,
    /// and both readers read them alike.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        with_header: bool,
        splits in proptest::collection::vec(1..50usize, 1..10),
        stated_len in proptest::option::of(any::<u64>()),
    ) {
        let input = if with_header { [&HEADER[..], &bytes].concat() } else { bytes };
        let slices = read_slices(&input);
        prop_assert_eq!(read_pushed(&input, BundleReader::new(), &splits), slices.clone());
        prop_assert!(slices.1.is_err() || input.len() >= HEADER_LEN + END_LEN);
        if let Some(len) = stated_len {
            // A wrong stated length may only turn the outcome into `Truncated` sooner.
            let known = read_pushed(&input, BundleReader::with_len(len), &splits);
            prop_assert!(agrees_when_told_len(&known, &slices));
        }
    }

    /// A valid bundle with a few bytes replaced, inserted or removed: never a panic, the
    /// readers agree, and a bundle read without error is one the writer wrote.
    #[test]
    fn edited_bundles_never_panic(
        bundle in small_bundle(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<u8>()), 1..4),
        splits in proptest::collection::vec(1..64usize, 1..5),
    ) {
        let mut input = bundle.clone();
        for (at, how, byte) in edits {
            let at = at.index(input.len() + 1);
            match how {
                0 if at < input.len() => input[at] = byte,
                1 => input.insert(at, byte),
                _ if at < input.len() => { input.remove(at); }
                _ => {}
            }
        }
        let slices = read_slices(&input);
        prop_assert_eq!(read_pushed(&input, BundleReader::new(), &splits), slices.clone());
        let known = read_pushed(&input, BundleReader::with_len(input.len() as u64), &splits);
        prop_assert!(agrees_when_told_len(&known, &slices));
        if slices.1.is_ok() {
            prop_assert_eq!(write(&slices.0), input);
        }
    }
}
