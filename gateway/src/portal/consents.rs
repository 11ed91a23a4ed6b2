//! The overview, consent requests (approve or reject), a consent with its receipts,
//! revocation with one confirmation, and granting a consent directly.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Months, Utc};
use consent::audit::AuditKind;
use consent::receipt::ReceiptAction;
use consent::{Category, Consent, ConsentId, ConsentStatus, Period, Purpose, State as Recorded, TermsInput, UnitId};

use super::pages::{
    ConsentPage, ConsentView, GrantPage, Group, LoginPage, OverviewPage, RequestPage, RevokePage, date, render,
};
use super::session::Session;
use super::{
    FormData, PortalState, citizen_actor, failure, ledger_refusal, page, require_form_session, require_session,
    service_refusal,
};

/// The version of the text shown for a directly granted consent.
const GRANT_TEXT_VERSION: &str = "portal-grant-1";

fn not_found(session: &Session) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Vi kan ikke finde samtykket",
        &["Det findes ikke blandt dine samtykker. Der er ikke ændret noget."],
        &[("/", "Tilbage til oversigten")],
        Some(session),
    )
}

/// The citizen's own consent `id`; anyone else's is "not found", like a wrong id.
async fn own_consent(state: &PortalState, session: &Session, id: &str) -> Result<Consent, Response> {
    let Ok(id) = id.parse::<ConsentId>() else { return Err(not_found(session)) };
    match state.ledger.consent(id).await {
        Ok(c) if c.terms.citizen == session.cpr => Ok(c),
        Ok(_) => {
            tracing::info!(consent = %id, "portal: a citizen asked for another citizen's consent");
            Err(not_found(session))
        }
        Err(consent::LedgerError::NoSuchConsent(_)) => Err(not_found(session)),
        Err(e) => Err(ledger_refusal(e, session)),
    }
}

