//! The simulated Mediconnect hub (see `connectors::mediconnect` for the protocol).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use chrono::NaiveDate;
use connectors::medcom::Xctl03;
use connectors::mediconnect::{self as mc, MessageList, MessageRef};
use connectors::xml::Limits;
use consent::Cpr;
use serde::Deserialize;

use crate::faults::{self, Answer};
use crate::serve::Kill;
use crate::state::{AppState, cpr_header};
use crate::{Source, citizens};

const JSON: &str = "application/json";
const XML: &str = "application/xml; charset=iso-8859-1";

struct Stored {
    cpr: Cpr,
    message_type: &'static str,
    date: NaiveDate,
    bytes: Vec<u8>,
}

/// Every citizen's messages, by id.
fn messages() -> &'static BTreeMap<String, Stored> {
    static ALL: OnceLock<BTreeMap<String, Stored>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = BTreeMap::new();
        for c in citizens() {
            for f in &c.lae265 {
                let id = format!("M{}", f.form.identifier.replace(['-', '_'], ""));
                all.insert(
                    id,
                    Stored { cpr: c.cpr, message_type: mc::TYPE_LAE265, date: f.form.sent.date, bytes: f.to_xml() },
                );
            }
            for l in &c.letters {
                let id = format!("M{}", l.letter.identifier.replace(['-', '_'], ""));
                all.insert(
                    id,
                    Stored { cpr: c.cpr, message_type: mc::TYPE_XDIS91, date: l.envelope.sent.date, bytes: l.to_xml() },
                );
            }
        }
        all
    })
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(mc::HEALTH_PATH, get(health))
        .route(mc::LIST_PATH, get(list))
        .route(&format!("{}/{{id}}", mc::LIST_PATH), get(message))
        .route(mc::RECEIPT_PATH, post(receipt))
        .route(mc::SUMMARY_PATH, post(crate::summary::handler(Source::Mediconnect)))
        .route(connectors::health_hub::GP_PATH, get(crate::hub::gp))
        .route(connectors::health_hub::OUTBOX_PATH, post(crate::hub::outbox))
        .route(connectors::health_hub::INBOX_PATH, get(crate::hub::inbox::list))
        .route(&format!("{}/{{id}}", connectors::health_hub::DOCUMENTS_PATH), get(crate::hub::documents::document))
        .route(
            &format!("{}/{{id}}", connectors::health_hub::INBOX_PATH),
            get(crate::hub::inbox::receipt).delete(crate::hub::inbox::mark_read),
        )
        .with_state(state)
}

async fn health(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Mediconnect), &kill, server_error).await {
        return r;
    }
    (StatusCode::OK, "ok").into_response()
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    message_type: String,
    from: Option<NaiveDate>,
}

async fn list(
    State(s): State<AppState>,
    Extension(kill): Extension<Kill>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let f = s.faults(Source::Mediconnect);
    if let Some(r) = faults::before(f, &kill, server_error).await {
        return r;
    }
    let cpr = match cpr_header(&headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut list = MessageList {
        messages: messages()
            .iter()
            .filter(|(_, m)| {
                m.cpr == cpr && m.message_type == q.message_type && q.from.is_none_or(|from| m.date >= from)
            })
            .map(|(id, m)| MessageRef { id: id.clone(), message_type: m.message_type.to_string() })
            .collect(),
    };
    // The synthetic GP's answers to LÆ 261 requests (`hub.rs`).
    if q.message_type == mc::TYPE_LAE265 {
        let answers = s.0.hub.answers.lock().expect("not poisoned");
        list.messages.extend(
            answers
                .iter()
                .filter(|(_, a)| a.cpr == cpr && q.from.is_none_or(|from| a.date >= from))
                .map(|(id, _)| MessageRef { id: id.clone(), message_type: mc::TYPE_LAE265.to_string() }),
        );
    }
    Answer::new(StatusCode::OK, JSON, serde_json::to_vec(&list).expect("serializes")).into_response()
}

async fn message(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let f = s.faults(Source::Mediconnect);
    let answered = s.0.hub.answers.lock().expect("not poisoned").get(&id).map(|a| (a.cpr, a.bytes.clone()));
    if let Some((cpr, bytes)) = answered {
        return faults::after(f, Answer::new(StatusCode::OK, XML, bytes), Some(&cpr), s.0.oversized_bytes);
    }
    let Some(m) = messages().get(&id) else { return (StatusCode::NOT_FOUND, "no such message").into_response() };
    faults::after(f, Answer::new(StatusCode::OK, XML, m.bytes.clone()), Some(&m.cpr), s.0.oversized_bytes)
}

async fn receipt(State(s): State<AppState>, body: Bytes) -> Response {
    match Xctl03::parse(&body, Limits::default()) {
        Ok(r) => {
            s.0.receipts.lock().expect("not poisoned").push(r);
            (StatusCode::ACCEPTED, "").into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("not an XCTL03 receipt: {e}")).into_response(),
    }
}
