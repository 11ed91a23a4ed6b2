//! sammen's policy engine (DESIGN.md §5): the Cedar schema and policies in `policies/`,
//! loaded, validated strictly and evaluated.
//!
//! The repository's set is compiled into the crate ([`PolicyEngine::builtin`], by
//! `build.rs`), so a binary needs no policy files unless it is given a directory of its own
//! ([`PolicyEngine::load`]); only a directory is watched and reloaded from disk.
//!
//! The engine is pure: the gateway looks up the consents (`Ledger::covering`) and the
//! citizen's blocks first and passes them in a [`DecisionRequest`]; [`PolicyEngine::decide`]
//! returns a [`Decision`] per category with its basis, the determining policy ids and a
//! reason in Danish and English. Bad input is a [`DecisionError`], never a deny.
//!
//! The policy set is swapped atomically on [`PolicyEngine::reload`] (see [`watch`]), so a
//! reload never blocks a decision, and an invalid new set leaves the old one in force.

mod decide;
mod decision;
mod entity_cache;
pub mod error;
pub mod explain;
mod fast_path;
mod load;
mod matching;
mod request;
pub mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use consent::{Rules, UnitId};

pub use decide::CustodyDecision;
pub use decision::{Basis, CategoryDecision, Decision, Effect, NO_BASIS_DA, NO_BASIS_EN, Reason};
pub use error::{DecisionError, PolicyError, Problem};
pub use load::{BUILTIN_ORIGIN, POLICY_DIR, SCHEMA_FILE};
pub use request::{Action, Caseworker, DecisionRequest, OwnAccessRequest};
pub use watch::{Watcher, watch};

/// The policy directory of this repository (`policies/`), for tests and tools run from
/// a checkout. A deployment names its own directory in configuration.
pub fn repository_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Summary of a loaded policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySummary {
    pub digest: String,
    /// `(id, "permit"|"forbid", legal reference)` per policy, sorted by id.
    pub policies: Vec<(String, &'static str, Option<String>)>,
}

/// Validates a policy directory without building an engine (`sammen policy check`).
pub fn check(dir: &Path) -> Result<PolicySummary, PolicyError> {
    Ok(summary(&load::load(dir)?))
}

/// Validates the compiled-in policy set (`sammen policy check` without a directory).
pub fn check_builtin() -> Result<PolicySummary, PolicyError> {
    Ok(summary(&load::load_sources(&load::Sources::builtin())?))
}

/// Where an engine's policy set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A policy directory, read at load and on every reload.
    Dir(PathBuf),
    /// The repository's set as compiled into this binary.
    Builtin,
}

impl PolicySource {
    fn load(&self) -> Result<load::Loaded, PolicyError> {
        match self {
            PolicySource::Dir(dir) => load::load(dir),
            PolicySource::Builtin => load::load_sources(&load::Sources::builtin()),
        }
    }
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::Dir(dir) => write!(f, "{}", dir.display()),
            PolicySource::Builtin => f.write_str("the compiled-in policy set"),
        }
    }
}

fn summary(l: &load::Loaded) -> PolicySummary {
    let mut policies: Vec<_> = l
        .meta
        .values()
        .map(|m| {
            let effect = match m.effect {
                cedar_policy::Effect::Permit => "permit",
                cedar_policy::Effect::Forbid => "forbid",
            };
            (m.id.clone(), effect, m.legal_reference.clone())
        })
        .collect();
    policies.sort();
    PolicySummary { digest: l.digest.clone(), policies }
}

/// A loaded policy set and its fast path (`None`: Cedar decides everything).
struct InForce {
    loaded: load::Loaded,
    fast: Option<fast_path::FastPath>,
}

impl InForce {
    fn new(loaded: load::Loaded, names: &decide::Names) -> Self {
        let fast = fast_path::FastPath::new(&loaded, &names.read);
        if fast.is_none() {
            tracing::warn!(digest = %loaded.digest, "the fast path is not written for this policy set: Cedar decides every request");
        }
        Self { loaded, fast }
    }
}

/// The policy engine. `Send + Sync`; share it behind an `Arc`.
pub struct PolicyEngine {
    source: PolicySource,
    rules: Arc<Rules>,
    names: decide::Names,
    orgs: HashMap<UnitId, cedar_policy::Entity>,
    authorizer: cedar_policy::Authorizer,
    current: ArcSwap<InForce>,
    reload_lock: Mutex<()>,
    /// Why the last reload was refused (the old set stayed in force); `None` after a
    /// successful one.
    reload_failure: Mutex<Option<String>>,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine").field("source", &self.source).field("digest", &self.digest()).finish()
    }
}