/// The logged-in citizen and their consent `id`, for a page (no session: the login page).
async fn viewed_consent(
    state: &PortalState,
    headers: &HeaderMap,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(Session, Consent), Response> {
    let session = require_session(state, headers, now).await?;
    let c = own_consent(state, &session, id).await?;
    Ok((session, c))
}

/// The same for a form: the session's CSRF token is checked before the consent is read.
async fn posted_consent(
    state: &PortalState,
    headers: &HeaderMap,
    form: &FormData,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(Session, Consent), Response> {
    let session = require_form_session(state, headers, form, now).await?;
    let c = own_consent(state, &session, id).await?;
    Ok((session, c))
}

async fn view(state: &PortalState, c: &Consent, now: DateTime<Utc>) -> ConsentView {
    let text = consent::Store::text(state.ledger.store(), &c.terms.text.sha256).await.ok().flatten();
    ConsentView::of(c, state.ledger.rules(), text, now)
}

/// `GET /`: the login page, or the overview: requests first, then active, expired, revoked, rejected.
pub async fn overview(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let session = match state.sessions.current(&headers, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return render(StatusCode::OK, &LoginPage { title: "Log ind".into(), nav: None }),
        Err(e) => {
            tracing::error!(error = %e, "the session store failed");
            return failure(None);
        }
    };
    let (pending, all) =
        match (state.ledger.pending(&session.cpr, now).await, state.ledger.consents_of(&session.cpr).await) {
            (Ok(p), Ok(a)) => (p, a),
            (Err(e), _) | (_, Err(e)) => return ledger_refusal(e, &session),
        };
    let rules = state.ledger.rules();
    let mut groups = vec![
        Group { key: "active", heading: "Aktive samtykker", empty: "Du har ingen aktive samtykker.", items: vec![] },
        Group { key: "expired", heading: "Udløbne", empty: "Ingen.", items: vec![] },
        Group { key: "revoked", heading: "Tilbagekaldte", empty: "Ingen.", items: vec![] },
        Group { key: "rejected", heading: "Afviste anmodninger", empty: "Ingen.", items: vec![] },
    ];
    for c in &all {
        let slot = match c.status_at(now) {
            ConsentStatus::Requested => continue,
            ConsentStatus::Active => 0,
            ConsentStatus::Expired => 1,
            ConsentStatus::Revoked => 2,
            ConsentStatus::Rejected => 3,
        };
        groups[slot].items.push(ConsentView::of(c, rules, None, now));
    }
    render(
        StatusCode::OK,
        &OverviewPage {
            title: "Dine samtykker".into(),
            nav: Some(session.csrf.clone()),
            name: session.name.clone(),
            pending: pending.iter().map(|c| ConsentView::of(c, rules, None, now)).collect(),
            groups,
        },
    )
}

/// `GET /requests/{id}`: who asks, why, for which data and how long; approve or reject.
pub async fn request(State(state): State<PortalState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let now = state.clock.now();
    let (session, c) = match viewed_consent(&state, &headers, &id, now).await {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    if c.state != Recorded::Requested {
        return consent(State(state), headers, Path(id)).await;
    }
    if c.status_at(now) == ConsentStatus::Expired {
        return page(
            StatusCode::OK,
            "Anmodningen er udløbet",
            &[
                "Fristen for at svare er overskredet. Sagsbehandleren må spørge igen, hvis der stadig er brug for oplysningerne.",
            ],
            &[("/", "Tilbage til oversigten")],
            Some(&session),
        );
    }
    let v = view(&state, &c, now).await;
    render(
        StatusCode::OK,
        &RequestPage {
            title: "Anmodning om samtykke".into(),
            nav: Some(session.csrf.clone()),
            csrf: session.csrf.clone(),
            c: v,
        },
    )
}

fn receipt_link(c: &Consent) -> String {
    format!("/receipts/{}.{}", c.id, c.version)
}

/// `POST /requests/{id}` with `answer=approve|reject`.
pub async fn answer(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let (session, c) = match posted_consent(&state, &headers, &form, &id, now).await {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let actor = citizen_actor();
    let (result, kind) = match form.get("answer") {
        Some("approve") => (state.consents.approve(c.id, &session.cpr, &actor, now).await, AuditKind::ConsentApproved),
        Some("reject") => (state.consents.reject(c.id, &session.cpr, &actor, now).await, AuditKind::ConsentRejected),
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "Vælg Godkend eller Afvis",
                &["Vi kunne ikke se, hvad du svarede. Der er ikke ændret noget."],
                &[(&format!("/requests/{}", c.id), "Tilbage til anmodningen")],
                Some(&session),
            );
        }
    };
    let updated = match result {
        Ok(u) => u,
        Err(e) => return service_refusal(e, &session),
    };
    let receipt = receipt_link(&updated);
    if kind == AuditKind::ConsentApproved {
        page(
            StatusCode::OK,
            "Du har givet samtykke",
            &[
                "Du har givet samtykke. Sagsbehandleren kan nu se de oplysninger, du sagde ja til, i den periode, der står i samtykket.",
                "Du kan altid trække samtykket tilbage under Mine samtykker.",
            ],
            &[(&receipt, "Se kvittering"), ("/", "Tilbage til oversigten")],
            Some(&session),
        )
    } else {
        page(
            StatusCode::OK,
            "Du har afvist anmodningen",
            &["Du har sagt nej. Sagsbehandleren kan ikke se oplysningerne på grund af denne anmodning."],
            &[(&receipt, "Se kvittering"), ("/", "Tilbage til oversigten")],
            Some(&session),
        )
    }
}

/// `GET /consents/{id}`: the consent, its receipts, and the revoke button when active.
pub async fn consent(State(state): State<PortalState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let now = state.clock.now();
    let (session, c) = match viewed_consent(&state, &headers, &id, now).await {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let events = match state.ledger.events(c.id).await {
        Ok(e) => e,
        Err(e) => return ledger_refusal(e, &session),
    };
    let receipts = events
        .iter()
        .filter_map(|e| {
            ReceiptAction::of(&e.kind)
                .map(|a| (format!("{}.{}", e.consent_id, e.version), format!("{} ({})", a.da(), date(e.at))))
        })
        .collect();
    let active = c.status_at(now) == ConsentStatus::Active;
    let v = view(&state, &c, now).await;
    render(
        StatusCode::OK,
        &ConsentPage {
            title: "Samtykke".into(),
            nav: Some(session.csrf.clone()),
            csrf: session.csrf.clone(),
            c: v,
            active,
            receipts,
        },
    )
}

/// `GET /consents/{id}/revoke`: the one confirmation.
pub async fn revoke_confirm(State(state): State<PortalState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let now = state.clock.now();
    let (session, c) = match viewed_consent(&state, &headers, &id, now).await {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let v = view(&state, &c, now).await;
    render(
        StatusCode::OK,
        &RevokePage {
            title: "Tilbagekald samtykket".into(),
            nav: Some(session.csrf.clone()),
            csrf: session.csrf.clone(),
            c: v,
        },
    )
}

/// `POST /consents/{id}/revoke`: revoked at once; the next case-file request is denied.
pub async fn revoke(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let (session, c) = match posted_consent(&state, &headers, &form, &id, now).await {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let updated = match state.consents.revoke(c.id, &session.cpr, &citizen_actor(), now).await {
        Ok(u) => u,
        Err(e) => return service_refusal(e, &session),
    };
    let receipt = receipt_link(&updated);
    page(
        StatusCode::OK,
        "Samtykket er tilbagekaldt",
        &[
            "Samtykket er tilbagekaldt. Det virker med det samme: fra nu af kan de ikke hente oplysningerne med dette samtykke.",
        ],
        &[(&receipt, "Se kvittering"), ("/", "Tilbage til oversigten")],
        Some(&session),
    )
}

/// `POST /consents/{id}/confirm`: the citizen confirms a consent signed on paper; it then
/// lasts its whole period.
pub async fn confirm(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let (session, c) = match posted_consent(&state, &headers, &form, &id, now).await {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let updated = match state.consents.confirm_paper(c.id, &session.cpr, &citizen_actor(), now).await {
        Ok(u) => u,
        Err(consent::ServiceError::Ledger(consent::LedgerError::Rule(consent::RuleError::NotAwaitingConfirmation))) => {
            return page(
                StatusCode::CONFLICT,
                "Samtykket kan ikke bekræftes",
                &["Det er ikke et samtykke på papir, der venter på at blive bekræftet. Der er ikke ændret noget."],
                &[("/", "Tilbage til oversigten")],
                Some(&session),
            );
        }
        Err(e) => return service_refusal(e, &session),
    };
    let receipt = receipt_link(&updated);
    page(
        StatusCode::OK,
        "Samtykket er bekræftet",
        &[
            "Du har bekræftet samtykket, du gav på papir. Det gælder nu hele perioden, og du kan altid trække det tilbage.",
        ],
        &[(&receipt, "Se kvittering"), ("/", "Tilbage til oversigten")],
        Some(&session),
    )
}

fn grant_page(state: &PortalState, session: &Session, error: Option<String>) -> GrantPage {
    let rules = state.ledger.rules();
    GrantPage {
        title: "Giv samtykke".into(),
        nav: Some(session.csrf.clone()),
        csrf: session.csrf.clone(),
        error,
        units: rules.directory.units().map(|u| (u.id.to_string(), u.name.clone())).collect(),
        purposes: rules.vocabulary.purposes.iter().map(|(p, d)| (p.to_string(), d.da.clone())).collect(),
        categories: rules.vocabulary.categories.iter().map(|(c, d)| (c.to_string(), d.da.clone())).collect(),
        cap: rules.max_validity_months,
    }
}

/// `GET /grant`.
pub async fn grant_form(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    match require_session(&state, &headers, now).await {
        Ok(s) => render(StatusCode::OK, &grant_page(&state, &s, None)),
        Err(r) => r,
    }
}

/// `POST /grant`: unit, purpose, categories, months (1 to the cap).
pub async fn grant(State(state): State<PortalState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let rules = state.ledger.rules();
    let again =
        |msg: &str| render(StatusCode::UNPROCESSABLE_ENTITY, &grant_page(&state, &session, Some(msg.to_string())));
    let Some(unit) = form.get("unit").and_then(|u| UnitId::parse(u).ok()).filter(|u| rules.directory.contains(u))
    else {
        return again("Vælg hvem der må se oplysningerne.");
    };
    let Some(purpose) = form.get("purpose").and_then(|p| Purpose::parse(p).ok()) else {
        return again("Vælg hvad oplysningerne skal bruges til.");
    };
    let categories: BTreeSet<Category> = form.all("category").iter().filter_map(|c| Category::parse(c).ok()).collect();
    if categories.is_empty() {
        return again("Vælg mindst én slags oplysninger.");
    }
    let cap = rules.max_validity_months;
    let Some(months) = form.get("months").and_then(|m| m.trim().parse::<u32>().ok()).filter(|m| (1..=cap).contains(m))
    else {
        return again(&format!("Vælg et antal måneder fra 1 til {cap}."));
    };
    let Some(until) = now.checked_add_months(Months::new(months)) else { return again("Perioden er ugyldig.") };
    let mut input = TermsInput {
        citizen: session.cpr,
        grantee: unit.clone(),
        include_subunits: false,
        purpose,
        categories,
        period: Period { from: now, until },
        data_period: None,
        text_version: GRANT_TEXT_VERSION.into(),
        text_body: String::new(),
    };
    input.text_body = grant_text(&state, &input);
    let granted = match state.consents.grant(input, &session.cpr, &citizen_actor(), now).await {
        Ok(c) => c,
        Err(e) => return service_refusal(e, &session),
    };
    let receipt = receipt_link(&granted);
    page(
        StatusCode::OK,
        "Du har givet samtykke",
        &["Du har givet samtykke. Du kan altid trække det tilbage under Mine samtykker."],
        &[(&receipt, "Se kvittering"), ("/", "Tilbage til oversigten")],
        Some(&session),
    )
}

/// The plain-language text of a directly granted consent (hashed into the record).
fn grant_text(state: &PortalState, input: &TermsInput) -> String {
    let rules = state.ledger.rules();
    let unit = rules.directory.unit(&input.grantee).map_or_else(|| input.grantee.to_string(), |u| u.name.clone());
    let purpose = rules.vocabulary.purposes.get(&input.purpose).map(|d| d.da.clone()).unwrap_or_default();
    let cats: Vec<String> = input
        .categories
        .iter()
        .map(|c| rules.vocabulary.categories.get(c).map_or_else(|| c.to_string(), |d| d.da.clone()))
        .collect();
    format!(
        "Jeg giver {unit} lov til at indhente disse oplysninger om mig: {}. Formålet er: {purpose}. \
         Samtykket gælder fra {} til {}, og jeg kan til enhver tid trække det tilbage.",
        cats.join("; "),
        date(input.period.from),
        date(input.period.until),
    )
}
