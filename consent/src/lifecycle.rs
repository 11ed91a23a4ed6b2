//! The consent lifecycle: every rule about what may change, in one place.
//!
//! ```text
//!   requested ──approve──▶ active ──revoke──▶ revoked
//!       │                    │
//!       └──reject──▶ rejected └──(time)──▶ expired
//!   granted directly ──────▶ active
//! ```
//!
//! [`Rules::check`] decides whether an event may happen now (it needs configuration: the
//! cap, the vocabulary, the units). [`apply`] is the pure transition; replaying a consent's
//! events through it gives its current state, which is what the store holds.

use chrono::{DateTime, Months, Utc};

use crate::cpr::Cpr;
use crate::organisation::{Directory, OrganisationError};
use crate::record::{Consent, ConsentEvent, ConsentStatus, EventKind, Grantor, PaperRecord, Privilege, State, Terms};
use crate::vocabulary::{Vocabulary, VocabularyError};

/// Why a change to a consent was refused. Each message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Vocabulary(#[from] VocabularyError),
    #[error(transparent)]
    Organisation(#[from] OrganisationError),
    #[error("a consent must name at least one category of data")]
    NoCategories,
    #[error("the period ends before it starts; choose an end after the start")]
    PeriodEndsBeforeStart,
    #[error("a consent may last at most {max_months} months; shorten the period")]
    PeriodTooLong { max_months: u32 },
    #[error("the period has already ended; choose an end in the future")]
    PeriodInPast,
    #[error("the answer deadline must be in the future and no later than the period's end")]
    BadRespondBy,
    #[error("the consent text must have a version and a SHA-256 digest")]
    MissingText,
    #[error("the caseworker's explanation to the citizen must not be empty")]
    MissingExplanation,
    #[error("the power of attorney lets its holder see the consents only, not change them")]
    BeyondPrivilege,
    #[error("only the citizen the consent is about can do this")]
    NotTheCitizen,
    #[error("this consent is {status}; only a requested consent can be approved or rejected")]
    NotRequested { status: ConsentStatus },
    #[error("the request expired before it was answered; the caseworker must ask again")]
    RequestExpired,
    #[error("this consent is {status}; only an active consent can be revoked")]
    NotActive { status: ConsentStatus },
    #[error("event {got} does not follow version {current} of this consent")]
    OutOfOrder { current: u32, got: u32 },
    #[error("a consent must begin with a request or a grant")]
    NoSuchConsent,
    #[error("a consent can be created only once")]
    AlreadyExists,
    #[error(
        "a paper consent needs the scan's SHA-256 (64 hex digits) and a reference of 1 to 100 letters, digits, '.', '_', '-' or '/' that is not a personal number"
    )]
    BadScan,
    #[error("the confirmation deadline must be in the future and at most {max_days} days away")]
    BadConfirmBy { max_days: u32 },
    #[error("only a paper consent that is active and not yet confirmed can be confirmed")]
    NotAwaitingConfirmation,
}

/// Configuration the rules need.
#[derive(Debug, Clone)]
pub struct Rules {
    pub max_validity_months: u32,
    /// How long a citizen has to confirm a paper consent digitally (days).
    pub paper_confirmation_days: u32,
    pub vocabulary: Vocabulary,
    pub directory: Directory,
}

