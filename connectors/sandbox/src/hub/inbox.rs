//! The hub's inbox of receipts for us (see `connectors::health_hub`): the receipts the
//! asynchronous modes put there wait until they are fetched and marked read.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use connectors::health_hub::{InboxEntry, InboxList};

use crate::Source;
use crate::faults;
use crate::serve::Kill;
use crate::state::AppState;

const XML: &str = "application/xml; charset=iso-8859-1";

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

/// `GET /mediconnect/v1/inbox`: the unread receipts' ids, oldest first.
pub(crate) async fn list(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Mediconnect), &kill, server_error).await {
        return r;
    }
    let inbox = s.0.hub.inbox.lock().expect("not poisoned");
    let receipts = inbox.unread.keys().map(|id| InboxEntry { id: id.clone() }).collect();
    Json(InboxList { receipts }).into_response()
}

/// `GET /mediconnect/v1/inbox/{id}`: one receipt as OIOXML.
pub(crate) async fn receipt(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match s.0.hub.inbox.lock().expect("not poisoned").unread.get(&id) {
        Some(bytes) => faults::Answer::new(StatusCode::OK, XML, bytes.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such unread receipt").into_response(),
    }
}

/// `DELETE /mediconnect/v1/inbox/{id}`: marks the receipt read.
pub(crate) async fn mark_read(State(s): State<AppState>, Path(id): Path<String>) -> StatusCode {
    match s.0.hub.inbox.lock().expect("not poisoned").unread.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

/// `GET /admin/hub/inbox`: how many receipts wait unread.
pub(crate) async fn unread(State(s): State<AppState>) -> Response {
    let n = s.0.hub.inbox.lock().expect("not poisoned").unread.len();
    Json(serde_json::json!({ "unread": n })).into_response()
}
