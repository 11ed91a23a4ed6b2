//! The consent ledger: the only way consents and blocks change.
//!
//! Each operation reads the current state, asks [`Rules::check`] whether the change may
//! happen, computes the new state with [`apply`], builds the change's audit record from the
//! event and the new state, and commits event, state and record together through the
//! [`Store`] (optimistic version check; a concurrent change is retried).
//!
//! The changing operations are crate-private: callers change consents through
//! [`crate::service::ConsentService`], which supplies the audit record and waits for it.
//! Reads are public.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::audit::OutboxRecord;
use crate::block::{Block, BlockError, BlockEvent, BlockEventKind, BlockId, BlockTarget, apply_block};
use crate::cpr::Cpr;
use crate::lifecycle::{RuleError, Rules, apply};
use crate::organisation::{Directory, OrganisationError, Unit, UnitId};
use crate::record::{
    Channel, Consent, ConsentEvent, ConsentId, ConsentStatus, ConsentText, DataPeriod, EventKind, Grantor, PaperRecord,
    Period, Requester, Terms,
};
use crate::store::{ConsentChange, Store, StoreError, covers};
use crate::vocabulary::{Category, Description, Purpose, Vocabulary};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("no consent with id {0}")]
    NoSuchConsent(ConsentId),
    #[error("no block with id {0}")]
    NoSuchBlock(BlockId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OrganisationError> for LedgerError {
    fn from(e: OrganisationError) -> Self {
        LedgerError::Rule(e.into())
    }
}

/// The domain part of the configuration: the consent cap, the vocabulary and the units.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    #[serde(default = "default_cap")]
    pub max_validity_months: u32,
    /// Days a citizen has to confirm a paper consent digitally before it expires.
    #[serde(default = "default_paper_days")]
    pub paper_confirmation_days: u32,
    pub purposes: std::collections::BTreeMap<Purpose, Description>,
    pub categories: std::collections::BTreeMap<Category, Description>,
    pub units: Vec<Unit>,
}

fn default_cap() -> u32 {
    12
}

fn default_paper_days() -> u32 {
    30
}

impl DomainConfig {
    pub fn into_rules(self) -> Result<Rules, OrganisationError> {
        Ok(Rules {
            max_validity_months: self.max_validity_months,
            paper_confirmation_days: self.paper_confirmation_days,
            vocabulary: Vocabulary { purposes: self.purposes, categories: self.categories },
            directory: Directory::new(self.units)?,
        })
    }
}

/// What a consent is about, as a caller states it; the ledger hashes the text.
#[derive(Debug, Clone)]
pub struct TermsInput {
    pub citizen: Cpr,
    pub grantee: UnitId,
    pub include_subunits: bool,
    pub purpose: Purpose,
    pub categories: BTreeSet<Category>,
    pub period: Period,
    pub data_period: Option<DataPeriod>,
    pub text_version: String,
    pub text_body: String,
}

impl TermsInput {
    fn into_terms(self) -> (Terms, String) {
        let sha256 = hex::encode(Sha256::digest(self.text_body.as_bytes()));
        let terms = Terms {
            citizen: self.citizen,
            grantee: self.grantee,
            include_subunits: self.include_subunits,
            purpose: self.purpose,
            categories: self.categories,
            period: self.period,
            data_period: self.data_period,
            text: ConsentText { version: self.text_version, sha256 },
        };
        (terms, self.text_body)
    }
}

/// The ledger. Cheap to clone.
pub struct Ledger<S> {
    store: S,
    rules: Arc<Rules>,
}

impl<S: Clone> Clone for Ledger<S> {
    fn clone(&self) -> Self {
        Self { store: self.store.clone(), rules: self.rules.clone() }
    }
}

const RETRIES: usize = 8;

impl<S: Store> Ledger<S> {
    pub fn new(store: S, rules: Rules) -> Self {
        Self { store, rules: Arc::new(rules) }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// A caseworker asks the citizen for consent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn request(
        &self,
        input: TermsInput,
        requested_by: Requester,
        explanation: String,
        respond_by: DateTime<Utc>,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        let (terms, body) = input.into_terms();
        let kind = EventKind::Requested { terms: Box::new(terms), requested_by, explanation, respond_by };
        self.create(kind, None, body, channel, now, audit).await
    }

    /// The citizen grants a consent directly.
    pub(crate) async fn grant(
        &self,
        input: TermsInput,
        actor: &Cpr,
        by: Grantor,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        let (terms, body) = input.into_terms();
        let kind = EventKind::Granted { terms: Box::new(terms), by };
        self.create(kind, Some(actor), body, channel, now, audit).await
    }

