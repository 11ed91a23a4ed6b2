//! [`ConsentService`]: the one way to change a consent or a block (DESIGN.md invariant 3).
//!
//! Each change is committed together with its audit record, in one store transaction (the
//! record goes into the audit outbox, see [`crate::store::OutboxEntry`]); the service then
//! waits until the audit log's writer has moved the record into the Merkle log. So:
//!
//! - before committing, the service refuses ([`ServiceError::AuditUnavailable`], nothing
//!   changed) when the audit writer is failing or has stopped;
//! - a refusal by the rules or a failed commit changes nothing, record included;
//! - a committed change whose record could not be confirmed in the log answers
//!   [`ServiceError::AuditPending`]: the change and its record are stored, and the writer
//!   appends the record later (periodically, and at the latest when the log is next opened).
//!
//! The [`Ledger`] keeps the rules, the state machine and the optimistic retry; its changing
//! methods are crate-private and take the function that builds the record from the new
//! state, so nothing outside this crate changes a consent without its record.

use chrono::{DateTime, Utc};

use crate::audit::{AuditError, AuditKind, AuditLog, AuditRecord, OnBehalf, OutboxRecord};
use crate::block::{Block, BlockEvent, BlockEventKind, BlockId, BlockTarget};
use crate::cpr::Cpr;
use crate::ledger::{Ledger, LedgerError, TermsInput};
use crate::organisation::UnitId;
use crate::record::{Channel, Consent, ConsentEvent, ConsentId, EventKind, Grantor, PaperRecord, Requester};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Refused by the rules, or the commit failed: nothing was changed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The audit log cannot take records now (its last write failed, or its writer stopped):
    /// nothing was changed.
    #[error("the audit log is unavailable; nothing was changed")]
    AuditUnavailable,
    /// The change is stored and its audit record is queued durably in the outbox, but the
    /// record could not be confirmed in the audit log; the writer appends it later.
    #[error("the change is stored but its audit record could not be confirmed yet: {0}")]
    AuditPending(#[source] AuditError),
}

/// Who makes a change, as its audit record names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The channel the event records.
    pub channel: Channel,
    /// The id of the request (the HTTP request, or a fresh one for the portal and CLI).
    pub request_id: String,
    /// The caseworker system's id; `portal` or `cli` for the citizen's own channels.
    pub system: Option<String>,
    pub caseworker: Option<String>,
    /// The caseworker's unit. `None`: the record names the consent's grantee instead.
    pub unit: Option<UnitId>,
    /// Who gives, answers or withdraws a consent: the citizen, or a representative whose
    /// authority the caller has just checked (the event and the audit record name them).
    pub grantor: Grantor,
}

impl Actor {
    /// The citizen (or someone at the command line on the citizen's behalf) through
    /// `channel`: the system is the channel's name, the request id a fresh UUID v7.
    pub fn citizen(channel: Channel) -> Self {
        Self {
            channel,
            request_id: uuid::Uuid::now_v7().to_string(),
            system: Some(channel_name(channel).into()),
            caseworker: None,
            unit: None,
            grantor: Grantor::Citizen,
        }
    }

    /// A representative acting for the citizen through `channel`, under the authority
    /// `grantor` names (checked by the caller against the registry at this action).
    pub fn representative(channel: Channel, grantor: Grantor) -> Self {
        Self { grantor, ..Self::citizen(channel) }
    }

    /// A caseworker in `unit` through the registered `system`, in API request `request_id`.
    pub fn caseworker(
        system: impl Into<String>,
        caseworker: impl Into<String>,
        unit: UnitId,
        request_id: impl Into<String>,
    ) -> Self {
        Self {
            channel: Channel::Api,
            request_id: request_id.into(),
            system: Some(system.into()),
            caseworker: Some(caseworker.into()),
            unit: Some(unit),
            grantor: Grantor::Citizen,
        }
    }

    fn record(&self, kind: AuditKind, now: DateTime<Utc>) -> AuditRecord {
        let mut r = AuditRecord::new(now, self.request_id.clone(), kind);
        r.system = self.system.clone();
        r.caseworker = self.caseworker.clone();
        r.unit = self.unit.clone();
        r.on_behalf = OnBehalf::of(&self.grantor);
        r
    }
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Portal => "portal",
        Channel::Api => "api",
        Channel::Cli => "cli",
        Channel::Paper => "paper",
    }
}

