//! Team-key seals: a keyed blake3 MAC after an entry in the shared tier, so that whoever
//! can write the bucket but does not hold the team's key cannot plant results.
//!
//! A sealed object is the entry followed by [`SEAL_LEN`] bytes: the 32-byte tag, keyed
//! blake3 of every byte of the entry (head and payload, so the key, step, shape and value
//! are all covered), then [`SEAL_MAGIC`]. A reader with the key accepts only entries whose
//! tag it recomputes; a reader without it (the browser, which holds no long-lived
//! secret) recognises the seal and reads the entry inside, verified by its checksums like
//! any other. The trust model is in `docs/shared.md`.

use core::fmt;

use super::{Corrupt, Head, decode_head};
use crate::error::{Error, ErrorKind, Result};

/// The bytes a seal adds after an entry: the tag, then the magic.
pub const SEAL_LEN: usize = 40;
/// What the last bytes of a sealed object are.
pub const SEAL_MAGIC: [u8; 8] = *b"STEPSEAL";
/// Secrets shorter than this are refused: they could be guessed.
pub const MIN_SECRET_LEN: usize = 16;
/// Derives the MAC key from the team's secret (blake3 `derive_key` mode), so the same
/// secret used elsewhere never yields this key.
const TEAM_KEY_CONTEXT: &str = "stepcache 2026-12 team key v1";

/// The key a team's machines seal and check shared entries with.
#[derive(Clone, PartialEq, Eq)]
pub struct TeamKey([u8; 32]);

impl TeamKey {
    /// The key derived from `secret` (at least [`MIN_SECRET_LEN`] bytes; a random value
    /// kept like a password, e.g. in `STEPCACHE_TEAM_KEY`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] for a secret shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                crate::text!(
                    "a team key's secret needs at least ",
                    MIN_SECRET_LEN,
                    " bytes, got ",
                    secret.len()
                ),
            ));
        }
        Ok(TeamKey(blake3::derive_key(TEAM_KEY_CONTEXT, secret)))
    }

    /// The seal of the entry whose head is `head` and payload `payload`.
    pub fn seal(&self, head: &[u8], payload: &[u8]) -> [u8; SEAL_LEN] {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(head);
        crate::fingerprint::update(&mut hasher, payload);
        let mut seal = [0; SEAL_LEN];
        seal[..32].copy_from_slice(hasher.finalize().as_bytes());
        seal[32..].copy_from_slice(&SEAL_MAGIC);
        seal
    }

    /// Whether `tag` is the tag of `entry` (compared in constant time).
    fn signs(&self, entry: &[u8], tag: &[u8]) -> bool {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        crate::fingerprint::update(&mut hasher, entry);
        <[u8; 32]>::try_from(tag).is_ok_and(|tag| hasher.finalize() == blake3::Hash::from_bytes(tag))
    }
}

impl fmt::Debug for TeamKey {
    /// Never shows the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TeamKey(..)")
    }
}

/// How long the entry inside the object `bytes` is: without its seal if it has one. With
/// `key`, an object without a seal, or with a tag the key did not make, is rejected.
/// Anything else (damage, another key's entry) is left to [`super::decode_checked`].
///
/// # Errors
/// [`Corrupt::Unsealed`] or [`Corrupt::BadSeal`] where `key` is given.
pub fn unseal(bytes: &[u8], key: Option<&TeamKey>) -> core::result::Result<usize, Corrupt> {
    let end = match decode_head(bytes) {
        Ok(Head::Complete(_, range)) => range.end,
        // Damaged: the entry checks say how.
        _ => {
            return if key.is_some() {
                Err(Corrupt::Unsealed)
            } else {
                Ok(bytes.len())
            };
        }
    };
    let sealed = bytes.len() == end + SEAL_LEN && bytes[end + 32..] == SEAL_MAGIC;
    match key {
        None if sealed => Ok(end),
        None => Ok(bytes.len()),
        Some(key) if sealed && key.signs(&bytes[..end], &bytes[end..end + 32]) => Ok(end),
        Some(_) if sealed => Err(Corrupt::BadSeal),
        Some(_) => Err(Corrupt::Unsealed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn entry(payload: &[u8]) -> alloc::vec::Vec<u8> {
        crate::entry::test_entry(3, payload).0
    }

    fn sealed(key: &TeamKey, entry: &[u8]) -> alloc::vec::Vec<u8> {
        let Ok(Head::Complete(_, range)) = decode_head(entry) else {
            panic!("an entry")
        };
        let mut out = entry.to_vec();
        out.extend_from_slice(&key.seal(&entry[..range.start], &entry[range]));
        out
    }

    #[test]
    fn a_sealed_entry_opens_with_its_key_and_without_one() {
        let key = TeamKey::from_secret(b"sixteen byte key").unwrap();
        let plain = entry(b"payload bytes");
        let object = sealed(&key, &plain);
        assert_eq!(unseal(&object, Some(&key)), Ok(plain.len()));
        assert_eq!(unseal(&object, None), Ok(plain.len()));
        assert_eq!(unseal(&plain, None), Ok(plain.len()));
    }

    #[test]
    fn a_key_rejects_unsealed_foreign_and_altered_objects() {
        let key = TeamKey::from_secret(b"sixteen byte key").unwrap();
        let other = TeamKey::from_secret(b"another team key").unwrap();
        let plain = entry(b"payload bytes");
        assert_eq!(unseal(&plain, Some(&key)), Err(Corrupt::Unsealed));
        assert_eq!(unseal(&sealed(&other, &plain), Some(&key)), Err(Corrupt::BadSeal));
        let object = sealed(&key, &plain);
        // Every byte of the entry and of the tag is covered.
        for at in 0..plain.len() + 32 {
            let mut altered = object.clone();
            altered[at] ^= 1;
            assert!(unseal(&altered, Some(&key)).is_err(), "byte {at} altered");
        }
        assert!(unseal(&object[..object.len() - 1], Some(&key)).is_err());
    }

    #[test]
    fn short_secrets_are_refused_and_keys_never_shown() {
        let e = TeamKey::from_secret(b"short").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let key = TeamKey::from_secret(b"sixteen byte key").unwrap();
        assert_eq!(alloc::format!("{key:?}"), "TeamKey(..)");
    }
}