impl PolicyEngine {
    /// Loads and strictly validates the policy directory `dir` (`schema.cedarschema` and
    /// `policy-set/*.cedar`). `rules` gives the vocabulary and the unit hierarchy.
    pub fn load(dir: &Path, rules: &Rules) -> Result<Self, PolicyError> {
        Self::from_source(PolicySource::Dir(dir.to_path_buf()), rules)
    }

    /// The policy set compiled into this binary (the repository's `policies/` when it was
    /// built), validated like a directory.
    pub fn builtin(rules: &Rules) -> Result<Self, PolicyError> {
        Self::from_source(PolicySource::Builtin, rules)
    }

    /// [`PolicyEngine::load`] for a configured directory, [`PolicyEngine::builtin`] without one.
    pub fn load_or_builtin(dir: Option<&Path>, rules: &Rules) -> Result<Self, PolicyError> {
        match dir {
            Some(dir) => Self::load(dir, rules),
            None => Self::builtin(rules),
        }
    }

    fn from_source(source: PolicySource, rules: &Rules) -> Result<Self, PolicyError> {
        let loaded = source.load()?;
        let names = decide::Names::new();
        let orgs = decide::organisation_entities(&names, &rules.directory);
        tracing::info!(digest = %loaded.digest, policies = loaded.meta.len(), source = %source, "policy set loaded");
        let current = ArcSwap::from_pointee(InForce::new(loaded, &names));
        Ok(Self {
            source,
            rules: Arc::new(rules.clone()),
            names,
            orgs,
            authorizer: cedar_policy::Authorizer::new(),
            current,
            reload_lock: Mutex::new(()),
            reload_failure: Mutex::new(None),
        })
    }

    /// Decides every requested category. Fetches nothing. The common cases are decided
    /// by the fast path (`fast_path.rs`) when it is written for the policy set in force,
    /// everything else by one Cedar evaluation per category.
    pub fn decide(&self, req: &DecisionRequest<'_>) -> Result<Decision, DecisionError> {
        let current = self.current.load();
        self.decider(&current).decide(req, decide::Route::Fast, Action::Read)
    }

    /// [`PolicyEngine::decide`] by Cedar alone, never the fast path: the reference the
    /// fast path is tested against (`tests/fast_path.rs`).
    pub fn decide_by_cedar(&self, req: &DecisionRequest<'_>) -> Result<Decision, DecisionError> {
        let current = self.current.load();
        self.decider(&current).decide(req, decide::Route::CedarOnly, Action::Read)
    }

    /// The fast path's answer per category, `None` where it leaves the category to Cedar
    /// (and everywhere when it is switched off). For the differential test.
    #[doc(hidden)]
    pub fn fast_path_sections(
        &self,
        req: &DecisionRequest<'_>,
    ) -> Result<Vec<Option<CategoryDecision>>, DecisionError> {
        let current = self.current.load();
        self.decider(&current).fast_sections(req)
    }

    /// Whether the fast path is written for the policy set in force (else Cedar decides
    /// everything).
    pub fn fast_path_enabled(&self) -> bool {
        self.current.load().fast.is_some()
    }

    /// Decides `action` (the policies' `read`, `send` or `write`) for every requested category.
    pub fn decide_action(&self, req: &DecisionRequest<'_>, action: Action) -> Result<Decision, DecisionError> {
        let current = self.current.load();
        self.decider(&current).decide(req, decide::Route::Fast, action)
    }

    /// The citizen's own access to each category (action `read_own`): decided by the policy
    /// set (Cedar; the fast path is for `read` only), with the basis the permitting policy names.
    pub fn decide_own(&self, req: &OwnAccessRequest<'_>) -> Result<Decision, DecisionError> {
        let current = self.current.load();
        self.decider(&current).decide_own(req, false)
    }

    /// The citizen's own statement to each category (action `write_own`: "Mit perspektiv"
    /// in the coordinated plan), decided by the policy set (Cedar).
    pub fn decide_own_write(&self, req: &OwnAccessRequest<'_>) -> Result<Decision, DecisionError> {
        let current = self.current.load();
        self.decider(&current).decide_own(req, true)
    }

    /// Whether a holder of custody may act for a child of `child_age_years` (action
    /// `represent`, `60-custody.cedar`: the age rules are policies).
    pub fn decide_custody(&self, relation: &str, child_age_years: u32) -> Result<CustodyDecision, DecisionError> {
        let current = self.current.load();
        self.decider(&current).decide_custody(relation, child_age_years)
    }

    fn decider<'e>(&'e self, current: &'e InForce) -> decide::Decider<'e> {
        decide::Decider {
            names: &self.names,
            rules: &self.rules,
            orgs: &self.orgs,
            authorizer: &self.authorizer,
            loaded: &current.loaded,
            fast: current.fast.as_ref(),
        }
    }