/// The audit record of a consent event: what changed (`subject` names the event), about
/// whom, for what, by whom.
pub fn consent_record(event: &ConsentEvent, state: &Consent, actor: &Actor, now: DateTime<Utc>) -> AuditRecord {
    let (kind, verb) = match &event.kind {
        EventKind::Requested { .. } => (AuditKind::ConsentRequested, "requested"),
        EventKind::Granted { .. } => (AuditKind::ConsentGranted, "granted"),
        EventKind::Approved { .. } => (AuditKind::ConsentApproved, "approved"),
        EventKind::Rejected { .. } => (AuditKind::ConsentRejected, "rejected"),
        EventKind::Revoked { .. } => (AuditKind::ConsentRevoked, "revoked"),
        EventKind::RegisteredFromPaper { .. } => (AuditKind::ConsentRegisteredFromPaper, "registered from paper"),
        EventKind::Confirmed { .. } => (AuditKind::ConsentConfirmed, "confirmed"),
    };
    let mut r = actor.record(kind, now);
    if r.unit.is_none() {
        r.unit = Some(state.terms.grantee.clone());
    }
    r.citizen = Some(state.terms.citizen);
    r.purpose = Some(state.terms.purpose.clone());
    r.basis = Some(format!("consent:{}", state.id));
    let by = if actor.grantor.is_representative() { " by a representative" } else { "" };
    r.detail = Some(format!("consent {} {verb}{by} via {}", state.id, channel_name(event.channel)));
    r.subject = Some(format!("consent:{}.{}", event.consent_id, event.version));
    if let EventKind::RegisteredFromPaper { paper, .. } = &event.kind {
        // The scan's digest, like a released document's; its reference in the detail.
        r.documents = vec![paper.scan_sha256.clone()];
        r.detail = Some(format!(
            "consent {} registered from paper (scan {}), to be confirmed by {}",
            state.id,
            paper.scan_reference,
            paper.confirm_by.to_rfc3339()
        ));
    }
    r
}

/// The audit record of a block event.
pub fn block_record(event: &BlockEvent, state: &Block, actor: &Actor, now: DateTime<Utc>) -> AuditRecord {
    let (kind, verb) = match &event.kind {
        BlockEventKind::Placed { .. } => (AuditKind::BlockPlaced, "placed"),
        BlockEventKind::Lifted => (AuditKind::BlockLifted, "lifted"),
    };
    let mut r = actor.record(kind, now);
    r.citizen = Some(state.citizen);
    match &state.target {
        BlockTarget::Unit(u) => r.unit = Some(u.clone()),
        BlockTarget::Category(c) => r.category = Some(c.clone()),
    }
    r.detail = Some(format!("block {} {verb} via {}", state.id, channel_name(event.channel)));
    r.subject = Some(format!("block:{}.{}", event.block_id, event.version));
    r
}

/// Consent and block changes with their audit records. Cheap to clone.
///
/// The ledger and the audit log must be over the same store (one transaction holds the
/// change and its record).
pub struct ConsentService<S> {
    ledger: Ledger<S>,
    audit: AuditLog<S>,
}

impl<S: Clone> Clone for ConsentService<S> {
    fn clone(&self) -> Self {
        Self { ledger: self.ledger.clone(), audit: self.audit.clone() }
    }
}

impl<S: Store + Clone> ConsentService<S> {
    pub fn new(ledger: Ledger<S>, audit: AuditLog<S>) -> Self {
        Self { ledger, audit }
    }

    /// The ledger, for reads.
    pub fn ledger(&self) -> &Ledger<S> {
        &self.ledger
    }

    pub fn audit(&self) -> &AuditLog<S> {
        &self.audit
    }

    fn admit(&self) -> Result<(), ServiceError> {
        if self.audit.is_writable() { Ok(()) } else { Err(ServiceError::AuditUnavailable) }
    }

    async fn confirm(&self, records: &[OutboxRecord]) -> Result<(), ServiceError> {
        self.audit.wait_outbox(records).await.map_err(|e| {
            tracing::error!(error = %e, "a consent change is stored but its audit record is not yet in the log");
            ServiceError::AuditPending(e)
        })
    }