impl Rules {
    /// Whether `event` may be applied to `current` at `now`, acted by `actor`.
    pub fn check(
        &self,
        current: Option<&Consent>,
        event: &ConsentEvent,
        actor: Option<&Cpr>,
        now: DateTime<Utc>,
    ) -> Result<(), RuleError> {
        match (&event.kind, current) {
            (EventKind::Requested { terms, explanation, respond_by, .. }, None) => {
                self.check_terms(terms, now)?;
                if explanation.trim().is_empty() {
                    return Err(RuleError::MissingExplanation);
                }
                if *respond_by <= now || *respond_by > terms.period.until {
                    return Err(RuleError::BadRespondBy);
                }
                Ok(())
            }
            (EventKind::Granted { terms, by }, None) => {
                self.check_terms(terms, now)?;
                check_grantor(by)?;
                check_actor(actor, &terms.citizen)
            }
            (EventKind::RegisteredFromPaper { terms, paper }, None) => {
                self.check_terms(terms, now)?;
                check_scan(paper)?;
                let max = chrono::Duration::days(i64::from(self.paper_confirmation_days));
                if paper.confirm_by <= now || paper.confirm_by > now + max || paper.confirmed_at.is_some() {
                    return Err(RuleError::BadConfirmBy { max_days: self.paper_confirmation_days });
                }
                Ok(())
            }
            (
                EventKind::Requested { .. } | EventKind::Granted { .. } | EventKind::RegisteredFromPaper { .. },
                Some(_),
            ) => Err(RuleError::AlreadyExists),
            (_, None) => Err(RuleError::NoSuchConsent),
            (EventKind::Confirmed { by }, Some(c)) => {
                check_grantor(by)?;
                check_actor(actor, &c.terms.citizen)?;
                if c.awaits_confirmation() && c.status_at(now) == ConsentStatus::Active {
                    Ok(())
                } else {
                    Err(RuleError::NotAwaitingConfirmation)
                }
            }
            (EventKind::Approved { by } | EventKind::Rejected { by }, Some(c)) => {
                check_grantor(by)?;
                check_actor(actor, &c.terms.citizen)?;
                match c.status_at(now) {
                    ConsentStatus::Requested => Ok(()),
                    ConsentStatus::Expired if c.state == State::Requested => Err(RuleError::RequestExpired),
                    status => Err(RuleError::NotRequested { status }),
                }
            }
            (EventKind::Revoked { by }, Some(c)) => {
                check_grantor(by)?;
                check_actor(actor, &c.terms.citizen)?;
                match c.status_at(now) {
                    ConsentStatus::Active => Ok(()),
                    status => Err(RuleError::NotActive { status }),
                }
            }
        }
    }

    fn check_terms(&self, t: &Terms, now: DateTime<Utc>) -> Result<(), RuleError> {
        self.vocabulary.check_purpose(&t.purpose)?;
        if t.categories.is_empty() {
            return Err(RuleError::NoCategories);
        }
        for c in &t.categories {
            self.vocabulary.check_category(c)?;
        }
        self.directory.get(&t.grantee)?;
        if t.period.until <= t.period.from {
            return Err(RuleError::PeriodEndsBeforeStart);
        }
        if t.period.until <= now {
            return Err(RuleError::PeriodInPast);
        }
        let cap =
            t.period.from.checked_add_months(Months::new(self.max_validity_months)).unwrap_or(DateTime::<Utc>::MAX_UTC);
        if t.period.until > cap {
            return Err(RuleError::PeriodTooLong { max_months: self.max_validity_months });
        }
        if t.text.version.trim().is_empty() || t.text.sha256.len() != 64 {
            return Err(RuleError::MissingText);
        }
        Ok(())
    }
}

fn check_grantor(by: &Grantor) -> Result<(), RuleError> {
    match by {
        Grantor::Citizen => Ok(()),
        Grantor::PowerOfAttorney { privilege: Privilege::Consent, .. } => Ok(()),
        Grantor::PowerOfAttorney { privilege: Privilege::View, .. } => Err(RuleError::BeyondPrivilege),
        Grantor::Custody { .. } => Ok(()),
    }
}

/// The scan's digest is 64 hex digits; its reference short, plain, and never a CPR number
/// (it goes into the audit record).
fn check_scan(p: &PaperRecord) -> Result<(), RuleError> {
    let digest_ok = p.scan_sha256.len() == 64 && p.scan_sha256.bytes().all(|b| b.is_ascii_hexdigit());
    let r = &p.scan_reference;
    let chars_ok = !r.is_empty()
        && r.len() <= 100
        && r.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    let compact: Vec<char> = r.chars().filter(|c| !matches!(c, '-' | '.' | '/' | '_')).collect();
    let cpr_like = compact
        .windows(10)
        .any(|w| w.iter().all(char::is_ascii_digit) && Cpr::parse(&w.iter().collect::<String>()).is_ok());
    if digest_ok && chars_ok && !cpr_like { Ok(()) } else { Err(RuleError::BadScan) }
}

fn check_actor(actor: Option<&Cpr>, citizen: &Cpr) -> Result<(), RuleError> {
    match actor {
        Some(a) if a == citizen => Ok(()),
        _ => Err(RuleError::NotTheCitizen),
    }
}

