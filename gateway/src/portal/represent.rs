//! Acting for someone else ("Du handler på vegne af …"): a citizen who holds a power of
//! attorney for another person sees that person's consents and, with the privilege to,
//! answers requests, grants and revokes for them.
//!
//! The person is chosen by the power of attorney's reference in the registry (a UUID in
//! the URL), never by a CPR number. Every page and every POST asks the registry again
//! (`core::representation`): a power revoked or ended since the page was loaded refuses
//! the action (403, nothing changed), a reference the holder does not hold is "not found"
//! (404), and a registry that cannot be reached refuses (503). A consent of anyone but the
//! represented person is "not found". Every change goes through the `ConsentService` with
//! the holder's pseudonymous id, the reference and the privilege in the event and in the
//! audit record; the represented person sees it in Min log and gets a letter.

mod views;

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Months, Utc};
use consent::record::Privilege;
use consent::{Category, Channel, Consent, ConsentId, ConsentStatus, Period, Purpose, TermsInput, UnitId};

use self::views::{GrantForPage, ListPage, OverviewForPage, Person, RequestForPage, RevokeForPage};
use super::pages::{ConsentView, date, render};
use super::session::Session;
use super::{FormData, PortalState, ledger_refusal, page, require_form_session, require_session, service_refusal};
use crate::core::representation::{Mandate, Relation, RepresentationError};

/// The version of the text shown for a consent granted by a representative.
const GRANT_TEXT_VERSION: &str = "portal-grant-representative-1";

fn refusal(e: RepresentationError, session: &Session) -> Response {
    let back = [("/fuldmagter", "Tilbage til dine fuldmagter")];
    let (status, heading, text) = match e {
        RepresentationError::NotOffered => (
            StatusCode::NOT_FOUND,
            "Du kan ikke handle på andres vegne her",
            "sammen er ikke sat op til fuldmagter. Der er ikke ændret noget.",
        ),
        RepresentationError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Fuldmagtsregistret svarer ikke",
            "Vi kan ikke se, om din fuldmagt gælder, så du kan ikke handle på andres vegne lige nu. Der er ikke ændret noget. Prøv igen om lidt.",
        ),
        RepresentationError::NotFound => (
            StatusCode::NOT_FOUND,
            "Vi kan ikke finde fuldmagten",
            "Den findes ikke blandt dine fuldmagter. Der er ikke ændret noget.",
        ),
        RepresentationError::NoLongerValid => (
            StatusCode::FORBIDDEN,
            "Fuldmagten gælder ikke længere",
            "Fuldmagten er tilbagekaldt eller udløbet, så du kan ikke længere handle på vegne af denne person. Der er ikke ændret noget.",
        ),
        RepresentationError::ChildDecides(reason) => {
            tracing::info!("portal: a parent tried to act for a child who decides for themselves");
            let text = format!("{reason} Der er ikke ændret noget.");
            return page(StatusCode::FORBIDDEN, "Barnet bestemmer nu selv", &[&text], &back, Some(session));
        }
        RepresentationError::BeyondPrivilege => (
            StatusCode::FORBIDDEN,
            "Det giver din fuldmagt ikke lov til",
            "Din fuldmagt giver dig lov til at se samtykkerne, men ikke til at give, besvare eller tilbagekalde dem. Der er ikke ændret noget.",
        ),
    };
    tracing::info!(refusal = %e, "portal: an action on someone else's behalf was refused");
    page(status, heading, &[text], &back, Some(session))
}

/// The registry's answer for this holder and this reference, now.
async fn mandate(
    state: &PortalState,
    session: &Session,
    reference: &str,
    need: Privilege,
    now: DateTime<Utc>,
) -> Result<Mandate, Response> {
    let Some(rep) = &state.core.representation else {
        return Err(refusal(RepresentationError::NotOffered, session));
    };
    let request_id = uuid::Uuid::now_v7().to_string();
    rep.check(&session.cpr, reference, need, &request_id, now).await.map_err(|e| refusal(e, session))
}

fn holder_name(session: &Session) -> String {
    session.name.clone().unwrap_or_else(|| "En fuldmægtig".into())
}