    fn consent_audit<'a>(
        &'a self,
        actor: &'a Actor,
        now: DateTime<Utc>,
    ) -> impl Fn(&ConsentEvent, &Consent) -> OutboxRecord + 'a {
        move |event, state| self.audit.outbox_record(&consent_record(event, state, actor, now))
    }

    fn block_audit<'a>(
        &'a self,
        actor: &'a Actor,
        now: DateTime<Utc>,
    ) -> impl Fn(&BlockEvent, &Block) -> OutboxRecord + 'a {
        move |event, state| self.audit.outbox_record(&block_record(event, state, actor, now))
    }

    async fn done<T>(&self, (value, record): (T, OutboxRecord)) -> Result<T, ServiceError> {
        self.confirm(std::slice::from_ref(&record)).await?;
        Ok(value)
    }

    /// A caseworker asks the citizen for consent.
    pub async fn request(
        &self,
        input: TermsInput,
        requested_by: Requester,
        explanation: String,
        respond_by: DateTime<Utc>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Consent, ServiceError> {
        self.admit()?;
        let audit = self.consent_audit(actor, now);
        let changed =
            self.ledger.request(input, requested_by, explanation, respond_by, actor.channel, now, audit).await?;
        self.done(changed).await
    }

    /// The citizen grants a consent directly.
    pub async fn grant(
        &self,
        input: TermsInput,
        citizen: &Cpr,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Consent, ServiceError> {
        self.admit()?;
        let changed = self
            .ledger
            .grant(input, citizen, actor.grantor.clone(), actor.channel, now, self.consent_audit(actor, now))
            .await?;
        self.done(changed).await
    }

    pub async fn approve(
        &self,
        id: ConsentId,
        citizen: &Cpr,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Consent, ServiceError> {
        self.admit()?;
        let changed = self
            .ledger
            .approve(id, citizen, actor.grantor.clone(), actor.channel, now, self.consent_audit(actor, now))
            .await?;
        self.done(changed).await
    }

    pub async fn reject(
        &self,
        id: ConsentId,
        citizen: &Cpr,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Consent, ServiceError> {
        self.admit()?;
        let changed = self
            .ledger
            .reject(id, citizen, actor.grantor.clone(), actor.channel, now, self.consent_audit(actor, now))
            .await?;
        self.done(changed).await
    }

    /// Revocation is immediate: the next lookup no longer finds the consent.
    pub async fn revoke(
        &self,
        id: ConsentId,
        citizen: &Cpr,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Consent, ServiceError> {
        self.admit()?;
        let changed = self
            .ledger
            .revoke(id, citizen, actor.grantor.clone(), actor.channel, now, self.consent_audit(actor, now))
            .await?;
        self.done(changed).await
    }

    /// A caseworker system registers a consent the citizen signed on paper: active at once,
    /// "på papir" until the citizen confirms it (by `paper.confirm_by`, within the cap).
    pub async fn register_paper(
        &self,
        input: TermsInput,
        paper: PaperRecord,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Consent, ServiceError> {
        self.admit()?;
        let changed =
            self.ledger.register_paper(input, paper, Channel::Paper, now, self.consent_audit(actor, now)).await?;
        self.done(changed).await
    }

    /// The citizen confirms a paper consent digitally: it then lasts its whole period.
    pub async fn confirm_paper(
        &self,
        id: ConsentId,
        citizen: &Cpr,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Consent, ServiceError> {
        self.admit()?;
        let changed = self
            .ledger
            .confirm(id, citizen, actor.grantor.clone(), actor.channel, now, self.consent_audit(actor, now))
            .await?;
        self.done(changed).await
    }

    /// The citizen blocks a unit (and everything below it) or a category.
    pub async fn place_block(
        &self,
        citizen: &Cpr,
        target: BlockTarget,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Block, ServiceError> {
        self.admit()?;
        let changed =
            self.ledger.place_block(citizen, target, actor.channel, now, self.block_audit(actor, now)).await?;
        self.done(changed).await
    }

    pub async fn lift_block(
        &self,
        id: BlockId,
        citizen: &Cpr,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Block, ServiceError> {
        self.admit()?;
        let changed = self.ledger.lift_block(id, citizen, actor.channel, now, self.block_audit(actor, now)).await?;
        self.done(changed).await
    }

    /// Imports consents the citizens granted elsewhere (see [`Ledger`]'s rules for a grant),
    /// each with its own `consent_granted` record, all in one transaction. All or nothing.
    pub async fn import_grants(
        &self,
        inputs: Vec<TermsInput>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Consent>, ServiceError> {
        self.admit()?;
        let changed = self.ledger.import_grants(inputs, actor.channel, now, self.consent_audit(actor, now)).await?;
        let (consents, records): (Vec<_>, Vec<_>) = changed.into_iter().unzip();
        self.confirm(&records).await?;
        Ok(consents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_of_the_citizen_names_the_channel_and_a_fresh_request() {
        let a = Actor::citizen(Channel::Portal);
        let b = Actor::citizen(Channel::Portal);
        assert_eq!(a.system.as_deref(), Some("portal"));
        assert_eq!(Actor::citizen(Channel::Cli).system.as_deref(), Some("cli"));
        assert_ne!(a.request_id, b.request_id);
        assert!(a.caseworker.is_none() && a.unit.is_none());
    }

    #[test]
    fn a_caseworker_acts_through_the_api() {
        let unit = UnitId::parse("kk.jobcenter").unwrap();
        let a = Actor::caseworker("sys", "cw", unit.clone(), "req-1");
        assert_eq!(a.channel, Channel::Api);
        let r = a.record(AuditKind::ConsentRequested, "2025-03-01T10:00:00Z".parse().unwrap());
        assert_eq!(
            (r.system.as_deref(), r.caseworker.as_deref(), r.unit, r.request_id.as_str()),
            (Some("sys"), Some("cw"), Some(unit), "req-1")
        );
        assert!(r.subject.is_none());
    }
}
