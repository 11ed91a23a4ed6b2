//! "Min sag": the logged-in citizen's own data from every source, fetched live through the
//! release pipeline on the basis of their own right of access (`Core::release_own`, GDPR
//! art. 15 in the policy set). Each section says where it came from and when, or that the
//! source could not be reached. Nothing is stored; every view is in the audit log and in
//! Min log ("Du så …"). The coordinated plan is shown with a form for the citizen's own
//! statement ("Mit perspektiv", `POST /min-sag/perspektiv`, CSRF-protected), written through
//! the write pipeline (`Core::write_own_statement`, action `write_own`), audited.

mod view;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use consent::Category;

use super::pages::{OwnCasePage, OwnDocument, OwnSection, date, render, time};
use super::{FormData, PortalState, failure, page, require_form_session, require_session};
use crate::core::release::{OwnRequest, PlanWriteError, Section, SectionStatus};

/// The longest statement a citizen can add to their plan.
pub const MAX_STATEMENT: usize = 2000;

/// Where a category's data comes from, as the citizen knows it (by the category's domain).
fn source_da(category: &Category) -> &'static str {
    match category.domain() {
        "health" => "Sundhedsvæsenet (din læge og hospitalet)",
        "jobcenter" => "Jobcentret",
        "social" => "Socialforvaltningen",
        "jobnet" => "Jobnet",
        "plan" => "Den fælles plan på tværs af forvaltninger",
        _ => "En myndighed",
    }
}

/// What became of a section, in plain Danish.
fn status_da(s: SectionStatus) -> &'static str {
    match s {
        SectionStatus::Included => "",
        SectionStatus::NoData => "Der er ingen oplysninger om dig her.",
        SectionStatus::Denied => "Du kan ikke se disse oplysninger her.",
        SectionStatus::Unavailable => "Vi kunne ikke få svar lige nu. Prøv igen senere.",
        SectionStatus::Timeout => "Det tog for lang tid at få svar. Prøv igen senere.",
        SectionStatus::InvalidResponse => "Svaret kunne ikke læses. Prøv igen senere.",
    }
}

fn section_view(s: &Section, rules: &consent::Rules) -> OwnSection {
    OwnSection {
        heading: rules.vocabulary.categories.get(&s.category).map_or_else(|| s.category.to_string(), |d| d.da.clone()),
        source: source_da(&s.category).to_string(),
        fetched: s.fetched_at.map(time).unwrap_or_default(),
        ok: s.status == SectionStatus::Included,
        note: status_da(s.status).to_string(),
        documents: s
            .documents
            .iter()
            .map(|d| {
                let rows = view::rows(&d.content);
                OwnDocument {
                    title: d.title.clone(),
                    date: d.date.map(|x| date(x.and_hms_opt(12, 0, 0).expect("noon").and_utc())).unwrap_or_default(),
                    author: d.source.organisation.clone().unwrap_or_default(),
                    cut: rows.len() >= view::MAX_ROWS,
                    rows,
                }
            })
            .collect(),
        plan: s.category.as_str() == connectors::plan::CATEGORY,
    }
}

/// `GET /min-sag`.
pub async fn own_case(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let rules = state.ledger.rules();
    let categories: Vec<Category> = rules.vocabulary.categories.keys().cloned().collect();
    let request_id =
        crate::http::request_id::current().map(|r| r.to_string()).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let req = OwnRequest { citizen: session.cpr, categories: &categories, request_id: &request_id };
    let release = match state.core.release_own(&req, now).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the citizen's own case could not be assembled; nothing shown");
            return failure(Some(&session));
        }
    };
    let sections: Vec<OwnSection> = release.sections.iter().map(|s| section_view(s, rules)).collect();
    let all_down = sections.iter().all(|s| !s.ok)
        && release.sections.iter().all(|s| {
            matches!(s.status, SectionStatus::Unavailable | SectionStatus::Timeout | SectionStatus::InvalidResponse)
        });
    render(
        StatusCode::OK,
        &OwnCasePage {
            title: "Min sag".into(),
            nav: Some(session.csrf.clone()),
            csrf: session.csrf.clone(),
            assembled: time(release.assembled_at),
            all_down,
            sections,
        },
    )
}

/// `POST /min-sag/perspektiv` with `text`: the citizen's own statement in their plan.
pub async fn perspective(State(state): State<PortalState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let back = [("/min-sag", "Tilbage til Min sag")];
    let text: String = form.get("text").unwrap_or("").replace("\r\n", "\n").trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_STATEMENT || text.chars().any(|c| c.is_control() && c != '\n') {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Skriv dit perspektiv",
            &["Dit perspektiv skal være mellem 1 og 2000 tegn. Der er ikke gemt noget."],
            &back,
            Some(&session),
        );
    }
    let request_id =
        crate::http::request_id::current().map(|r| r.to_string()).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    match state.core.write_own_statement(session.cpr, &text, &request_id, now).await {
        Ok(_) => page(
            StatusCode::OK,
            "Dit perspektiv er tilføjet",
            &[
                "Dit perspektiv står nu i den fælles plan. Alle de forvaltninger, der arbejder med din plan, kan læse det.",
                "Det står også i Min log.",
            ],
            &back,
            Some(&session),
        ),
        Err(PlanWriteError::NoPlan) => page(
            StatusCode::OK,
            "Du har ingen fælles plan endnu",
            &["Der er ikke lavet en fælles plan for dig, så dit perspektiv er ikke gemt. Tal med din sagsbehandler."],
            &back,
            Some(&session),
        ),
        Err(PlanWriteError::Denied { .. }) => page(
            StatusCode::FORBIDDEN,
            "Dit perspektiv kunne ikke tilføjes",
            &["Du kan ikke skrive i denne plan. Der er ikke gemt noget."],
            &back,
            Some(&session),
        ),
        Err(PlanWriteError::AuditUnavailable(_)) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Prøv igen om lidt",
            &["Vi kunne ikke skrive i loggen, så dit perspektiv er ikke gemt. Prøv igen om lidt."],
            &back,
            Some(&session),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "the citizen's statement could not be written");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Planen kunne ikke nås",
                &["Vi kunne ikke få svar fra den fælles plan lige nu. Prøv igen om lidt."],
                &back,
                Some(&session),
            )
        }
    }
}
