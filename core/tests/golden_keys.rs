//! Golden tests of the key fingerprint format (key format v2) and its documented behaviour.
//!
//! Every `b3:` literal below must NEVER change: a different value means every key any
//! user ever stored is silently orphaned (a cache miss for every entry). If one fails, the
//! change to keys or fingerprints is the bug, not the literal; a deliberate format change
//! needs a new key context and new goldens.
//!
//! How the literals were produced: `golden_keys.py` (next to this file) implements the
//! documented encoding independently in Python with the reference `blake3` and `xxhash`
//! packages and no stepcache code; its output was pasted in, and
//! `python3 core/tests/golden_keys.py --check` confirms that each value it computes
//! appears here (run it by hand; its docstring says how to install the two packages).

use stepcache_core::{
    Arg, ElementType, ErrorKind, Fingerprint, Hit, Key, MAX_LIST_DEPTH, Source, Step, StepArg, Value,
};

/// The 2x2 `f32` map `[[1, 2], [3, 4]]` as little-endian bytes: the array in the goldens.
fn map_bytes() -> Vec<u8> {
    [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// The key of step `t1_map`, version 0, no arguments: the input of the lineage golden.
fn base_key() -> Key {
    Key::of("t1_map").build().expect("a valid key")
}

/// The value whose content identity the lineage goldens bind: the 2x2 map with metadata.
fn map_value() -> Value {
    Value::array(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])
        .expect("a valid value")
        .with_meta(&br#"{"units":"ms"}"#[..])
}

/// A hit of `map_value()` under `base_key()`, as the engine returns it.
fn map_hit() -> Hit {
    let value = map_value();
    Hit {
        fingerprint: *base_key().fingerprint(),
        content: value.content(),
        value,
        source: Source::Computed,
        created_ms: 0,
        cost_us: 0,
        stored: None,
    }
}

/// Builds the key and returns the text form of its fingerprint.
fn fp(key: Key) -> String {
    key.fingerprint().to_string()
}

// ---------------------------------------------------------------------------------------
// Golden values: pinned forever.
// ---------------------------------------------------------------------------------------

/// A step name at version 0 with no arguments.
#[test]
fn golden_step_name_only() {
    assert_eq!(
        fp(base_key()),
        "b3:89ed1a5bd2308553021b235b042bf59c056c23d39e01b036ba33c481dd729061"
    );
}

/// A step name with an explicit version (the version is part of the key).
#[test]
fn golden_step_name_and_version() {
    let key = Step::new("t1_map").unwrap().version(3).key().build().unwrap();
    assert_eq!(
        fp(key),
        "b3:1ffa10d68b607ce43ffaf0a05d19b75b23e25bea2e4a69a25f9a6d1e95ad9019"
    );
}

/// A bool argument (tag 0x00).
#[test]
fn golden_bool_arg() {
    let key = Key::of("t1_map").arg("b1_correction", true).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:fca6496bfe8efee42e0feb75fd8b64e8c7219a02d1c64b49d3a62f78c9abd075"
    );
}

/// Integer arguments (tag 0x01, i128 LE), positive and negative.
#[test]
fn golden_int_args() {
    let key = Key::of("t1_map").arg("n_iter", 5i64).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:f4d384ccdbf122fea32639388f17cf67c5dfa403cbbaea8ddf93b37a0d5dc54f"
    );
    let key = Key::of("t1_map").arg("offset", -7i32).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:2cec079bd7b432af12df965ed9a36a31f286b6e8c61fc5b3182c483fe4b168d7"
    );
}

/// A non-integral float argument (tag 0x02, f64 bits LE).
#[test]
fn golden_float_arg() {
    let key = Key::of("t1_map").arg("tr_ms", 1.5).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:8825a345be612678e0dc66fcb22abbccb74d4faae710a6edec7a192b63a1c8d3"
    );
}

