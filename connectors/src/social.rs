//! The municipality's social services system: SOAP 1.1 over HTTP in the style of the
//! municipal service platform.
//!
//! `POST /social/v1/soap` with `SOAPAction: "urn:sammen:social:1#GetMeasures"` and a
//! [`GetMeasuresRequest`] (the CPR number in the body, never the URL) →
//! [`GetMeasuresResponse`]: social measures with legal paragraph, start, end and
//! responsible unit (`social.case`). Faults: `Client` with `ErrorCode` `UnknownCitizen`
//! is `no_data`; any other fault is `unavailable`; `GET /social/v1/health`.
//!
//! Data period: a measure is returned when its period overlaps the data period (an
//! ongoing measure that began long ago is still current).

use async_trait::async_trait;
use chrono::NaiveDate;
use consent::Category;
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpSource, Reply};
use crate::soap::{self, Body, SoapError};
use crate::xml::{self, Element, Limits};
use crate::{Connector, Document, FetchError, FetchRequest, check_citizen, source};

pub const SOAP_PATH: &str = "/social/v1/soap";
pub const HEALTH_PATH: &str = "/social/v1/health";
/// The department summary for the shared overview (`social.summary`, REST/JSON beside
/// the SOAP service, [`crate::summary`]).
pub const SUMMARY_PATH: &str = "/social/v1/summary";
pub const NS_SOCIAL: &str = "urn:sammen:social:1";
pub const SOAP_ACTION: &str = "\"urn:sammen:social:1#GetMeasures\"";
pub const UNKNOWN_CITIZEN: &str = "UnknownCitizen";

/// The request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMeasuresRequest {
    pub cpr: String,
    pub period_from: Option<NaiveDate>,
}

impl GetMeasuresRequest {
    pub fn to_xml(&self) -> String {
        let from = self
            .period_from
            .map(|d| format!("<s:PeriodFrom>{}</s:PeriodFrom>", d.format("%Y-%m-%d")))
            .unwrap_or_default();
        soap::envelope(&format!(
            "<s:GetMeasuresRequest xmlns:s=\"{NS_SOCIAL}\"><s:CivilRegistrationIdentifier>{}</s:CivilRegistrationIdentifier>{from}</s:GetMeasuresRequest>",
            xml::escape(&self.cpr)
        ))
    }

    /// Reads a request (the sandbox's side).
    pub fn parse(bytes: &[u8], limits: Limits) -> Result<Self, SoapError> {
        let Body::Payload(p) = soap::parse(bytes, limits)? else { return Err(SoapError::NotAnEnvelope) };
        if p.name != "GetMeasuresRequest" || p.ns.as_deref() != Some(NS_SOCIAL) {
            return Err(SoapError::NotAnEnvelope);
        }
        Ok(GetMeasuresRequest {
            cpr: p.child_text("CivilRegistrationIdentifier").ok_or(SoapError::EmptyBody)?,
            period_from: p.child_text("PeriodFrom").and_then(|d| d.parse().ok()),
        })
    }
}

/// One social measure (foranstaltning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    pub id: String,
    pub title: String,
    /// E.g. `serviceloven § 85` (socialpædagogisk støtte).
    pub legal_paragraph: String,
    pub start: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<NaiveDate>,
    pub responsible_unit: String,
}

/// The response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMeasuresResponse {
    pub cpr: String,
    pub measures: Vec<Measure>,
}

impl GetMeasuresResponse {
    pub fn to_xml(&self) -> String {
        let mut s = format!(
            "<s:GetMeasuresResponse xmlns:s=\"{NS_SOCIAL}\"><s:CivilRegistrationIdentifier>{}</s:CivilRegistrationIdentifier>",
            xml::escape(&self.cpr)
        );
        for m in &self.measures {
            s.push_str(&format!(
                "<s:Measure><s:Id>{}</s:Id><s:Title>{}</s:Title><s:LegalParagraph>{}</s:LegalParagraph><s:Start>{}</s:Start>{}<s:ResponsibleUnit>{}</s:ResponsibleUnit></s:Measure>",
                xml::escape(&m.id),
                xml::escape(&m.title),
                xml::escape(&m.legal_paragraph),
                m.start.format("%Y-%m-%d"),
                m.end.map(|e| format!("<s:End>{}</s:End>", e.format("%Y-%m-%d"))).unwrap_or_default(),
                xml::escape(&m.responsible_unit),
            ));
        }
        s.push_str("</s:GetMeasuresResponse>");
        soap::envelope(&s)
    }

