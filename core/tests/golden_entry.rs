//! Golden tests of the entry format: the exact bytes the encoder writes (version 3, and
//! version 4 for records), the released fixtures that must stay readable forever (versions
//! 1 to 4), and damage detection by `decode`.
//!
//! The hex literals and `fixtures/entry-v*.bin` were produced once by the build that
//! introduced each version and pasted in; the v2 checksums were cross-checked against the
//! reference XXH3 library (`libxxhash` 0.8.1). They must never change: entries already on
//! users' disks look exactly like this.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use stepcache_core::Fingerprint;
use stepcache_core::entry::{
    self, BlockTable, Codec, Corrupt, EntryHeader, FORMAT_VERSION, Head, MAGIC, PAYLOAD_ALIGN, PRELUDE_LEN,
    PayloadCheck,
};
use stepcache_core::{ElementType, Key, ProvenanceRecord, Step};

/// The released v1 entry (head + 16-byte payload) for [`golden_header_v1`].
const FIXTURE_V1: &[u8] = include_bytes!("fixtures/entry-v1.bin");
/// The released v2 entry (head + 16-byte payload) for [`golden_header_v2`].
const FIXTURE_V2: &[u8] = include_bytes!("fixtures/entry-v2.bin");
/// The released v3 entry (head + 16-byte payload) for [`golden_header`].
const FIXTURE_V3: &[u8] = include_bytes!("fixtures/entry-v3.bin");
/// The released v4 entry: [`golden_record`] under [`golden_header`]'s key and provenance.
const FIXTURE_V4: &[u8] = include_bytes!("fixtures/entry-v4.bin");

/// The exact bytes version 1 wrote for [`golden_header_v1`]: prelude (32), postcard
/// header (89 = 0x59), zero padding to 128.
const GOLDEN_HEAD_V1_HEX: &str = concat!(
    // magic "STEPCACH" | version 1 | reserved 0 | header length 0x59 (89)
    "5354455043414348",
    "0100",
    "0000",
    "59000000",
    // first 16 bytes of blake3(header)
    "814169f014896e08bab44b00592fb712",
    // postcard header: key (32 raw bytes)
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    // step "t1_map" | created_ms varint | cost_us varint (1234)
    "0674315f6d6170",
    "80b883a1f732",
    "d209",
    // elem F32 (9) | shape [2, 2] | codec Raw | raw_len 16 | payload_len 16
    "09",
    "020202",
    "00",
    "10",
    "10",
    // payload_hash (32 bytes)
    "073774334669ea442864e2fee8de793462562b9dc2248d53dcbd1d3a8e70f91d",
    // meta b"{}" | zero padding to 128
    "027b7d",
    "00000000000000",
);

/// The exact bytes version 2 wrote for [`golden_header_v2`]: prelude (32), postcard
/// header (76 = 0x4c), zero padding to 128.
const GOLDEN_HEAD_V2_HEX: &str = concat!(
    // magic "STEPCACH" | version 2 | reserved 0 | header length 0x4c (76)
    "5354455043414348",
    "0200",
    "0000",
    "4c000000",
    // XXH3-128 of the header, little-endian
    "2151c504f58c5f404b8c6c6374e101ea",
    // postcard header: key as a byte string (length 32, then the 32 bytes)
    "20",
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    // step "t1_map" | created_ms varint | cost_us varint (1234)
    "0674315f6d6170",
    "80b883a1f732",
    "d209",
    // elem F32 (9) | shape [2, 2] | codec Raw | raw_len 16 | payload_len 16
    "09",
    "020202",
    "00",
    "10",
    "10",
    // payload_check: Xxh3 (1) | byte string of 16: XXH3-128 of the payload, little-endian
    "01",
    "10",
    "c39daa473507b3e37c9c70d3caafab2b",
    // meta b"{}" as a byte string | zero padding to 128
    "027b7d",
    "0000000000000000000000000000000000000000",
);

