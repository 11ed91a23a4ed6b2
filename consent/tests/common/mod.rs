//! Shared set-up for the consent crate's integration tests.
#![allow(dead_code)]

pub mod kill_loop;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Months, TimeZone, Utc};
use consent::audit::{AuditConfig, AuditLog};
use consent::block::{Block, BlockId, BlockTarget};
use consent::{
    Actor, Category, Channel, Consent, ConsentId, ConsentService, Cpr, DomainConfig, Ledger, LedgerError, Period,
    Purpose, Requester, Rules, ServiceError, SledStore, Store, TermsInput, UnitId,
};
use ed25519_dalek::SigningKey;

/// The rules from the compiled-in default configuration.
pub fn rules() -> Rules {
    #[derive(serde::Deserialize)]
    struct File {
        domain: DomainConfig,
    }
    let f: File = toml::from_str(consent::DEFAULT_CONFIG).expect("config/default.toml parses");
    f.domain.into_rules().expect("default units form a hierarchy")
}

/// The audit signing key of the tests' logs.
pub fn audit_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// The consent service over `store`, with an audit log over the same store.
pub async fn service_over<S: Store + Clone>(store: S) -> ConsentService<S> {
    let audit = AuditLog::open(store.clone(), audit_key(), AuditConfig::default()).await.expect("open the audit log");
    ConsentService::new(Ledger::new(store, rules()), audit)
}

/// A ledger over a temporary store whose changes go through the consent service (so each
/// is audited), with the ledger's change signatures: a test states the channel, and the
/// actor is the citizen (portal, CLI) or a caseworker (API).
pub async fn ledger() -> TestLedger {
    ledger_over(SledStore::temporary().unwrap()).await
}

pub async fn ledger_over(store: SledStore) -> TestLedger {
    TestLedger { service: service_over(store).await }
}

/// Opens the store in `dir`, waiting (at most 5 s) for an earlier handle to let go of it:
/// an audit writer of this process still shutting down, or (in a crash test's writer) the
/// parent's verification handle, whose sled threads release the file lock after the drop.
pub async fn reopen(dir: &std::path::Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match SledStore::open(dir) {
            Ok(s) => return s,
            Err(e) if std::time::Instant::now() > deadline => panic!("the store does not reopen: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
}

pub fn actor(channel: Channel) -> Actor {
    match channel {
        Channel::Api => Actor::caseworker("case-system", "cw-1", unit("kk.jobcenter"), "req-test"),
        c => Actor::citizen(c),
    }
}

#[derive(Clone)]
pub struct TestLedger {
    pub service: ConsentService<SledStore>,
}

impl std::ops::Deref for TestLedger {
    type Target = Ledger<SledStore>;
    fn deref(&self) -> &Ledger<SledStore> {
        self.service.ledger()
    }
}

/// A refusal as the ledger's error; an audit failure fails the test.
fn ledger_result<T>(r: Result<T, ServiceError>) -> Result<T, LedgerError> {
    match r {
        Ok(v) => Ok(v),
        Err(ServiceError::Ledger(e)) => Err(e),
        Err(e) => panic!("the audit side failed: {e}"),
    }
}

impl TestLedger {
    pub async fn request(
        &self,
        input: TermsInput,
        requested_by: Requester,
        explanation: String,
        respond_by: DateTime<Utc>,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Consent, LedgerError> {
        ledger_result(self.service.request(input, requested_by, explanation, respond_by, &actor(channel), now).await)
    }

    pub async fn grant(
        &self,
        input: TermsInput,
        citizen: &Cpr,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Consent, LedgerError> {
        ledger_result(self.service.grant(input, citizen, &actor(channel), now).await)
    }

    pub async fn approve(
        &self,
        id: ConsentId,
        citizen: &Cpr,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Consent, LedgerError> {
        ledger_result(self.service.approve(id, citizen, &actor(channel), now).await)
    }

    pub async fn reject(
        &self,
        id: ConsentId,
        citizen: &Cpr,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Consent, LedgerError> {
        ledger_result(self.service.reject(id, citizen, &actor(channel), now).await)
    }

    pub async fn revoke(
        &self,
        id: ConsentId,
        citizen: &Cpr,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Consent, LedgerError> {
        ledger_result(self.service.revoke(id, citizen, &actor(channel), now).await)
    }

    pub async fn place_block(
        &self,
        citizen: &Cpr,
        target: BlockTarget,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Block, LedgerError> {
        ledger_result(self.service.place_block(citizen, target, &actor(channel), now).await)
    }

    pub async fn lift_block(
        &self,
        id: BlockId,
        citizen: &Cpr,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Block, LedgerError> {
        ledger_result(self.service.lift_block(id, citizen, &actor(channel), now).await)
    }

    pub async fn import_grants(
        &self,
        inputs: Vec<TermsInput>,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Vec<Consent>, LedgerError> {
        ledger_result(self.service.import_grants(inputs, &actor(channel), now).await)
    }

    /// Asserts that every consent event in the store has exactly one durable audit record
    /// naming it, that no consent record names anything else, and that the outbox is empty.
    pub async fn assert_consents_audited(&self) {
        let subjects = self.audit_subjects().await;
        let mut events = 0;
        for id in self.store().consent_ids().await.unwrap() {
            for e in self.store().consent_events(id).await.unwrap() {
                let s = format!("consent:{id}.{}", e.version);
                assert_eq!(subjects.get(&s), Some(&1), "{s} has no single audit record");
                events += 1;
            }
        }
        assert_eq!(subjects.keys().filter(|s| s.starts_with("consent:")).count(), events, "records without a change");
        assert!(self.store().audit_outbox(10).await.unwrap().is_empty(), "records left in the outbox");
    }

    /// How many durable audit records name each subject (`consent:<id>.<version>`, ...).
    pub async fn audit_subjects(&self) -> std::collections::HashMap<String, usize> {
        audit_subjects(self.service.audit()).await
    }
}

/// How many durable audit records name each subject.
pub async fn audit_subjects<S: Store>(log: &AuditLog<S>) -> std::collections::HashMap<String, usize> {
    let mut out = std::collections::HashMap::new();
    for (_, r) in log.entries(0, u64::MAX).await.unwrap() {
        if let Some(s) = r.subject {
            *out.entry(s).or_default() += 1;
        }
    }
    out
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