    fn from_payload(p: &Element) -> Result<Self, FetchError> {
        if p.name != "GetMeasuresResponse" || p.ns.as_deref() != Some(NS_SOCIAL) {
            return Err(FetchError::invalid("SOAP body is not a GetMeasuresResponse"));
        }
        let text = |el: &Element, name: &'static str| {
            el.child_text(name).ok_or_else(|| FetchError::invalid(format!("GetMeasuresResponse lacks {name}")))
        };
        let date = |el: &Element, name: &'static str| -> Result<NaiveDate, FetchError> {
            text(el, name)?
                .parse()
                .map_err(|_| FetchError::invalid(format!("GetMeasuresResponse has an invalid {name}")))
        };
        let measures = p
            .children_named("Measure")
            .map(|m| {
                Ok(Measure {
                    id: text(m, "Id")?,
                    title: text(m, "Title")?,
                    legal_paragraph: text(m, "LegalParagraph")?,
                    start: date(m, "Start")?,
                    end: m.child("End").map(|_| date(m, "End")).transpose()?,
                    responsible_unit: text(m, "ResponsibleUnit")?,
                })
            })
            .collect::<Result<_, FetchError>>()?;
        Ok(GetMeasuresResponse { cpr: text(p, "CivilRegistrationIdentifier")?, measures })
    }
}

/// Parses a reply into measures, `None` for an unknown citizen (the connector's side;
/// public for the proptests).
pub fn parse_reply(reply: &Reply, limits: Limits) -> Result<Option<GetMeasuresResponse>, FetchError> {
    let body = soap::parse(&reply.body, limits);
    match body {
        Ok(Body::Fault(f)) if f.code == "Client" && f.detail_code.as_deref() == Some(UNKNOWN_CITIZEN) => Ok(None),
        Ok(Body::Fault(f)) => Err(FetchError::Unavailable(format!(
            "SOAP fault {} ({}): {}",
            f.code,
            f.detail_code.as_deref().unwrap_or("no error code"),
            f.string.chars().take(200).collect::<String>()
        ))),
        Ok(Body::Payload(_)) | Err(_) if reply.status >= 500 => Err(http::unexpected_status(reply)),
        Ok(Body::Payload(_)) if reply.status != 200 => Err(http::unexpected_status(reply)),
        Ok(Body::Payload(p)) => GetMeasuresResponse::from_payload(&p).map(Some),
        Err(e) => Err(FetchError::invalid(format!("SOAP: {e}"))),
    }
}

/// Retry server errors, except faults that will not change (a `Client` fault).
fn retryable(reply: &Reply) -> bool {
    http::retry_server_errors(reply)
        && !matches!(soap::parse(&reply.body, Limits::default()), Ok(Body::Fault(f)) if f.code == "Client")
}

pub struct Social {
    id: String,
    http: HttpSource,
    categories: Vec<Category>,
}

impl Social {
    pub fn new(id: &str, http: HttpSource) -> Self {
        let categories = vec![
            Category::parse("social.case").expect("valid name"),
            Category::parse("social.summary").expect("valid name"),
        ];
        Social { id: id.to_string(), http, categories }
    }

    async fn measures(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        let url = self.http.url(SOAP_PATH);
        let body =
            GetMeasuresRequest { cpr: req.citizen.expose().to_string(), period_from: req.data_period.map(|p| p.from) }
                .to_xml();
        // A read: idempotent, so it may be retried although it is a POST.
        let reply = self
            .http
            .send(true, &retryable, &|c| {
                c.post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
                    .header("SOAPAction", SOAP_ACTION)
                    .header(http::REQUEST_ID_HEADER, http::new_call_id())
                    .header(http::CORRELATION_HEADER, &req.request_id)
                    .body(body.clone())
            })
            .await?;
        let Some(response) = parse_reply(&reply, Limits::with_max_bytes(self.http.max_response_bytes()))? else {
            return Ok(Vec::new());
        };
        check_citizen(&response.cpr, req)?;
        let mut docs = Vec::new();
        for m in response.measures.iter().filter(|m| overlaps(m, req)) {
            let src = source(&self.id, &url, Some(m.responsible_unit.clone()), req);
            let title = format!("{} ({})", m.title, m.legal_paragraph);
            docs.push(
                Document::new(&m.id, title, "measure", Some(m.start), src, m)
                    .map_err(|e| FetchError::invalid(e.to_string()))?,
            );
        }
        Ok(docs)
    }
}

fn overlaps(m: &Measure, req: &FetchRequest) -> bool {
    match &req.data_period {
        None => true,
        Some(p) => m.end.is_none_or(|end| end >= p.from) && p.until.is_none_or(|until| m.start <= until),
    }
}

#[async_trait]
impl Connector for Social {
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
        if req.category.as_str() == "social.summary" {
            return crate::summary::fetch(&self.id, &self.http, SUMMARY_PATH, req).await;
        }
        self.http.bounded(self.measures(req)).await
    }

    async fn health(&self) -> Result<(), FetchError> {
        crate::health_check(&self.http, HEALTH_PATH).await
    }
}
