//! The simulated Jobnet CV service (see `connectors::jobnet_cv` for the protocol).

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connectors::jobnet_cv as jn;

use crate::faults::{self, Answer};
use crate::serve::Kill;
use crate::state::{AppState, cpr_header};
use crate::{Source, find};

pub(crate) fn router(state: AppState) -> Router {
    Router::new().route(jn::HEALTH_PATH, get(health)).route(jn::CV_PATH, get(cv)).with_state(state)
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

async fn health(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::JobnetCv), &kill, server_error).await {
        return r;
    }
    (StatusCode::OK, "ok").into_response()
}

async fn cv(State(s): State<AppState>, Extension(kill): Extension<Kill>, headers: HeaderMap) -> Response {
    let f = s.faults(Source::JobnetCv);
    if let Some(r) = faults::before(f, &kill, server_error).await {
        return r;
    }
    let cpr = match cpr_header(&headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let Some(cv) = find(&cpr).and_then(|c| c.cv.as_ref()) else {
        return (StatusCode::NOT_FOUND, "no CV").into_response();
    };
    let body = serde_json::to_vec(cv).expect("serializes");
    faults::after(f, Answer::new(StatusCode::OK, "application/json", body), Some(&cpr), s.0.oversized_bytes)
}
