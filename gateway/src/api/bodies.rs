//! The API's request and response bodies. Reading a JSON body into them, with the right
//! problem for each way it can be wrong, is [`crate::http::body::read_json`].

use chrono::{DateTime, NaiveDate, Utc};
use consent::{Consent, ConsentStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::http::body::read_json;

/// `POST /api/v1/case-files`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseFileRequest {
    /// The citizen's CPR number, `DDMMYYSSSS` or `DDMMYY-SSSS`.
    #[schema(example = "0101709901", pattern = "^[0-9]{6}-?[0-9]{4}$")]
    pub citizen: String,
    #[schema(example = "rehabilitation-team")]
    pub purpose: String,
    /// The categories of data wanted; each becomes one section.
    #[schema(example = json!(["health.lae265", "jobcenter.case", "jobnet.cv"]))]
    pub categories: Vec<String>,
    /// The caseworker system's own case reference (at most 128 characters), kept in the audit log.
    #[serde(default)]
    pub case_reference: Option<String>,
}

/// The case file: one section per requested category, in request order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseFile {
    /// The same id as the `x-request-id` header and the audit records.
    pub request_id: String,
    /// The citizen, masked (`DDMMYY-****`).
    pub citizen: String,
    pub purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_reference: Option<String>,
    pub assembled_at: DateTime<Utc>,
    /// The digest of the policy set that decided.
    pub policy_digest: String,
    pub sections: Vec<Section>,
}

/// What became of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SectionStatus {
    /// Permitted and fetched: the documents are here.
    Included,
    /// The policy engine denied it: no data, and the reason says why.
    Denied,
    /// Permitted, and the source has nothing about the citizen.
    NoData,
    /// Permitted, but the source could not be reached or answered with an error.
    Unavailable,
    /// Permitted, but the source did not answer within the request's deadline.
    Timeout,
    /// Permitted, but the source's answer was not valid (malformed, oversized, another citizen's).
    InvalidResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BasisKind {
    Consent,
    Statute,
    /// The citizen's own right of access (GDPR art. 15): only on what the citizen reads
    /// about themselves, never in a caseworker's case file.
    OwnAccess,
}

/// The legal basis of a permitted section.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Basis {
    #[serde(rename = "type")]
    pub kind: BasisKind,
    /// The consent's id, or the statute's legal reference.
    pub reference: String,
}

/// A reason for a person, in Danish and English.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reason {
    pub da: String,
    pub en: String,
}

/// One section of a case file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Section {
    pub category: String,
    pub status: SectionStatus,
    /// Why the data may be disclosed; absent when denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<Basis>,
    /// The determining policy ids.
    pub policies: Vec<String>,
    /// The source system (connector id) asked, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When the source answered (or the fetch ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
    /// Empty unless the status is `included`.
    pub documents: Vec<DocumentView>,
    pub reason: Reason,
    /// The technical cause of a failed fetch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where a document came from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceView {
    pub system: String,
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

/// One released document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: String,
    pub title: String,
    /// e.g. `lae265`, `xdis91`, `visitation`, `payment`, `measure`, `cv`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    pub source: SourceView,
    /// The typed document.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// SHA-256 (hex) of the canonical JSON of `content`, as recorded in the audit log.
    pub sha256: String,
}

impl From<connectors::Document> for DocumentView {
    fn from(d: connectors::Document) -> Self {
        DocumentView {
            id: d.id,
            title: d.title,
            kind: d.kind,
            date: d.date,
            source: SourceView {
                system: d.source.system,
                endpoint: d.source.endpoint,
                organisation: d.source.organisation,
                fetched_at: d.source.fetched_at,
            },
            content: d.content,
            sha256: d.sha256,
        }
    }
}

/// A validity period `[from, until)`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodBody {
    /// Defaults to now.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
}

/// How old released documents may be.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataPeriodBody {
    pub from: NaiveDate,
    #[serde(default)]
    pub until: Option<NaiveDate>,
}

/// `POST /api/v1/consent-requests`: ask the citizen for consent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequestBody {
    #[schema(example = "0101709901", pattern = "^[0-9]{6}-?[0-9]{4}$")]
    pub citizen: String,
    /// The unit that would receive the data: the caseworker's own unit (the default) or a
    /// unit above it within the system's organisation.
    #[serde(default)]
    pub unit: Option<String>,
    /// With `unit` above the caseworker's: also cover the units below it.
    #[serde(default)]
    pub include_subunits: bool,
    pub purpose: String,
    pub categories: Vec<String>,
    pub period: PeriodBody,
    #[serde(default)]
    pub data_period: Option<DataPeriodBody>,
    /// A short explanation shown to the citizen with the request (at most 1000 characters).
    pub explanation: String,
    /// When the request expires unanswered; default 14 days, at most the period's end.
    #[serde(default)]
    pub respond_by: Option<DateTime<Utc>>,
}

/// `POST /api/v1/consents/search`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentSearchBody {
    #[schema(example = "0101709901", pattern = "^[0-9]{6}-?[0-9]{4}$")]
    pub citizen: String,
    /// Only consents for this purpose.
    #[serde(default)]
    pub purpose: Option<String>,
}

/// A consent's state at a point in time.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatusView {
    Requested,
    Active,
    Rejected,
    Revoked,
    Expired,
}

impl From<ConsentStatus> for ConsentStatusView {
    fn from(s: ConsentStatus) -> Self {
        match s {
            ConsentStatus::Requested => ConsentStatusView::Requested,
            ConsentStatus::Active => ConsentStatusView::Active,
            ConsentStatus::Rejected => ConsentStatusView::Rejected,
            ConsentStatus::Revoked => ConsentStatusView::Revoked,
            ConsentStatus::Expired => ConsentStatusView::Expired,
        }
    }
}

/// A consent (or consent request) as the requesting unit may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentView {
    pub id: String,
    pub status: ConsentStatusView,
    /// Masked (`DDMMYY-****`).
    pub citizen: String,
    pub grantee: String,
    pub include_subunits: bool,
    pub purpose: String,
    pub categories: Vec<String>,
    pub period: PeriodBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_period: Option<DataPeriodBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respond_by: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// The version of the consent text the citizen is shown.
    pub text_version: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConsentView {
    pub fn of(c: &Consent, now: DateTime<Utc>) -> Self {
        let t = &c.terms;
        ConsentView {
            id: c.id.to_string(),
            status: c.status_at(now).into(),
            citizen: t.citizen.masked(),
            grantee: t.grantee.to_string(),
            include_subunits: t.include_subunits,
            purpose: t.purpose.to_string(),
            categories: t.categories.iter().map(|c| c.to_string()).collect(),
            period: PeriodBody { from: Some(t.period.from), until: t.period.until },
            data_period: t.data_period.map(|d| DataPeriodBody { from: d.from, until: d.until }),
            respond_by: c.respond_by,
            explanation: c.explanation.clone(),
            text_version: t.text.version.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The answer of `POST /api/v1/consents/search`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentList {
    pub consents: Vec<ConsentView>,
}