/// A whole number is one key given as an integer or as a float (tag 0x01, i128 LE).
#[test]
fn golden_whole_number_arg() {
    let golden = "b3:fba216519dc19a985d51eada8f82a8dcb0cf379e8705189743f65104f6c19048";
    assert_eq!(fp(Key::of("t1_map").arg("tr_ms", 15).build().unwrap()), golden);
    assert_eq!(fp(Key::of("t1_map").arg("tr_ms", 15.0).build().unwrap()), golden);
    assert_eq!(fp(Key::of("t1_map").arg("tr_ms", 15.0f32).build().unwrap()), golden);
    assert_eq!(fp(Key::of("t1_map").arg("tr_ms", 15u8).build().unwrap()), golden);
}

/// Numbers at the edges of the rule: `1e30` is the integer the f64 holds exactly, 2^127
/// (integral, out of the i128 range) is a float, -2^127 given as a float is `i128::MIN`,
/// 2^53 + 1 stays exact, and an f32 is widened exactly.
#[test]
fn golden_numbers() {
    let golden = "b3:0c1e71819ec679f89e04b516b892cd81b8dcb98dda81297e28e1e2868ddb472f";
    let as_given = Key::of("numbers")
        .arg("big", 1e30)
        .arg("huge", 2f64.powi(127))
        .arg("min", -(2f64.powi(127)))
        .arg("odd", (1i64 << 53) + 1)
        .arg("tenth", 0.1f32)
        .build()
        .unwrap();
    assert_eq!(fp(as_given), golden);
    let as_integers = Key::of("numbers")
        .arg("big", 1_000_000_000_000_000_019_884_624_838_656i128)
        .arg("huge", 2f64.powi(127))
        .arg("min", i128::MIN)
        .arg("odd", (1u64 << 53) + 1)
        .arg("tenth", f64::from(0.1f32))
        .build()
        .unwrap();
    assert_eq!(fp(as_integers), golden);
}

/// A text argument (tag 0x03, length-prefixed UTF-8).
#[test]
fn golden_text_arg() {
    let key = Key::of("t1_map").arg("method", "vfa").build().unwrap();
    assert_eq!(
        fp(key),
        "b3:87cf8c6ed07bb0e0b0727d8eb0f63618b22d9779081b7d4c3e1480edb136bab6"
    );
}

/// A bytes argument via `Arg::Bytes` (tag 0x04, length-prefixed).
#[test]
fn golden_bytes_arg() {
    let key = Key::of("t1_map")
        .arg("blob", Arg::Bytes(vec![0, 1, 2, 254, 255]))
        .build()
        .unwrap();
    assert_eq!(
        fp(key),
        "b3:5535a14686cc7d4e53d385f3d0668a6b0290cc7dc62ff90bda3e2cc7b6f2a694"
    );
}

/// A list argument (tag 0x05, count then items; numbers by the same rule as scalars).
#[test]
fn golden_list_arg() {
    let golden = "b3:d9d2f3ac2740f7a0dd9895f9934c01310dd447be9537a334181c8ee3886fe410";
    let key = Key::of("t1_map").arg("flip_deg", [1.5, 15.0, 2.0]).build().unwrap();
    assert_eq!(fp(key), golden);
    let mixed = Arg::List(vec![1.5.into(), 15u8.into(), 2i64.into()]);
    assert_eq!(fp(Key::of("t1_map").arg("flip_deg", mixed).build().unwrap()), golden);
}

/// A typed array argument (tag 0x06 + the array digest).
#[test]
fn golden_array_arg() {
    let key = Key::of("t1_map")
        .array::<f32>("b1", &[1.0, 2.0, 3.0, 4.0], &[2, 2])
        .build()
        .unwrap();
    assert_eq!(
        fp(key),
        "b3:8977ae677ba93459f638e7bda6bc5a4270b6a694d3fe6e9a971bfc0600831e58"
    );
}

/// The content identity of a value (element type, shape, XXH3-128 of the data, metadata).
#[test]
fn golden_content() {
    assert_eq!(
        map_value().content().to_string(),
        "b3:4a88b0ea5c0e4bef746569c1a31976667f02a10940d1db79edf3e849d494e4d7"
    );
}

