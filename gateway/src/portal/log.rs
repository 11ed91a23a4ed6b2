//! "Min log": every audit record about the logged-in citizen, newest first, a page at a
//! time (`?before=<index>`), read through `AuditLog::query`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use consent::Rules;
use consent::audit::{AuditDecision, AuditFilter, AuditKind, AuditRecord};
use serde::Deserialize;

use super::pages::{LogPage, LogRow, render, time};
use super::{PortalState, failure, require_session};

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    before: Option<u64>,
}

pub fn kind_da(k: AuditKind) -> &'static str {
    match k {
        AuditKind::Decision => "Afgørelse om adgang",
        AuditKind::Release => "Oplysninger sendt",
        AuditKind::RequestRefused => "Forespørgsel afvist",
        AuditKind::ConsentRequested => "Du blev bedt om samtykke",
        AuditKind::ConsentGranted => "Du gav samtykke",
        AuditKind::ConsentApproved => "Du godkendte en anmodning",
        AuditKind::ConsentRejected => "Du afviste en anmodning",
        AuditKind::ConsentRevoked => "Du tilbagekaldte et samtykke",
        AuditKind::BlockPlaced => "Du lavede en spærring",
        AuditKind::BlockLifted => "Du ophævede en spærring",
        AuditKind::AuditRead => "Loggen blev læst af driften",
        AuditKind::ConsentsRead => "En sagsbehandler så dine samtykker",
        AuditKind::SendDecision => "Afgørelse om at sende til din læge",
        AuditKind::MessageSent => "Jobcentret sendte et brev til din læge",
        AuditKind::MessageAcknowledged => "Din læge modtog brevet",
        AuditKind::MessageRejected => "Din læges system afviste brevet",
        AuditKind::MessageFailed => "Brevet kunne ikke sendes til din læge",
    }
}

/// What happened, in Danish: the kind, and for a message to the GP which message it was.
fn what_da(r: &AuditRecord) -> String {
    match (r.kind, r.category.as_ref().map(|c| c.as_str())) {
        (AuditKind::MessageSent, Some("health.lae265")) => "Jobcentret bad din læge om en lægeattest (LÆ 261)".into(),
        (kind, _) => kind_da(kind).to_string(),
    }
}

fn row(r: &AuditRecord, rules: &Rules) -> LogRow {
    let dash = || "–".to_string();
    let permitted = match (r.kind, r.decision) {
        (_, Some(AuditDecision::Permit)) => "Ja".to_string(),
        (_, Some(AuditDecision::Deny)) => "Nej".to_string(),
        (AuditKind::Release, None) if r.outcome == "included" => "Ja".to_string(),
        (AuditKind::RequestRefused, None) => "Nej".to_string(),
        _ => dash(),
    };
    let basis = match r.basis.as_deref() {
        Some(b) if b.starts_with("consent:") => "Dit samtykke".to_string(),
        Some(b) => match b.strip_prefix("statute:") {
            Some(law) => format!("Loven: {law}"),
            None => b.to_string(),
        },
        None if r.decision == Some(AuditDecision::Deny) => "Intet grundlag".to_string(),
        None => dash(),
    };
    LogRow {
        time: time(r.time),
        what: what_da(r),
        unit: r
            .unit
            .as_ref()
            .map_or_else(dash, |u| rules.directory.unit(u).map_or_else(|| u.to_string(), |x| x.name.clone())),
        system: r
            .system
            .as_deref()
            .map_or_else(dash, |s| if s == "portal" { "sammen (dig selv)".into() } else { s.to_string() }),
        caseworker: r.caseworker.clone().unwrap_or_else(dash),
        purpose: r
            .purpose
            .as_ref()
            .map_or_else(dash, |p| rules.vocabulary.purposes.get(p).map_or_else(|| p.to_string(), |d| d.da.clone())),
        category: r
            .category
            .as_ref()
            .map_or_else(dash, |c| rules.vocabulary.categories.get(c).map_or_else(|| c.to_string(), |d| d.da.clone())),
        decision: permitted,
        basis,
    }
}

/// `GET /log[?before=N]`.
pub async fn log(State(state): State<PortalState>, headers: HeaderMap, Query(q): Query<LogQuery>) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let filter = AuditFilter { citizen: Some(session.cpr), ..Default::default() };
    let found = match state.audit.query(&filter, q.before, state.log_page_size).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading the audit log for Min log failed");
            return failure(Some(&session));
        }
    };
    let rules = state.ledger.rules();
    render(
        StatusCode::OK,
        &LogPage {
            title: "Min log".into(),
            nav: Some(session.csrf.clone()),
            rows: found.records.iter().map(|(_, r)| row(r, rules)).collect(),
            next: found.next_before,
            older_than: q.before,
        },
    )
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use consent::Category;

    use super::*;

    #[test]
    fn min_log_says_what_was_sent_to_the_gp() {
        let mut r = AuditRecord::new(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(), "r", AuditKind::MessageSent);
        r.category = Some(Category::parse("health.correspondence").unwrap());
        assert_eq!(what_da(&r), "Jobcentret sendte et brev til din læge");
        r.category = Some(Category::parse("health.lae265").unwrap());
        assert_eq!(what_da(&r), "Jobcentret bad din læge om en lægeattest (LÆ 261)");
        r.kind = AuditKind::MessageRejected;
        assert_eq!(what_da(&r), "Din læges system afviste brevet");
    }
}