/// The exact bytes `encode_head` writes for [`golden_header`] (version 3): prelude (32),
/// header (336 = 0x150): postcard fields, then the provenance record; zero padding to 384.
const GOLDEN_HEAD_HEX: &str = concat!(
    // magic "STEPCACH" | version 3 | reserved 0 | header length 0x150 (336)
    "5354455043414348",
    "0300",
    "0000",
    "50010000",
    // XXH3-128 of the header, little-endian
    "b1219bdf8f091f5a7f072af6fe229b76",
    // the postcard fields, as version 2 wrote them (see GOLDEN_HEAD_V2_HEX):
    "20",
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "0674315f6d6170",
    "80b883a1f732",
    "d209",
    "09",
    "020202",
    "00",
    "10",
    "10",
    "01",
    "10",
    "c39daa473507b3e37c9c70d3caafab2b",
    "027b7d",
    // the provenance record, to the end of the header: made_by as text (u64 LE length,
    // "stepcache 0.1.0") | arguments recorded (1) | step version 2 (u32 LE) | 4 arguments
    "0f00000000000000",
    "73746570636163686520302e312e30",
    "01",
    "02000000",
    "0400000000000000",
    // "flip_deg" as the key hashes it: text, then list (5) of 4 integers (1, i128 LE)
    "0800000000000000",
    "666c69705f646567",
    "05",
    "0400000000000000",
    "0102000000000000000000000000000000",
    "0105000000000000000000000000000000",
    "010a000000000000000000000000000000",
    "010f000000000000000000000000000000",
    // "label": text "phantom" (3)
    "0500000000000000",
    "6c6162656c",
    "03",
    "0700000000000000",
    "7068616e746f6d",
    // "mask": array digest (6), then its layout: 1 | u8 (1) | 2 dimensions | 2 | 2 (u64 LE)
    "0400000000000000",
    "6d61736b",
    "06",
    "69b67bb928d10552446ead08af87c0c2b23060f2618ccb1697155dcc177dc538",
    "01",
    "01",
    "02",
    "0200000000000000",
    "0200000000000000",
    // "tr_ms": integer 15 | 0 arguments left out (u64 LE)
    "0500000000000000",
    "74725f6d73",
    "01",
    "0f000000000000000000000000000000",
    "0000000000000000",
    // zero padding to 384
    "00000000000000000000000000000000",
);

/// Where the golden entry's header ends and its padding begins.
const GOLDEN_HEADER_END: usize = PRELUDE_LEN + 336;