/// A lineage argument: an upstream key and its value's content identity (tag 0x07).
#[test]
fn golden_lineage_arg() {
    let golden = "b3:d52682570c1c0fa306cad2d8071f093c5c48935961b2096c6522ecf6049a2ca3";
    let key = Key::of("r1_map").lineage("t1", &map_hit()).build().unwrap();
    assert_eq!(fp(key), golden);
    let parts = Key::of("r1_map")
        .lineage_parts("t1", *base_key().fingerprint(), map_value().content())
        .build()
        .unwrap();
    assert_eq!(fp(parts), golden);
}

/// A precomputed digest argument (tag 0x06 + the given digest).
#[test]
fn golden_digest_arg() {
    let key = Key::of("t1_map")
        .digest("mask", Fingerprint::of_bytes(b"mask"))
        .build()
        .unwrap();
    assert_eq!(
        fp(key),
        "b3:546d9a9bc4d43c85aa56fa1800c9f9360b64fc4b49220570fa130147aaf3888d"
    );
}

/// An absent value (`Arg::none`: Rust's and Python's `None`, JavaScript's `null`), alone
/// and in a list: the digest argument of blake3(`stepcache none`).
#[test]
fn golden_none_arg() {
    let golden = "b3:138ac5f801676118052efbfe0f68c4a6d40b8e4eb0ad3fb5282ee032b77abbe3";
    let flips = vec![Arg::from(2), Arg::none()];
    let key = Key::of("t1_map")
        .none("b1")
        .arg("flip_deg", flips.clone())
        .build()
        .unwrap();
    assert_eq!(fp(key), golden);
    let absent: Option<f64> = None;
    let by_step_arg = StepArg::add_to(&absent, Key::of("t1_map"), "b1")
        .arg("flip_deg", flips)
        .build()
        .unwrap();
    assert_eq!(fp(by_step_arg), golden);
}

/// Many argument kinds together, with a step version (pins the bytewise name sort).
#[test]
fn golden_mixed_key() {
    let key = Step::new("t1_map")
        .unwrap()
        .version(2)
        .key()
        .arg("tr_ms", 15.0)
        .arg("flip_deg", vec![2u8, 15])
        .arg("method", "vfa")
        .arg("b1_correction", false)
        .array::<f32>("b1", &[1.0, 2.0, 3.0, 4.0], &[2, 2])
        .lineage("input", &map_hit())
        .build()
        .unwrap();
    assert_eq!(
        fp(key),
        "b3:747ee718b738cdf04ee4b30d30fe5f6210ed64d813f2d86153271e6e43a36c5d"
    );
}

/// The array digest of a 2x2 `f32` map (element type + shape + bytes, array context).
#[test]
fn golden_of_array() {
    let digest = Fingerprint::of_array(ElementType::F32, &[2, 2], &map_bytes());
    assert_eq!(
        digest.to_string(),
        "b3:47c76bfb4f95fce2aa6f046f67143a7430f2f079ddeb29324bc55cf81aab8b60"
    );
}

/// The plain blake3 digest of bytes (arrays in keys; the payload checksum of v1 entries).
#[test]
fn golden_of_bytes() {
    assert_eq!(
        Fingerprint::of_bytes(b"stepcache").to_string(),
        "b3:f74dd2c214056c43ba0e8194b31fbff8c3f8e4cb626a7cc962073e2a4b3cca61"
    );
}

// ---------------------------------------------------------------------------------------
// The goldens agree with the canonical encoding documented in `key.rs` / `fingerprint.rs`,
// recomputed here independently with blake3 (so the docs describe the real format).
// ---------------------------------------------------------------------------------------

fn text(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
}

/// The documented key encoding, hashed in `derive_key` mode with the key v2 context.
fn documented_key(step: &str, version: u32, sorted_args: &[(&str, Vec<u8>)]) -> String {
    let mut out = Vec::new();
    text(&mut out, step.as_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(sorted_args.len() as u64).to_le_bytes());
    for (name, value) in sorted_args {
        text(&mut out, name.as_bytes());
        out.extend_from_slice(value);
    }
    let digest = blake3::derive_key("stepcache 2026-11 key v2", &out);
    Fingerprint::from_bytes(digest).to_string()
}

