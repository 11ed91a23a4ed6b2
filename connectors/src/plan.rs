//! The coordinated plan service ("fælles plan"): one plan per citizen across departments,
//! REST/JSON, versioned. The CPR number travels in the body, never in the URL.
//!
//! - `POST /plan/v1/plans/read` with [`PlanQuery`] → [`Plan`] (category `plan`); 404: the
//!   citizen has no plan (`no_data`);
//! - `POST /plan/v1/plans/changes` with [`ChangeRequest`] → the new [`Plan`]; 409 with
//!   [`Conflict`] when the plan has a newer version than `expectedVersion`; 422 with
//!   [`Invalid`] naming the field; 404: no plan;
//! - `GET /plan/v1/health`.
//!
//! Every answer must name the citizen asked about; another citizen's plan is refused like
//! a wrong patient.

use async_trait::async_trait;
use chrono::NaiveDate;
use consent::Category;
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource};
use crate::{Connector, Document, FetchError, FetchRequest, WriteError, WriteRequest, Written, check_citizen, source};

pub const READ_PATH: &str = "/plan/v1/plans/read";
pub const CHANGE_PATH: &str = "/plan/v1/plans/changes";
pub const HEALTH_PATH: &str = "/plan/v1/health";
/// The category of the plan.
pub const CATEGORY: &str = "plan";

/// The body of a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanQuery {
    pub civil_registration_identifier: String,
}

/// One citizen's coordinated plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The citizen asked about; checked, then left out of the released document.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub civil_registration_identifier: String,
    pub plan_id: String,
    /// Raised by one with every accepted change.
    pub version: u64,
    #[serde(default)]
    pub goals: Vec<Goal>,
    #[serde(default)]
    pub efforts: Vec<Effort>,
    #[serde(default)]
    pub milestones: Vec<Milestone>,
    /// The citizen's own statements ("Mit perspektiv").
    #[serde(default)]
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Goal {
    pub id: String,
    pub text: String,
}

/// A department's effort in the plan, owned by its responsible unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Effort {
    pub id: String,
    /// The owning unit's id (e.g. `kk.jobcenter.rehab`).
    pub unit: String,
    pub unit_name: String,
    pub title: String,
    pub description: String,
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

/// A milestone, owned by the unit that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Milestone {
    pub id: String,
    pub unit: String,
    pub title: String,
    pub due: NaiveDate,
    #[serde(default)]
    pub reached: bool,
}

/// The citizen's own statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    pub id: String,
    pub date: NaiveDate,
    pub text: String,
}

/// One change: an effort or a milestone added (no `id`) or replaced (its `id`), or a
/// statement of the citizen's added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PlanChange {
    #[serde(rename_all = "camelCase")]
    Effort {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        unit: String,
        unit_name: String,
        title: String,
        description: String,
        from: NaiveDate,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<NaiveDate>,
    },
    #[serde(rename_all = "camelCase")]
    Milestone {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        unit: String,
        title: String,
        due: NaiveDate,
        #[serde(default)]
        reached: bool,
    },
    Statement {
        date: NaiveDate,
        text: String,
    },
}

impl PlanChange {
    /// The id of the effort or milestone the change replaces, if it replaces one.
    pub fn replaces(&self) -> Option<&str> {
        match self {
            PlanChange::Effort { id, .. } | PlanChange::Milestone { id, .. } => id.as_deref(),
            PlanChange::Statement { .. } => None,
        }
    }
}

impl Plan {
    /// The owning unit of the effort or milestone with this id.
    pub fn owner_of(&self, id: &str) -> Option<&str> {
        self.efforts
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.unit.as_str())
            .or_else(|| self.milestones.iter().find(|m| m.id == id).map(|m| m.unit.as_str()))
    }
}

/// The body of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeRequest {
    pub civil_registration_identifier: String,
    pub expected_version: u64,
    pub change: PlanChange,
}

/// A 409's body: the version the plan has now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub current_version: u64,
}

/// A 422's body: the field refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invalid {
    pub field: String,
}

pub struct PlanService {
    id: String,
    http: HttpSource,
    categories: Vec<Category>,
}

impl PlanService {
    pub fn new(id: &str, http: HttpSource) -> Self {
        PlanService { id: id.to_string(), http, categories: vec![Category::parse(CATEGORY).expect("valid name")] }
    }

    /// The plan as a document, without the CPR number (the caller named the citizen).
    fn document(&self, url: &str, plan: &Plan, req_clock: &FetchRequest) -> Result<Document, FetchError> {
        let src = source(&self.id, url, None, req_clock);
        let plan = Plan { civil_registration_identifier: String::new(), ..plan.clone() };
        Document::new(&plan.plan_id, format!("Fælles plan, version {}", plan.version), "plan", None, src, &plan)
            .map_err(|e| FetchError::invalid(e.to_string()))
    }

