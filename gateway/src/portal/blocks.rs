//! Blocks ("spærringer"): place one on a unit or a category of data, and lift it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use consent::{BlockId, BlockTarget, Category, Rules, UnitId};

use super::pages::{BlocksPage, date, render};
use super::session::Session;
use super::{
    FormData, PortalState, citizen_actor, ledger_refusal, page, require_form_session, require_session, service_refusal,
};

fn describe(rules: &Rules, t: &BlockTarget) -> String {
    match t {
        BlockTarget::Unit(u) => {
            format!(
                "{} må ikke se oplysninger om dig",
                rules.directory.unit(u).map_or_else(|| u.to_string(), |x| x.name.clone())
            )
        }
        BlockTarget::Category(c) => format!(
            "Ingen må se: {}",
            rules.vocabulary.categories.get(c).map_or_else(|| c.to_string(), |d| d.da.to_lowercase())
        ),
    }
}

async fn blocks_page(state: &PortalState, session: &Session) -> Response {
    let rules = state.ledger.rules();
    let blocks = match state.ledger.blocks(&session.cpr).await {
        Ok(b) => b,
        Err(e) => return ledger_refusal(e, session),
    };
    let mut targets: Vec<(String, String)> = rules
        .vocabulary
        .categories
        .iter()
        .map(|(c, d)| (format!("category:{c}"), format!("Oplysninger: {}", d.da)))
        .collect();
    targets.extend(rules.directory.units().map(|u| (format!("unit:{}", u.id), format!("Myndighed: {}", u.name))));
    render(
        StatusCode::OK,
        &BlocksPage {
            title: "Spærringer".into(),
            nav: Some(session.csrf.clone()),
            csrf: session.csrf.clone(),
            blocks: blocks.iter().map(|b| (b.id.to_string(), describe(rules, &b.target), date(b.placed_at))).collect(),
            targets,
        },
    )
}

/// `GET /blocks`.
pub async fn list(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    match require_session(&state, &headers, now).await {
        Ok(s) => blocks_page(&state, &s).await,
        Err(r) => r,
    }
}

/// `POST /blocks` with `target=unit:<id>|category:<id>`.
pub async fn place(State(state): State<PortalState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let target = match form.get("target").and_then(|t| t.split_once(':')) {
        Some(("unit", u)) => UnitId::parse(u).ok().map(BlockTarget::Unit),
        Some(("category", c)) => Category::parse(c).ok().map(BlockTarget::Category),
        _ => None,
    };
    let Some(target) = target else {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Vælg hvad du vil spærre for",
            &["Vi kunne ikke se, hvad du valgte. Der er ikke ændret noget."],
            &[("/blocks", "Tilbage til spærringer")],
            Some(&session),
        );
    };
    let block = match state.consents.place_block(&session.cpr, target, &citizen_actor(), now).await {
        Ok(b) => b,
        Err(e) => return service_refusal(e, &session),
    };
    page(
        StatusCode::OK,
        "Spærringen er oprettet",
        &[
            &describe(state.ledger.rules(), &block.target),
            "Spærringen gælder med det samme, også hvis du har givet samtykke.",
        ],
        &[("/blocks", "Tilbage til spærringer"), ("/", "Tilbage til oversigten")],
        Some(&session),
    )
}

/// `POST /blocks/{id}/lift`.
pub async fn lift(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<BlockId>() else {
        return ledger_refusal(consent::LedgerError::NoSuchBlock(BlockId(uuid::Uuid::nil())), &session);
    };
    if let Err(e) = state.consents.lift_block(id, &session.cpr, &citizen_actor(), now).await {
        return service_refusal(e, &session);
    }
    page(
        StatusCode::OK,
        "Spærringen er ophævet",
        &["Spærringen gælder ikke længere."],
        &[("/blocks", "Tilbage til spærringer"), ("/", "Tilbage til oversigten")],
        Some(&session),
    )
}