/// The mixed golden matches a by-hand encoding of the documented layout (sorted args,
/// every tag), and `of_array` / `of_bytes` match their documented definitions.
#[test]
fn goldens_match_the_documented_encoding() {
    let base = *base_key().fingerprint();
    let array = Fingerprint::of_array(ElementType::F32, &[2, 2], &map_bytes());
    let mut flip = vec![5u8];
    flip.extend_from_slice(&2u64.to_le_bytes());
    for n in [2i128, 15] {
        flip.push(1);
        flip.extend_from_slice(&n.to_le_bytes());
    }
    let mut method = vec![3u8];
    text(&mut method, b"vfa");
    // 15.0 is a whole number: the integer 15.
    let mut tr = vec![1u8];
    tr.extend_from_slice(&15i128.to_le_bytes());
    let content = map_value().content();
    let args: Vec<(&str, Vec<u8>)> = vec![
        ("b1", [&[6u8][..], array.as_bytes()].concat()),
        ("b1_correction", vec![0, 0]),
        ("flip_deg", flip),
        ("input", [&[7u8][..], base.as_bytes(), content.as_bytes()].concat()),
        ("method", method),
        ("tr_ms", tr),
    ];
    assert_eq!(
        documented_key("t1_map", 2, &args),
        "b3:747ee718b738cdf04ee4b30d30fe5f6210ed64d813f2d86153271e6e43a36c5d"
    );
    assert_eq!(documented_key("t1_map", 0, &[]), base.to_string());

    let mut hasher = blake3::Hasher::new_derive_key("stepcache 2026-11 array v1");
    hasher.update(&[ElementType::F32.code()]);
    hasher.update(&2u64.to_le_bytes());
    hasher.update(&2u64.to_le_bytes());
    hasher.update(&2u64.to_le_bytes());
    hasher.update(&map_bytes());
    assert_eq!(Fingerprint::from_bytes(*hasher.finalize().as_bytes()), array);
    assert_eq!(
        Fingerprint::of_bytes(b"stepcache").as_bytes(),
        blake3::hash(b"stepcache").as_bytes()
    );
}

// ---------------------------------------------------------------------------------------
// Behaviour.
// ---------------------------------------------------------------------------------------

/// Argument order never changes a key.
#[test]
fn argument_order_does_not_matter() {
    let a = Key::of("t1_map")
        .arg("tr_ms", 15.0)
        .arg("method", "vfa")
        .arg("n", 3)
        .build()
        .unwrap();
    let b = Key::of("t1_map")
        .arg("n", 3)
        .arg("tr_ms", 15.0)
        .arg("method", "vfa")
        .build()
        .unwrap();
    assert_eq!(a, b);
}

/// A number is one key whatever type it is given as: every integer type, and a float
/// that is a whole number; a non-integral float is another key.
#[test]
fn whole_numbers_are_one_key_whatever_their_type() {
    let of = |arg: Arg| Key::of("t1_map").arg("n", arg).build().unwrap();
    let k_u8 = of(5u8.into());
    for same in [
        5i64.into(),
        5usize.into(),
        5i8.into(),
        5u64.into(),
        5i128.into(),
        5.0.into(),
        5.0f32.into(),
    ] {
        assert_eq!(k_u8, of(same));
    }
    assert_ne!(k_u8, of(5.5.into()));
    assert_ne!(k_u8, of(5.000_000_000_000_001.into()));
    assert_ne!(of(0.5.into()), of(0.5f64.next_up().into()));
    // Lists follow the same rule element by element.
    let list = |arg: Arg| Key::of("t1_map").arg("l", arg).build().unwrap();
    assert_eq!(list(vec![1u8, 2].into()), list(vec![1i64, 2].into()));
    assert_eq!(list(vec![1u8, 2].into()), list(vec![1.0, 2.0].into()));
    assert_ne!(list(vec![1u8, 2].into()), list(vec![1.0, 2.5].into()));
}