    async fn read(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        let url = self.http.url(READ_PATH);
        let body = serde_json::to_vec(&PlanQuery { civil_registration_identifier: req.citizen.expose().to_string() })
            .map_err(|e| FetchError::invalid(e.to_string()))?;
        let reply = self
            .http
            .send(true, &http::retry_server_errors, &|c| {
                c.post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(reqwest::header::ACCEPT, "application/json")
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, &req.request_id)
                    .body(body.clone())
            })
            .await?;
        let Some(plan) = crate::json::citizen_reply::<Plan>(&reply, self.http.max_response_bytes())? else {
            return Ok(Vec::new());
        };
        check_citizen(&plan.civil_registration_identifier, req)?;
        Ok(vec![self.document(&url, &plan, req)?])
    }

    async fn change(&self, req: &WriteRequest) -> Result<Written, WriteError> {
        let url = self.http.url(CHANGE_PATH);
        let mut body = serde_json::json!({
            "civilRegistrationIdentifier": req.citizen.expose(),
            "expectedVersion": req.expected_version,
        });
        body["change"] = req.change.clone();
        let body = serde_json::to_vec(&body).map_err(|e| WriteError::Refused(e.to_string()))?;
        // A change is not idempotent: never retried.
        let reply = self
            .http
            .send(false, &|_| false, &|c| {
                c.post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(reqwest::header::ACCEPT, "application/json")
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, &req.request_id)
                    .body(body.clone())
            })
            .await
            .map_err(WriteError::Source)?;
        let max = self.http.max_response_bytes();
        match reply.status {
            200 => {
                http::expect_content_type(&reply, &["application/json"]).map_err(WriteError::Source)?;
                let plan: Plan = crate::json::parse(&reply.body, max).map_err(WriteError::Source)?;
                let fetch = FetchRequest {
                    citizen: req.citizen,
                    category: req.category.clone(),
                    data_period: None,
                    request_id: req.request_id.clone(),
                    clock: req.clock.clone(),
                };
                check_citizen(&plan.civil_registration_identifier, &fetch).map_err(WriteError::Source)?;
                let doc = self.document(&url, &plan, &fetch).map_err(WriteError::Source)?;
                Ok(Written { version: plan.version, documents: vec![doc] })
            }
            409 => {
                let c: Conflict = crate::json::parse(&reply.body, max).map_err(WriteError::Source)?;
                Err(WriteError::Conflict { current: c.current_version })
            }
            422 => {
                let i: Invalid = crate::json::parse(&reply.body, max).map_err(WriteError::Source)?;
                Err(WriteError::Refused(format!("field {}", i.field)))
            }
            404 => Err(WriteError::NotFound),
            _ => Err(WriteError::Source(http::unexpected_status(&reply))),
        }
    }
}

#[async_trait]
impl Connector for PlanService {
    fn id(&self) -> &str {
        &self.id
    }

    fn categories(&self) -> &[Category] {
        &self.categories
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        if !self.categories.contains(&req.category) {
            return Err(FetchError::Unavailable(format!("{} does not serve {}", self.id, req.category)));
        }
        self.http.bounded(self.read(req)).await
    }

    async fn write(&self, req: &WriteRequest) -> Result<Written, WriteError> {
        if !self.categories.contains(&req.category) {
            return Err(WriteError::Source(FetchError::Unavailable(format!(
                "{} does not serve {}",
                self.id, req.category
            ))));
        }
        match tokio::time::timeout(self.http.timeout(), self.change(req)).await {
            Ok(r) => r,
            Err(_) => Err(WriteError::Source(FetchError::Timeout(format!(
                "no complete answer within {} ms",
                self.http.timeout().as_millis()
            )))),
        }
    }

    async fn health(&self) -> Result<(), FetchError> {
        crate::health_check(&self.http, HEALTH_PATH).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_tagged_by_kind_and_names_what_it_replaces() {
        let c: PlanChange = serde_json::from_value(serde_json::json!({
            "kind": "effort", "id": "e-1", "unit": "kk.social", "unitName": "Social",
            "title": "Bostøtte", "description": "To besøg om ugen", "from": "2025-03-01"
        }))
        .unwrap();
        assert_eq!(c.replaces(), Some("e-1"));
        let s: PlanChange = serde_json::from_value(
            serde_json::json!({"kind": "statement", "date": "2025-03-01", "text": "Jeg vil gerne"}),
        )
        .unwrap();
        assert_eq!(s.replaces(), None);
        assert!(serde_json::from_value::<PlanChange>(serde_json::json!({"kind": "goal", "text": "x"})).is_err());
    }
}