/// The pure transition: the state after `event`. It refuses only structurally impossible
/// sequences (an event out of order, an approval of something never requested); the
/// policy-level rules are [`Rules::check`]'s.
pub fn apply(current: Option<Consent>, event: &ConsentEvent) -> Result<Consent, RuleError> {
    let expected = current.as_ref().map_or(0, |c| c.version) + 1;
    if event.version != expected {
        return Err(RuleError::OutOfOrder { current: expected - 1, got: event.version });
    }
    let base = |terms: &Terms, state, grantor| Consent {
        id: event.consent_id,
        terms: terms.clone(),
        state,
        grantor,
        channel: event.channel,
        requested_by: None,
        explanation: None,
        respond_by: None,
        paper: None,
        created_at: event.at,
        updated_at: event.at,
        version: 1,
    };
    match (&event.kind, current) {
        (EventKind::Requested { terms, requested_by, explanation, respond_by }, None) => Ok(Consent {
            requested_by: Some(requested_by.clone()),
            explanation: Some(explanation.clone()),
            respond_by: Some(*respond_by),
            ..base(terms, State::Requested, None)
        }),
        (EventKind::Granted { terms, by }, None) => Ok(base(terms, State::Active, Some(by.clone()))),
        (EventKind::RegisteredFromPaper { terms, paper }, None) => {
            Ok(Consent { paper: Some((**paper).clone()), ..base(terms, State::Active, Some(Grantor::Citizen)) })
        }
        (EventKind::Requested { .. } | EventKind::Granted { .. } | EventKind::RegisteredFromPaper { .. }, Some(_)) => {
            Err(RuleError::AlreadyExists)
        }
        (_, None) => Err(RuleError::NoSuchConsent),
        (EventKind::Confirmed { .. }, Some(mut c)) => {
            match (&mut c.paper, c.state) {
                (Some(p), State::Active) if p.confirmed_at.is_none() => p.confirmed_at = Some(event.at),
                _ => return Err(RuleError::NotAwaitingConfirmation),
            }
            c.updated_at = event.at;
            c.version = event.version;
            Ok(c)
        }
        (kind, Some(mut c)) => {
            let status = c.status_at(event.at);
            let (next, grantor) = match (kind, c.state) {
                (EventKind::Approved { by }, State::Requested) => (State::Active, Some(by.clone())),
                (EventKind::Rejected { .. }, State::Requested) => (State::Rejected, None),
                (EventKind::Revoked { .. }, State::Active) => (State::Revoked, c.grantor.clone()),
                (EventKind::Revoked { .. }, _) => return Err(RuleError::NotActive { status }),
                _ => return Err(RuleError::NotRequested { status }),
            };
            c.state = next;
            c.grantor = grantor;
            c.updated_at = event.at;
            c.version = event.version;
            Ok(c)
        }
    }
}

