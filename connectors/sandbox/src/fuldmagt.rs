//! The simulated power-of-attorney registry (Digital Fuldmagt style; see
//! `connectors::power_of_attorney` for the protocol), with fixed synthetic powers:
//!
//! | reference (`…-00000000000N`) | holder | for | privileges | valid |
//! |---|---|---|---|---|
//! | 1 | citizen 1 | citizen 0 | se, samtykke | 2020 – 2099 |
//! | 2 | citizen 1 | citizen 2 | se | 2020 – 2099 |
//! | 3 | citizen 1 | citizen 3 | se, samtykke | 2020 – 2021 (expired) |
//! | 4 | citizen 1 | citizen 4 | se, samtykke | 2020 – 2099, revoked |
//!
//! So citizen 1 holds a power of attorney for citizen 0 (the demo's representative). A
//! power can be revoked or ended at run time (`PUT /admin/fuldmagt/{reference}`, JSON
//! [`PowerChange`]), to simulate a revocation between page load and action.

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeZone, Utc};
use connectors::power_of_attorney::{self as poa, PowerEntry, PowersResponse};
use consent::Cpr;

use crate::Source;
use crate::citizens::{citizens, cpr_of};
use crate::faults::{self, Answer};
use crate::serve::Kill;
use crate::state::{AppState, cpr_header};

pub(crate) mod change;
pub use change::PowerChange;

/// The reference of synthetic power `n` (see the table above).
pub fn reference(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0195_e8d0_0000_7000_8000_0000_0000_0000 | n)
}

fn at(year: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single().expect("a valid date")
}

/// One synthetic power: holder, grantor index, entry.
fn power(n: u128, holder: usize, grantor: usize, privileges: &[&str], to: i32, revoked: bool) -> (Cpr, PowerEntry) {
    let g = &citizens()[grantor];
    (
        cpr_of(holder),
        PowerEntry {
            reference: reference(n).to_string(),
            grantor_civil_registration_identifier: g.cpr.expose().to_string(),
            grantor_name: g.name(),
            services: vec!["sammen".into()],
            privileges: privileges.iter().map(|p| p.to_string()).collect(),
            valid_from: at(2020),
            valid_to: Some(at(to)),
            revoked,
        },
    )
}

/// Every synthetic power of attorney, as first served.
pub fn powers() -> Vec<(Cpr, PowerEntry)> {
    vec![
        power(1, 1, 0, &["se", "samtykke"], 2099, false),
        power(2, 1, 2, &["se"], 2099, false),
        power(3, 1, 3, &["se", "samtykke"], 2021, false),
        power(4, 1, 4, &["se", "samtykke"], 2099, true),
    ]
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new().route(poa::HEALTH_PATH, get(health)).route(poa::POWERS_PATH, get(powers_of)).with_state(state)
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

async fn health(State(s): State<AppState>, Extension(kill): Extension<Kill>) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Fuldmagt), &kill, server_error).await {
        return r;
    }
    (StatusCode::OK, "ok").into_response()
}

async fn powers_of(State(s): State<AppState>, Extension(kill): Extension<Kill>, headers: HeaderMap) -> Response {
    let f = s.faults(Source::Fuldmagt);
    if let Some(r) = faults::before(f, &kill, server_error).await {
        return r;
    }
    let holder = match cpr_header(&headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mine: Vec<PowerEntry> = powers()
        .into_iter()
        .filter(|(h, _)| *h == holder)
        .map(|(_, mut e)| {
            if let Ok(r) = e.reference.parse::<uuid::Uuid>()
                && let Some(change) = s.power_change(r)
            {
                if let Some(revoked) = change.revoked {
                    e.revoked = revoked;
                }
                if let Some(to) = change.valid_to {
                    e.valid_to = Some(to);
                }
            }
            e
        })
        .collect();
    if mine.is_empty() {
        return (StatusCode::NOT_FOUND, "no powers of attorney for this holder").into_response();
    }
    let answer = PowersResponse { holder_civil_registration_identifier: holder.expose().to_string(), powers: mine };
    let body = serde_json::to_vec(&answer).expect("serializes");
    faults::after(f, Answer::new(StatusCode::OK, "application/json", body), Some(&holder), s.0.oversized_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citizen_one_holds_a_power_for_citizen_zero() {
        let p = powers();
        assert_eq!(p[0].0, cpr_of(1));
        assert_eq!(p[0].1.grantor_civil_registration_identifier, cpr_of(0).expose());
        assert!(p[0].1.privileges.contains(&"samtykke".to_string()));
        assert_eq!(p.iter().filter(|(_, e)| e.revoked).count(), 1);
    }
}
