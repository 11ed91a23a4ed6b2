//! The department summaries for the shared overview (see `connectors::summary`): each
//! source serves `POST <prefix>/summary` on its own port, so a source's faults take its
//! summary down with it.

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate};
use connectors::summary::{ActiveMeasure, Appointment, ContactPerson, OpenCase, Summary, SummaryQuery};
use consent::Cpr;

use crate::citizens::Citizen;
use crate::faults::{self, Answer};
use crate::serve::Kill;
use crate::state::AppState;
use crate::{Source, find};

const JSON: &str = "application/json";

/// The summary handler of `source`.
pub(crate) async fn serve(source: Source, s: AppState, kill: Kill, body: Bytes) -> Response {
    let f = s.faults(source);
    if let Some(r) =
        faults::before(f, &kill, || (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response())
            .await
    {
        return r;
    }
    let Ok(q) = serde_json::from_slice::<SummaryQuery>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed summary query").into_response();
    };
    let Ok(cpr) = Cpr::parse(&q.civil_registration_identifier) else {
        return (StatusCode::BAD_REQUEST, "invalid civilRegistrationIdentifier").into_response();
    };
    let Some(summary) = find(&cpr).and_then(|c| of(source, c)) else {
        return (StatusCode::NOT_FOUND, "nothing about the citizen").into_response();
    };
    let body = serde_json::to_vec(&summary).expect("serializes");
    faults::after(f, Answer::new(StatusCode::OK, JSON, body), Some(&cpr), s.0.oversized_bytes)
}

/// The axum handler of `source`'s summary.
pub(crate) fn handler(
    source: Source,
) -> impl Fn(State<AppState>, Extension<Kill>, Bytes) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(s), Extension(kill), body| Box::pin(serve(source, s, kill, body))
}

fn later(d: NaiveDate, days: u64) -> NaiveDate {
    d.checked_add_days(Days::new(days)).unwrap_or(d)
}

/// What `source` would summarise about `c`; `None` when it holds nothing.
pub fn of(source: Source, c: &Citizen) -> Option<Summary> {
    let cpr = c.cpr.expose().to_string();
    match source {
        Source::Jobcenter => {
            let case = c.case.as_ref()?;
            let last = case.contacts.iter().map(|k| k.date).max();
            Some(Summary {
                civil_registration_identifier: cpr,
                department: "jobcenter".into(),
                responsible_unit: case.jobcenter.clone(),
                contact: case
                    .contacts
                    .last()
                    .map(|k| ContactPerson { name: k.caseworker.clone(), phone: Some("33 66 33 66".into()) }),
                measures: case
                    .plan
                    .iter()
                    .flat_map(|p| p.activities.iter())
                    .map(|a| ActiveMeasure { title: a.title.clone(), from: a.from, to: a.to })
                    .chain(c.benefits.iter().filter_map(|b| {
                        let first = b.payments.first()?;
                        Some(ActiveMeasure { title: first.benefit.clone(), from: first.period_from, to: None })
                    }))
                    .collect(),
                appointments: last
                    .map(|d| vec![Appointment { date: later(d, 42), title: "Opfølgningssamtale".into() }])
                    .unwrap_or_default(),
                open_cases: case
                    .visitation
                    .iter()
                    .map(|v| OpenCase { id: v.id.clone(), title: v.status.clone(), opened: v.date })
                    .collect(),
            })
        }
        Source::Social => {
            let first = c.measures.first()?;
            Some(Summary {
                civil_registration_identifier: cpr,
                department: "social".into(),
                responsible_unit: first.responsible_unit.clone(),
                contact: Some(ContactPerson {
                    name: "Socialrådgiver K. Dahl".into(),
                    phone: Some("33 17 33 17".into()),
                }),
                measures: c
                    .measures
                    .iter()
                    .map(|m| ActiveMeasure { title: m.title.clone(), from: m.start, to: m.end })
                    .collect(),
                appointments: vec![Appointment {
                    date: later(first.start, 365 * 3),
                    title: "Opfølgning på indsatsen".into(),
                }],
                open_cases: vec![OpenCase {
                    id: format!("SOC-{}", &first.id),
                    title: format!("Sag efter {}", first.legal_paragraph),
                    opened: first.start,
                }],
            })
        }
        Source::Mediconnect => {
            let statement = c.lae265.first().map(|_| ());
            let newest_letter = c.letters.iter().map(|l| l.envelope.sent.date).max();
            if statement.is_none() && newest_letter.is_none() {
                return None;
            }
            Some(Summary {
                civil_registration_identifier: cpr,
                department: "health".into(),
                responsible_unit: "Lægerne på Nørrebro".into(),
                contact: Some(ContactPerson { name: "Praktiserende læge".into(), phone: None }),
                measures: Vec::new(),
                appointments: Vec::new(),
                open_cases: newest_letter
                    .map(|d| {
                        vec![OpenCase { id: "FORLOB-1".into(), title: "Forløb hos egen læge".into(), opened: d }]
                    })
                    .unwrap_or_default(),
            })
        }
        _ => None,
    }
}
