//! Department summaries for the caseworkers' shared overview ("glasplade"): what one
//! department holds about a citizen, as a summary and not as documents. Every source adds
//! the same REST/JSON resource beside its own protocol:
//!
//! - `POST <prefix>/summary` with the body [`SummaryQuery`] (the CPR number travels in the
//!   body, never in the URL) → [`Summary`]; 404: the department holds nothing about the
//!   citizen (`no_data`).
//!
//! The answer must name the citizen asked about; another citizen's summary is refused like
//! a wrong patient.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource};
use crate::{Document, FetchError, FetchRequest, check_citizen, source};

/// The body of a summary request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SummaryQuery {
    pub civil_registration_identifier: String,
}

/// One department's summary of its work with the citizen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The citizen asked about; checked, then left out of the released document.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub civil_registration_identifier: String,
    /// The department (e.g. `jobcenter`, `social`, `health`).
    pub department: String,
    /// The responsible unit, by name.
    pub responsible_unit: String,
    pub contact: Option<ContactPerson>,
    /// Active measures or benefits, with their dates.
    #[serde(default)]
    pub measures: Vec<ActiveMeasure>,
    /// The next appointments.
    #[serde(default)]
    pub appointments: Vec<Appointment>,
    /// Open cases.
    #[serde(default)]
    pub open_cases: Vec<OpenCase>,
}

/// The contact caseworker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPerson {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveMeasure {
    pub title: String,
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub date: NaiveDate,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenCase {
    pub id: String,
    pub title: String,
    pub opened: NaiveDate,
}

/// Fetches the citizen's summary from `http` at `path`: one document, or none (404).
pub async fn fetch(
    connector: &str,
    http: &HttpSource,
    path: &str,
    req: &FetchRequest,
) -> Result<Vec<Document>, FetchError> {
    let url = http.url(path);
    let body = serde_json::to_vec(&SummaryQuery { civil_registration_identifier: req.citizen.expose().to_string() })
        .map_err(|e| FetchError::invalid(e.to_string()))?;
    // A read: idempotent, so it may be retried although it is a POST.
    let reply = http
        .bounded(http.send(true, &http::retry_server_errors, &|c| {
            c.post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "application/json")
                .header(http::REQUEST_ID_HEADER, http::new_call_id())
                .header(http::CORRELATION_HEADER, &req.request_id)
                .body(body.clone())
        }))
        .await?;
    let Some(mut summary) = crate::json::citizen_reply::<Summary>(&reply, http.max_response_bytes())? else {
        return Ok(Vec::new());
    };
    check_citizen(&summary.civil_registration_identifier, req)?;
    // The caller named the citizen; the released summary does not repeat the number.
    summary.civil_registration_identifier.clear();
    let src = source(connector, &url, Some(summary.responsible_unit.clone()), req);
    let title = format!("Overblik: {}", summary.responsible_unit);
    let doc = Document::new(format!("{}-summary", summary.department), title, "summary", None, src, &summary)
        .map_err(|e| FetchError::invalid(e.to_string()))?;
    Ok(vec![doc])
}
