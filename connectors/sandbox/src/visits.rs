//! What the sources were asked: every request a source receives, with when it arrived and
//! when it was answered, by the sandbox's own clock. Tests read it to count a connector's
//! attempts and to see whether two requests were served at the same time
//! (`RunningSandbox::visits`, `GET /admin/visits`; `DELETE /admin/visits` forgets them).
//! Only the path is kept, never the query string or a header.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::Source;
use crate::state::AppState;

/// One request a source received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// A running number, from 0 at the sandbox's start.
    pub number: u64,
    /// `mediconnect`, `jobcenter`, `social`, `jobnet_cv` or `cpr` (the person register).
    pub source: String,
    pub path: String,
    /// Microseconds since the sandbox started.
    pub arrived_us: u64,
    /// When the handler produced its answer (microseconds since the sandbox started);
    /// `None` while it has not, or when the connection went first.
    pub answered_us: Option<u64>,
}

/// `router` with every request recorded as a visit of `source`.
pub(crate) fn recorded(router: axum::Router, state: AppState, source: Source) -> axum::Router {
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let state = state.clone();
        async move {
            let number = state.arrive(source, req.uri().path());
            let response: Response = next.run(req).await;
            state.answered(number);
            response
        }
    }))
}