/// Records, durably and before anything is shown, that the holder sees the represented
/// person's consents (it is in that person's Min log). Nothing is shown when it cannot be
/// recorded.
async fn record_view(state: &PortalState, session: &Session, m: &Mandate, now: DateTime<Utc>) -> Result<(), Response> {
    let request_id =
        crate::http::request_id::current().map(|r| r.to_string()).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    match state.audit.append(vec![m.view_record(&request_id, now)]).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "portal: a representative's view could not be recorded; nothing shown");
            Err(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Samtykkerne kan ikke vises lige nu",
                &[
                    "Vi skal kunne skrive i loggen, at du har set samtykkerne, før vi viser dem, og det kan vi ikke lige nu. Prøv igen om lidt.",
                ],
                &[("/fuldmagter", "Tilbage til fuldmagter")],
                Some(session),
            ))
        }
    }
}

fn consent_not_found(session: &Session, m: &Mandate) -> Response {
    let back = format!("/fuldmagter/{}", m.reference());
    page(
        StatusCode::NOT_FOUND,
        "Vi kan ikke finde samtykket",
        &["Det findes ikke blandt samtykkerne for den person, du handler for. Der er ikke ændret noget."],
        &[(&back, "Tilbage")],
        Some(session),
    )
}

/// The mandate for `reference` with `need`, now, and the represented person's consent `id`.
async fn mandate_and_consent(
    state: &PortalState,
    session: &Session,
    reference: &str,
    id: &str,
    need: Privilege,
    now: DateTime<Utc>,
) -> Result<(Mandate, Consent), Response> {
    let m = mandate(state, session, reference, need, now).await?;
    let c = their_consent(state, session, &m, id).await?;
    Ok((m, c))
}

/// The represented person's consent `id`; anyone else's is "not found".
async fn their_consent(state: &PortalState, session: &Session, m: &Mandate, id: &str) -> Result<Consent, Response> {
    let Ok(id) = id.parse::<ConsentId>() else { return Err(consent_not_found(session, m)) };
    match state.ledger.consent(id).await {
        Ok(c) if c.terms.citizen == *m.represented() => Ok(c),
        Ok(_) => {
            tracing::info!(consent = %id, "portal: a holder asked for a consent of someone they do not act for");
            Err(consent_not_found(session, m))
        }
        Err(consent::LedgerError::NoSuchConsent(_)) => Err(consent_not_found(session, m)),
        Err(e) => Err(ledger_refusal(e, session)),
    }
}

async fn view(state: &PortalState, c: &Consent, now: DateTime<Utc>) -> ConsentView {
    let text = consent::Store::text(state.ledger.store(), &c.terms.text.sha256).await.ok().flatten();
    ConsentView::of(c, state.ledger.rules(), text, now)
}

fn done(session: &Session, m: &Mandate, heading: &str, text: &str) -> Response {
    let back = format!("/fuldmagter/{}", m.reference());
    let told = format!(
        "{} får besked og kan se det i sin log. Kvitteringen, der nævner jer begge, ligger under {}s samtykker.",
        m.represented_name(),
        m.represented_name()
    );
    page(
        StatusCode::OK,
        heading,
        &[text, &told],
        &[(&back, "Tilbage"), ("/", "Til dine egne samtykker")],
        Some(session),
    )
}

/// `GET /fuldmagter`: everyone the holder holds a power of attorney for.
pub async fn list(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(rep) = &state.core.representation else { return refusal(RepresentationError::NotOffered, &session) };
    let request_id = uuid::Uuid::now_v7().to_string();
    let people = match rep.list(&session.cpr, &request_id, now).await {
        Ok(p) => p,
        Err(e) => return refusal(e, &session),
    };
    let people = people
        .into_iter()
        .map(|p| Person {
            reference: p.reference.to_string(),
            name: p.name,
            privileges: p.privileges.iter().map(|p| p.da()).collect::<Vec<_>>().join(" og "),
            valid: p.valid,
            not_valid: match p.relation {
                Relation::Custody => "Barnet er fyldt 15 år og bestemmer nu selv over sine samtykker.".into(),
                Relation::PowerOfAttorney => "Fuldmagten gælder ikke nu (udløbet eller tilbagekaldt).".into(),
            },
            until: match p.relation {
                Relation::Custody => "Du har forældremyndigheden.".into(),
                Relation::PowerOfAttorney => {
                    p.valid_to.map(|t| format!("Fuldmagten gælder til {}.", date(t))).unwrap_or_default()
                }
            },
        })
        .collect();
    render(StatusCode::OK, &ListPage { title: "Fuldmagter".into(), nav: Some(session.csrf.clone()), people })
}

