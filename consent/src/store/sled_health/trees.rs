//! The sled trees of the health outbox (opened with the store; used by `sled_health.rs`).

use crate::store::StoreError;

/// The health outbox's trees. Cheap to clone.
#[derive(Clone)]
pub(in crate::store) struct HealthTrees {
    pub(super) messages: sled::Tree,
    pub(super) envelopes: sled::Tree,
    pub(super) idempotency: sled::Tree,
    pub(super) queued: sled::Tree,
}

impl HealthTrees {
    pub(in crate::store) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            messages: db.open_tree("health_messages")?,
            envelopes: db.open_tree("health_envelopes")?,
            idempotency: db.open_tree("health_idempotency")?,
            queued: db.open_tree("health_queued")?,
        })
    }
}