/// Exact, never rounded: integers beyond 2^53 stay distinct, and a float equals only the
/// integer it is exactly.
#[test]
fn numbers_compare_exactly() {
    let of = |arg: Arg| Key::of("t").arg("n", arg).build().unwrap();
    let two_53 = 1i64 << 53;
    assert_ne!(of(two_53.into()), of((two_53 + 1).into()));
    // (2^53 + 1) as f64 rounds to 2^53: that float is the integer 2^53, not 2^53 + 1.
    assert_eq!(of(((two_53 + 1) as f64).into()), of(two_53.into()));
    assert_ne!(of(1e30.into()), of(10i128.pow(30).into()));
    assert_eq!(of(1e30.into()), of((1e30 as i128).into()));
    assert_eq!(of((-(2f64.powi(127))).into()), of(i128::MIN.into()));
    assert_eq!(of(i128::MAX.into()), of(i128::MAX.into()));
    assert_ne!(of(2f64.powi(127).into()), of(i128::MAX.into()));
    assert_ne!(of(2f64.powi(127).into()), of((-(2f64.powi(127))).into()));
    // f32 widens exactly: 0.1f32 is not 0.1.
    assert_ne!(of(0.1f32.into()), of(0.1.into()));
    assert_eq!(of(0.1f32.into()), of(f64::from(0.1f32).into()));
}

/// `-0.0` and `0.0` give the same key as the integer 0 (an f32 zero too).
#[test]
fn negative_zero_is_zero() {
    let of = |x: f64| Key::of("t1_map").arg("x", x).build().unwrap();
    assert_eq!(of(-0.0), of(0.0));
    assert_eq!(of(0.0), Key::of("t1_map").arg("x", -0.0f32).build().unwrap());
    assert_eq!(of(-0.0), Key::of("t1_map").arg("x", 0).build().unwrap());
    assert_ne!(of(0.0), of(f64::MIN_POSITIVE));
}

/// NaN (any sign or payload, f32 or f64) and the infinities are invalid arguments, named
/// in the error, alone or in a list; they are never a key.
#[test]
fn nan_and_infinities_are_invalid_arguments() {
    let nans = [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
        f64::from_bits(0xfff8_dead_beef_0042), // negative, odd payload
        f64::from(f32::NAN),
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from(f32::INFINITY),
    ];
    for x in nans {
        for arg in [Arg::Float(x), Arg::List(vec![1.into(), Arg::Float(x)])] {
            let err = Key::of("t1_map")
                .arg("tr_ms", 15)
                .arg("bad_one", arg)
                .build()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{x}");
            assert!(err.message().contains("\"bad_one\""), "{err}");
        }
    }
    let err = Key::of("t").arg("x", f32::NAN).build().unwrap_err();
    assert!(err.message().contains("NaN"), "{err}");
    let err = Key::of("t").arg("x", f64::NEG_INFINITY).build().unwrap_err();
    assert!(err.message().contains("infinite"), "{err}");
    // A NaN default is never matched, and never makes a key.
    let step = Step::new("t").unwrap().default_arg("x", f64::NAN);
    assert!(step.key().arg("x", f64::NAN).build().is_err());
}

/// Lists nest at most `MAX_LIST_DEPTH` deep; a deeper one is an invalid argument named in
/// the error, and the deepest allowed one reads back from its provenance record.
#[test]
fn lists_nest_at_most_max_list_depth() {
    fn nested(depth: usize) -> Arg {
        (0..depth).fold(Arg::Int(7), |inner, _| Arg::List(vec![inner]))
    }
    let deepest = Key::of("t").arg("x", nested(MAX_LIST_DEPTH)).build().unwrap();
    let args = deepest.args().expect("the deepest list reads back");
    assert_eq!(args.args.len(), 1);
    let err = Key::of("t").arg("x", nested(MAX_LIST_DEPTH + 1)).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("\"x\" nests lists more than 16 deep"), "{err}");
}