/// `GET /fuldmagter/{reference}`: the represented person's consents.
pub async fn overview(State(state): State<PortalState>, headers: HeaderMap, Path(reference): Path<String>) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let m = match mandate(&state, &session, &reference, Privilege::View, now).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Err(r) = record_view(&state, &session, &m, now).await {
        return r;
    }
    let (pending, all) =
        match (state.ledger.pending(m.represented(), now).await, state.ledger.consents_of(m.represented()).await) {
            (Ok(p), Ok(a)) => (p, a),
            (Err(e), _) | (_, Err(e)) => return ledger_refusal(e, &session),
        };
    let rules = state.ledger.rules();
    let mut active = Vec::new();
    let mut earlier = Vec::new();
    for c in &all {
        match c.status_at(now) {
            ConsentStatus::Requested => {}
            ConsentStatus::Active => active.push(ConsentView::of(c, rules, None, now)),
            _ => earlier.push(ConsentView::of(c, rules, None, now)),
        }
    }
    render(
        StatusCode::OK,
        &OverviewForPage {
            title: format!("Samtykker for {}", m.represented_name()),
            nav: Some(session.csrf.clone()),
            name: m.represented_name().to_string(),
            reference: m.reference().to_string(),
            can_act: m.privilege() == Privilege::Consent,
            pending: pending.iter().map(|c| ConsentView::of(c, rules, None, now)).collect(),
            active,
            earlier,
        },
    )
}

/// `GET /fuldmagter/{reference}/requests/{id}`.
pub async fn request(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path((reference, id)): Path<(String, String)>,
) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (m, c) = match mandate_and_consent(&state, &session, &reference, &id, Privilege::View, now).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if let Err(r) = record_view(&state, &session, &m, now).await {
        return r;
    }
    if c.status_at(now) != ConsentStatus::Requested {
        let back = format!("/fuldmagter/{}", m.reference());
        return page(
            StatusCode::OK,
            "Anmodningen kan ikke besvares",
            &["Den er allerede besvaret eller udløbet."],
            &[(&back, "Tilbage")],
            Some(&session),
        );
    }
    render(
        StatusCode::OK,
        &RequestForPage {
            title: "Anmodning om samtykke".into(),
            nav: Some(session.csrf.clone()),
            csrf: session.csrf.clone(),
            name: m.represented_name().to_string(),
            reference: m.reference().to_string(),
            can_act: m.privilege() == Privilege::Consent,
            c: view(&state, &c, now).await,
        },
    )
}

/// `POST /fuldmagter/{reference}/requests/{id}` with `answer=approve|reject`.
pub async fn answer(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path((reference, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (m, c) = match mandate_and_consent(&state, &session, &reference, &id, Privilege::Consent, now).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let actor = m.actor(Channel::Portal, &holder_name(&session));
    let approve = match form.get("answer") {
        Some("approve") => true,
        Some("reject") => false,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "Vælg Godkend eller Afvis",
                &["Vi kunne ikke se, hvad du svarede. Der er ikke ændret noget."],
                &[(&format!("/fuldmagter/{}", m.reference()), "Tilbage")],
                Some(&session),
            );
        }
    };
    let result = if approve {
        state.consents.approve(c.id, m.represented(), &actor, now).await
    } else {
        state.consents.reject(c.id, m.represented(), &actor, now).await
    };
    if let Err(e) = result {
        return service_refusal(e, &session);
    }
    if approve {
        done(
            &session,
            &m,
            "Du har givet samtykke",
            &format!("Du har givet samtykke på vegne af {}.", m.represented_name()),
        )
    } else {
        done(
            &session,
            &m,
            "Du har afvist anmodningen",
            &format!("Du har sagt nej på vegne af {}.", m.represented_name()),
        )
    }
}

/// `GET /fuldmagter/{reference}/consents/{id}/revoke`: the one confirmation.
pub async fn revoke_confirm(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path((reference, id)): Path<(String, String)>,
) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (m, c) = match mandate_and_consent(&state, &session, &reference, &id, Privilege::Consent, now).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if let Err(r) = record_view(&state, &session, &m, now).await {
        return r;
    }
    render(
        StatusCode::OK,
        &RevokeForPage {
            title: "Tilbagekald samtykket".into(),
            nav: Some(session.csrf.clone()),
            csrf: session.csrf.clone(),
            name: m.represented_name().to_string(),
            reference: m.reference().to_string(),
            c: view(&state, &c, now).await,
        },
    )
}

