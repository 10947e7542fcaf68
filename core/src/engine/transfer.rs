//! Push and pull: copying entries between the store and the shared tier on demand, for
//! every type, whatever its policy's `shared` flag says (that flag decides what lookups
//! and puts do on their own; a push or a pull is asked for).

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use super::Cache;
use super::report::{SkipReason, TierOutcome};
use super::shared::SharedTier;
use super::state::Freshness;
use crate::clock::Clock;
use crate::entry::{self, Head};
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::Fingerprint;
use crate::store::Store;

/// What [`Cache::push`] or [`Cache::pull`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Entries copied.
    pub copied: u64,
    /// Entries the other side holds already (left as they are).
    pub present: u64,
    /// Entries a pull left out for this cache's policy: older than their type's maximum
    /// age or a forced recompute, of a type kept only in memory, or writing switched off.
    pub skipped: u64,
    /// Entries refused, with the reason: damaged (a push removes a damaged local entry),
    /// not sealed with the team key, or filed under another key. Nothing of them is
    /// copied.
    pub refused: Vec<(Fingerprint, String)>,
    /// The bytes of the entries copied (as the shared tier holds them, sealed or not).
    pub bytes: u64,
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// The shared tier, for a push or a pull.
    fn transfer_tier(&self, writes: bool) -> Result<&SharedTier<R>> {
        self.check_open()?;
        let tier = self
            .shared()
            .ok_or_else(|| Error::new(ErrorKind::InvalidConfig, "the cache has no shared tier"))?;
        if writes && tier.is_read_only() {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "the shared tier is one this cache only reads",
            ));
        }
        Ok(tier)
    }

    /// Writes every stored entry that `accept(step, created_ms)` accepts and whose key
    /// the shared tier does not list to the shared tier, whatever its type's policy: the
    /// verified entry as stored, sealed with the team key if the tier has one. A damaged
    /// entry is removed and refused. Entries the shared tier holds are left as they are.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] without a shared tier, [`ErrorKind::PermissionDenied`]
    /// if it is read-only; the shared tier's error or the store's (entries written before
    /// it stay written).
    pub async fn push(&self, accept: impl Fn(&str, u64) -> bool) -> Result<Transfer> {
        let tier = self.transfer_tier(true)?;
        let now = self.clock.now_ms();
        let there: BTreeSet<Fingerprint> = tier.store.list().await?.into_iter().map(|item| item.id).collect();
        self.relist(now, false).await?;
        let chosen: Vec<Fingerprint> = self.state.with(|st| {
            st.index
                .slots
                .iter()
                .filter(|(_, slot)| accept(&slot.step, slot.created_ms))
                .map(|(id, _)| *id)
                .collect()
        });
        let mut report = Transfer::default();
        for id in chosen {
            if there.contains(&id) {
                report.present += 1;
                continue;
            }
            // Removed by another process since the listing: nothing to push.
            let Some((bytes, check)) = self.store.get_entry(&id).await? else {
                continue;
            };
            match entry::decode_checked(bytes.as_ref(), &id, check) {
                Ok((header, payload)) => {
                    let entry = entry::EntryWriter::new(&header, &bytes.as_ref()[payload]);
                    let written = self.shared_write(tier, &id, &entry).await?;
                    self.state.with(|st| st.shared.pending.remove(&id));
                    report.copied += 1;
                    report.bytes += written;
                }
                Err(why) => {
                    drop(bytes);
                    self.discard(&id).await;
                    self.state.with(|st| {
                        st.index.remove(&id);
                        st.corrupt_removed += 1;
                    });
                    report.refused.push((id, crate::text!(why)));
                }
            }
        }
        Ok(report)
    }

    /// Stores every entry of the shared tier that `accept(step, created_ms)` accepts and
    /// whose key the store does not hold, whatever its type's `shared` flag: each read,
    /// unsealed with the team key if the tier has one, and verified whole
    /// ([`Cache::import_entry`]). Entries this cache's policy would not serve (too old,
    /// forced) or not store are skipped; damaged, foreign or misfiled ones refused.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] without a shared tier; the shared tier's error or the
    /// store's (entries stored before it stay stored).
    pub async fn pull(&self, accept: impl Fn(&str, u64) -> bool) -> Result<Transfer> {
        let tier = self.transfer_tier(false)?;
        let now = self.clock.now_ms();
        let listed = tier.store.list().await?;
        self.relist(now, false).await?;
        let mut report = Transfer::default();
        for item in listed {
            let id = item.id;
            if self.state.with(|st| st.index.slots.contains_key(&id)) {
                report.present += 1;
                continue;
            }
            // The listed head names the step and time where it is long enough; otherwise
            // they are read from the entry.
            if let Ok(Head::Complete(header, _)) = entry::decode_head(&item.head)
                && header.key == id
                && !accept(&header.step, header.created_ms)
            {
                continue;
            }
            let Some((bytes, _)) = tier.store.get_entry(&id).await? else {
                continue;
            };
            let bytes = bytes.as_ref();
            let end = match entry::unseal(bytes, tier.team_key.as_ref()) {
                Ok(end) => end,
                Err(why) => {
                    report.refused.push((id, crate::text!(why)));
                    continue;
                }
            };
            let whole = &bytes[..end];
            let header = match entry::decode_head(whole) {
                Ok(Head::Complete(header, _)) if header.key == id => header,
                Ok(Head::Complete(header, _)) => {
                    report
                        .refused
                        .push((id, crate::text!("the entry is of another key (", header.key, ")")));
                    continue;
                }
                Ok(Head::NeedBytes(_)) => {
                    report.refused.push((id, crate::text!(entry::Corrupt::Truncated)));
                    continue;
                }
                Err(why) => {
                    report.refused.push((id, crate::text!(why)));
                    continue;
                }
            };
            if !accept(&header.step, header.created_ms) {
                continue;
            }
            if self
                .state
                .with(|st| st.fresh(&id, &header.step, header.created_ms, now))
                != Freshness::Fresh
            {
                report.skipped += 1;
                continue;
            }
            match self.import_record(&id, whole).await {
                Ok(imported) => match imported.store {
                    TierOutcome::Stored => {
                        report.copied += 1;
                        report.bytes += bytes.len() as u64;
                    }
                    TierOutcome::Skipped(SkipReason::Present) => report.present += 1,
                    TierOutcome::Skipped(_) | TierOutcome::Failed(_) => report.skipped += 1,
                },
                Err(e) if e.kind() == ErrorKind::InvalidEntry => report.refused.push((id, e.message().into())),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}
