//! Any text as a fingerprint, step name, argument, retention or access mode: a typed
//! error or a value, never a panic; what parses prints back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepcache_core::{Access, Fingerprint, Key, Retention, Step, validate_step_name};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(fp) = text.parse::<Fingerprint>() {
        assert_eq!(fp.to_string(), text, "a parsed fingerprint prints back the same");
    }
    let _ = text.parse::<Retention>();
    let _ = text.parse::<Access>();
    let (name, rest) = text.split_at(text.char_indices().nth(data.len() % 7).map_or(text.len(), |(i, _)| i));
    if validate_step_name(name).is_ok() {
        let step = Step::new(name).expect("validated").ignore(rest).default_arg(rest, 0);
        let key = step.key().arg(rest, rest).arg("bytes", data.to_vec()).build();
        if let Ok(key) = key {
            assert_eq!(key.step(), name);
            let again = Key::from_parts(name, *key.fingerprint()).expect("same name");
            assert_eq!(again, key);
        }
    } else {
        assert!(Step::new(name).is_err());
        assert!(Key::of(name).build().is_err());
    }
});