/// Replays a consent's events from the beginning.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a ConsentEvent>) -> Result<Option<Consent>, RuleError> {
    let mut state = None;
    for e in events {
        state = Some(apply(state, e)?);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Channel, ConsentId, ConsentText, Period};
    use crate::{Category, Purpose, UnitId};

    fn rules() -> Rules {
        let all: toml::Table = toml::from_str(crate::DEFAULT_CONFIG).unwrap();
        let domain: crate::DomainConfig = all["domain"].clone().try_into().unwrap();
        domain.into_rules().unwrap()
    }

    fn grant_by(citizen: Cpr, by: Grantor, now: DateTime<Utc>) -> ConsentEvent {
        let terms = Terms {
            citizen,
            grantee: UnitId::parse("kk.jobcenter").unwrap(),
            include_subunits: false,
            purpose: Purpose::parse("rehabilitation-team").unwrap(),
            categories: [Category::parse("jobnet.cv").unwrap()].into(),
            period: Period { from: now, until: now + chrono::Duration::days(30) },
            data_period: None,
            text: ConsentText { version: "t-1".into(), sha256: "ab".repeat(32) },
        };
        ConsentEvent {
            consent_id: ConsentId::new(),
            version: 1,
            at: now,
            channel: Channel::Portal,
            kind: EventKind::Granted { terms: Box::new(terms), by },
        }
    }

    fn holder(privilege: Privilege) -> Grantor {
        Grantor::PowerOfAttorney {
            holder: "poa-holder:ab".into(),
            holder_name: "Lars".into(),
            represented_name: "Mette".into(),
            reference: "r".into(),
            privilege,
        }
    }

    fn paper(now: DateTime<Utc>, reference: &str, days: i64) -> PaperRecord {
        PaperRecord {
            scan_sha256: "cd".repeat(32),
            scan_reference: reference.into(),
            registered_by: crate::Requester { caseworker: "cw".into(), system: "sys".into() },
            confirm_by: now + chrono::Duration::days(days),
            confirmed_at: None,
        }
    }

    fn registered(citizen: Cpr, p: PaperRecord, now: DateTime<Utc>) -> ConsentEvent {
        let EventKind::Granted { terms, .. } = grant_by(citizen, Grantor::Citizen, now).kind else { unreachable!() };
        ConsentEvent {
            consent_id: ConsentId::new(),
            version: 1,
            at: now,
            channel: Channel::Paper,
            kind: EventKind::RegisteredFromPaper { terms, paper: Box::new(p) },
        }
    }

    #[test]
    fn a_paper_consent_is_active_until_its_deadline_unless_confirmed() {
        let now: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let citizen = Cpr::parse("0101609900").unwrap();
        let r = rules();
        let e = registered(citizen, paper(now, "SCAN-2025/0042", 14), now);
        assert_eq!(r.check(None, &e, None, now), Ok(()));
        let c = apply(None, &e).unwrap();
        assert!(c.in_force_at(now) && c.awaits_confirmation());
        let deadline = now + chrono::Duration::days(14);
        assert!(!c.in_force_at(deadline), "unconfirmed: ends at the deadline");
        assert_eq!(c.status_at(deadline), ConsentStatus::Expired);
        let confirm = ConsentEvent {
            consent_id: c.id,
            version: 2,
            at: now,
            channel: Channel::Portal,
            kind: EventKind::Confirmed { by: Grantor::Citizen },
        };
        assert_eq!(
            r.check(Some(&c), &confirm, Some(&Cpr::parse("0102609901").unwrap()), now),
            Err(RuleError::NotTheCitizen)
        );
        assert_eq!(r.check(Some(&c), &confirm, Some(&citizen), now), Ok(()));
        assert_eq!(r.check(Some(&c), &confirm, Some(&citizen), deadline), Err(RuleError::NotAwaitingConfirmation));
        let confirmed = apply(Some(c), &confirm).unwrap();
        assert!(confirmed.in_force_at(deadline), "confirmed: the whole period");
        assert_eq!(
            r.check(Some(&confirmed), &ConsentEvent { version: 3, ..confirm }, Some(&citizen), now),
            Err(RuleError::NotAwaitingConfirmation)
        );
    }

    #[test]
    fn a_paper_consent_needs_a_plain_scan_reference_and_a_deadline_within_the_cap() {
        let now: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let citizen = Cpr::parse("0101609900").unwrap();
        let r = rules();
        let max = r.paper_confirmation_days as i64;
        for bad in ["", "scan 1", "SCAN-010160-9900", "0101609900", &"x".repeat(101)] {
            assert_eq!(
                r.check(None, &registered(citizen, paper(now, bad, 3), now), None, now),
                Err(RuleError::BadScan),
                "{bad}"
            );
        }
        assert_eq!(r.check(None, &registered(citizen, paper(now, "SCAN-2026-000123", 3), now), None, now), Ok(()));
        for days in [0, max + 1] {
            assert!(matches!(
                r.check(None, &registered(citizen, paper(now, "S-1", days), now), None, now),
                Err(RuleError::BadConfirmBy { .. })
            ));
        }
    }

    #[test]
    fn a_holder_acts_within_the_privilege_and_only_for_the_represented_citizen() {
        let now: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let citizen = Cpr::parse("0101609900").unwrap();
        let other = Cpr::parse("0102609901").unwrap();
        let r = rules();
        assert_eq!(r.check(None, &grant_by(citizen, holder(Privilege::Consent), now), Some(&citizen), now), Ok(()));
        assert_eq!(
            r.check(None, &grant_by(citizen, holder(Privilege::View), now), Some(&citizen), now),
            Err(RuleError::BeyondPrivilege)
        );
        assert_eq!(
            r.check(None, &grant_by(citizen, holder(Privilege::Consent), now), Some(&other), now),
            Err(RuleError::NotTheCitizen)
        );
        // A view-only holder cannot revoke either.
        let active = apply(None, &grant_by(citizen, Grantor::Citizen, now)).unwrap();
        let revoke = ConsentEvent {
            consent_id: active.id,
            version: 2,
            at: now,
            channel: Channel::Portal,
            kind: EventKind::Revoked { by: holder(Privilege::View) },
        };
        assert_eq!(r.check(Some(&active), &revoke, Some(&citizen), now), Err(RuleError::BeyondPrivilege));
    }
}
