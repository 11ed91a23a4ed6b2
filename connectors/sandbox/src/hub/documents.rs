//! The hub's document store: what a letter may attach (`Reference/BIN`). Every synthetic
//! citizen with a GP has one document, a PDF of their rehabilitation plan.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use connectors::health_hub::AttachmentRecord;
use consent::Cpr;

use crate::faults;
use crate::serve::Kill;
use crate::state::{AppState, cpr_header};
use crate::{Source, citizens};

/// The documents about a citizen in the hub's store.
pub fn attachments_of(cpr: &Cpr) -> Vec<AttachmentRecord> {
    let Some(i) = citizens().iter().position(|c| &c.cpr == cpr) else { return Vec::new() };
    vec![AttachmentRecord {
        id: format!("BILAG{i:04}"),
        object_code: "billede".into(),
        extension_code: "pdf".into(),
        size: 4_297 + i as u64,
    }]
}

/// `GET /mediconnect/v1/documents/{id}` (the citizen in the CPR header).
pub(crate) async fn document(
    State(s): State<AppState>,
    Extension(kill): Extension<Kill>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Mediconnect), &kill, || {
        (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
    })
    .await
    {
        return r;
    }
    let cpr = match cpr_header(&headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match attachments_of(&cpr).into_iter().find(|d| d.id == id) {
        Some(d) => Json(d).into_response(),
        None => (StatusCode::NOT_FOUND, "no such document about the citizen").into_response(),
    }
}