/// An ignored argument never changes a key, whatever its value or type.
#[test]
fn ignored_args_do_not_change_a_key() {
    let step = Step::new("t1_map").unwrap().ignore("verbose").ignore("threads");
    let plain = step.key().arg("tr_ms", 15.0).build().unwrap();
    let noisy = step
        .key()
        .arg("verbose", true)
        .arg("tr_ms", 15.0)
        .arg("threads", 16)
        .build()
        .unwrap();
    assert_eq!(plain, noisy);
    // Without `ignore`, the same argument does change the key.
    let unignored = Step::new("t1_map")
        .unwrap()
        .key()
        .arg("verbose", true)
        .arg("tr_ms", 15.0)
        .build()
        .unwrap();
    assert_ne!(plain, unignored);
}

/// `default_arg` drops an argument equal to its default, but not one that differs.
#[test]
fn default_arg_drops_only_the_default_value() {
    let old = Step::new("t1_map").unwrap();
    let new = old.clone().default_arg("b1_correction", false);
    let before = old.key().arg("tr_ms", 15.0).build().unwrap();
    let same = new
        .key()
        .arg("tr_ms", 15.0)
        .arg("b1_correction", false)
        .build()
        .unwrap();
    let changed = new.key().arg("tr_ms", 15.0).arg("b1_correction", true).build().unwrap();
    assert_eq!(before, same, "an argument equal to its default drops out");
    assert_ne!(before, changed, "an argument differing from its default stays");
    // A default is compared by encoding: the integer 0 is not the bool false.
    let zero = new.key().arg("tr_ms", 15.0).arg("b1_correction", 0).build().unwrap();
    assert_ne!(before, zero);
}

/// Different step versions (and names) give different keys for the same arguments.
#[test]
fn step_versions_differ() {
    let at = |v: u32| {
        Step::new("t1_map")
            .unwrap()
            .version(v)
            .key()
            .arg("tr_ms", 15.0)
            .build()
            .unwrap()
    };
    assert_ne!(at(0), at(1));
    assert_ne!(at(1), at(2));
    assert_eq!(at(0), Key::of("t1_map").arg("tr_ms", 15.0).build().unwrap());
    let other = Key::of("t2_map").arg("tr_ms", 15.0).build().unwrap();
    assert_ne!(at(0).fingerprint(), other.fingerprint());
}

/// The same bytes with another shape or element type give another array digest (and key).
#[test]
fn array_digest_covers_shape_and_element_type() {
    let bytes = map_bytes();
    let square = Fingerprint::of_array(ElementType::F32, &[2, 2], &bytes);
    assert_ne!(square, Fingerprint::of_array(ElementType::F32, &[4], &bytes));
    assert_ne!(square, Fingerprint::of_array(ElementType::F32, &[1, 4], &bytes));
    assert_ne!(square, Fingerprint::of_array(ElementType::U32, &[2, 2], &bytes));
    assert_ne!(square, Fingerprint::of_array(ElementType::I32, &[2, 2], &bytes));
    assert_ne!(square, Fingerprint::of_array(ElementType::U8, &[16], &bytes));
    assert_ne!(square, Fingerprint::of_array(ElementType::Bytes, &[16], &bytes));
    // The array digest is not the plain digest of the bytes.
    assert_ne!(square, Fingerprint::of_bytes(&bytes));
    // Through the builder: `.array` and `.raw_array` agree, shape matters.
    let typed = Key::of("t")
        .array::<f32>("m", &[1.0, 2.0, 3.0, 4.0], &[2, 2])
        .build()
        .unwrap();
    let raw = Key::of("t")
        .raw_array("m", ElementType::F32, &[2, 2], &bytes)
        .build()
        .unwrap();
    let flat = Key::of("t")
        .array::<f32>("m", &[1.0, 2.0, 3.0, 4.0], &[4])
        .build()
        .unwrap();
    let as_u32 = Key::of("t")
        .raw_array("m", ElementType::U32, &[2, 2], &bytes)
        .build()
        .unwrap();
    assert_eq!(typed, raw);
    assert_ne!(typed, flat);
    assert_ne!(typed, as_u32);
    // `.digest` of the array's digest is the same argument as `.array`.
    assert_eq!(typed, Key::of("t").digest("m", square).build().unwrap());
}

