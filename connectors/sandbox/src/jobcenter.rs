//! The simulated job centre (see `connectors::jobcenter` for the protocol).

use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use connectors::jobcenter as jc;
use serde::Deserialize;

use crate::faults::{self, Answer};
use crate::serve::Kill;
use crate::state::{AppState, cpr_header};
use crate::{Source, find};

const JSON: &str = "application/json";

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(jc::HEALTH_PATH, get(health))
        .route(jc::CASE_PATH, get(case))
        .route(jc::BENEFITS_PATH, get(benefits))
        .route(jc::SUMMARY_PATH, axum::routing::post(crate::summary::handler(Source::Jobcenter)))
        .with_state(state)
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

async fn health(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Jobcenter), &kill, server_error).await {
        return r;
    }
    (StatusCode::OK, "ok").into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Period {
    date_from: Option<NaiveDate>,
}

/// Checks the request id (412 when repeated) and the CPR header.
fn check(s: &AppState, headers: &HeaderMap) -> Result<consent::Cpr, (StatusCode, &'static str)> {
    let id = headers
        .get(connectors::http::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or((StatusCode::BAD_REQUEST, "missing x-requestId"))?;
    if !s.first_use(id) {
        return Err((StatusCode::PRECONDITION_FAILED, "x-requestId already used"));
    }
    cpr_header(headers).map_err(|_| (StatusCode::BAD_REQUEST, "missing or invalid x-civilRegistrationIdentifier"))
}

async fn case(s: State<AppState>, kill: Extension<Kill>, headers: HeaderMap, Query(p): Query<Period>) -> Response {
    serve_citizen(
        s,
        kill,
        headers,
        |c| c.case.clone(),
        "no case",
        |case: &mut jc::CaseResponse| {
            if let Some(from) = p.date_from {
                case.contacts.retain(|c| c.date >= from);
            }
        },
    )
    .await
}

async fn benefits(s: State<AppState>, kill: Extension<Kill>, headers: HeaderMap, Query(p): Query<Period>) -> Response {
    serve_citizen(
        s,
        kill,
        headers,
        |c| c.benefits.clone(),
        "no benefits",
        |b: &mut jc::BenefitsResponse| {
            if let Some(from) = p.date_from {
                b.payments.retain(|x| x.date >= from);
            }
        },
    )
    .await
}

/// One citizen resource: faults first, then the request id and CPR header, then the
/// citizen's record (`pick`; 404 `missing` when absent) narrowed by `narrow`, as JSON.
async fn serve_citizen<T: serde::Serialize>(
    State(s): State<AppState>,
    Extension(kill): Extension<Kill>,
    headers: HeaderMap,
    pick: impl FnOnce(&crate::citizens::Citizen) -> Option<T>,
    missing: &'static str,
    narrow: impl FnOnce(&mut T),
) -> Response {
    let f = s.faults(Source::Jobcenter);
    if let Some(r) = faults::before(f, &kill, server_error).await {
        return r;
    }
    let cpr = match check(&s, &headers) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let Some(mut record) = find(&cpr).and_then(pick) else {
        return (StatusCode::NOT_FOUND, missing).into_response();
    };
    narrow(&mut record);
    let body = serde_json::to_vec(&record).expect("serializes");
    faults::after(f, Answer::new(StatusCode::OK, JSON, body), Some(&cpr), s.0.oversized_bytes)
}
