//! Shared by the integration tests and the benchmark: the default rules, and builders
//! for consents and blocks.
#![allow(dead_code)]

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use consent::record::{ConsentText, Terms};
use consent::{
    Block, BlockId, BlockTarget, Category, Channel, Consent, ConsentId, Cpr, DomainConfig, Grantor, Period, Purpose,
    Rules, State, UnitId,
};
use policies::PolicyEngine;

#[derive(serde::Deserialize)]
struct Config {
    domain: DomainConfig,
}

/// The rules from `config/default.toml`.
pub fn rules() -> Rules {
    let c: Config = toml::from_str(consent::DEFAULT_CONFIG).expect("default config parses");
    c.domain.into_rules().expect("default units are valid")
}

/// The engine with this repository's policies and the default rules.
pub fn engine() -> PolicyEngine {
    PolicyEngine::load(&policies::repository_dir(), &rules()).expect("the repository's policies are valid")
}

pub fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 time")
}

pub fn unit(s: &str) -> UnitId {
    UnitId::parse(s).unwrap()
}

pub fn cat(s: &str) -> Category {
    Category::parse(s).unwrap()
}

pub fn purpose(s: &str) -> Purpose {
    Purpose::parse(s).unwrap()
}

pub fn citizen() -> Cpr {
    Cpr::parse("0101901234").unwrap()
}

pub fn other_citizen() -> Cpr {
    Cpr::parse("0202802345").unwrap()
}

/// A consent in the given state; `period` is `[from, until)`.
#[allow(clippy::too_many_arguments)]
pub fn consent(
    who: Cpr,
    grantee: &str,
    include_subunits: bool,
    purpose_: &str,
    categories: &[&str],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    state: State,
) -> Consent {
    Consent {
        id: ConsentId::new(),
        terms: Terms {
            citizen: who,
            grantee: unit(grantee),
            include_subunits,
            purpose: purpose(purpose_),
            categories: categories.iter().map(|c| cat(c)).collect::<BTreeSet<_>>(),
            period: Period { from, until },
            data_period: None,
            text: ConsentText { version: "v1".into(), sha256: "0".repeat(64) },
        },
        state,
        grantor: (state == State::Active || state == State::Revoked).then_some(Grantor::Citizen),
        channel: Channel::Portal,
        requested_by: None,
        explanation: None,
        respond_by: None,
        paper: None,
        created_at: from,
        updated_at: from,
        version: 1,
    }
}

pub fn block(who: Cpr, target: BlockTarget, lifted: bool) -> Block {
    let at = t("2025-01-01T00:00:00Z");
    Block { id: BlockId::new(), citizen: who, target, placed_at: at, lifted_at: lifted.then_some(at), version: 1 }
}