/// A lineage argument differs from an array digest of the upstream key (tag 0x07 vs 0x06).
#[test]
fn lineage_differs_from_digest_of_same_bytes() {
    let input = base_key();
    let lineage = Key::of("r1_map").lineage("t1", &map_hit()).build().unwrap();
    let digest = Key::of("r1_map").digest("t1", *input.fingerprint()).build().unwrap();
    assert_ne!(lineage, digest);
    // `Arg::from(&Hit)` is the lineage argument.
    assert_eq!(lineage, Key::of("r1_map").arg("t1", &map_hit()).build().unwrap());
    assert_eq!(
        digest,
        Key::of("r1_map")
            .arg("t1", Arg::Array(*input.fingerprint()))
            .build()
            .unwrap()
    );
}

/// The text form round-trips through `parse::<Fingerprint>()`, and malformed text is rejected.
#[test]
fn text_form_round_trips() {
    for fp in [
        *base_key().fingerprint(),
        Fingerprint::of_bytes(b"stepcache"),
        Fingerprint::from_bytes([0; 32]),
        Fingerprint::from_bytes([0xff; 32]),
    ] {
        let text = fp.to_string();
        assert!(text.starts_with("b3:") && text.len() == 67, "{text}");
        assert_eq!(text, format!("b3:{}", fp.to_hex()));
        assert_eq!(format!("{fp:?}"), text);
        assert_eq!(text.parse::<Fingerprint>().unwrap(), fp);
    }
    let good = Fingerprint::of_bytes(b"x").to_string();
    assert!(good[3..].parse::<Fingerprint>().is_err(), "missing prefix");
    assert!(good.to_uppercase().parse::<Fingerprint>().is_err(), "uppercase");
    assert!(good[..66].parse::<Fingerprint>().is_err(), "too short");
    assert!(format!("{good}0").parse::<Fingerprint>().is_err(), "too long");
    assert!(
        format!("b3:{}", "g".repeat(64)).parse::<Fingerprint>().is_err(),
        "not hex"
    );
    assert!(
        format!("b3:{}é", "0".repeat(62)).parse::<Fingerprint>().is_err(),
        "non-ascii"
    );
}

/// `Key` Display (and Debug) is `step@b3:<hex>`, and `Key::from_parts` rebuilds it.
#[test]
fn key_display_is_step_at_fingerprint() {
    let key = base_key();
    let shown = key.to_string();
    assert_eq!(
        shown,
        "t1_map@b3:89ed1a5bd2308553021b235b042bf59c056c23d39e01b036ba33c481dd729061"
    );
    assert_eq!(format!("{key:?}"), shown);
    let (step, fp) = shown.split_once('@').unwrap();
    assert_eq!(Key::from_parts(step, fp.parse().unwrap()).unwrap(), key);
}

