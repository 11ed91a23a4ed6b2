//! Jobnet's CV service: REST/JSON. `GET /jobnet/v1/cv` with the CPR number in the
//! `x-civilRegistrationIdentifier` header → [`Cv`]; 404: no CV (`no_data`).
//! The CV is one document dated by its last update.

use async_trait::async_trait;
use chrono::NaiveDate;
use consent::Category;
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource};
use crate::{Connector, Document, FetchError, FetchRequest, check_citizen, source, within_period};

pub const CV_PATH: &str = "/jobnet/v1/cv";
pub const HEALTH_PATH: &str = "/jobnet/v1/health";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cv {
    pub civil_registration_identifier: String,
    pub cv_id: String,
    pub last_updated: NaiveDate,
    /// Whether employers may find the CV in a search.
    pub searchable: bool,
    #[serde(default)]
    pub educations: Vec<Education>,
    #[serde(default)]
    pub work_experiences: Vec<WorkExperience>,
    #[serde(default)]
    pub jobs_wanted: Vec<JobWanted>,
    pub employment_conditions: EmploymentConditions,
    #[serde(default)]
    pub competences: Vec<String>,
    #[serde(default)]
    pub languages: Vec<Language>,
    #[serde(default)]
    pub driving_licences: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Education {
    pub title: String,
    pub institution: String,
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkExperience {
    pub employer: String,
    pub title: String,
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobWanted {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupation_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmploymentConditions {
    pub full_time: bool,
    pub part_time: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours_per_week: Option<u32>,
    pub flexjob: bool,
    pub work_area: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Language {
    pub language: String,
    pub level: String,
}

pub struct JobnetCv {
    id: String,
    http: HttpSource,
    categories: Vec<Category>,
}

impl JobnetCv {
    pub fn new(id: &str, http: HttpSource) -> Self {
        JobnetCv { id: id.to_string(), http, categories: vec![Category::parse("jobnet.cv").expect("valid name")] }
    }

    async fn cv(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        let url = self.http.url(CV_PATH);
        let cpr = req.citizen.expose().to_string();
        let reply = self
            .http
            .send(true, &http::retry_server_errors, &|c| {
                c.get(&url)
                    .header(http::CPR_HEADER, &cpr)
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, &req.request_id)
                    .header(reqwest::header::ACCEPT, "application/json")
            })
            .await?;
        let Some(cv) = crate::json::citizen_reply::<Cv>(&reply, self.http.max_response_bytes())? else {
            return Ok(Vec::new());
        };
        check_citizen(&cv.civil_registration_identifier, req)?;
        if !within_period(Some(cv.last_updated), req.data_period.as_ref()) {
            return Ok(Vec::new());
        }
        let doc = Document::new(
            &cv.cv_id,
            "CV",
            "cv",
            Some(cv.last_updated),
            source(&self.id, &url, Some("Jobnet".into()), req),
            &cv,
        )
        .map_err(|e| FetchError::invalid(e.to_string()))?;
        Ok(vec![doc])
    }
}

#[async_trait]
impl Connector for JobnetCv {
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
        self.http.bounded(self.cv(req)).await
    }

    async fn health(&self) -> Result<(), FetchError> {
        crate::health_check(&self.http, HEALTH_PATH).await
    }
}
