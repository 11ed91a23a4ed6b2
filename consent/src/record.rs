//! A consent as the ledger knows it, and the immutable events it is derived from.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::vocabulary::{Category, Purpose};

/// A consent's identifier (UUIDv7, so ids sort roughly by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConsentId(pub Uuid);

impl ConsentId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl Default for ConsentId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ConsentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ConsentId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.parse()?))
    }
}

/// Who gave (or withdrew) the consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Grantor {
    /// The citizen personally.
    Citizen,
    /// A holder of a power of attorney (fuldmagt, Digital Fuldmagt style) acting for the
    /// citizen, checked against the power-of-attorney registry at the moment of the action.
    /// The holder is named by a pseudonymous id (a keyed hash of their CPR number, see the
    /// gateway's `core::representation`), never by their CPR number.
    PowerOfAttorney {
        /// The holder's pseudonymous id (`poa-holder:<hex>`).
        holder: String,
        /// The holder's name, as the receipt shows it.
        holder_name: String,
        /// The represented citizen's name as the registry gave it, for the receipt.
        represented_name: String,
        /// The power of attorney's reference in the registry.
        reference: String,
        /// The privilege the action was taken under.
        privilege: Privilege,
    },
    /// A parent with custody (forældremyndighed) acting for their child, checked against
    /// the person register's custody relations and the age rules in the policies at the
    /// moment of the action. The parent is named by the same kind of pseudonymous id.
    Custody {
        /// The parent's pseudonymous id.
        holder: String,
        holder_name: String,
        /// The child's name as the register gave it, for the receipt.
        represented_name: String,
        /// The opaque reference of the custody relation (a keyed hash of parent and child).
        reference: String,
    },
}

impl Grantor {
    /// Whether someone acted for the citizen.
    pub fn is_representative(&self) -> bool {
        !matches!(self, Grantor::Citizen)
    }
}

/// What a power of attorney lets its holder do (the registry's privileges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Privilege {
    /// See the citizen's consents and requests ("se").
    View,
    /// Also approve, reject, grant and revoke consents for the citizen ("samtykke").
    Consent,
}

impl Privilege {
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::View => "view",
            Privilege::Consent => "consent",
        }
    }

    /// The privilege's Danish name.
    pub fn da(self) -> &'static str {
        match self {
            Privilege::View => "se samtykker",
            Privilege::Consent => "give og tilbagekalde samtykker",
        }
    }
}

/// How a change reached the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The citizen portal, after MitID login.
    Portal,
    /// A caseworker system through the API.
    Api,
    /// The operator command line.
    Cli,
    /// A consent the citizen signed on paper, registered by a caseworker system.
    Paper,
}

/// A half-open validity period `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Period {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.until
    }
}

/// How old the released documents may be: only documents dated within `[from, until]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPeriod {
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
}

/// The plain-language text the citizen was shown: its version and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentText {
    pub version: String,
    pub sha256: String,
}

/// The caseworker and system that asked for a consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    pub caseworker: String,
    pub system: String,
}

/// What a consent is about; fixed when it is requested or granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub citizen: Cpr,
    /// The organisation unit that may receive the data.
    pub grantee: UnitId,
    /// Whether units below `grantee` are covered too (e.g. the jobcenter's rehabilitation team).
    #[serde(default)]
    pub include_subunits: bool,
    pub purpose: Purpose,
    pub categories: BTreeSet<Category>,
    pub period: Period,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_period: Option<DataPeriod>,
    pub text: ConsentText,
}

/// The recorded state. `Expired` is not recorded: it follows from time ([`Consent::status_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Requested,
    Active,
    Rejected,
    Revoked,
}

/// A consent signed on paper and brought in by a caseworker system: the scan's digest and
/// reference, who registered it, and by when the citizen must confirm it digitally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperRecord {
    /// SHA-256 (hex) of the scanned paper.
    pub scan_sha256: String,
    /// The scan's reference in the caseworker system's archive.
    pub scan_reference: String,
    /// The caseworker and system that registered it.
    pub registered_by: Requester,
    /// An unconfirmed paper consent ends here (or at its period's end, if sooner).
    pub confirm_by: DateTime<Utc>,
    /// When the citizen confirmed it digitally; `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// The state as a person sees it at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    Requested,
    Active,
    Rejected,
    Revoked,
    Expired,
}