/// A repeated argument is an error whatever its first value, even one dropped as a default
/// or an ignored one.
#[test]
fn repeated_argument_is_an_error_even_when_dropped() {
    let step = Step::new("t1_map").unwrap().default_arg("b1", false).ignore("verbose");
    for builder in [
        step.key().arg("b1", false).arg("b1", true),
        step.key().arg("b1", true).arg("b1", false),
        step.key().arg("b1", false).arg("b1", false),
        step.key().arg("verbose", 1).arg("verbose", 2),
    ] {
        assert_eq!(builder.build().unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}

/// 3 MiB of pseudo-random bytes: an array large enough to be hashed on every core.
fn large_map_bytes() -> Vec<u8> {
    (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// The digest of an array hashed on every core (with `parallel`) or in one stream
/// (without), pinned like the small one: both ways give blake3's own digest (the value
/// was checked against the reference `blake3` Python package's `derive_key_context`
/// hash of the documented prefix and bytes).
#[test]
fn golden_of_large_array() {
    let bytes = large_map_bytes();
    let digest = Fingerprint::of_array(ElementType::F32, &[bytes.len() as u64 / 4], &bytes);
    assert_eq!(
        digest.to_string(),
        "b3:f76e4a5f659a85ce8ce786d350a2dd99f23dfa6aa0366bfaad2843fded7d24ef"
    );
}

/// A map large enough to be hashed on every core has the same digest in a pool of one
/// thread (where it is hashed by one `update` call) as in the default pool.
#[cfg(feature = "parallel")]
#[test]
fn large_array_digest_does_not_depend_on_the_thread_count() {
    let bytes = large_map_bytes();
    let shape = [bytes.len() as u64 / 4];
    let pooled = Fingerprint::of_array(ElementType::F32, &shape, &bytes);
    let one = rayon_core::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool of one thread");
    let alone = one.install(|| Fingerprint::of_array(ElementType::F32, &shape, &bytes));
    assert_eq!(pooled, alone);
    assert_ne!(pooled, Fingerprint::of_array(ElementType::F32, &shape, &bytes[1..]));
}

/// Lineage binds the upstream value: another value under the same upstream key (its
/// data, its shape, its element type or its metadata differ) gives another key.
#[test]
fn lineage_binds_the_upstream_value() {
    let with = |value: Value| {
        let hit = Hit {
            content: value.content(),
            value,
            ..map_hit()
        };
        Key::of("r1_map").lineage("t1", &hit).build().unwrap()
    };
    let golden = with(map_value());
    assert_eq!(golden, Key::of("r1_map").lineage("t1", &map_hit()).build().unwrap());
    let meta = br#"{"units":"ms"}"#;
    let others = [
        Value::array(vec![1.0f32, 2.0, 3.0, 5.0], &[2, 2])
            .unwrap()
            .with_meta(&meta[..]),
        Value::array(vec![1.0f32, 2.0, 3.0, 4.0], &[4])
            .unwrap()
            .with_meta(&meta[..]),
        Value::new(ElementType::U32, vec![2, 2], map_bytes())
            .unwrap()
            .with_meta(&meta[..]),
        Value::array(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap(),
    ];
    for other in others {
        assert_ne!(with(other), golden);
    }
    // Another upstream key with the same value is another key too.
    let other_key = Hit {
        fingerprint: *Key::of("t1_map").arg("tr_ms", 15).build().unwrap().fingerprint(),
        ..map_hit()
    };
    assert_ne!(Key::of("r1_map").lineage("t1", &other_key).build().unwrap(), golden);
}

/// An array hashed piece by piece has the fingerprint of the whole, however it is cut,
/// across the size at which hashing goes parallel.
#[test]
fn an_array_hashed_in_pieces_is_the_array_hashed_whole() {
    let data: Vec<u8> = (0..5u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for len in [0, 1, 1023, 1024, 1025, 1 << 20, (1 << 20) + 7, 5 << 20] {
        let bytes = &data[..len];
        let whole = Fingerprint::of_array(ElementType::Bytes, &[len as u64], bytes);
        for piece in [1usize << 20, 4096, 1000, 3 << 20] {
            let mut hasher = Fingerprint::array_hasher(ElementType::Bytes, &[len as u64]);
            bytes.chunks(piece).for_each(|p| hasher.update(p));
            assert_eq!(hasher.finish(), whole, "{len} bytes in pieces of {piece}");
        }
    }
    // The shape enters as in `of_array`.
    let mut square = Fingerprint::array_hasher(ElementType::Bytes, &[2, 2]);
    square.update(&data[..4]);
    assert_eq!(
        square.finish(),
        Fingerprint::of_array(ElementType::Bytes, &[2, 2], &data[..4])
    );
    assert_ne!(
        square.finish(),
        Fingerprint::of_array(ElementType::Bytes, &[4], &data[..4])
    );
}
