//! Golden tests of the key fingerprint format (key format v1) and its documented behaviour.
//!
//! Every `b3:` literal below was computed once and pasted in. They must NEVER change: a
//! different value means every key any user ever stored is silently orphaned (a cache
//! miss for every entry). If one fails, the change to keys or fingerprints is the bug,
//! not the literal; a deliberate format change needs a new key context and new goldens.

use stepcache_core::{Arg, ElementType, ErrorKind, Fingerprint, Key, Step};

/// The 2x2 `f32` map `[[1, 2], [3, 4]]` as little-endian bytes: the array in the goldens.
fn map_bytes() -> Vec<u8> {
    [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// The key of step `t1_map`, version 0, no arguments: the input of the lineage golden.
fn base_key() -> Key {
    Key::of("t1_map").build().expect("a valid key")
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
        "b3:3206a1bb8ef406109808ddf8bd724d491c878d1e2fe002afb345b6402ed898a8"
    );
}

/// A step name with an explicit version (the version is part of the key).
#[test]
fn golden_step_name_and_version() {
    let key = Step::new("t1_map").unwrap().version(3).key().build().unwrap();
    assert_eq!(
        fp(key),
        "b3:08e933dd1cb5624de6855b43211ef7b94ad2b475976d2afcd162b0d4e0bde9f6"
    );
}

/// A bool argument (tag 0x00).
#[test]
fn golden_bool_arg() {
    let key = Key::of("t1_map").arg("b1_correction", true).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:442b09751f7ca54516dae534db4748938f37c929c289bd1901f91045e570f7ab"
    );
}

/// Integer arguments (tag 0x01, i128 LE), positive and negative.
#[test]
fn golden_int_args() {
    let key = Key::of("t1_map").arg("n_iter", 5i64).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:adbda795d14e12f185154b70b7d36eca7726f52d055228ec7c88e9ad4875393d"
    );
    let key = Key::of("t1_map").arg("offset", -7i32).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:3ed64f9509542a7c839154e785eb4d02fd0637d1a29bd04b63b9b1001ec5fc6a"
    );
}

/// A float argument (tag 0x02, f64 bits LE).
#[test]
fn golden_float_arg() {
    let key = Key::of("t1_map").arg("tr_ms", 15.0).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:164031f7368251649a694b679b4db7d7c0cb2cd5e5ff1bdb1090a955ee4b644a"
    );
}

/// A text argument (tag 0x03, length-prefixed UTF-8).
#[test]
fn golden_text_arg() {
    let key = Key::of("t1_map").arg("method", "vfa").build().unwrap();
    assert_eq!(
        fp(key),
        "b3:3943918b9573d4766ef5b125d47953778c512947dfd67adbb0548e865c4e8a6f"
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
        "b3:9117509ee429556f1ac6d1f77359bf930af226ac4931ab6cfd814f2a1e126616"
    );
}

/// A list argument (tag 0x05, count then items).
#[test]
fn golden_list_arg() {
    let key = Key::of("t1_map").arg("flip_deg", [2.0, 15.0]).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:0c7dcdea8af041802a627efa098c166819e9a9cf2f51796ffd6b0e8306aca3b7"
    );
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
        "b3:8d8a19d254e573655dd97f0d186f1883b9e92921390c96a6a885d9a1212d1787"
    );
}

