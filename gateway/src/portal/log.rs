//! "Min log": every audit record about the logged-in citizen, newest first, a page at a
//! time (`?before=<index>`), read through `AuditLog::query`, as one sentence per request
//! (`lines.rs`), with filters (who, what, when). `/log/download` gives the citizen their
//! log as JSON with an inclusion proof for every record against a signed checkpoint
//! (`consent::audit::CitizenLog`); `/log/verify` explains how to check it.

mod lines;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate};
use consent::audit::{AuditFilter, AuditKind, AuditRecord};
use consent::{Rules, UnitId};
use serde::Deserialize;

use super::pages::{Chosen, LogPage, LogVerifyPage, day_start, render};
use super::{PortalState, failure, page, require_session};

/// The most records one download holds (the newest; the file says when it is not all).
const DOWNLOAD_LIMIT: usize = 10_000;

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
        AuditKind::ConsentRegisteredFromPaper => "Et samtykke på papir blev registreret",
        AuditKind::ConsentConfirmed => "Du bekræftede et samtykke på papir",
        AuditKind::BlockPlaced => "Du lavede en spærring",
        AuditKind::BlockLifted => "Du ophævede en spærring",
        AuditKind::AuditRead => "Loggen blev læst af driften",
        AuditKind::ConsentsRead => "En sagsbehandler så dine samtykker",
        AuditKind::SendDecision => "Afgørelse om at sende til din læge",
        AuditKind::MessageSent => "Jobcentret sendte et brev til din læge",
        AuditKind::MessageAcknowledged => "Din læge modtog brevet",
        AuditKind::MessageRejected => "Din læges system afviste brevet",
        AuditKind::MessageFailed => "Brevet kunne ikke sendes til din læge",
        AuditKind::MessageRead => "En sagsbehandler så, hvordan det gik med et brev til din læge",
        AuditKind::WriteDecision => "Afgørelse om at skrive i din fælles plan",
        AuditKind::Write => "Der blev skrevet i din fælles plan",
        AuditKind::WriteResult => "Skrivningen i din fælles plan blev afsluttet",
    }
}

/// What happened, in Danish: the kind, and for a message to the GP which message it was.
pub(super) fn what_da(r: &AuditRecord) -> String {
    match (r.kind, r.category.as_ref().map(|c| c.as_str())) {
        (AuditKind::MessageSent, Some("health.lae265")) => "Jobcentret bad din læge om en lægeattest (LÆ 261)".into(),
        (kind, _) => kind_da(kind).to_string(),
    }
}

/// What the filter's "Hvad" offers: a value, its Danish label, and the kinds it selects.
const WHAT: [(&str, &str, &[AuditKind]); 5] = [
    ("access", "Adgang til dine oplysninger", &[AuditKind::Decision, AuditKind::Release, AuditKind::RequestRefused]),
    (
        "consents",
        "Samtykker",
        &[
            AuditKind::ConsentRequested,
            AuditKind::ConsentGranted,
            AuditKind::ConsentApproved,
            AuditKind::ConsentRejected,
            AuditKind::ConsentRevoked,
            AuditKind::ConsentRegisteredFromPaper,
            AuditKind::ConsentConfirmed,
            AuditKind::ConsentsRead,
        ],
    ),
    ("blocks", "Spærringer", &[AuditKind::BlockPlaced, AuditKind::BlockLifted]),
    (
        "health",
        "Breve til din læge",
        &[
            AuditKind::SendDecision,
            AuditKind::MessageSent,
            AuditKind::MessageAcknowledged,
            AuditKind::MessageRejected,
            AuditKind::MessageFailed,
            AuditKind::MessageRead,
        ],
    ),
    ("plan", "Din fælles plan", &[AuditKind::WriteDecision, AuditKind::Write, AuditKind::WriteResult]),
];

/// `GET /log` query: a cursor and the filters. Unknown or repeated parameters are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    before: Option<u64>,
    unit: Option<String>,
    what: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Checks the filters against the rules; `Err` is a Danish sentence (never the value sent).
fn parse_filters(q: &LogQuery, rules: &Rules) -> Result<(Chosen, AuditFilter), &'static str> {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let mut chosen = Chosen::default();
    let mut filter = AuditFilter::default();
    if let Some(u) = given(&q.unit) {
        let id =
            UnitId::parse(&u).ok().filter(|id| rules.directory.contains(id)).ok_or("Vi kender ikke den myndighed.")?;
        filter.unit = Some(id);
        chosen.unit = u;
    }
    if let Some(w) = given(&q.what) {
        let (_, _, kinds) = WHAT.iter().find(|(v, _, _)| *v == w).ok_or("Vi kender ikke det valg under \"Hvad\".")?;
        filter.kinds = Some(kinds.to_vec());
        chosen.what = w;
    }
    let date = |v: &str| NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| "En dato skal skrives som år-måned-dag.");
    let from = given(&q.from).map(|v| date(&v).map(|d| (v, d))).transpose()?;
    let to = given(&q.to).map(|v| date(&v).map(|d| (v, d))).transpose()?;
    if let (Some((_, a)), Some((_, b))) = (&from, &to)
        && a > b
    {
        return Err("Fra-datoen skal ligge før til-datoen.");
    }
    if let Some((v, d)) = from {
        filter.from = Some(day_start(d));
        chosen.from = v;
    }
    if let Some((v, d)) = to {
        // Through the end of that day.
        let next = d.checked_add_days(Days::new(1)).ok_or("En dato skal skrives som år-måned-dag.")?;
        filter.to = Some(day_start(next) - chrono::Duration::nanoseconds(1));
        chosen.to = v;
    }
    Ok((chosen, filter))
}

/// A form's choices: (value, label).
type Choices = Vec<(String, String)>;

