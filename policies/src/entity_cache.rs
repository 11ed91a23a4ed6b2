//! A memo of the Cedar `Entities` a decision builds.
//!
//! Building `Entities` (and Cedar's transitive closure over the unit and category
//! hierarchy) was ~30% of a decision's time, yet it depends only on who asks and what is
//! asked: the caseworker (id, unit, roles), the citizen's municipality and the requested
//! categories — never on the citizen, the consents or the blocks, which go into the
//! context. So the set is built once per such key and shared. The cache belongs to one
//! loaded policy set (a reload starts a new, empty one), holds at most [`CAPACITY`]
//! entries (it is emptied when full), and never holds a failed build: an error is returned
//! and built again next time.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use cedar_policy::Entities;
use consent::{Category, UnitId};

use crate::error::DecisionError;
use crate::request::DecisionRequest;

/// The most entity sets kept (a few MB at most; one per caseworker and category list).
pub const CAPACITY: usize = 4_096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    caseworker: String,
    unit: UnitId,
    roles: BTreeSet<String>,
    municipality: Option<i64>,
    categories: Vec<Category>,
}

impl Key {
    fn of(req: &DecisionRequest<'_>) -> Key {
        Key {
            caseworker: req.caseworker.id.clone(),
            unit: req.caseworker.unit.clone(),
            roles: req.caseworker.roles.clone(),
            municipality: req.citizen_municipality.map(|m| i64::from(m.get())),
            categories: req.categories.to_vec(),
        }
    }
}

#[derive(Default)]
pub struct EntityCache {
    map: Mutex<HashMap<Key, Arc<Entities>>>,
}

impl EntityCache {
    /// The request's entities: the cached set for its key, or `build()`'s (cached if it
    /// succeeds).
    pub(crate) fn get_or_build(
        &self,
        req: &DecisionRequest<'_>,
        build: impl FnOnce() -> Result<Entities, DecisionError>,
    ) -> Result<Arc<Entities>, DecisionError> {
        let key = Key::of(req);
        if let Some(e) = self.lock().get(&key) {
            return Ok(e.clone());
        }
        let built = Arc::new(build()?);
        let mut map = self.lock();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(key, built.clone());
        Ok(built)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Entities>>> {
        // A panic while holding the lock cannot leave the map half-updated (insert and
        // clear are single calls), so a poisoned lock is still usable.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}
