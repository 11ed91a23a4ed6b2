//! The simulated Digital Post mailbox (see `connectors::digital_post` for the protocol):
//! it validates each message (a valid CPR number as recipient, a subject without one,
//! sizes), deduplicates on the message id, and keeps what it received for the tests
//! (`GET /admin/mailbox` on the admin port; `DELETE` empties it). Faults as for the
//! sources (`PUT /admin/faults/mailbox`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use connectors::digital_post as dp;
use consent::Cpr;

use crate::Source;
use crate::faults;
use crate::serve::Kill;
use crate::state::AppState;
pub use crate::state::Received;

pub(crate) fn router(state: AppState) -> Router {
    Router::new().route(dp::HEALTH_PATH, get(health)).route(dp::MESSAGES_PATH, post(receive)).with_state(state)
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

async fn health(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Mailbox), &kill, server_error).await {
        return r;
    }
    (StatusCode::OK, "ok").into_response()
}

/// Whether `text` holds ten digits in a row, with or without the usual separators.
fn holds_cpr(text: &str) -> bool {
    let digits: Vec<char> = text.chars().filter(|c| !matches!(c, '-' | ' ' | '.')).collect();
    digits.windows(10).any(|w| w.iter().all(char::is_ascii_digit))
}

async fn receive(State(s): State<AppState>, Extension(kill): Extension<Kill>, body: Bytes) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Mailbox), &kill, server_error).await {
        return r;
    }
    let Ok(m) = serde_json::from_slice::<dp::MailboxMessage>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a mailbox message").into_response();
    };
    if Cpr::parse(&m.recipient).is_err() {
        return (StatusCode::UNPROCESSABLE_ENTITY, "the recipient is not a CPR number").into_response();
    }
    if m.subject.trim().is_empty() || m.subject.chars().count() > dp::MAX_SUBJECT_CHARS || holds_cpr(&m.subject) {
        return (StatusCode::UNPROCESSABLE_ENTITY, "the subject is empty, too long or holds a CPR number")
            .into_response();
    }
    if m.body.chars().count() > dp::MAX_BODY_CHARS {
        return (StatusCode::UNPROCESSABLE_ENTITY, "the body is too long").into_response();
    }
    let mut all = s.0.mailbox.lock().expect("not poisoned");
    match all.iter_mut().find(|r| r.message.message_id == m.message_id) {
        Some(r) if r.message == m => {
            r.posts += 1;
            (StatusCode::OK, "already delivered").into_response()
        }
        Some(_) => (StatusCode::CONFLICT, "another message has this id").into_response(),
        None => {
            all.push(Received { message: m, posts: 1 });
            (StatusCode::CREATED, "delivered").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::holds_cpr;

    #[test]
    fn a_cpr_number_in_a_subject_is_found_in_any_spelling() {
        for s in ["0101709901", "010170-9901", "01 01 70 9901", "ref 01.01.70.9901"] {
            assert!(holds_cpr(s), "{s}");
        }
        for s in ["Dit samtykke udløber 31.12.2026", "Du er blevet bedt om et samtykke", "123456789"] {
            assert!(!holds_cpr(s), "{s}");
        }
    }
}
