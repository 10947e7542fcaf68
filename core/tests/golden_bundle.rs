//! Golden tests of the bundle format (`docs/bundle-format.md`): the exact bytes the writer
//! produces, read back by both readers. Bundles travel between builds and machines, so
//! these bytes must never change within format version 1.
//!
//! The checksums were computed independently of this crate, from the layout in
//! `docs/bundle-format.md`, with the reference XXH3 library (`libxxhash` 0.8.1,
//! `XXH3_128bits`, low 64 bits first).

use stepcache_core::Fingerprint;
use stepcache_core::bundle::{self, BundleReader, BundleSlices, BundleWriter};

/// A bundle of two records: `b"abc"` under the fingerprint of 32 bytes 0x11, and an empty
/// entry under 32 bytes 0x22.
const GOLDEN_TWO_HEX: &str = concat!(
    // header: "STEPBNDL" | version 1 | 6 reserved zero bytes
    "53544550424e444c",
    "0100",
    "000000000000",
    // record: kind 1 | fingerprint | length 3 | entry "abc"
    "01",
    "1111111111111111111111111111111111111111111111111111111111111111",
    "0300000000000000",
    "616263",
    // record: kind 1 | fingerprint | length 0 | no entry bytes
    "01",
    "2222222222222222222222222222222222222222222222222222222222222222",
    "0000000000000000",
    // end: kind 0 | 2 records | 3 entry bytes | XXH3-128 of every framing byte before it
    "00",
    "0200000000000000",
    "0300000000000000",
    "7acb7f048ad3c80e96fd4a578bbac779",
);

/// A bundle of no records.
const GOLDEN_EMPTY_HEX: &str = concat!(
    "53544550424e444c0100000000000000",
    "00",
    "0000000000000000",
    "0000000000000000",
    "8ff3571e66ea52122748e5034b0257d2",
);

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn written(records: &[(Fingerprint, &[u8])]) -> Vec<u8> {
    let mut out = bundle::HEADER.to_vec();
    let mut writer = BundleWriter::new();
    for (fingerprint, entry) in records {
        out.extend_from_slice(
            &writer
                .record_head(fingerprint, entry.len() as u64)
                .expect("a short entry"),
        );
        out.extend_from_slice(entry);
    }
    out.extend_from_slice(&writer.finish());
    out
}

#[test]
fn golden_bundles_are_written_byte_for_byte() {
    let two: [(Fingerprint, &[u8]); 2] = [
        (Fingerprint::from_bytes([0x11; 32]), b"abc"),
        (Fingerprint::from_bytes([0x22; 32]), b""),
    ];
    assert_eq!(written(&two), hex(GOLDEN_TWO_HEX));
    assert_eq!(written(&[]), hex(GOLDEN_EMPTY_HEX));
    assert_eq!(
        (bundle::HEADER_LEN, bundle::RECORD_HEAD_LEN, bundle::END_LEN),
        (16, 41, 33)
    );
    assert_eq!(bundle::MAX_ENTRY_LEN, 1 << 40);
}

#[test]
fn golden_bundles_read_back() {
    let bytes = hex(GOLDEN_TWO_HEX);
    let read: Vec<(Fingerprint, &[u8])> = BundleSlices::new(&bytes)
        .collect::<Result<_, _>>()
        .expect("a valid bundle");
    assert_eq!(
        read,
        [
            (Fingerprint::from_bytes([0x11; 32]), &b"abc"[..]),
            (Fingerprint::from_bytes([0x22; 32]), &b""[..]),
        ]
    );
    let mut reader = BundleReader::new();
    let mut pushed = Vec::new();
    let mut input = &bytes[..];
    while let Some(record) = reader.feed(&mut input).expect("a valid bundle") {
        pushed.push(record);
    }
    assert_eq!(reader.finish(), Ok(2));
    assert_eq!(pushed[0], (Fingerprint::from_bytes([0x11; 32]), b"abc".to_vec()));
    assert_eq!(BundleSlices::new(&hex(GOLDEN_EMPTY_HEX)).count(), 0);
}
