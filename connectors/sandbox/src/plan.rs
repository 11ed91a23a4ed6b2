//! The simulated coordinated plan service ("fælles plan", see `connectors::plan` for the
//! protocol): one versioned plan per citizen, seeded for every citizen in a resource
//! programme with the job centre's rehabilitation team and the social services as the two
//! departments, and changed by `POST /plan/v1/plans/changes` against the version read.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use connectors::plan::{
    self as pl, ChangeRequest, Conflict, Effort, Invalid, Milestone, PlanChange, PlanQuery, Statement,
};
use consent::Cpr;

use crate::Source;
use crate::faults::{self, Answer};
use crate::serve::Kill;
use crate::state::AppState;

pub(crate) mod plans;
pub use plans::seed;

const JSON: &str = "application/json";
/// The longest title a plan element may have.
pub const MAX_TITLE: usize = 200;
/// The longest description or statement.
pub const MAX_TEXT: usize = 2000;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(pl::HEALTH_PATH, get(health))
        .route(pl::READ_PATH, post(read))
        .route(pl::CHANGE_PATH, post(change))
        .with_state(state)
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

async fn health(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Plan), &kill, server_error).await {
        return r;
    }
    (StatusCode::OK, "ok").into_response()
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Answer {
    Answer::new(status, JSON, serde_json::to_vec(v).expect("serializes"))
}

async fn read(State(s): State<AppState>, Extension(kill): Extension<Kill>, body: Bytes) -> Response {
    let f = s.faults(Source::Plan);
    if let Some(r) = faults::before(f, &kill, server_error).await {
        return r;
    }
    let Some(cpr) =
        serde_json::from_slice::<PlanQuery>(&body).ok().and_then(|q| Cpr::parse(&q.civil_registration_identifier).ok())
    else {
        return (StatusCode::BAD_REQUEST, "malformed plan query").into_response();
    };
    let plan = s.0.plans.0.lock().expect("not poisoned").get(&cpr).cloned();
    match plan {
        Some(p) => faults::after(f, json(StatusCode::OK, &p), Some(&cpr), s.0.oversized_bytes),
        None => (StatusCode::NOT_FOUND, "no plan").into_response(),
    }
}

fn invalid(field: &str) -> Response {
    json(StatusCode::UNPROCESSABLE_ENTITY, &Invalid { field: field.into() }).into_response()
}

/// The first field of a change that is empty or too long.
fn check(change: &PlanChange) -> Option<&'static str> {
    let bad = |s: &str, max: usize| s.trim().is_empty() || s.chars().count() > max;
    match change {
        PlanChange::Effort { title, description, unit_name, .. } => {
            if bad(title, MAX_TITLE) {
                Some("change.title")
            } else if description.chars().count() > MAX_TEXT {
                Some("change.description")
            } else if bad(unit_name, MAX_TITLE) {
                Some("change.unitName")
            } else {
                None
            }
        }
        PlanChange::Milestone { title, .. } => bad(title, MAX_TITLE).then_some("change.title"),
        PlanChange::Statement { text, .. } => bad(text, MAX_TEXT).then_some("change.text"),
    }
}

async fn change(State(s): State<AppState>, Extension(kill): Extension<Kill>, body: Bytes) -> Response {
    let f = s.faults(Source::Plan);
    if let Some(r) = faults::before(f, &kill, server_error).await {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<ChangeRequest>(&body) else {
        return invalid("change");
    };
    let Ok(cpr) = Cpr::parse(&req.civil_registration_identifier) else {
        return invalid("civilRegistrationIdentifier");
    };
    if let Some(field) = check(&req.change) {
        return invalid(field);
    }
    let mut plans = s.0.plans.0.lock().expect("not poisoned");
    let Some(plan) = plans.get_mut(&cpr) else {
        return (StatusCode::NOT_FOUND, "no plan").into_response();
    };
    if plan.version != req.expected_version {
        return json(StatusCode::CONFLICT, &Conflict { current_version: plan.version }).into_response();
    }
    match req.change {
        PlanChange::Effort { id, unit, unit_name, title, description, from, to } => {
            let id = id.unwrap_or_else(|| format!("e-{}", plan.efforts.len() + 1));
            let effort = Effort { id: id.clone(), unit, unit_name, title, description, from, to };
            match plan.efforts.iter_mut().find(|e| e.id == id) {
                Some(e) => *e = effort,
                None => plan.efforts.push(effort),
            }
        }
        PlanChange::Milestone { id, unit, title, due, reached } => {
            let id = id.unwrap_or_else(|| format!("m-{}", plan.milestones.len() + 1));
            let milestone = Milestone { id: id.clone(), unit, title, due, reached };
            match plan.milestones.iter_mut().find(|m| m.id == id) {
                Some(m) => *m = milestone,
                None => plan.milestones.push(milestone),
            }
        }
        PlanChange::Statement { date, text } => {
            let id = format!("s-{}", plan.statements.len() + 1);
            plan.statements.push(Statement { id, date, text });
        }
    }
    plan.version += 1;
    let answer = json(StatusCode::OK, &*plan);
    drop(plans);
    faults::after(f, answer, Some(&cpr), s.0.oversized_bytes)
}
