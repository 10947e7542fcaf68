//! Provenance: what a key records of its arguments, the bounds on that record, and that
//! stored entries carry it back through `entries()` in a fresh cache.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use pollster::block_on;
use proptest::strategy::Strategy;
use stepcache_core::entry::{self, Head, LIST_HEAD_LEN};
use stepcache_core::provenance::{MADE_BY, MAX_ARGS_BYTES};
use stepcache_core::{
    Arg, ArgValue, Cache, Config, ElementType, Fingerprint, Key, KeyArgs, ManualClock, MemoryStore, Provenance,
    ProvenanceRecord, Step, Value,
};

#[test]
fn a_key_records_the_arguments_that_entered_it_in_name_order() {
    let t1 = Step::new("t1_map")
        .unwrap()
        .version(2)
        .ignore("verbose")
        .default_arg("b1_correction", false);
    let mask = [1u8, 0, 1, 1];
    let key = t1
        .key()
        .arg("tr_ms", 15.0)
        .arg("verbose", true)
        .arg("b1_correction", false)
        .arg("flip_deg", [2.0, 5.5])
        .arg("label", "phantom")
        .arg("raw", Arg::Bytes(vec![1, 2, 3]))
        .array("mask", &mask, &[2, 2])
        .lineage_parts("s0", Fingerprint::of_bytes(b"k"), Fingerprint::of_bytes(b"c"))
        .digest("atlas", Fingerprint::of_bytes(b"atlas"))
        .build()
        .unwrap();
    let args = key.args().unwrap();
    assert_eq!(args.version, 2);
    assert_eq!(args.omitted, 0);
    let names: Vec<&str> = args.args.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["atlas", "flip_deg", "label", "mask", "raw", "s0", "tr_ms"]);
    assert_eq!(
        args.get("tr_ms"),
        Some(&ArgValue::Int(15)),
        "an integral float is an integer"
    );
    assert_eq!(
        args.get("flip_deg"),
        Some(&ArgValue::List(vec![ArgValue::Int(2), ArgValue::Float(5.5)]))
    );
    let mask_fp = Fingerprint::of_array(ElementType::U8, &[2, 2], &mask);
    assert_eq!(
        args.get("mask"),
        Some(&ArgValue::Array {
            elem: ElementType::U8,
            shape: vec![2, 2],
            fingerprint: mask_fp,
        })
    );
    assert_eq!(
        args.get("atlas"),
        Some(&ArgValue::Digest(Fingerprint::of_bytes(b"atlas")))
    );
    assert_eq!(args.get("raw"), Some(&ArgValue::Bytes(vec![1, 2, 3])));
    assert!(matches!(args.get("s0"), Some(ArgValue::Lineage { .. })));
    assert_eq!(
        args.to_string(),
        format!(
            "atlas={}, flip_deg=[2, 5.5], label=\"phantom\", mask=u8[2x2] {mask_fp}, raw=<3 bytes>, s0=lineage {}, tr_ms=15",
            Fingerprint::of_bytes(b"atlas"),
            Fingerprint::of_bytes(b"k")
        )
    );
    // Equal keys whatever they carry: the fingerprint is the key.
    let bare = Key::from_parts("t1_map", *key.fingerprint()).unwrap();
    assert!(bare.args().is_none());
    assert_eq!(bare, key);
    assert_eq!(bare.with_encoded_args(key.encoded_args().unwrap()).args(), Some(args));
}

#[test]
fn arguments_past_the_byte_cap_are_left_out_in_name_order_and_counted() {
    let mut builder = Key::of("wide").arg("a_long", "é".repeat(1500)).arg("b_short", 1);
    for i in 0..40 {
        builder = builder.arg(&format!("c_{i:03}"), "x".repeat(30));
    }
    let key = builder.build().unwrap();
    let encoded = key.encoded_args().unwrap();
    assert!(encoded.len() <= MAX_ARGS_BYTES + 20, "{}", encoded.len());
    let args = key.args().unwrap();
    // The 3000-byte text does not fit: it and every argument after it are left out.
    assert_eq!(args.args.len(), 0);
    assert_eq!(args.omitted, 42);
    assert_eq!(args.to_string(), " (+42 more)");

    let mut builder = Key::of("wide").arg("a_long", "é".repeat(500)).arg("b_short", 1);
    for i in 0..40 {
        builder = builder.arg(&format!("c_{i:03}"), "x".repeat(30));
    }
    let args = builder.build().unwrap().args().unwrap();
    assert_eq!(args.get("a_long"), Some(&ArgValue::Text("é".repeat(500))), "kept whole");
    assert!(args.omitted > 0 && args.args.len() + args.omitted as usize == 42);
    assert_eq!(args.args.last().unwrap().name, format!("c_{:03}", args.args.len() - 3));

    // The header of such an entry still fits the head a store lists.
    let key = Key::of("wide").arg("a_long", "é".repeat(1000)).build().unwrap();
    let cache = Cache::new(MemoryStore::new(), ManualClock::new(1), Config::new()).unwrap();
    block_on(cache.put(&key, Value::array(vec![0f32; 4096], &[4096]).unwrap())).unwrap();
    let listed = block_on(stepcache_core::Store::list(cache.store())).unwrap();
    assert_eq!(listed[0].head.len(), LIST_HEAD_LEN);
    assert!(matches!(entry::decode_head(&listed[0].head), Ok(Head::Complete(..))));
}