/// The payload: the 2x2 `f32` map `[[1, 2], [3, 4]]`, little-endian.
fn payload() -> Vec<u8> {
    [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// The key fingerprint of the golden entry: bytes 0, 1, ..., 31.
fn golden_key() -> Fingerprint {
    Fingerprint::from_bytes(core::array::from_fn(|i| i as u8))
}

/// The provenance record of the golden entry, as "stepcache 0.1.0" wrote it for a key of
/// step version 2 with a list, a text, an array and an integral float argument.
fn golden_provenance() -> ProvenanceRecord {
    let key = Step::new("t1_map")
        .unwrap()
        .version(2)
        .key()
        .arg("flip_deg", [2, 5, 10, 15])
        .arg("label", "phantom")
        .array("mask", &[1u8, 0, 1, 1], &[2, 2])
        .arg("tr_ms", 15.0)
        .build()
        .unwrap();
    let mut record = Vec::new();
    record.extend_from_slice(&15u64.to_le_bytes());
    record.extend_from_slice(b"stepcache 0.1.0");
    record.push(1);
    record.extend_from_slice(key.encoded_args().unwrap());
    ProvenanceRecord::from_bytes(record)
}

/// The header the version 3 goldens are built from.
fn golden_header() -> EntryHeader {
    EntryHeader {
        provenance: golden_provenance(),
        ..golden_header_v2()
    }
}

/// The header the version 2 fixture decodes to: the same, without provenance.
fn golden_header_v2() -> EntryHeader {
    let payload = payload();
    EntryHeader {
        key: golden_key(),
        step: "t1_map".into(),
        created_ms: 1_750_000_000_000,
        cost_us: 1234,
        elem: ElementType::F32,
        shape: vec![2, 2],
        codec: Codec::Raw,
        raw_len: 16,
        payload_len: 16,
        payload_check: PayloadCheck::of(&payload),
        meta: b"{}".to_vec(),
        provenance: ProvenanceRecord::default(),
        blocks: BlockTable::default(),
    }
}

/// The header the version 1 fixture decodes to: version 2's, with its blake3 payload digest.
fn golden_header_v1() -> EntryHeader {
    EntryHeader {
        payload_check: PayloadCheck::Blake3(Fingerprint::of_bytes(&payload())),
        ..golden_header_v2()
    }
}

/// The whole golden entry: encoded head followed by the payload.
fn golden_entry() -> Vec<u8> {
    let mut bytes = entry::encode_head(&golden_header());
    bytes.extend_from_slice(&payload());
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn golden_head_hex() -> String {
    GOLDEN_HEAD_HEX.to_owned()
}

// ---------------------------------------------------------------------------------------
// The bytes of format v3.
// ---------------------------------------------------------------------------------------

/// `encode_head` writes exactly the pinned v3 bytes.
#[test]
fn golden_head_bytes() {
    assert_eq!(hex(&entry::encode_head(&golden_header())), golden_head_hex());
}

/// The head is padded to a multiple of 64, starts with the magic and version 3, carries the
/// header length and its XXH3-128, and the reserved bytes and padding are zero.
#[test]
fn head_layout() {
    let head = entry::encode_head(&golden_header());
    assert_eq!(head.len(), 384);
    assert_eq!(head.len() % PAYLOAD_ALIGN, 0);
    assert_eq!(head[..8], MAGIC);
    assert_eq!(&MAGIC, b"STEPCACH");
    assert_eq!(
        FORMAT_VERSION, 5,
        "the newest version, written for payloads of several blocks"
    );
    assert_eq!(entry::version_of(&golden_header()), 3);
    assert_eq!(head[8..10], 3u16.to_le_bytes());
    assert_eq!(head[10..12], [0, 0]);
    let header_len = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
    assert_eq!(PRELUDE_LEN + header_len, GOLDEN_HEADER_END);
    let body = &head[PRELUDE_LEN..PRELUDE_LEN + header_len];
    assert_eq!(head[16..32], twox_hash::XxHash3_128::oneshot(body).to_le_bytes());
    assert!(head[PRELUDE_LEN + header_len..].iter().all(|&b| b == 0));
}

/// The head length is a multiple of 64 for every metadata size (payload stays aligned).
#[test]
fn head_is_always_64_byte_aligned() {
    for meta_len in 0..300 {
        let header = EntryHeader {
            meta: vec![b'x'; meta_len],
            ..golden_header()
        };
        let head = entry::encode_head(&header);
        assert_eq!(head.len(), entry::head_len(&header), "meta {meta_len}");
        assert_eq!(head.len() % PAYLOAD_ALIGN, 0, "meta {meta_len}");
        assert!(head.len() >= PRELUDE_LEN + meta_len);
        match entry::decode_head(&head).unwrap() {
            Head::Complete(decoded, range) => {
                assert_eq!(decoded, header);
                assert_eq!(range, head.len()..head.len() + 16);
            }
            Head::NeedBytes(n) => panic!("a whole head needs {n} bytes"),
        }
    }
}

/// `decode_head` and `decode` give back the header and the payload's range.
#[test]
fn round_trip() {
    let bytes = golden_entry();
    assert_eq!(bytes.len(), 400);
    assert_eq!(
        entry::decode_head(&bytes).unwrap(),
        Head::Complete(golden_header(), 384..400)
    );
    // The head alone is enough for `decode_head` (stores list only leading bytes).
    assert_eq!(
        entry::decode_head(&bytes[..384]).unwrap(),
        Head::Complete(golden_header(), 384..400)
    );
    // Fewer bytes than the header: it asks for the whole head.
    assert_eq!(entry::decode_head(&bytes[..40]).unwrap(), Head::NeedBytes(384));
    let (header, range) = entry::decode(&bytes, &golden_key()).unwrap();
    assert_eq!(header, golden_header());
    assert_eq!(&bytes[range], payload().as_slice());
}

// ---------------------------------------------------------------------------------------
// The released fixture.
// ---------------------------------------------------------------------------------------

/// The released v1 fixture decodes, with the expected header (blake3 payload digest) and
/// payload. If this fails, entries written by released versions have become unreadable.
#[test]
fn released_v1_fixture_stays_readable() {
    assert_eq!(hex(&FIXTURE_V1[..128]), GOLDEN_HEAD_V1_HEX);
    let (header, range) = entry::decode(FIXTURE_V1, &golden_key()).unwrap();
    assert_eq!(header, golden_header_v1());
    assert_eq!(range, 128..144);
    assert_eq!(&FIXTURE_V1[range], payload().as_slice());
    assert_eq!(
        entry::decode_head(&FIXTURE_V1[..128]).unwrap(),
        Head::Complete(golden_header_v1(), 128..144)
    );
}

/// Every single-byte flip in every released fixture is still detected (version 1's
/// blake3 checks run; a version byte flipped between 2 and 3 leaves a header of the
/// other version, which does not decode).
#[test]
fn released_fixture_flips_are_detected() {
    for (version, fixture) in [(1, FIXTURE_V1), (2, FIXTURE_V2), (3, FIXTURE_V3)] {
        for pos in 0..fixture.len() {
            let mut bytes = fixture.to_vec();
            bytes[pos] ^= 0x01;
            assert!(
                entry::decode(&bytes, &golden_key()).is_err(),
                "version {version}: flip at {pos} went unnoticed"
            );
        }
    }
}

/// The released v2 fixture decodes, with an empty provenance.
#[test]
fn released_v2_fixture_stays_readable() {
    let (header, range) = entry::decode(FIXTURE_V2, &golden_key()).unwrap();
    assert_eq!(header, golden_header_v2());
    assert_eq!(range, 128..144);
    let values: Vec<f32> = FIXTURE_V2[range]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(hex(&FIXTURE_V2[..128]), GOLDEN_HEAD_V2_HEX);
}

/// The released v3 fixture decodes, and today's encoder still writes it byte for byte.
#[test]
fn released_v3_fixture_stays_readable() {
    let (header, range) = entry::decode(FIXTURE_V3, &golden_key()).unwrap();
    assert_eq!(header, golden_header());
    assert_eq!(&FIXTURE_V3[range], payload().as_slice());
    assert_eq!(hex(&FIXTURE_V3[..384]), golden_head_hex());
    assert_eq!(FIXTURE_V3, golden_entry().as_slice());
}

/// The record of the v4 fixture: the golden 2x2 map and a 4-byte mask, in that order.
fn golden_record() -> stepcache_core::Value {
    stepcache_core::Value::record([
        (
            "t1",
            stepcache_core::Value::array(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap(),
        ),
        ("mask", stepcache_core::Value::array(vec![1u8, 0, 1, 1], &[4]).unwrap()),
    ])
    .unwrap()
}

/// The whole v4 golden entry: the golden header's key, times and provenance over
/// [`golden_record`]'s bytes.
fn golden_record_entry() -> Vec<u8> {
    let record = golden_record();
    let data = record.data().to_vec();
    let header = EntryHeader {
        elem: ElementType::Record,
        shape: record.shape().to_vec(),
        raw_len: data.len() as u64,
        payload_len: data.len() as u64,
        payload_check: PayloadCheck::of(&data),
        ..golden_header()
    };
    let mut bytes = entry::encode_head(&header);
    bytes.extend_from_slice(&data);
    bytes
}

/// The released v4 fixture (a record) decodes to its parts, today's encoder writes it byte
/// for byte, and every single-bit flip of it is detected.
#[test]
fn released_v4_fixture_stays_readable() {
    assert_eq!(FIXTURE_V4[8..10], 4u16.to_le_bytes());
    assert_eq!(FIXTURE_V4, golden_record_entry().as_slice());
    let (header, range) = entry::decode(FIXTURE_V4, &golden_key()).unwrap();
    assert_eq!(
        (header.elem, &header.provenance),
        (ElementType::Record, &golden_provenance())
    );
    let record = stepcache_core::Value::new(ElementType::Record, header.shape, FIXTURE_V4[range].to_vec()).unwrap();
    assert_eq!(record, golden_record());
    let parts = record.parts().unwrap();
    assert_eq!(parts[0].1.as_slice::<f32>().unwrap(), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(parts[1].1.as_slice::<u8>().unwrap(), [1, 0, 1, 1]);
    for pos in 0..FIXTURE_V4.len() {
        for bit in 0..8 {
            let mut bytes = FIXTURE_V4.to_vec();
            bytes[pos] ^= 1 << bit;
            assert!(
                entry::decode(&bytes, &golden_key()).is_err(),
                "flip of bit {bit} at byte {pos}"
            );
        }
    }
}

/// The payload checksum is the standard XXH3-128 (seed 0): vectors from the reference C
/// library (`XXH3_128bits`, libxxhash 0.8.1), as `u128` little-endian bytes.
#[test]
fn payload_check_is_reference_xxh3_128() {
    let cases: [(Vec<u8>, &str); 3] = [
        (Vec::new(), "7f498d4624c30160d8984701d306aa99"),
        (payload(), "c39daa473507b3e37c9c70d3caafab2b"),
        (
            (0..=255u8).cycle().take(1024).collect(),
            "228d398429f970a80c64b63b855e8883",
        ),
    ];
    for (bytes, want) in cases {
        let PayloadCheck::Xxh3(got) = PayloadCheck::of(&bytes) else {
            panic!("this build writes XXH3 checksums");
        };
        assert_eq!(hex(&got), want, "{} bytes", bytes.len());
    }
    let long: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(
        PayloadCheck::of(&long),
        PayloadCheck::Xxh3(0x70227b16fd5f74ef17a701075a95b432u128.to_le_bytes())
    );
}

// ---------------------------------------------------------------------------------------
// Damage detection.
// ---------------------------------------------------------------------------------------

/// Flips `mask` into byte `pos` and decodes.
fn decode_flipped(pos: usize, mask: u8) -> Result<(EntryHeader, core::ops::Range<usize>), Corrupt> {
    let mut bytes = golden_entry();
    bytes[pos] ^= mask;
    entry::decode(&bytes, &golden_key())
}

/// Every single-byte flip is an error, and the error names the region: magic, version,
/// reserved bytes, header length / checksum / body, padding, payload.
#[test]
fn byte_flips_in_verified_regions_are_detected() {
    let len = golden_entry().len();
    for pos in 0..len {
        for mask in [0x01, 0x80, 0xff] {
            let err = decode_flipped(pos, mask).expect_err(&format!("flip {mask:#04x} at byte {pos} went unnoticed"));
            match pos {
                0..8 => assert_eq!(err, Corrupt::BadMagic, "byte {pos}"),
                8..10 => assert!(
                    matches!(err, Corrupt::UnknownVersion(v) if v != 3)
                        || err == Corrupt::HeaderChecksum
                        || err == Corrupt::BadHeader,
                    "byte {pos}: {err:?}"
                ),
                10..12 => assert_eq!(err, Corrupt::BadHeader, "reserved byte {pos}"),
                12..16 => {} // header length: checksum, truncation or bad header, by value
                16..GOLDEN_HEADER_END => assert_eq!(err, Corrupt::HeaderChecksum, "byte {pos}"),
                GOLDEN_HEADER_END..384 => assert_eq!(err, Corrupt::BadHeader, "padding byte {pos}"),
                _ => assert_eq!(err, Corrupt::PayloadChecksum, "byte {pos}"),
            }
        }
    }
}

/// Every single-byte flip anywhere in the entry (head + payload) is an error.
#[test]
fn every_byte_flip_is_detected() {
    let len = golden_entry().len();
    let missed: Vec<usize> = (0..len).filter(|&pos| decode_flipped(pos, 0xff).is_ok()).collect();
    assert!(
        missed.is_empty(),
        "flips at these byte positions went unnoticed: {missed:?}"
    );
}

/// Every truncation (0 to len-1 bytes) is an error, and it is reported as truncation.
#[test]
fn every_truncation_is_detected() {
    let bytes = golden_entry();
    for cut in 0..bytes.len() {
        assert_eq!(
            entry::decode(&bytes[..cut], &golden_key()),
            Err(Corrupt::Truncated),
            "cut at {cut}"
        );
    }
}

/// One appended byte (of any value) is an error: trailing bytes.
#[test]
fn appended_byte_is_detected() {
    for extra in [0u8, 1, 0xff] {
        let mut bytes = golden_entry();
        bytes.push(extra);
        assert_eq!(entry::decode(&bytes, &golden_key()), Err(Corrupt::TrailingBytes));
    }
    let mut bytes = golden_entry();
    bytes.extend_from_slice(&[0; 64]);
    assert_eq!(entry::decode(&bytes, &golden_key()), Err(Corrupt::TrailingBytes));
}

/// A valid entry read under another key is rejected as belonging to another key.
#[test]
fn wrong_key_is_detected() {
    let other = *Key::of("t1_map").build().unwrap().fingerprint();
    assert_eq!(entry::decode(&golden_entry(), &other), Err(Corrupt::WrongKey));
    let mut near = *golden_key().as_bytes();
    near[31] ^= 1;
    assert_eq!(
        entry::decode(&golden_entry(), &Fingerprint::from_bytes(near)),
        Err(Corrupt::WrongKey)
    );
}

/// An entry claiming format version 6 is an unknown version, from `decode` and
/// `decode_head`; a v3 entry relabelled as v5 fails v5's header checksum (which covers the
/// version); a v3 entry relabelled as v4 is a bad header (version 4 holds records
/// alone), and a record relabelled as v3 too; a v3 entry relabelled as v2 is a bad header
/// (its provenance is bytes a v2 header does not have), and as v1 fails v1's header
/// checksum.
#[test]
fn version_6_is_unknown() {
    let mut bytes = golden_entry();
    bytes[8..10].copy_from_slice(&6u16.to_le_bytes());
    assert_eq!(entry::decode(&bytes, &golden_key()), Err(Corrupt::UnknownVersion(6)));
    assert_eq!(entry::decode_head(&bytes), Err(Corrupt::UnknownVersion(6)));
    bytes[8..10].copy_from_slice(&5u16.to_le_bytes());
    assert_eq!(entry::decode_head(&bytes), Err(Corrupt::HeaderChecksum));
    bytes[8..10].copy_from_slice(&4u16.to_le_bytes());
    assert_eq!(entry::decode_head(&bytes), Err(Corrupt::BadHeader));
    let mut record = golden_record_entry();
    record[8..10].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(entry::decode_head(&record), Err(Corrupt::BadHeader));
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(entry::decode_head(&bytes), Err(Corrupt::BadHeader));
    let empty = EntryHeader {
        provenance: ProvenanceRecord::default(),
        ..golden_header()
    };
    let mut bytes = entry::encode_head(&empty);
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(
        entry::decode_head(&bytes),
        Err(Corrupt::BadHeader),
        "even with no provenance"
    );
    // And a v2 entry relabelled as v3 lacks the provenance every v3 header ends with.
    let mut v2 = FIXTURE_V2.to_vec();
    v2[8..10].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(entry::decode_head(&v2), Err(Corrupt::BadHeader));
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    assert_eq!(entry::decode_head(&bytes), Err(Corrupt::HeaderChecksum));
    bytes[8..10].copy_from_slice(&0u16.to_le_bytes());
    assert_eq!(entry::decode_head(&bytes), Err(Corrupt::UnknownVersion(0)));
}

/// Headers whose fields disagree are rejected even with a valid checksum: a Raw payload
/// whose stored length differs from its raw length, or a shape that does not fit raw_len.
#[test]
fn inconsistent_headers_are_bad() {
    let raw_mismatch = EntryHeader {
        payload_len: 12,
        ..golden_header()
    };
    assert_eq!(
        entry::decode_head(&entry::encode_head(&raw_mismatch)),
        Err(Corrupt::BadHeader)
    );
    let bad_shape = EntryHeader {
        shape: vec![3, 2],
        ..golden_header()
    };
    assert_eq!(
        entry::decode_head(&entry::encode_head(&bad_shape)),
        Err(Corrupt::BadHeader)
    );
}

/// The hasher for checksums computed piece by piece (while a store writes or reads) agrees
/// with the one-shot checksum, for both algorithms, however the payload is cut.
#[test]
fn payload_hasher_matches_one_shot() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let blake = PayloadCheck::Blake3(Fingerprint::of_bytes(&data));
    for one_shot in [PayloadCheck::of(&data), blake] {
        for cut in [1, 63, 1024, 4096, 100_000] {
            let mut hasher = entry::PayloadHasher::like(&one_shot);
            data.chunks(cut).for_each(|piece| hasher.update(piece));
            assert_eq!(hasher.finish(), one_shot, "pieces of {cut}");
        }
    }
    assert!(PayloadCheck::of(&data).matches(&data));
    assert!(blake.matches(&data));
    assert!(!PayloadCheck::of(&data).matches(&data[1..]));
}

/// A checksum computed by the reader replaces the decoder's own: it must equal the header's.
#[test]
fn decode_checked_trusts_only_a_matching_checksum() {
    let bytes = golden_entry();
    let right = PayloadCheck::of(&payload());
    assert!(entry::decode_checked(&bytes, &golden_key(), Some(right)).is_ok());
    let wrong = PayloadCheck::of(b"something else");
    assert_eq!(
        entry::decode_checked(&bytes, &golden_key(), Some(wrong)),
        Err(Corrupt::PayloadChecksum)
    );
    let other_kind = PayloadCheck::Blake3(Fingerprint::of_bytes(&payload()));
    assert_eq!(
        entry::decode_checked(&bytes, &golden_key(), Some(other_kind)),
        Err(Corrupt::PayloadChecksum)
    );
}

/// The payload of the version 5 golden: one block and 64 bytes more, of `u8`.
fn two_block_payload() -> Vec<u8> {
    (0..entry::BLOCK_LEN + 64).map(|i| (i % 251) as u8).collect()
}

/// The header of the version 5 golden: [`golden_header`]'s, over [`two_block_payload`].
fn golden_header_v5() -> EntryHeader {
    let payload = two_block_payload();
    EntryHeader {
        elem: ElementType::U8,
        shape: vec![payload.len() as u64],
        raw_len: payload.len() as u64,
        payload_len: payload.len() as u64,
        payload_check: PayloadCheck::of(&payload),
        ..golden_header()
    }
}

/// The head version 5 writes for [`golden_header_v5`]: [`GOLDEN_HEAD_HEX`]'s fields with
/// the new element type and lengths, then the block table (the XXH3-128 of each block),
/// then the same provenance. The two block checksums (`ff108c6b...` and `38d58e78...`)
/// were cross-checked against the reference XXH3 library (Python's `xxhash` 3.6).
const GOLDEN_HEAD_V5_HEX: &str = concat!(
    // magic "STEPCACH" | version 5 | reserved 0 | header length 0x175 (373)
    "5354455043414348",
    "0500",
    "0000",
    "75010000",
    // XXH3-128 of the prelude's first 16 bytes and the header
    "9584b711c6025a553459ad51ba6c6c22",
    // the fields, as version 3 writes them
    "20000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0674315f6d617080b883a1f732d2090101c0804000c08040c08040011050e11aafee3d37e18c59d480f52770d9027b7d",
    // the block table: XXH3-128 of bytes 0..1 MiB, then of the last 64
    "ff108c6bc37a0d6ebaab8c09988d7353",
    "38d58e78daac28ad72c45b0cd0af3974",
    // the provenance record, then zero padding to 448
    "0f0000000000000073746570636163686520302e312e30010200000004000000000000000800000000000000666c69705f64656705040000000000000001020000000000000000000000000000000105000000000000000000000000000000010a000000000000000000000000000000010f00000000000000000000000000000005000000000000006c6162656c0307000000000000007068616e746f6d04000000000000006d61736b0669b67bb928d10552446ead08af87c0c2b23060f2618ccb1697155dcc177dc53801010202000000000000000200000000000000050000000000000074725f6d73010f",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
);

/// A raw payload of more than one block is written as version 5, with the checksum of each
/// block (the reference XXH3-128 of its bytes) between the fields and the provenance, and
/// the prelude's first 16 bytes under the header checksum; the bytes are pinned.
#[test]
fn version_5_head_layout() {
    let payload = two_block_payload();
    let header = golden_header_v5();
    assert_eq!(entry::block_count(&header), 2);
    assert_eq!(entry::version_of(&header), 5);
    let (bytes, check) = entry::EntryWriter::new(&header, &payload).to_bytes().unwrap();
    assert_eq!(check, header.payload_check);
    let Head::Complete(decoded, range) = entry::decode_head(&bytes).unwrap() else {
        panic!("the whole entry holds its head");
    };
    let table: Vec<u8> = payload
        .chunks(entry::BLOCK_LEN)
        .flat_map(|b| twox_hash::XxHash3_128::oneshot(b).to_le_bytes())
        .collect();
    let expected = BlockTable::of(&payload);
    assert_eq!(expected.as_bytes(), table);
    assert_eq!(expected.len(), 2);
    assert!(expected.matches(1, &payload[entry::BLOCK_LEN..]));
    assert!(!expected.matches(0, &payload[1..entry::BLOCK_LEN + 1]));
    assert!(!expected.matches(2, &[]));
    assert_eq!(decoded.blocks, expected);
    assert_eq!(
        decoded,
        EntryHeader {
            blocks: expected.clone(),
            ..header.clone()
        }
    );
    assert_eq!(&bytes[range.clone()], &payload[..]);
    let head = &bytes[..range.start];
    assert_eq!(head[8..10], 5u16.to_le_bytes());
    let header_len = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
    let mut hasher = twox_hash::XxHash3_128::new();
    hasher.write(&head[..16]);
    hasher.write(&head[PRELUDE_LEN..PRELUDE_LEN + header_len]);
    assert_eq!(head[16..32], hasher.finish_128().to_le_bytes());
    let body = &head[PRELUDE_LEN..PRELUDE_LEN + header_len];
    let at = body.windows(32).position(|w| w == table).unwrap();
    assert_eq!(
        &body[at + 32..],
        golden_provenance().as_bytes(),
        "the table, then the provenance"
    );
    assert_eq!(hex(head), GOLDEN_HEAD_V5_HEX);
    assert_eq!(entry::decode(&bytes, &header.key).map(|(h, _)| h.blocks), Ok(expected));
}

/// Which entries carry a block table: raw arrays of more than one block; never a payload
/// of one block or less, or a compressed one. A version 5 head relabelled as version 3
/// does not decode.
#[test]
fn only_raw_payloads_of_several_blocks_have_blocks() {
    let header = golden_header_v5();
    let one_block = EntryHeader {
        payload_len: entry::BLOCK_LEN as u64,
        raw_len: entry::BLOCK_LEN as u64,
        shape: vec![entry::BLOCK_LEN as u64],
        ..header.clone()
    };
    assert_eq!(entry::block_count(&one_block), 0);
    assert_eq!(entry::version_of(&one_block), 3);
    let packed = EntryHeader {
        codec: Codec::ShuffleLz4,
        payload_len: 100,
        ..header.clone()
    };
    assert_eq!(entry::block_count(&packed), 0);
    let payload = two_block_payload();
    let (mut bytes, _) = entry::EntryWriter::new(&header, &payload).to_bytes().unwrap();
    bytes[8..10].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(entry::decode_head(&bytes), Err(Corrupt::HeaderChecksum));
}

/// The head a store makes from pieces fed to the entry's hasher as it writes them is the
/// head of one-shot checksums, however the payload is cut: pieces across block
/// boundaries, of one byte, of exactly a block.
#[test]
fn entry_hasher_cuts_blocks_like_the_one_shot_table() {
    let payload: Vec<u8> = (0..2 * entry::BLOCK_LEN + 4097).map(|i| (i * 13 % 256) as u8).collect();
    let header = EntryHeader {
        shape: vec![payload.len() as u64],
        raw_len: payload.len() as u64,
        payload_len: payload.len() as u64,
        ..golden_header_v5()
    };
    let writer = entry::EntryWriter::new(&header, &payload);
    let expected = writer.head(PayloadCheck::of(&payload)).unwrap();
    for piece in [
        1 << 21,
        entry::BLOCK_LEN,
        entry::BLOCK_LEN - 1,
        entry::BLOCK_LEN + 1,
        4096,
        777_777,
    ] {
        let mut hasher = writer.hasher();
        for part in writer.pieces(piece) {
            hasher.update(part);
        }
        let (head, check) = writer.head_from(hasher).unwrap();
        assert_eq!(check, PayloadCheck::of(&payload), "pieces of {piece}");
        assert_eq!(head, expected, "pieces of {piece}");
    }
    // An entry without a table: the same head as `head` too.
    let small = golden_header();
    let bytes = self::payload();
    let writer = entry::EntryWriter::new(&small, &bytes);
    let mut hasher = writer.hasher();
    hasher.update(&bytes);
    assert_eq!(writer.head_from(hasher).unwrap().0, entry::encode_head(&small));
}
