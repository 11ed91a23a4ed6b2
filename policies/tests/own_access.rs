//! The citizen's own access (action `read_own`, "Min sag"): decided by the policy set, on
//! the basis its permit names; a set without the own-access policy permits nothing; the
//! caseworker guardrails (blocks, the health consent rule) do not reach it, and it opens
//! nothing for a caseworker.

mod support;

use chrono::{DateTime, Utc};
use consent::Category;
use policies::{Basis, DecisionError, Effect, OwnAccessRequest, PolicyEngine};

fn now() -> DateTime<Utc> {
    "2026-11-30T12:00:00Z".parse().unwrap()
}

fn all_categories() -> Vec<Category> {
    support::rules().vocabulary.categories.keys().cloned().collect()
}

#[test]
fn the_citizen_may_read_every_category_of_their_own_on_the_gdpr_basis() {
    let engine = support::engine();
    let categories = all_categories();
    assert!(categories.len() >= 6);
    let d = engine.decide_own(&OwnAccessRequest { categories: &categories, now: now() }).unwrap();
    assert_eq!(d.sections.len(), categories.len());
    for (s, c) in d.sections.iter().zip(&categories) {
        assert_eq!(s.category(), c);
        assert_eq!(s.effect(), Effect::Permit, "{c}");
        assert_eq!(s.basis(), Some(&Basis::OwnAccess("databeskyttelsesforordningen art. 15".into())));
        assert_eq!(s.policies(), ["own-access.gdpr-art15"]);
        assert!(s.reason().da.contains("art. 15"));
    }
}

#[test]
fn without_the_own_access_policy_nothing_is_permitted() {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(policies::repository_dir().join("policy-set")).unwrap() {
        let f = f.unwrap().path();
        if !f.ends_with("50-own-access.cedar") {
            std::fs::create_dir_all(dir.path().join("policy-set")).unwrap();
            std::fs::copy(&f, dir.path().join("policy-set").join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(policies::repository_dir().join("schema.cedarschema"), dir.path().join("schema.cedarschema"))
        .unwrap();
    let engine = PolicyEngine::load(dir.path(), &support::rules()).unwrap();
    let categories = all_categories();
    let d = engine.decide_own(&OwnAccessRequest { categories: &categories, now: now() }).unwrap();
    assert!(d.sections.iter().all(|s| s.effect() == Effect::Deny && s.basis().is_none()));
}

#[test]
fn bad_requests_are_errors_not_denials() {
    let engine = support::engine();
    let cv: Category = "jobnet.cv".parse().unwrap();
    assert!(matches!(
        engine.decide_own(&OwnAccessRequest { categories: &[], now: now() }),
        Err(DecisionError::NoCategories)
    ));
    assert!(matches!(
        engine.decide_own(&OwnAccessRequest { categories: &[cv.clone(), cv], now: now() }),
        Err(DecisionError::DuplicateCategory(_))
    ));
    let unknown: Category = "jobnet.unknown".parse().unwrap();
    assert!(engine.decide_own(&OwnAccessRequest { categories: &[unknown], now: now() }).is_err());
}
