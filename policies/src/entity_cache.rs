//! A memo of the Cedar `Entities` a decision builds.
//!
//! Building `Entities` (and Cedar's transitive closure over the unit and category
//! hierarchy) was ~30% of a decision's time, yet it depends only on who asks and what is
//! asked: the caseworker (id, unit, roles), the citizen's municipality and the requested
//! categories — never on the citizen, the consents or the blocks, which go into the
//! context. So the set is built once per such key and shared. The cache belongs to one
//! loaded policy set (a reload starts a new, empty one), holds about [`CAPACITY`] entries,
//! and never holds a failed build: an error is returned and built again next time.
//!
//! It is a bounded concurrent cache (`quick_cache`: sharded locks, S3-FIFO eviction): when
//! full it evicts the coldest sets one at a time, so the caseworkers in steady use keep
//! theirs however many others come and go, and concurrent first requests of one key build
//! it once.

use std::collections::BTreeSet;
use std::sync::Arc;

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

pub struct EntityCache {
    cache: quick_cache::sync::Cache<Key, Arc<Entities>>,
}

impl Default for EntityCache {
    fn default() -> Self {
        Self { cache: quick_cache::sync::Cache::new(CAPACITY) }
    }
}

impl EntityCache {
    /// The request's entities: the cached set for its key, or `build()`'s (cached if it
    /// succeeds).
    pub(crate) fn get_or_build(
        &self,
        req: &DecisionRequest<'_>,
        build: impl FnOnce() -> Result<Entities, DecisionError>,
    ) -> Result<Arc<Entities>, DecisionError> {
        self.cache.get_or_insert_with(&Key::of(req), || build().map(Arc::new))
    }

    /// How many sets are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Caseworker;

    /// Builds the entities of caseworker `id` through the cache; returns whether it built.
    fn fetch(cache: &EntityCache, id: &str) -> bool {
        let cw = Caseworker {
            id: id.into(),
            unit: UnitId::parse("kk.jobcenter.rehab").unwrap(),
            roles: ["rehab-team-member".to_string()].into(),
        };
        let citizen = consent::Cpr::parse("0101901234").unwrap();
        let purpose = consent::Purpose::parse("rehabilitation-team").unwrap();
        let categories = [Category::parse("jobnet.cv").unwrap()];
        let req = DecisionRequest {
            caseworker: &cw,
            citizen: &citizen,
            citizen_municipality: None,
            purpose: &purpose,
            categories: &categories,
            now: chrono::DateTime::UNIX_EPOCH,
            consents: &[],
            blocks: &[],
        };
        let mut built = false;
        cache
            .get_or_build(&req, || {
                built = true;
                Ok(Entities::empty())
            })
            .unwrap();
        built
    }

    /// Full, the cache evicts a few cold sets at a time: after four times its capacity of
    /// one-off caseworkers it still holds nearly its capacity, and the caseworker asking
    /// all along was never evicted (the old cache emptied itself completely when full).
    #[test]
    fn a_full_cache_evicts_cold_entries_and_keeps_hot_ones() {
        let cache = EntityCache::default();
        assert!(fetch(&cache, "hot"));
        assert!(!fetch(&cache, "hot"), "the second request is served from the cache");
        for i in 0..4 * CAPACITY {
            assert!(fetch(&cache, &format!("cold-{i}")));
            if i % 16 == 0 {
                assert!(!fetch(&cache, "hot"), "the hot caseworker was evicted after {i} others");
            }
            assert!(cache.len() <= CAPACITY + CAPACITY / 10, "{} held", cache.len());
        }
        assert!(cache.len() >= CAPACITY * 9 / 10, "only {} of {CAPACITY} held", cache.len());
        // The most recent one-off caseworker is still there.
        assert!(!fetch(&cache, &format!("cold-{}", 4 * CAPACITY - 1)));
    }

    /// A failed build is not cached: the next request builds again.
    #[test]
    fn a_failed_build_is_not_remembered() {
        let cache = EntityCache::default();
        let cw = Caseworker { id: "x".into(), unit: UnitId::parse("kk").unwrap(), roles: BTreeSet::new() };
        let citizen = consent::Cpr::parse("0101901234").unwrap();
        let purpose = consent::Purpose::parse("rehabilitation-team").unwrap();
        let req = DecisionRequest {
            caseworker: &cw,
            citizen: &citizen,
            citizen_municipality: None,
            purpose: &purpose,
            categories: &[],
            now: chrono::DateTime::UNIX_EPOCH,
            consents: &[],
            blocks: &[],
        };
        let failed = cache.get_or_build(&req, || Err(DecisionError::NoCategories));
        assert!(matches!(failed, Err(DecisionError::NoCategories)));
        assert_eq!(cache.len(), 0);
        let mut built = false;
        cache
            .get_or_build(&req, || {
                built = true;
                Ok(Entities::empty())
            })
            .unwrap();
        assert!(built && cache.len() == 1);
    }
}
