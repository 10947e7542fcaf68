//! `#[stepcache::step]`: every argument keys, ignored ones do not, results chain by
//! lineage, and the key is the one `Step::key` builds.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::sync::atomic::{AtomicUsize, Ordering};

use stepcache::{Cache, ErrorKind, Hit, Source, Step, Value};

static FITS: AtomicUsize = AtomicUsize::new(0);
static INVERSIONS: AtomicUsize = AtomicUsize::new(0);

#[stepcache::step(version = 2, ignore(verbose, threads))]
fn t1_map(signal: &Value, tr_ms: f64, flip_deg: Vec<f64>, method: &str, verbose: bool, threads: usize) -> Value {
    FITS.fetch_add(1, Ordering::SeqCst);
    let _ = (verbose, threads, method);
    let data: Vec<f32> = signal
        .as_slice::<f32>()
        .unwrap()
        .iter()
        .map(|s| s * tr_ms as f32 + flip_deg[0] as f32)
        .collect();
    Value::array(data, &[signal.shape()[0] as usize]).unwrap()
}

#[stepcache::step(name = "r1_map")]
fn invert(t1: &Hit) -> stepcache::Result<Value> {
    INVERSIONS.fetch_add(1, Ordering::SeqCst);
    let t1: &[f32] = t1.value.as_slice()?;
    Value::array(t1.iter().map(|t| 1.0 / t).collect(), &[t1.len()])
}

/// Arguments named as the wrapper's own variables stay the caller's.
#[stepcache::step]
fn hygiene(cache: u32, key: u32, compute: u32) -> Value {
    Value::array(vec![cache, key, compute], &[3]).unwrap()
}

#[stepcache::step]
fn failing(reason: String) -> Result<Value, String> {
    Err(reason)
}

