//! The shared tier behind the directory: an object store's bucket (the S3 API) with the
//! `shared` feature, nothing without it. See `docs/shared.md`.

#[cfg(feature = "shared")]
use stepcache_core::entry::TeamKey;
use stepcache_core::{Result, SharedTier};

/// The shared tier's store: [`stepcache_object::ObjectStore`] with the `shared` feature.
#[cfg(feature = "shared")]
pub type SharedStore = stepcache_object::ObjectStore;
/// The shared tier's store: none without the `shared` feature.
#[cfg(not(feature = "shared"))]
pub type SharedStore = stepcache_core::NoShared;

/// What the builder was told about the shared tier.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedSettings {
    #[cfg(feature = "shared")]
    pub(crate) bucket: Option<stepcache_object::ObjectConfig>,
    #[cfg(feature = "shared")]
    pub(crate) team_key: Option<TeamKey>,
    #[cfg(feature = "shared")]
    pub(crate) retry_after_ms: Option<u64>,
}

impl SharedSettings {
    /// The shared tier these settings describe, if any.
    #[cfg(feature = "shared")]
    pub(crate) fn tier(&self) -> Result<Option<SharedTier<SharedStore>>> {
        let Some(bucket) = &self.bucket else { return Ok(None) };
        // Shared hits return once verified; the cache's promoter thread writes them into
        // the directory afterwards.
        let mut tier = SharedTier::new(stepcache_object::ObjectStore::open(bucket)?).promote_in_background();
        if let Some(key) = &self.team_key {
            tier = tier.team_key(key.clone());
        }
        if let Some(ms) = self.retry_after_ms {
            tier = tier.retry_after_ms(ms);
        }
        Ok(Some(tier))
    }

    /// No shared tier without the `shared` feature.
    #[cfg(not(feature = "shared"))]
    pub(crate) fn tier(&self) -> Result<Option<SharedTier<SharedStore>>> {
        Ok(None)
    }
}