#[test]
fn stored_entries_carry_their_provenance_into_a_fresh_cache() {
    let store = MemoryStore::new();
    let writer = Cache::new(store.clone(), ManualClock::new(1_000), Config::new()).unwrap();
    let step = Step::new("t1_map").unwrap().version(3);
    let key = step
        .key()
        .arg("tr_ms", 15)
        .arg("flip_deg", [2, 5, 10, 15])
        .build()
        .unwrap();
    let bare = Key::from_parts("t1_map", Fingerprint::of_bytes(b"elsewhere")).unwrap();
    let map = Value::array(vec![1.5f32; 16], &[4, 4]).unwrap();
    block_on(writer.put(&key, map.clone())).unwrap();
    block_on(writer.put(&bare, map)).unwrap();

    let reader = Cache::new(store, ManualClock::new(2_000), Config::new()).unwrap();
    let entries = block_on(reader.entries()).unwrap();
    let of = |k: &Key| entries.iter().find(|e| e.fingerprint == *k.fingerprint()).unwrap();
    let recorded = of(&key).provenance.decode();
    assert_eq!(recorded.made_by, MADE_BY);
    assert_eq!(recorded.args, key.args());
    assert_eq!(recorded.args.unwrap().to_string(), "flip_deg=[2, 5, 10, 15], tr_ms=15");
    assert_eq!(of(&bare).provenance.decode().made_by, MADE_BY);
    assert_eq!(of(&bare).provenance.decode().args, None);
    // Bytes that do not decode read as no provenance; so does every cut of a record.
    let whole = of(&key).provenance.as_bytes().to_vec();
    for len in 0..whole.len() {
        let cut = ProvenanceRecord::from_bytes(whole[..len].to_vec());
        assert_eq!(cut.decode(), Provenance::default(), "cut at {len}");
    }
    let mut longer = whole.clone();
    longer.push(0);
    assert_eq!(ProvenanceRecord::from_bytes(longer).decode(), Provenance::default());
}

/// What a key records of `arg`: the value itself, integral floats as integers.
fn expected(arg: &Arg) -> ArgValue {
    match arg {
        Arg::Bool(b) => ArgValue::Bool(*b),
        Arg::Int(i) => ArgValue::Int(*i),
        Arg::Float(x) if x.fract() == 0.0 && x.abs() < 1e30 => ArgValue::Int(*x as i128),
        Arg::Float(x) => ArgValue::Float(*x),
        Arg::Text(s) => ArgValue::Text(s.clone()),
        Arg::Bytes(b) => ArgValue::Bytes(b.clone()),
        Arg::List(items) => ArgValue::List(items.iter().map(expected).collect()),
        Arg::Array(fp) => ArgValue::Digest(*fp),
        Arg::Lineage { key, content } => ArgValue::Lineage {
            key: *key,
            content: *content,
        },
    }
}

fn scalar() -> impl Strategy<Value = Arg> {
    use proptest::prelude::*;
    prop_oneof![
        any::<bool>().prop_map(Arg::Bool),
        any::<i128>().prop_map(Arg::Int),
        (-1e12f64..1e12).prop_map(Arg::Float),
        (-1000i64..1000).prop_map(|i| Arg::Float(i as f64)),
        ".{0,40}".prop_map(Arg::Text),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Arg::Bytes),
        any::<[u8; 32]>().prop_map(|b| Arg::Array(Fingerprint::from_bytes(b))),
    ]
}

proptest::proptest! {
    /// Whatever the arguments, what a key records decodes to them, in name order, as
    /// many as fit, the rest counted; and any damage to a record never panics.
    #[test]
    fn recorded_arguments_read_back(
        args in proptest::collection::vec(
            proptest::prop_oneof![
                scalar(),
                proptest::collection::vec(
                    proptest::prop_oneof![scalar(), proptest::collection::vec(scalar(), 0..4).prop_map(Arg::List)],
                    0..20,
                )
                .prop_map(Arg::List),
            ],
            0..12,
        ),
        version in 0u32..5,
        flip in proptest::arbitrary::any::<(usize, u8)>(),
    ) {
        let step = Step::new("s").unwrap().version(version);
        let mut builder = step.key();
        for (i, arg) in args.iter().enumerate() {
            builder = builder.arg(&format!("a{i:02}"), arg.clone());
        }
        let key = builder.build().unwrap();
        let recorded = key.args().expect("a recorded key decodes");
        proptest::prop_assert_eq!(recorded.version, version);
        proptest::prop_assert_eq!(recorded.args.len() + recorded.omitted as usize, args.len());
        for (i, named) in recorded.args.iter().enumerate() {
            proptest::prop_assert_eq!(&named.name, &format!("a{i:02}"));
            proptest::prop_assert_eq!(&named.value, &expected(&args[i]));
        }
        let mut damaged = key.encoded_args().unwrap().to_vec();
        if !damaged.is_empty() {
            let at = flip.0 % damaged.len();
            damaged[at] ^= flip.1 | 1;
            let _ = KeyArgs::decode(&damaged);
        }
    }
}