/// `POST /fuldmagter/{reference}/consents/{id}/revoke`.
pub async fn revoke(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path((reference, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (m, c) = match mandate_and_consent(&state, &session, &reference, &id, Privilege::Consent, now).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let actor = m.actor(Channel::Portal, &holder_name(&session));
    if let Err(e) = state.consents.revoke(c.id, m.represented(), &actor, now).await {
        return service_refusal(e, &session);
    }
    done(
        &session,
        &m,
        "Samtykket er tilbagekaldt",
        &format!("Du har tilbagekaldt samtykket på vegne af {}. Det virker med det samme.", m.represented_name()),
    )
}

fn grant_page(state: &PortalState, session: &Session, m: &Mandate, error: Option<String>) -> GrantForPage {
    let rules = state.ledger.rules();
    GrantForPage {
        title: "Giv samtykke".into(),
        nav: Some(session.csrf.clone()),
        csrf: session.csrf.clone(),
        name: m.represented_name().to_string(),
        reference: m.reference().to_string(),
        error,
        units: rules.directory.units().map(|u| (u.id.to_string(), u.name.clone())).collect(),
        purposes: rules.vocabulary.purposes.iter().map(|(p, d)| (p.to_string(), d.da.clone())).collect(),
        categories: rules.vocabulary.categories.iter().map(|(c, d)| (c.to_string(), d.da.clone())).collect(),
        cap: rules.max_validity_months,
    }
}

/// `GET /fuldmagter/{reference}/grant`.
pub async fn grant_form(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Response {
    let now = state.clock.now();
    let session = match require_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match mandate(&state, &session, &reference, Privilege::Consent, now).await {
        Ok(m) => render(StatusCode::OK, &grant_page(&state, &session, &m, None)),
        Err(r) => r,
    }
}

/// `POST /fuldmagter/{reference}/grant`: unit, purpose, categories, months (1 to the cap).
pub async fn grant(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let m = match mandate(&state, &session, &reference, Privilege::Consent, now).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let rules = state.ledger.rules();
    let again =
        |msg: &str| render(StatusCode::UNPROCESSABLE_ENTITY, &grant_page(&state, &session, &m, Some(msg.to_string())));
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
    let Some(months) = form.get("months").and_then(|v| v.trim().parse::<u32>().ok()).filter(|v| (1..=cap).contains(v))
    else {
        return again(&format!("Vælg et antal måneder fra 1 til {cap}."));
    };
    let Some(until) = now.checked_add_months(Months::new(months)) else { return again("Perioden er ugyldig.") };
    let holder = holder_name(&session);
    let mut input = TermsInput {
        citizen: *m.represented(),
        grantee: unit,
        include_subunits: false,
        purpose,
        categories,
        period: Period { from: now, until },
        data_period: None,
        text_version: GRANT_TEXT_VERSION.into(),
        text_body: String::new(),
    };
    input.text_body = grant_text(&state, &input, &holder, m.represented_name());
    if let Err(e) = state.consents.grant(input, m.represented(), &m.actor(Channel::Portal, &holder), now).await {
        return service_refusal(e, &session);
    }
    done(&session, &m, "Du har givet samtykke", &format!("Du har givet samtykke på vegne af {}.", m.represented_name()))
}

/// The plain-language text of a consent granted by a representative (hashed into the record).
fn grant_text(state: &PortalState, input: &TermsInput, holder: &str, represented: &str) -> String {
    let rules = state.ledger.rules();
    let unit = rules.directory.unit(&input.grantee).map_or_else(|| input.grantee.to_string(), |u| u.name.clone());
    let purpose = rules.vocabulary.purposes.get(&input.purpose).map(|d| d.da.clone()).unwrap_or_default();
    let cats: Vec<String> = input
        .categories
        .iter()
        .map(|c| rules.vocabulary.categories.get(c).map_or_else(|| c.to_string(), |d| d.da.clone()))
        .collect();
    format!(
        "Jeg, {holder}, giver med fuldmagt på vegne af {represented} {unit} lov til at indhente disse oplysninger om \
         {represented}: {}. Formålet er: {purpose}. Samtykket gælder fra {} til {}, og det kan til enhver tid trækkes tilbage.",
        cats.join("; "),
        date(input.period.from),
        date(input.period.until),
    )
}
