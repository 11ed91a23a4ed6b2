//! The job centre's case system: REST/JSON in the style of the national employment data
//! platform. The CPR number travels in the `x-civilRegistrationIdentifier` header, never
//! in the URL; every call carries its own `x-requestId` (a repeated one answers 412).
//!
//! - `GET /jobcenter/v1/case[?dateFrom=YYYY-MM-DD]` → [`CaseResponse`] (`jobcenter.case`:
//!   visitation and status, contact history, current plan);
//! - `GET /jobcenter/v1/benefits[?dateFrom=YYYY-MM-DD]` → [`BenefitsResponse`]
//!   (`jobcenter.benefits`: payments, a separate category because it is financial);
//! - `POST /jobcenter/v1/summary` → [`crate::summary::Summary`] (`jobcenter.summary`);
//! - 404: the citizen is not known (`no_data`); `GET /jobcenter/v1/health`.

use async_trait::async_trait;
use chrono::NaiveDate;
use consent::Category;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource};
use crate::{Connector, Document, FetchError, FetchRequest, check_citizen, source, within_period};

pub const CASE_PATH: &str = "/jobcenter/v1/case";
pub const BENEFITS_PATH: &str = "/jobcenter/v1/benefits";
pub const HEALTH_PATH: &str = "/jobcenter/v1/health";
/// The department summary for the shared overview (`jobcenter.summary`, [`crate::summary`]).
pub const SUMMARY_PATH: &str = "/jobcenter/v1/summary";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResponse {
    pub civil_registration_identifier: String,
    /// The job centre holding the case.
    pub jobcenter: String,
    pub visitation: Option<Visitation>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    pub plan: Option<Plan>,
}

/// Which target group the citizen is in and the current status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Visitation {
    pub id: String,
    pub date: NaiveDate,
    /// E.g. `sygedagpengemodtager`, `ressourceforløb`, `dagpengemodtager`.
    pub target_group: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_category: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    pub date: NaiveDate,
    /// `samtale`, `telefon`, `brev`, `rundbordssamtale`, ...
    pub kind: String,
    pub summary: String,
    pub caseworker: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: String,
    pub updated: NaiveDate,
    pub goal: String,
    #[serde(default)]
    pub activities: Vec<Activity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub title: String,
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BenefitsResponse {
    pub civil_registration_identifier: String,
    pub jobcenter: String,
    #[serde(default)]
    pub payments: Vec<Payment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub date: NaiveDate,
    /// `sygedagpenge`, `ressourceforløbsydelse`, `dagpenge`, `kontanthjælp`, ...
    pub benefit: String,
    /// In øre, to stay exact.
    pub amount_ore: i64,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
}

pub struct Jobcenter {
    id: String,
    http: HttpSource,
    categories: Vec<Category>,
}

impl Jobcenter {
    pub fn new(id: &str, http: HttpSource) -> Self {
        let categories = vec![
            Category::parse("jobcenter.case").expect("valid name"),
            Category::parse("jobcenter.benefits").expect("valid name"),
            Category::parse("jobcenter.summary").expect("valid name"),
        ];
        Jobcenter { id: id.to_string(), http, categories }
    }

    /// GETs `path`; `None` for 404.
    async fn get<T: DeserializeOwned>(
        &self,
        req: &FetchRequest,
        path: &str,
    ) -> Result<Option<(String, T)>, FetchError> {
        let url = self.http.url(path);
        let cpr = req.citizen.expose().to_string();
        let query: Vec<(&str, String)> =
            req.data_period.iter().map(|p| ("dateFrom", p.from.format("%Y-%m-%d").to_string())).collect();
        let reply = self
            .http
            .send(true, &http::retry_server_errors, &|c| {
                c.get(&url)
                    .query(&query)
                    .header(http::CPR_HEADER, &cpr)
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, &req.request_id)
                    .header(reqwest::header::ACCEPT, "application/json")
            })
            .await?;
        Ok(crate::json::citizen_reply(&reply, self.http.max_response_bytes())?.map(|answer| (url, answer)))
    }

    async fn case(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        let Some((url, case)) = self.get::<CaseResponse>(req, CASE_PATH).await? else { return Ok(Vec::new()) };
        check_citizen(&case.civil_registration_identifier, req)?;
        let org = Some(case.jobcenter.clone());
        let src = || source(&self.id, &url, org.clone(), req);
        let mut docs = Vec::new();
        let mut push = |d: Result<Document, serde_json::Error>| -> Result<(), FetchError> {
            let d = d.map_err(|e| FetchError::invalid(e.to_string()))?;
            if within_period(d.date, req.data_period.as_ref()) {
                docs.push(d);
            }
            Ok(())
        };
        if let Some(v) = &case.visitation {
            push(Document::new(
                &v.id,
                format!("Visitation: {}", v.target_group),
                "visitation",
                Some(v.date),
                src(),
                v,
            ))?;
        }
        for c in &case.contacts {
            push(Document::new(&c.id, format!("Kontakt: {}", c.kind), "contact", Some(c.date), src(), c))?;
        }
        if let Some(p) = &case.plan {
            push(Document::new(&p.id, "Plan", "plan", Some(p.updated), src(), p))?;
        }
        Ok(docs)
    }

    async fn benefits(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        let Some((url, benefits)) = self.get::<BenefitsResponse>(req, BENEFITS_PATH).await? else {
            return Ok(Vec::new());
        };
        check_citizen(&benefits.civil_registration_identifier, req)?;
        let mut docs = Vec::new();
        for p in benefits.payments.iter().filter(|p| within_period(Some(p.date), req.data_period.as_ref())) {
            let src = source(&self.id, &url, Some(benefits.jobcenter.clone()), req);
            let title = format!("Udbetaling: {}", p.benefit);
            docs.push(
                Document::new(&p.id, title, "payment", Some(p.date), src, p)
                    .map_err(|e| FetchError::invalid(e.to_string()))?,
            );
        }
        Ok(docs)
    }
}

#[async_trait]
impl Connector for Jobcenter {
    fn id(&self) -> &str {
        &self.id
    }

    fn categories(&self) -> &[Category] {
        &self.categories
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        match req.category.as_str() {
            "jobcenter.case" => self.http.bounded(self.case(req)).await,
            "jobcenter.benefits" => self.http.bounded(self.benefits(req)).await,
            "jobcenter.summary" => crate::summary::fetch(&self.id, &self.http, SUMMARY_PATH, req).await,
            other => Err(FetchError::Unavailable(format!("{} does not serve {other}", self.id))),
        }
    }

    async fn health(&self) -> Result<(), FetchError> {
        crate::health_check(&self.http, HEALTH_PATH).await
    }
}
