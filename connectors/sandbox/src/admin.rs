//! The admin endpoint: `GET /admin/faults`, `PUT /admin/faults/{source}` (JSON
//! [`SourceFaults`]), `DELETE /admin/faults` (clear all), `GET /admin/receipts` (the
//! XCTL03 receipts received, as envelope ids), `PUT /admin/residence` (JSON `{"cpr":
//! "...", "municipality_code": "0751"}`: the citizen moves, in the person register),
//! `PUT /admin/fuldmagt/{reference}` (JSON `{"revoked": true}` or `{"valid_to": "…"}`: a
//! power of attorney revoked or ended, [`crate::fuldmagt`]), `GET /admin/visits` and `DELETE
//! /admin/visits` (what the sources were asked, [`crate::visits`]), `GET /admin/citizens`, `GET /admin/mailbox` and `DELETE /admin/mailbox` (the Digital Post
//! mailbox, [`crate::mailbox`]),
//! and for the MitID broker `PUT /admin/broker/mode` (JSON `{"mode": "wrong_nonce"}`, see
//! [`crate::broker::BrokerMode`]) and `PUT /admin/broker/clients/{client_id}` (JSON
//! [`crate::broker::BrokerClient`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};

use crate::faults::SourceFaults;
use crate::state::AppState;
use crate::{Source, citizens};

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/admin/faults", get(list).delete(clear))
        .route("/admin/faults/{source}", put(set))
        .route("/admin/receipts", get(receipts))
        .route("/admin/hub", put(crate::hub::settings).get(crate::hub::deliveries))
        .route("/admin/hub/inbox", get(crate::hub::inbox::unread))
        .route("/admin/visits", get(visits).delete(forget_visits))
        .route("/admin/citizens", get(citizen_list))
        .route("/admin/residence", put(move_citizen))
        .route("/admin/fuldmagt/{reference}", put(change_power))
        .route("/admin/mailbox", get(mailbox).delete(empty_mailbox))
        .route("/admin/broker/mode", put(broker_mode).get(get_broker_mode))
        .route("/admin/broker/clients/{client_id}", put(broker_client))
        .with_state(state)
}

/// What the mailbox received (recipients' CPR numbers included: this is the test port).
async fn mailbox(State(s): State<AppState>) -> Response {
    Json(s.0.mailbox.lock().expect("not poisoned").clone()).into_response()
}

async fn empty_mailbox(State(s): State<AppState>) -> StatusCode {
    s.0.mailbox.lock().expect("not poisoned").clear();
    StatusCode::NO_CONTENT
}

async fn list(State(s): State<AppState>) -> Response {
    let all: std::collections::BTreeMap<String, SourceFaults> =
        Source::EVERY.iter().map(|src| (src.name().to_string(), s.faults(*src))).collect();
    Json(all).into_response()
}

async fn clear(State(s): State<AppState>) -> StatusCode {
    for src in Source::EVERY {
        s.set_faults(src, SourceFaults::default());
    }
    StatusCode::NO_CONTENT
}

async fn set(State(s): State<AppState>, Path(source): Path<String>, Json(f): Json<SourceFaults>) -> Response {
    match Source::from_name(&source) {
        Some(src) => {
            s.set_faults(src, f);
            StatusCode::NO_CONTENT.into_response()
        }
        None => {
            (StatusCode::NOT_FOUND, "unknown source; use mediconnect, jobcenter, social, jobnet_cv, cpr or mailbox")
                .into_response()
        }
    }
}

/// A move: the body carries the CPR number (never the URL).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    cpr: String,
    municipality_code: String,
}

async fn move_citizen(State(s): State<AppState>, Json(m): Json<Move>) -> Response {
    let Ok(cpr) = consent::Cpr::parse(&m.cpr) else {
        return (StatusCode::BAD_REQUEST, "invalid CPR number").into_response();
    };
    if connectors::person::parse_municipality(&m.municipality_code).is_none() {
        return (StatusCode::BAD_REQUEST, "not a kommunekode").into_response();
    }
    if crate::find(&cpr).is_none() {
        return (StatusCode::NOT_FOUND, "no such citizen").into_response();
    }
    s.move_to(cpr, m.municipality_code);
    StatusCode::NO_CONTENT.into_response()
}

/// `PUT /admin/fuldmagt/{reference}`: revoke or end a synthetic power of attorney.
async fn change_power(
    State(s): State<AppState>,
    Path(reference): Path<String>,
    Json(change): Json<crate::fuldmagt::PowerChange>,
) -> Response {
    let Ok(r) = reference.parse::<uuid::Uuid>() else {
        return (StatusCode::BAD_REQUEST, "not a reference").into_response();
    };
    if !crate::fuldmagt::powers().iter().any(|(_, e)| e.reference == r.to_string()) {
        return (StatusCode::NOT_FOUND, "no such power of attorney").into_response();
    }
    s.change_power(r, change);
    StatusCode::NO_CONTENT.into_response()
}

async fn visits(State(s): State<AppState>) -> Response {
    Json(s.visits()).into_response()
}

async fn forget_visits(State(s): State<AppState>) -> StatusCode {
    s.forget_visits();
    StatusCode::NO_CONTENT
}

async fn receipts(State(s): State<AppState>) -> Response {
    let ids: Vec<String> =
        s.0.receipts.lock().expect("not poisoned").iter().map(|r| r.original.envelope_identifier.clone()).collect();
    Json(ids).into_response()
}

/// The synthetic citizens with their (synthetic) CPR numbers and profiles, for the demo.
async fn citizen_list() -> Response {
    let list: Vec<serde_json::Value> = citizens()
        .iter()
        .map(|c| serde_json::json!({ "cpr": c.cpr.expose(), "name": c.name(), "profile": c.profile }))
        .collect();
    Json(list).into_response()
}

async fn broker_mode(State(s): State<AppState>, Json(m): Json<crate::broker::ModeBody>) -> StatusCode {
    s.0.broker.set_mode(m.mode);
    StatusCode::NO_CONTENT
}

async fn get_broker_mode(State(s): State<AppState>) -> Response {
    Json(crate::broker::ModeBody { mode: s.0.broker.mode() }).into_response()
}

async fn broker_client(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(c): Json<crate::broker::BrokerClient>,
) -> Response {
    if c.client_id != id {
        return (StatusCode::BAD_REQUEST, "client_id in the path and the body differ").into_response();
    }
    s.0.broker.register(c);
    StatusCode::NO_CONTENT.into_response()
}