    /// Reads the directory again; swaps the new set in if it is valid, and otherwise keeps
    /// the old set in force and returns the problems. Returns the digest now in force. (The
    /// compiled-in set cannot change: reloading it gives the same set.)
    pub fn reload(&self) -> Result<String, PolicyError> {
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut failure = self.reload_failure.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = match self.source.load() {
            Ok(loaded) => loaded,
            Err(e) => {
                *failure = Some(e.to_string());
                return Err(e);
            }
        };
        let digest = loaded.digest.clone();
        self.current.store(Arc::new(InForce::new(loaded, &self.names)));
        *failure = None;
        Ok(digest)
    }

    /// Why the last reload was refused, while the set in force is older than the
    /// directory's (readiness reports it); `None` when the last reload succeeded or none
    /// failed.
    pub fn reload_failure(&self) -> Option<String> {
        self.reload_failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The SHA-256 (hex) of the schema and policy files in force.
    pub fn digest(&self) -> String {
        self.current.load().loaded.digest.clone()
    }

    /// The policy directory; `None` for the compiled-in set.
    pub fn dir(&self) -> Option<&Path> {
        match &self.source {
            PolicySource::Dir(dir) => Some(dir),
            PolicySource::Builtin => None,
        }
    }

    /// Where the policy set comes from.
    pub fn source(&self) -> &PolicySource {
        &self.source
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The policies in force.
    pub fn summary(&self) -> PolicySummary {
        summary(&self.current.load().loaded)
    }
}

/// The default configuration's rules, for unit tests.
#[cfg(test)]
pub(crate) fn test_rules() -> Rules {
    #[derive(serde::Deserialize)]
    struct Config {
        domain: consent::DomainConfig,
    }
    let config: Config = toml::from_str(consent::DEFAULT_CONFIG).unwrap();
    config.domain.into_rules().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_send_and_sync() {
        assert_send_sync::<PolicyEngine>();
    }

    /// The compiled-in set is the repository's set, file for file.
    #[test]
    fn the_builtin_set_is_the_repository_set() {
        let builtin = check_builtin().unwrap();
        let dir = check(&repository_dir()).unwrap();
        assert_eq!(builtin, dir);
        assert!(builtin.policies.len() > 5, "{builtin:?}");
        let (_, files) = load::files(&repository_dir()).unwrap();
        let sources = load::Sources::builtin();
        assert_eq!(sources.policies.len(), files.len());
        assert!(sources.policies.iter().all(|f| f.path.starts_with(load::BUILTIN_ORIGIN)));
    }

    #[test]
    fn a_builtin_engine_has_no_directory_and_reloads_the_same_set() {
        let rules = test_rules();
        let engine = PolicyEngine::load_or_builtin(None, &rules).unwrap();
        assert_eq!(engine.dir(), None);
        assert_eq!(engine.source(), &PolicySource::Builtin);
        let digest = engine.digest();
        assert_eq!(engine.reload().unwrap(), digest);
        let from_dir = PolicyEngine::load_or_builtin(Some(&repository_dir()), &rules).unwrap();
        assert_eq!(from_dir.dir(), Some(repository_dir().as_path()));
        assert_eq!(from_dir.digest(), digest);
    }

    /// The schema makes every context field but `consent` required: a request built
    /// without one is refused before any policy is evaluated.
    #[test]
    fn a_context_missing_a_field_is_refused() {
        use cedar_policy::{Context, Request, RestrictedExpression};
        let loaded = load::load(&repository_dir()).unwrap();
        let uid = |s: &str| s.parse::<cedar_policy::EntityUid>().unwrap();
        let full = [
            ("purpose", RestrictedExpression::new_string("rehabilitation-team".into())),
            ("now", RestrictedExpression::new_long(1_748_779_200_000)),
            ("blocked_units", RestrictedExpression::new_set([])),
            ("blocked_categories", RestrictedExpression::new_set([])),
        ];
        let request = |skip: Option<&str>| {
            let pairs = full.iter().filter(|(k, _)| Some(*k) != skip).map(|(k, v)| (k.to_string(), v.clone()));
            Request::new(
                uid(r#"Sammen::Caseworker::"cw""#),
                uid(r#"Sammen::Action::"read""#),
                uid(r#"Sammen::Document::"health.lae265""#),
                Context::from_pairs(pairs).unwrap(),
                Some(&loaded.schema),
            )
            .map_err(|e| e.to_string())
        };
        assert!(request(None).is_ok());
        for field in ["purpose", "now", "blocked_units", "blocked_categories"] {
            let e = request(Some(field)).unwrap_err();
            assert!(e.contains("context"), "{field}: {e}");
        }
    }
}