/// The filter form's choices: units by name, and the "Hvad" options.
fn options(rules: &Rules) -> (Choices, Choices) {
    let mut units: Vec<(String, String)> =
        rules.directory.units().map(|u| (u.id.to_string(), u.name.clone())).collect();
    units.sort_by(|a, b| a.1.cmp(&b.1));
    let what = WHAT.iter().map(|(v, l, _)| (v.to_string(), l.to_string())).collect();
    (units, what)
}

/// `GET /log[?before=N][&unit=…][&what=…][&from=YYYY-MM-DD][&to=YYYY-MM-DD]`.
pub async fn log(
    State(state): State<PortalState>,
    headers: HeaderMap,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let rules = state.ledger.rules();
    let bad = |why: &str| {
        page(
            StatusCode::BAD_REQUEST,
            "Filteret kan ikke bruges",
            &[why, "Vælg igen, eller se hele din log."],
            &[("/log", "Til Min log")],
            Some(&session),
        )
    };
    let Ok(Query(q)) = q else {
        return bad("Adressen indeholder noget, vi ikke forstår.");
    };
    let (chosen, mut filter) = match parse_filters(&q, rules) {
        Ok(f) => f,
        Err(why) => return bad(why),
    };
    filter.citizen = Some(session.cpr);
    let mut found = match state.audit.query(&filter, q.before, state.log_page_size).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading the audit log for Min log failed");
            return failure(Some(&session));
        }
    };
    // A request's records stay on one page: read on while the oldest record's request goes on.
    for _ in 0..8 {
        let (Some(next), Some((_, last))) = (found.next_before, found.records.last()) else { break };
        let request = last.request_id.clone();
        let more = match state.audit.query(&filter, Some(next), state.log_page_size.min(32)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "reading the audit log for Min log failed");
                return failure(Some(&session));
            }
        };
        let same = more.records.iter().take_while(|(_, r)| r.request_id == request).count();
        if same == 0 {
            break;
        }
        found.next_before = if same == more.records.len() { more.next_before } else { Some(more.records[same - 1].0) };
        found.records.extend(more.records.into_iter().take(same));
    }
    let records: Vec<&AuditRecord> = found.records.iter().map(|(_, r)| r).collect();
    let (units, what) = options(rules);
    render(
        StatusCode::OK,
        &LogPage {
            title: "Min log".into(),
            nav: Some(session.csrf.clone()),
            lines: lines::lines(&records, rules),
            next: found.next_before,
            older_than: q.before,
            keep: chosen.query(),
            filtered: chosen.any(),
            chosen,
            units,
            what,
        },
    )
}

/// `GET /log/download`: the citizen's log with proofs, as a JSON file.
pub async fn download(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let file = match state.audit.citizen_log(&session.cpr, DOWNLOAD_LIMIT).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            return page(
                StatusCode::OK,
                "Din log er tom",
                &["Der er endnu ikke noget i loggen, så der er ikke noget at hente."],
                &[("/log", "Til Min log")],
                Some(&session),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "building the citizen's log download failed");
            return failure(Some(&session));
        }
    };
    let body = match serde_json::to_vec_pretty(&file) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "writing the citizen's log download failed");
            return failure(Some(&session));
        }
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"min-log.json\""));
    r
}

/// `GET /log/verify`: how to check a download, with the key to check it against.
pub async fn verify(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let key = state.audit.verifying_key();
    render(
        StatusCode::OK,
        &LogVerifyPage {
            title: "Sådan tjekker du din log".into(),
            nav: Some(session.csrf.clone()),
            public_key: hex::encode(key.as_bytes()),
            key_id: consent::audit::key_id(&key),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        crate::settings::Settings::load(None, None).unwrap().domain.into_rules().unwrap()
    }

    fn q(unit: &str, what: &str, from: &str, to: &str) -> LogQuery {
        let s = |v: &str| (!v.is_empty()).then(|| v.to_string());
        LogQuery { before: None, unit: s(unit), what: s(what), from: s(from), to: s(to) }
    }

    #[test]
    fn filters_are_checked_and_kept() {
        let rules = rules();
        let (chosen, f) =
            parse_filters(&q("kk.jobcenter.rehab", "access", "2026-11-01", "2026-11-30"), &rules).unwrap();
        assert_eq!(f.unit.unwrap().as_str(), "kk.jobcenter.rehab");
        assert!(f.kinds.unwrap().contains(&AuditKind::Release));
        assert_eq!(f.from.unwrap().to_rfc3339(), "2026-10-31T23:00:00+00:00");
        assert_eq!(f.to.unwrap().to_rfc3339(), "2026-11-30T22:59:59.999999999+00:00");
        assert_eq!(chosen.query(), "unit=kk.jobcenter.rehab&what=access&from=2026-11-01&to=2026-11-30");
        assert!(chosen.any());
        // Empty values (the form's "Alle") are no filter.
        let (chosen, f) = parse_filters(&q("", "", "", ""), &rules).unwrap();
        assert!(!chosen.any() && f.unit.is_none() && f.kinds.is_none());
    }

    #[test]
    fn bad_filters_are_refused_without_repeating_them() {
        let rules = rules();
        for bad in [
            q("kk.nowhere", "", "", ""),
            q("0101709901", "", "", ""),
            q("", "everything", "", ""),
            q("", "", "1. november", ""),
            q("", "", "", "2026-13-01"),
            q("", "", "2026-11-30", "2026-11-01"),
        ] {
            let why = parse_filters(&bad, &rules).unwrap_err();
            for v in [&bad.unit, &bad.what, &bad.from, &bad.to].into_iter().flatten() {
                assert!(!why.contains(v.as_str()), "{why}");
            }
        }
    }
}
