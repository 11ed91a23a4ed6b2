//! The simulated social services system, SOAP 1.1 (see `connectors::social`).

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use chrono::NaiveDate;
use connectors::soap;
use connectors::social::{self as so, GetMeasuresRequest, GetMeasuresResponse};
use connectors::xml::Limits;
use consent::Cpr;

use crate::faults::{self, Answer};
use crate::serve::Kill;
use crate::state::AppState;
use crate::{Source, find};

const XML: &str = "text/xml; charset=utf-8";

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(so::HEALTH_PATH, get(health))
        .route(so::SOAP_PATH, post(call))
        .route(so::SUMMARY_PATH, post(crate::summary::handler(Source::Social)))
        .with_state(state)
}

fn fault(status: StatusCode, code: &str, text: &str, detail: Option<&str>) -> Response {
    Answer::new(status, XML, soap::fault(code, text, detail)).into_response()
}

fn server_error() -> Response {
    fault(StatusCode::INTERNAL_SERVER_ERROR, "Server", "sandbox: injected server error", Some("InternalError"))
}

async fn health(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Social), &kill, server_error).await {
        return r;
    }
    (StatusCode::OK, "ok").into_response()
}

async fn call(
    State(s): State<AppState>,
    Extension(kill): Extension<Kill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = s.faults(Source::Social);
    if let Some(r) = faults::before(f, &kill, server_error).await {
        return r;
    }
    let action = headers.get("SOAPAction").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if action != so::SOAP_ACTION {
        return fault(StatusCode::INTERNAL_SERVER_ERROR, "Client", "unknown SOAPAction", Some("UnknownAction"));
    }
    let Ok(req) = GetMeasuresRequest::parse(&body, Limits::default()) else {
        return fault(StatusCode::INTERNAL_SERVER_ERROR, "Client", "malformed request", Some("MalformedRequest"));
    };
    let Ok(cpr) = Cpr::parse(&req.cpr) else {
        return fault(StatusCode::INTERNAL_SERVER_ERROR, "Client", "invalid CPR number", Some("InvalidCitizen"));
    };
    let Some(citizen) = find(&cpr) else {
        return fault(StatusCode::INTERNAL_SERVER_ERROR, "Client", "unknown citizen", Some(so::UNKNOWN_CITIZEN));
    };
    let from: Option<NaiveDate> = req.period_from;
    let measures =
        citizen.measures.iter().filter(|m| from.is_none_or(|from| m.end.is_none_or(|e| e >= from))).cloned().collect();
    let response = GetMeasuresResponse { cpr: req.cpr, measures };
    faults::after(f, Answer::new(StatusCode::OK, XML, response.to_xml()), Some(&cpr), s.0.oversized_bytes)
}