fn open(name: &str) -> (Cache, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("stepcache-step-fn-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    (Cache::open(&dir).unwrap(), dir)
}

#[test]
fn every_argument_keys_and_ignored_ones_do_not() {
    let (cache, dir) = open("keys");
    let signal = Value::array(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
    let before = FITS.load(Ordering::SeqCst);
    let first = t1_map(&cache, &signal, 15.0, vec![2.0, 15.0], "lm", false, 1).unwrap();
    assert_eq!(first.source, Source::Computed);
    let again = t1_map(&cache, &signal, 15.0, vec![2.0, 15.0], "lm", true, 8).unwrap();
    assert_eq!(again.source, Source::Memory, "verbose and threads are ignored");
    assert_eq!(again.fingerprint, first.fingerprint);
    let other_tr = t1_map(&cache, &signal, 20.0, vec![2.0, 15.0], "lm", false, 1).unwrap();
    let other_flips = t1_map(&cache, &signal, 15.0, vec![5.0, 15.0], "lm", false, 1).unwrap();
    let other_method = t1_map(&cache, &signal, 15.0, vec![2.0, 15.0], "despot1", false, 1).unwrap();
    let other_signal = Value::array(vec![1.0f32, 2.0, 4.0], &[3]).unwrap();
    let other_data = t1_map(&cache, &other_signal, 15.0, vec![2.0, 15.0], "lm", false, 1).unwrap();
    let keys = [&first, &other_tr, &other_flips, &other_method, &other_data].map(|h| h.fingerprint);
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b, "each keyed argument changes the key");
        }
    }
    assert_eq!(
        FITS.load(Ordering::SeqCst) - before,
        5,
        "computed once per distinct arguments"
    );

    // The key is Step::key's for the same arguments.
    let by_hand = Step::new("t1_map")
        .unwrap()
        .version(2)
        .ignore("verbose")
        .ignore("threads")
        .key()
        .value("signal", &signal)
        .arg("tr_ms", 15.0)
        .arg("flip_deg", vec![2.0, 15.0])
        .arg("method", "lm")
        .build()
        .unwrap();
    assert_eq!(*by_hand.fingerprint(), first.fingerprint);
    drop(cache);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_hit_passed_on_keys_the_next_step_by_lineage() {
    let (cache, dir) = open("lineage");
    let signal = Value::array(vec![1.0f32, 2.0], &[2]).unwrap();
    let t1 = t1_map(&cache, &signal, 15.0, vec![2.0], "lm", false, 1).unwrap();
    let before = INVERSIONS.load(Ordering::SeqCst);
    let r1 = invert(&cache, &t1).unwrap();
    assert_eq!(r1.source, Source::Computed);
    assert_eq!(r1.value.as_slice::<f32>().unwrap(), &[1.0 / 17.0, 1.0 / 32.0]);
    // The same upstream result read again (from memory) is the same lineage: a hit.
    let t1_again = t1_map(&cache, &signal, 15.0, vec![2.0], "lm", false, 1).unwrap();
    let r1_again = invert(&cache, &t1_again).unwrap();
    assert_eq!(r1_again.fingerprint, r1.fingerprint);
    assert_ne!(r1_again.source, Source::Computed);
    assert_eq!(INVERSIONS.load(Ordering::SeqCst) - before, 1);
    let by_hand = Step::new("r1_map").unwrap().key().lineage("t1", &t1).build().unwrap();
    assert_eq!(*by_hand.fingerprint(), r1.fingerprint);
    drop(cache);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn arguments_named_like_the_wrappers_variables_are_the_callers() {
    let (cache, dir) = open("hygiene");
    let hit = hygiene(&cache, 1, 2, 3).unwrap();
    assert_eq!(hit.value.as_slice::<u32>().unwrap(), &[1, 2, 3]);
    let by_hand = Step::new("hygiene")
        .unwrap()
        .key()
        .arg("cache", 1)
        .arg("key", 2)
        .arg("compute", 3);
    assert_eq!(*by_hand.build().unwrap().fingerprint(), hit.fingerprint);
    drop(cache);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failing_step_is_a_compute_error_and_stores_nothing() {
    let (cache, dir) = open("failing");
    let err = failing(&cache, "no convergence".to_owned()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compute);
    assert!(err.message().contains("no convergence"), "{}", err.message());
    assert!(cache.entries().unwrap().is_empty());
    drop(cache);
    std::fs::remove_dir_all(&dir).ok();
}

#[derive(stepcache::Record, Debug, PartialEq)]
struct Fit {
    t1: Value,
    sd: Vec<f64>,
    iterations: u32,
}

#[derive(stepcache::Record, Debug)]
struct Other {
    mask: Vec<u8>,
}

static FITS_RECORD: AtomicUsize = AtomicUsize::new(0);

#[stepcache::step(version = 1)]
fn fit(signal: &Value) -> stepcache::Result<Fit> {
    FITS_RECORD.fetch_add(1, Ordering::SeqCst);
    let n = signal.shape()[0] as usize;
    Ok(Fit {
        t1: Value::array(vec![800.0f32; n], &[n])?,
        sd: vec![12.5; n],
        iterations: 7,
    })
}

#[test]
fn a_record_struct_is_one_entry_read_back_field_by_field() {
    let (cache, dir) = open("record");
    let signal = Value::array(vec![1.0f32; 5], &[5]).unwrap();
    let before = FITS_RECORD.load(Ordering::SeqCst);
    let hit = fit(&cache, &signal).unwrap();
    assert_eq!(hit.value.element_type(), stepcache::ElementType::Record);
    let again = fit(&cache, &signal).unwrap();
    assert_eq!(FITS_RECORD.load(Ordering::SeqCst) - before, 1, "computed once");
    assert_eq!(cache.entries().unwrap().len(), 1, "one entry for the three outputs");
    let back = Fit::try_from(&again.value).unwrap();
    assert_eq!(back.t1.as_slice::<f32>().unwrap(), &[800.0; 5]);
    assert_eq!((back.sd, back.iterations), (vec![12.5; 5], 7));
    drop(cache);
    // From disk in a new handle: the same parts.
    let cache = Cache::open(&dir).unwrap();
    let stored = fit(&cache, &signal).unwrap();
    assert_eq!(stored.source, Source::Store);
    assert_eq!(
        Fit::try_from(&stored.value).unwrap(),
        Fit::try_from(&hit.value).unwrap()
    );
    // Read as another struct: the missing part is named; a plain value is no record.
    let err = Other::try_from(&stored.value).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongType);
    assert!(err.message().contains("mask"), "{}", err.message());
    assert_eq!(Fit::try_from(&signal).unwrap_err().kind(), ErrorKind::WrongType);
    drop(cache);
    std::fs::remove_dir_all(&dir).ok();
}

#[stepcache::step]
fn smooth(width: u32, sigma_mm: Option<f64>) -> Value {
    Value::array(vec![width as f32, sigma_mm.unwrap_or(-1.0) as f32], &[2]).unwrap()
}

#[test]
fn an_optional_argument_keys_as_absent_or_as_its_value() {
    let (cache, dir) = open("optional");
    let none = smooth(&cache, 4, None).unwrap();
    let some = smooth(&cache, 4, Some(1.5)).unwrap();
    assert_ne!(none.fingerprint, some.fingerprint);
    // Some(v) keys as v itself, None as the absent value every binding uses.
    let key = |sigma: stepcache::Arg| {
        Step::new("smooth")
            .unwrap()
            .key()
            .arg("width", 4u32)
            .arg("sigma_mm", sigma)
            .build()
            .unwrap()
    };
    assert_eq!(some.fingerprint, *key(1.5.into()).fingerprint());
    assert_eq!(none.fingerprint, *key(stepcache::Arg::none()).fingerprint());
    assert_eq!(smooth(&cache, 4, None).unwrap().source, Source::Memory);
    drop(cache);
    std::fs::remove_dir_all(&dir).ok();
}
