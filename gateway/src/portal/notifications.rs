//! "Beskeder": which letters the citizen gets in their Digital Post mailbox
//! (`core::notify`). Requests for consent, revocations and ends of consents are always
//! sent; a letter each time an authority fetches data is the citizen's choice.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{NotificationsPage, render};
use super::session::Session;
use super::{FormData, PortalState, failure, page, require_form_session, require_session};
use crate::core::notify::{self, Preferences};

async fn settings_page(state: &PortalState, session: &Session, saved: bool) -> Response {
    let now = state.clock.now();
    let store = state.ledger.store();
    let prefs = match notify::preferences(store, &session.cpr, now).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading notification preferences failed");
            return failure(Some(session));
        }
    };
    render(
        StatusCode::OK,
        &NotificationsPage {
            title: "Beskeder".into(),
            nav: Some(session.csrf.clone()),
            csrf: session.csrf.clone(),
            access: prefs.access,
            saved,
            enabled: state.notifications_enabled,
        },
    )
}

/// `GET /notifications`.
pub async fn show(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    match require_session(&state, &headers, now).await {
        Ok(s) => settings_page(&state, &s, false).await,
        Err(r) => r,
    }
}

/// `POST /notifications` with `access=on|off`.
pub async fn save(State(state): State<PortalState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let access = match form.get("access") {
        Some("on") => true,
        Some("off") => false,
        _ => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Vælg ja eller nej",
                &["Vi kunne ikke se, hvad du valgte. Der er ikke ændret noget."],
                &[("/notifications", "Tilbage til beskeder")],
                Some(&session),
            );
        }
    };
    if let Err(e) = notify::save_preferences(state.ledger.store(), &session.cpr, Preferences { access }, now).await {
        tracing::error!(error = %e, "saving notification preferences failed");
        return failure(Some(&session));
    }
    settings_page(&state, &session, true).await
}