    /// A caseworker system registers a consent the citizen signed on paper.
    pub(crate) async fn register_paper(
        &self,
        input: TermsInput,
        paper: PaperRecord,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        let (terms, body) = input.into_terms();
        let kind = EventKind::RegisteredFromPaper { terms: Box::new(terms), paper: Box::new(paper) };
        self.create(kind, None, body, channel, now, audit).await
    }

    /// The citizen (or a representative) confirms a paper consent digitally.
    pub(crate) async fn confirm(
        &self,
        id: ConsentId,
        actor: &Cpr,
        by: Grantor,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        self.transition(id, actor, channel, now, || EventKind::Confirmed { by: by.clone() }, audit).await
    }

    /// Imports consents the citizens granted elsewhere (e.g. on paper, or in a system being
    /// replaced), each checked by the same rules as [`Ledger::grant`], in one transaction.
    /// All or nothing: one invalid consent refuses the whole batch.
    pub(crate) async fn import_grants(
        &self,
        inputs: Vec<TermsInput>,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<Vec<(Consent, OutboxRecord)>, LedgerError> {
        let mut prepared = Vec::with_capacity(inputs.len());
        for input in inputs {
            let citizen = input.citizen;
            let (terms, body) = input.into_terms();
            let kind = EventKind::Granted { terms: Box::new(terms), by: Grantor::Citizen };
            let event = ConsentEvent { consent_id: ConsentId::new(), version: 1, at: now, channel, kind };
            self.rules.check(None, &event, Some(&citizen), now)?;
            let state = apply(None, &event)?;
            let record = audit(&event, &state);
            prepared.push((event, state, body, record));
        }
        let changes: Vec<_> = prepared
            .iter()
            .map(|(event, state, body, record)| ConsentChange {
                event,
                state,
                text_body: Some(body.as_str()),
                audit: record.entry(),
            })
            .collect();
        self.store.import_consents(&changes).await?;
        Ok(prepared.into_iter().map(|(_, state, _, record)| (state, record)).collect())
    }

    async fn create(
        &self,
        kind: EventKind,
        actor: Option<&Cpr>,
        body: String,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        let event = ConsentEvent { consent_id: ConsentId::new(), version: 1, at: now, channel, kind };
        self.rules.check(None, &event, actor, now)?;
        let state = apply(None, &event)?;
        let record = audit(&event, &state);
        let change = ConsentChange { event: &event, state: &state, text_body: Some(&body), audit: record.entry() };
        self.store.commit_consent(change).await?;
        Ok((state, record))
    }

    pub(crate) async fn approve(
        &self,
        id: ConsentId,
        actor: &Cpr,
        by: Grantor,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        self.transition(id, actor, channel, now, || EventKind::Approved { by: by.clone() }, audit).await
    }

    pub(crate) async fn reject(
        &self,
        id: ConsentId,
        actor: &Cpr,
        by: Grantor,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        self.transition(id, actor, channel, now, || EventKind::Rejected { by: by.clone() }, audit).await
    }

    /// Revocation is immediate: the next lookup no longer finds the consent.
    pub(crate) async fn revoke(
        &self,
        id: ConsentId,
        actor: &Cpr,
        by: Grantor,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        self.transition(id, actor, channel, now, || EventKind::Revoked { by: by.clone() }, audit).await
    }

    async fn transition(
        &self,
        id: ConsentId,
        actor: &Cpr,
        channel: Channel,
        now: DateTime<Utc>,
        kind: impl Fn() -> EventKind,
        audit: impl Fn(&ConsentEvent, &Consent) -> OutboxRecord,
    ) -> Result<(Consent, OutboxRecord), LedgerError> {
        let mut attempt = 0;
        loop {
            let current = self.store.consent(id).await?.ok_or(LedgerError::NoSuchConsent(id))?;
            let event = ConsentEvent { consent_id: id, version: current.version + 1, at: now, channel, kind: kind() };
            self.rules.check(Some(&current), &event, Some(actor), now)?;
            let state = apply(Some(current), &event)?;
            // The record is built from this attempt's event and state (a retry re-reads both).
            let record = audit(&event, &state);
            let change = ConsentChange { event: &event, state: &state, text_body: None, audit: record.entry() };
            match self.store.commit_consent(change).await {
                Err(StoreError::Conflict { .. }) if attempt < RETRIES => attempt += 1,
                r => return r.map(|()| (state, record)).map_err(Into::into),
            }
        }
    }

    /// The citizen blocks a unit (and everything below it) or a category.
    pub(crate) async fn place_block(
        &self,
        citizen: &Cpr,
        target: BlockTarget,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&BlockEvent, &Block) -> OutboxRecord,
    ) -> Result<(Block, OutboxRecord), LedgerError> {
        match &target {
            BlockTarget::Unit(u) => {
                self.rules.directory.get(u)?;
            }
            BlockTarget::Category(c) => self.rules.vocabulary.check_category(c).map_err(RuleError::from)?,
        }
        let event = BlockEvent {
            block_id: BlockId::new(),
            version: 1,
            at: now,
            channel,
            kind: BlockEventKind::Placed { citizen: *citizen, target },
        };
        let state = apply_block(None, &event)?;
        let record = audit(&event, &state);
        self.store.commit_block(&event, &state, record.entry()).await?;
        Ok((state, record))
    }

