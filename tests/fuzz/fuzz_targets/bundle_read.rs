//! Any bytes as a bundle, fed in pieces of any size: never a panic, both readers read the
//! same records and end the same way, and a bundle read without error is exactly the one
//! the writer writes for those records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepcache_core::bundle::{self, BundleReader, BundleSlices, BundleWriter};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size, the rest is the input.
    let Some((&piece, input)) = data.split_first() else {
        return;
    };
    let mut slices = Vec::new();
    let mut slices_end = Ok(0);
    for record in BundleSlices::new(input) {
        match record {
            Ok(record) => slices.push(record),
            Err(error) => slices_end = Err(error),
        }
    }
    if slices_end.is_ok() {
        slices_end = Ok(slices.len() as u64);
    }

    let mut reader = BundleReader::new();
    let mut pushed = Vec::new();
    let mut pushed_end = None;
    'feed: for mut chunk in input.chunks(usize::from(piece) + 1) {
        loop {
            match reader.feed(&mut chunk) {
                Ok(Some(record)) => pushed.push(record),
                Ok(None) => break,
                Err(error) => {
                    pushed_end = Some(Err(error));
                    break 'feed;
                }
            }
        }
    }
    let pushed_end = pushed_end.unwrap_or_else(|| reader.finish());
    assert_eq!(pushed_end, slices_end, "both readers end alike");
    assert_eq!(pushed.len(), slices.len(), "both readers read the same records");
    for ((fp_a, entry_a), (fp_b, entry_b)) in pushed.iter().zip(&slices) {
        assert_eq!((fp_a, &entry_a[..]), (fp_b, *entry_b));
    }

    if slices_end.is_ok() {
        let mut out = bundle::HEADER.to_vec();
        let mut writer = BundleWriter::new();
        for (fingerprint, entry) in &slices {
            out.extend_from_slice(&writer.record_head(fingerprint, entry.len() as u64).expect("a read length"));
            out.extend_from_slice(entry);
        }
        out.extend_from_slice(&writer.finish());
        assert_eq!(out, input, "a valid bundle is the one the writer writes");
    }
});
