//! Shared set-up for the consent crate's integration tests.
#![allow(dead_code)]

pub mod kill_loop;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Months, TimeZone, Utc};
use consent::{Category, Cpr, DomainConfig, Ledger, Period, Purpose, Rules, SledStore, TermsInput, UnitId};

/// The rules from the compiled-in default configuration.
pub fn rules() -> Rules {
    #[derive(serde::Deserialize)]
    struct File {
        domain: DomainConfig,
    }
    let f: File = toml::from_str(consent::DEFAULT_CONFIG).expect("config/default.toml parses");
    f.domain.into_rules().expect("default units form a hierarchy")
}

pub fn ledger() -> Ledger<SledStore> {
    Ledger::new(SledStore::temporary().unwrap(), rules())
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub fn cpr(s: &str) -> Cpr {
    Cpr::parse(s).unwrap()
}

pub fn unit(s: &str) -> UnitId {
    UnitId::parse(s).unwrap()
}

pub fn purpose(s: &str) -> Purpose {
    Purpose::parse(s).unwrap()
}

pub fn category(s: &str) -> Category {
    Category::parse(s).unwrap()
}

pub fn terms(citizen: Cpr, grantee: &str, cats: &[&str], now: DateTime<Utc>, months: u32) -> TermsInput {
    TermsInput {
        citizen,
        grantee: unit(grantee),
        include_subunits: false,
        purpose: purpose("rehabilitation-team"),
        categories: cats.iter().map(|c| category(c)).collect::<BTreeSet<_>>(),
        period: Period { from: now, until: now.checked_add_months(Months::new(months)).unwrap() },
        data_period: None,
        text_version: "t-1".into(),
        text_body: "Du giver lov til ...".into(),
    }
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}