    pub(crate) async fn lift_block(
        &self,
        id: BlockId,
        actor: &Cpr,
        channel: Channel,
        now: DateTime<Utc>,
        audit: impl Fn(&BlockEvent, &Block) -> OutboxRecord,
    ) -> Result<(Block, OutboxRecord), LedgerError> {
        let mut attempt = 0;
        loop {
            let current = self.store.block(id).await?.ok_or(LedgerError::NoSuchBlock(id))?;
            if current.citizen != *actor {
                return Err(RuleError::NotTheCitizen.into());
            }
            let event = BlockEvent {
                block_id: id,
                version: current.version + 1,
                at: now,
                channel,
                kind: BlockEventKind::Lifted,
            };
            let state = apply_block(Some(current), &event)?;
            let record = audit(&event, &state);
            match self.store.commit_block(&event, &state, record.entry()).await {
                Err(StoreError::Conflict { .. }) if attempt < RETRIES => attempt += 1,
                r => return r.map(|()| (state, record)).map_err(Into::into),
            }
        }
    }

    pub async fn consent(&self, id: ConsentId) -> Result<Consent, LedgerError> {
        self.store.consent(id).await?.ok_or(LedgerError::NoSuchConsent(id))
    }

    pub async fn events(&self, id: ConsentId) -> Result<Vec<ConsentEvent>, LedgerError> {
        Ok(self.store.consent_events(id).await?)
    }

    /// Every consent of the citizen, newest first.
    pub async fn consents_of(&self, citizen: &Cpr) -> Result<Vec<Consent>, LedgerError> {
        let mut v = self.store.consents_of(citizen).await?;
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(v)
    }

    /// Requests still awaiting the citizen's answer at `now`.
    pub async fn pending(&self, citizen: &Cpr, now: DateTime<Utc>) -> Result<Vec<Consent>, LedgerError> {
        let mut v = self.store.requested_of(citizen).await?;
        v.retain(|c| c.status_at(now) == ConsentStatus::Requested);
        v.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        Ok(v)
    }

    pub async fn blocks(&self, citizen: &Cpr) -> Result<Vec<Block>, LedgerError> {
        Ok(self.store.active_blocks(citizen).await?)
    }

    /// The consents in force at `t` that let `unit` receive `category` about `citizen` for
    /// `purpose`: granted to the unit itself, or to an ancestor with sub-units included.
    pub async fn covering(
        &self,
        citizen: &Cpr,
        unit: &UnitId,
        purpose: &Purpose,
        category: &Category,
        t: DateTime<Utc>,
    ) -> Result<Vec<Consent>, LedgerError> {
        let lineage = self.rules.directory.lineage(unit)?;
        let mut v = self.store.active_for(citizen, lineage, purpose, category).await?;
        v.retain(|c| covers(c, lineage, t));
        Ok(v)
    }

    /// [`Ledger::covering`] for each of `categories` (a case file's), read at once: per
    /// category, in the order given, the consents `covering` finds for it.
    pub async fn covering_each(
        &self,
        citizen: &Cpr,
        unit: &UnitId,
        purpose: &Purpose,
        categories: &[Category],
        t: DateTime<Utc>,
    ) -> Result<Vec<(Category, Vec<Consent>)>, LedgerError> {
        let lineage = self.rules.directory.lineage(unit)?;
        let found = self.store.active_for_each(citizen, lineage, purpose, categories).await?;
        Ok(categories
            .iter()
            .cloned()
            .zip(found)
            .map(|(c, mut v)| {
                v.retain(|k| covers(k, lineage, t));
                (c, v)
            })
            .collect())
    }
}