impl fmt::Display for ConsentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsentStatus::Requested => "requested",
            ConsentStatus::Active => "active",
            ConsentStatus::Rejected => "rejected",
            ConsentStatus::Revoked => "revoked",
            ConsentStatus::Expired => "expired",
        })
    }
}

/// The current state of one consent, derived from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: ConsentId,
    pub terms: Terms,
    pub state: State,
    /// Who gave the consent; `None` while it is only requested (or was rejected).
    pub grantor: Option<Grantor>,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<Requester>,
    /// The caseworker's explanation shown with a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// A request not answered by then has expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_by: Option<DateTime<Utc>>,
    /// Signed on paper ("på papir"): its scan and confirmation deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<PaperRecord>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The number of events applied: the version the next event must follow.
    pub version: u32,
}

impl Consent {
    /// The status at time `t`: an active consent past its period, or a request past its
    /// answer deadline, has expired.
    pub fn status_at(&self, t: DateTime<Utc>) -> ConsentStatus {
        match self.state {
            State::Requested if self.respond_by.is_some_and(|r| t >= r) || t >= self.terms.period.until => {
                ConsentStatus::Expired
            }
            State::Requested => ConsentStatus::Requested,
            State::Active if t >= self.effective_until() => ConsentStatus::Expired,
            State::Active => ConsentStatus::Active,
            State::Rejected => ConsentStatus::Rejected,
            State::Revoked => ConsentStatus::Revoked,
        }
    }

    /// Active and inside its period at `t` (for a paper consent not yet confirmed, also
    /// before its confirmation deadline).
    pub fn in_force_at(&self, t: DateTime<Utc>) -> bool {
        self.state == State::Active && self.terms.period.from <= t && t < self.effective_until()
    }

    /// When the consent stops being a basis: its period's end, or for a paper consent not
    /// confirmed digitally, its confirmation deadline if that is sooner.
    pub fn effective_until(&self) -> DateTime<Utc> {
        match &self.paper {
            Some(p) if p.confirmed_at.is_none() => self.terms.period.until.min(p.confirm_by),
            _ => self.terms.period.until,
        }
    }

    /// A paper consent the citizen has not confirmed digitally.
    pub fn awaits_confirmation(&self) -> bool {
        self.paper.as_ref().is_some_and(|p| p.confirmed_at.is_none())
    }

    /// Whether this consent's grantee covers `unit`, given `unit`'s lineage (itself first).
    pub fn covers_unit(&self, lineage: &[UnitId]) -> bool {
        match lineage.first() {
            Some(u) if *u == self.terms.grantee => true,
            _ => self.terms.include_subunits && lineage.contains(&self.terms.grantee),
        }
    }
}

/// One immutable change to a consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    pub consent_id: ConsentId,
    /// 1 for the event that creates the consent, then 2, 3, ...
    pub version: u32,
    pub at: DateTime<Utc>,
    pub channel: Channel,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A caseworker asked the citizen for consent.
    Requested {
        terms: Box<Terms>,
        requested_by: Requester,
        explanation: String,
        respond_by: DateTime<Utc>,
    },
    /// The citizen granted a consent directly, without a request.
    Granted {
        terms: Box<Terms>,
        by: Grantor,
    },
    Approved {
        by: Grantor,
    },
    Rejected {
        by: Grantor,
    },
    Revoked {
        by: Grantor,
    },
    /// A caseworker system registered a consent the citizen signed on paper: active at
    /// once, until the confirmation deadline unless the citizen confirms it.
    RegisteredFromPaper {
        terms: Box<Terms>,
        paper: Box<PaperRecord>,
    },
    /// The citizen confirmed a paper consent digitally.
    Confirmed {
        by: Grantor,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Requested { .. } => "requested",
            EventKind::Granted { .. } => "granted",
            EventKind::Approved { .. } => "approved",
            EventKind::Rejected { .. } => "rejected",
            EventKind::Revoked { .. } => "revoked",
            EventKind::RegisteredFromPaper { .. } => "registered_from_paper",
            EventKind::Confirmed { .. } => "confirmed",
        }
    }
}
