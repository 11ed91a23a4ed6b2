//! Receipts: a readable page and a JSON download (the receipt and its JWS) per consent
//! event of the citizen's, and the public key at `/.well-known/jwks.json`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use consent::ConsentId;
use consent::receipt::{ConsentReceipt, jwks as receipt_jwks};

use super::pages::{ReceiptPage, render, time};
use super::session::Session;
use super::{PortalState, ledger_refusal, page, require_session};

fn not_found(session: &Session) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Vi kan ikke finde kvitteringen",
        &["Den findes ikke blandt dine kvitteringer."],
        &[("/", "Tilbage til oversigten")],
        Some(session),
    )
}

/// The citizen's receipt `<consent id>.<version>`, or the answer to send instead.
async fn receipt(state: &PortalState, session: &Session, id: &str) -> Result<ConsentReceipt, Response> {
    let parsed = id.split_once('.').and_then(|(c, v)| Some((c.parse::<ConsentId>().ok()?, v.parse::<u32>().ok()?)));
    let Some((cid, version)) = parsed else { return Err(not_found(session)) };
    let consent = match state.ledger.consent(cid).await {
        Ok(c) if c.terms.citizen == session.cpr => c,
        Ok(_) | Err(consent::LedgerError::NoSuchConsent(_)) => return Err(not_found(session)),
        Err(e) => return Err(ledger_refusal(e, session)),
    };
    let events = state.ledger.events(cid).await.map_err(|e| ledger_refusal(e, session))?;
    let Some(event) = events.iter().find(|e| e.version == version) else { return Err(not_found(session)) };
    ConsentReceipt::for_event(&consent, event, state.ledger.rules(), &state.public_url).map_err(|_| not_found(session))
}

/// `GET /receipts/{id}`: the receipt in plain words.
async fn show(state: PortalState, headers: HeaderMap, id: String) -> Response {
    let session = match require_session(&state, &headers, state.clock.now()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = match receipt(&state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    render(
        StatusCode::OK,
        &ReceiptPage {
            title: "Kvittering".into(),
            nav: Some(session.csrf.clone()),
            action: r.action.da().to_string(),
            time: time(r.time),
            period: format!("Fra {} til {}", time(r.period.from), time(r.period.until)),
            r,
        },
    )
}

pub async fn readable(State(state): State<PortalState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    show(state, headers, id).await
}

/// `GET /receipts/{id}/json`: `{"receipt": ..., "jws": "<compact JWS>", "jwks_uri": ...}`.
pub async fn json(State(state): State<PortalState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = match receipt(&state, &session, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let body = serde_json::json!({
        "receipt": r,
        "jws": r.sign(&state.receipt_key),
        "jwks_uri": format!("{}/.well-known/jwks.json", state.public_url),
    });
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"kvittering-{}.json\"", r.receipt_id)) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `GET /.well-known/jwks.json`: the key that signs receipts.
pub async fn jwks(State(state): State<PortalState>) -> Response {
    Json(receipt_jwks(&state.receipt_key.verifying_key())).into_response()
}
