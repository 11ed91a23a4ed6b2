//! The simulated person register (see `connectors::person` for the protocol). A citizen's
//! municipality can be changed at run time (`PUT /admin/residence`), to simulate a move.

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connectors::person as pr;

use crate::faults::{self, Answer};
use crate::serve::Kill;
use crate::state::{AppState, cpr_header};
use crate::{Source, find};

pub(crate) fn router(state: AppState) -> Router {
    Router::new().route(pr::HEALTH_PATH, get(health)).route(pr::PERSON_PATH, get(person)).with_state(state)
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

async fn health(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Cpr), &kill, server_error).await {
        return r;
    }
    (StatusCode::OK, "ok").into_response()
}

async fn person(State(s): State<AppState>, Extension(kill): Extension<Kill>, headers: HeaderMap) -> Response {
    let f = s.faults(Source::Cpr);
    if let Some(r) = faults::before(f, &kill, server_error).await {
        return r;
    }
    let cpr = match cpr_header(&headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let Some(c) = find(&cpr) else {
        // A synthetic child: lives with the first holder of custody.
        if let Some(k) = crate::custody::children().into_iter().find(|k| k.cpr == cpr) {
            let first = &crate::citizens()[k.custody[0]];
            let answer = pr::PersonResponse {
                civil_registration_identifier: cpr.expose().to_string(),
                municipality_code: Some(s.residence(&first.cpr).unwrap_or_else(|| first.municipality_code.clone())),
                address_protection: false,
                custody: Vec::new(),
                custody_holders: k.custody.iter().map(|i| crate::citizens::cpr_of(*i).expose().to_string()).collect(),
            };
            let body = serde_json::to_vec(&answer).expect("serializes");
            return faults::after(
                f,
                Answer::new(StatusCode::OK, "application/json", body),
                Some(&cpr),
                s.0.oversized_bytes,
            );
        }
        return (StatusCode::NOT_FOUND, "no such person").into_response();
    };
    let municipality = s.residence(&cpr).unwrap_or_else(|| c.municipality_code.clone());
    let answer = pr::PersonResponse {
        civil_registration_identifier: cpr.expose().to_string(),
        municipality_code: Some(municipality),
        address_protection: c.address_protection,
        custody: crate::custody::children_of(&cpr)
            .into_iter()
            .map(|k| pr::CustodyEntry {
                child_civil_registration_identifier: k.cpr.expose().to_string(),
                child_name: k.name.clone(),
            })
            .collect(),
        custody_holders: Vec::new(),
    };
    let body = serde_json::to_vec(&answer).expect("serializes");
    faults::after(f, Answer::new(StatusCode::OK, "application/json", body), Some(&cpr), s.0.oversized_bytes)
}