/// A lineage argument: another key standing in for its data (tag 0x07).
#[test]
fn golden_lineage_arg() {
    let key = Key::of("r1_map").lineage("t1", &base_key()).build().unwrap();
    assert_eq!(
        fp(key),
        "b3:5e18ec708f11dc71ef4afce6b7da135dafef46d4484c1db0756b3acee1f8cce4"
    );
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
        "b3:0b14efeb4712ca7371d3cae611ebff6929a973f438e7793f8af94801131ac7f2"
    );
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
        .lineage("input", &base_key())
        .build()
        .unwrap();
    assert_eq!(
        fp(key),
        "b3:4eee6297403ba410d8a3a7884080c79c3f5beca6aab5a1b53a4d2a4f4d3312ee"
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

/// The documented key encoding, hashed in `derive_key` mode with the key v1 context.
fn documented_key(step: &str, version: u32, sorted_args: &[(&str, Vec<u8>)]) -> String {
    let mut out = Vec::new();
    text(&mut out, step.as_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(sorted_args.len() as u64).to_le_bytes());
    for (name, value) in sorted_args {
        text(&mut out, name.as_bytes());
        out.extend_from_slice(value);
    }
    let digest = blake3::derive_key("stepcache 2026-11 key v1", &out);
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
    let mut tr = vec![2u8];
    tr.extend_from_slice(&15.0f64.to_bits().to_le_bytes());
    let args: Vec<(&str, Vec<u8>)> = vec![
        ("b1", [&[6u8][..], array.as_bytes()].concat()),
        ("b1_correction", vec![0, 0]),
        ("flip_deg", flip),
        ("input", [&[7u8][..], base.as_bytes()].concat()),
        ("method", method),
        ("tr_ms", tr),
    ];
    assert_eq!(
        documented_key("t1_map", 2, &args),
        "b3:4eee6297403ba410d8a3a7884080c79c3f5beca6aab5a1b53a4d2a4f4d3312ee"
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

/// Every integer type gives the same key for the same number; a float of that value does not.
#[test]
fn integer_types_agree_but_float_differs() {
    let of = |arg: Arg| Key::of("t1_map").arg("n", arg).build().unwrap();
    let k_u8 = of(5u8.into());
    assert_eq!(k_u8, of(5i64.into()));
    assert_eq!(k_u8, of(5usize.into()));
    assert_eq!(k_u8, of(5i8.into()));
    assert_eq!(k_u8, of(5u64.into()));
    assert_ne!(k_u8, of(5.0.into()));
    assert_ne!(k_u8, of(5.0f32.into()));
    // Lists follow the same rule element by element.
    let list = |arg: Arg| Key::of("t1_map").arg("l", arg).build().unwrap();
    assert_eq!(list(vec![1u8, 2].into()), list(vec![1i64, 2].into()));
    assert_ne!(list(vec![1u8, 2].into()), list(vec![1.0, 2.0].into()));
}

/// `-0.0` and `0.0` give the same key (an f32 zero too).
#[test]
fn negative_zero_is_zero() {
    let of = |x: f64| Key::of("t1_map").arg("x", x).build().unwrap();
    assert_eq!(of(-0.0), of(0.0));
    assert_eq!(of(0.0), Key::of("t1_map").arg("x", -0.0f32).build().unwrap());
    assert_ne!(of(0.0), of(f64::MIN_POSITIVE));
}

/// Every NaN (any sign, any payload, f32 or f64) gives one key, distinct from other floats.
#[test]
fn nan_payloads_normalise() {
    let of = |x: f64| Key::of("t1_map").arg("x", x).build().unwrap();
    let nan = of(f64::NAN);
    assert_eq!(nan, of(-f64::NAN));
    assert_eq!(nan, of(f64::from_bits(0x7ff0_0000_0000_0001))); // signalling NaN
    assert_eq!(nan, of(f64::from_bits(0xfff8_dead_beef_0042))); // negative, odd payload
    assert_eq!(nan, Key::of("t1_map").arg("x", f32::NAN).build().unwrap());
    assert_eq!(
        nan,
        Key::of("t1_map").arg("x", f32::from_bits(0xffc0_1234)).build().unwrap()
    );
    assert_ne!(nan, of(f64::INFINITY));
    assert_ne!(nan, of(0.0));
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

/// A lineage argument differs from an array digest of the same 32 bytes (tag 0x07 vs 0x06).
#[test]
fn lineage_differs_from_digest_of_same_bytes() {
    let input = base_key();
    let lineage = Key::of("r1_map").lineage("t1", &input).build().unwrap();
    let digest = Key::of("r1_map").digest("t1", *input.fingerprint()).build().unwrap();
    assert_ne!(lineage, digest);
    // `Arg::from(&Key)` is the lineage argument.
    assert_eq!(lineage, Key::of("r1_map").arg("t1", &input).build().unwrap());
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
        "t1_map@b3:3206a1bb8ef406109808ddf8bd724d491c878d1e2fe002afb345b6402ed898a8"
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
