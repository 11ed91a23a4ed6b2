//! The hub's receiving side (see `connectors::health_hub` for the protocol): the citizen's
//! own GP, and messages sent to a GP, validated and answered with a receipt; a synthetic GP
//! answers an LÆ 261 request with an LÆ 265 after a configurable delay, which then appears
//! in the citizen's messages like any other.
//!
//! The hub deduplicates on the envelope identifier: a message it has already received gets
//! the stored receipt again and is not delivered again. It counts, per envelope identifier,
//! how often the message was posted and how often delivered (`GET /admin/hub`), which the
//! tests use to prove exactly-once delivery.
//!
//! Modes (`PUT /admin/hub`), beside the source faults of `mediconnect`, which apply here
//! too: `down` (the outbox answers 503 and takes nothing, while the GP lookup still
//! answers), `delay_ms` (the outbox takes the message at once but answers only after that
//! long: slow; a sender that gives up or dies meanwhile has delivered it all the same),
//! `negative` (the GP's system refuses every message with an XCTL02),
//! `unknown_receipt` (the answer is a receipt for a message nobody sent), `answer_lost`
//! (the message is delivered, but the answer to the first post of it is an HTTP 503, so the
//! sender posts it again and gets the stored receipt: a duplicate receipt), and the
//! asynchronous receipts (`hub/inbox.rs`): `async_receipt` (the outbox answers 202 and the
//! receipt waits in the hub's inbox), `duplicate_receipt` (it waits there twice),
//! `stray_receipt` (a receipt for a message nobody sent waits before it).

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::NaiveDate;
use connectors::health_hub::GpRecord;
use connectors::medcom::outgoing::{MAX_IDENTIFIER, lae261};
use connectors::medcom::{
    self, DdbForm, FormHeader, Message, NegativeKind, NegativeReceipt, OriginalEmessage, Party, Stamp, UserField,
    Xctl03,
};
use connectors::xml::Limits;
use consent::Cpr;

use crate::faults;
use crate::serve::Kill;
use crate::state::{AppState, cpr_header};
use crate::{Source, citizens};

pub(crate) mod book;
pub mod documents;
pub(crate) mod inbox;
pub(crate) use book::Answered;
pub use book::{Deliveries, HubMode, HubSettings};

const XML: &str = "application/xml; charset=iso-8859-1";
/// The hub's own location number (the receipts' sender when the hub itself refuses).
const HUB_EAN: &str = "5790000000050";

/// A valid GS1 location number from its first twelve digits.
fn gln(first12: &str) -> String {
    let sum: u32 =
        first12.bytes().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("{first12}{}", (10 - sum % 10) % 10)
}

/// The citizen's own GP ("egen læge"); every tenth synthetic citizen (index 9, 19, ...)
/// has none.
pub fn own_gp(cpr: &Cpr) -> Option<GpRecord> {
    let i = citizens().iter().position(|c| &c.cpr == cpr)?;
    if i % 10 == 9 {
        return None;
    }
    let names = ["Lægerne på Nørrebro", "Lægehuset Valby", "Amager Lægecenter", "Lægerne i Sydhavnen"];
    Some(GpRecord {
        ean: gln(&format!("579000020{:03}", i % 4)),
        sor: Some(format!("{}", 400_000_000_000u64 + (i % 4) as u64)),
        name: names[i % 4].to_string(),
    })
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: injected HTTP 500").into_response()
}

pub(crate) async fn gp(State(s): State<AppState>, Extension(kill): Extension<Kill>, headers: HeaderMap) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Mediconnect), &kill, server_error).await {
        return r;
    }
    let cpr = match cpr_header(&headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match own_gp(&cpr) {
        Some(gp) => Json(gp).into_response(),
        None => (StatusCode::NOT_FOUND, "the citizen has no GP").into_response(),
    }
}

fn plain(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_IDENTIFIER && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What was received, as a receipt names it, with whom it is about and to whom.
struct Received {
    original: OriginalEmessage,
    patient: Cpr,
    request: Option<DdbForm>,
    /// The documents a letter references (`Reference/BIN`).
    attachments: Vec<String>,
}

fn received(message: Message) -> Result<Received, &'static str> {
    match message {
        Message::Xdis91(l) => Ok(Received {
            original: OriginalEmessage {
                envelope_identifier: l.envelope.identifier.clone(),
                sender_ean: l.sender.ean.clone(),
                receiver_ean: l.receiver.ean.clone(),
                letter_identifier: l.letter.identifier.clone(),
                version_code: l.letter.version_code.clone(),
            },
            patient: l.patient.cpr,
            request: None,
            attachments: l.references.iter().map(|r| r.object_identifier.clone()).collect(),
        }),
        Message::Ddb(f) if f.form.type_code == DdbForm::LAE261 => Ok(Received {
            original: OriginalEmessage {
                envelope_identifier: f.form.identifier.clone(),
                sender_ean: f.sender.ean.clone(),
                receiver_ean: f.receiver.ean.clone(),
                letter_identifier: f.form.identifier.clone(),
                version_code: f.form.version_code.clone(),
            },
            patient: f.patient.cpr,
            request: Some(*f),
            attachments: Vec::new(),
        }),
        _ => Err("the hub takes XDIS91 letters and LÆ 261 requests only"),
    }
}

fn stamp(date: NaiveDate) -> Stamp {
    Stamp { date, time: "12:00".into() }
}

pub(crate) async fn outbox(State(s): State<AppState>, Extension(kill): Extension<Kill>, body: Bytes) -> Response {
    if let Some(r) = faults::before(s.faults(Source::Mediconnect), &kill, server_error).await {
        return r;
    }
    let hub = &s.0.hub;
    let settings = hub.settings();
    if settings.mode == HubMode::Down {
        return (StatusCode::SERVICE_UNAVAILABLE, "sandbox: the hub is down").into_response();
    }
    let message = match medcom::parse_message(&body, Limits::default()) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a MedCom message: {e}")).into_response(),
    };
    let r = match received(message) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let envelope = r.original.envelope_identifier.clone();
    {
        let mut d = hub.deliveries.lock().expect("not poisoned");
        d.entry(envelope.clone()).or_default().posts += 1;
    }
    // A message received before: the same receipt again, not delivered again.
    if let Some(receipt) = hub.receipts.lock().expect("not poisoned").get(&envelope).cloned() {
        return faults::Answer::new(StatusCode::OK, XML, receipt).into_response();
    }
    let date = match &r.request {
        Some(f) => f.form.sent.date,
        None => NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
    };
    let receipt_id = format!("R{}", &envelope.chars().take(MAX_IDENTIFIER - 1).collect::<String>());
    let refuse = |kind: NegativeKind, from: &str, code: &str, text: &str| {
        NegativeReceipt::refusing(r.original.clone(), kind, from, receipt_id.clone(), stamp(date), code, text).to_xml()
    };
    let gp = own_gp(&r.patient);
    let receipt = if !plain(&r.original.envelope_identifier) || !plain(&r.original.letter_identifier) {
        refuse(NegativeKind::Envelope, HUB_EAN, "identifikator", "Kuvertens eller brevets identifikator er ugyldig.")
    } else if crate::find(&r.patient).is_none() {
        refuse(NegativeKind::Letter, HUB_EAN, "ukendtpatient", "Patienten kendes ikke.")
    } else if gp.as_ref().is_none_or(|g| g.ean != r.original.receiver_ean) {
        refuse(NegativeKind::Letter, HUB_EAN, "ukendtmodtager", "Modtageren er ikke patientens egen læge.")
    } else if r.attachments.iter().any(|a| !documents::attachments_of(&r.patient).iter().any(|d| &d.id == a)) {
        refuse(NegativeKind::Letter, HUB_EAN, "ukendtbilag", "Brevets bilag findes ikke i dokumentlageret.")
    } else if settings.mode == HubMode::Negative {
        refuse(
            NegativeKind::Letter,
            &r.original.receiver_ean,
            "afvist",
            "Lægens system afviste meddelelsen: patienten er ikke tilmeldt praksis.",
        )
    } else {
        let mut positive =
            Xctl03::for_letter_ids(&r.original, &r.original.receiver_ean, receipt_id.clone(), stamp(date));
        if settings.mode == HubMode::UnknownReceipt {
            positive.original.envelope_identifier = "UKENDT0000000".into();
        }
        positive.to_xml()
    };
    let accepted = gp.as_ref().is_some_and(|g| g.ean == r.original.receiver_ean) && settings.mode != HubMode::Negative;
    hub.receipts.lock().expect("not poisoned").insert(envelope.clone(), receipt.clone());
    hub.deliveries.lock().expect("not poisoned").entry(envelope.clone()).or_default().delivered += 1;
    if accepted && let (Some(request), Some(gp)) = (r.request, gp) {
        let state = s.clone();
        let delay = Duration::from_millis(settings.gp_answer_delay_ms);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let answer = lae265_answer(&request, &gp);
            let id = format!("MA{}", request.form.identifier);
            state.0.hub.answers.lock().expect("not poisoned").insert(
                id,
                Answered { cpr: request.patient.cpr, date: request.form.sent.date, bytes: answer.to_xml() },
            );
        });
    }
    if settings.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.delay_ms)).await;
    }
    if settings.mode == HubMode::AnswerLost && hub.deliveries()[&envelope].posts == 1 {
        return (StatusCode::SERVICE_UNAVAILABLE, "sandbox: the answer was lost").into_response();
    }
    if settings.mode.asynchronous() {
        let mut inbox = hub.inbox.lock().expect("not poisoned");
        if settings.mode == HubMode::StrayReceipt {
            let mut stray = Xctl03::for_letter_ids(&r.original, &r.original.receiver_ean, receipt_id, stamp(date));
            stray.original.envelope_identifier = "UKENDT0000000".into();
            inbox.push(stray.to_xml());
        }
        inbox.push(receipt.clone());
        if settings.mode == HubMode::DuplicateReceipt {
            inbox.push(receipt);
        }
        return StatusCode::ACCEPTED.into_response();
    }
    faults::Answer::new(StatusCode::OK, XML, receipt).into_response()
}

/// The synthetic GP's statement for a request.
fn lae265_answer(request: &DdbForm, gp: &GpRecord) -> DdbForm {
    let questions = request.field(lae261::QUESTIONS).unwrap_or_default();
    DdbForm {
        form: FormHeader {
            identifier: format!("A{}", request.form.identifier),
            sent: request.form.sent.clone(),
            type_code: DdbForm::LAE265.into(),
            version_code: "LÆ265-2023".into(),
            title: Some("LÆ 265 Lægeattest til rehabiliteringsteamet".into()),
        },
        sender: Party {
            ean: gp.ean.clone(),
            organisation_name: Some(gp.name.clone()),
            medical_speciality_code: Some("almenmedicin".into()),
            ..Party::default()
        },
        receiver: request.sender.clone(),
        patient: request.patient.clone(),
        fields: vec![
            UserField { name: DdbForm::ANSWERS.into(), value: request.form.identifier.clone() },
            UserField { name: "Spørgsmål".into(), value: questions.to_string() },
            UserField {
                name: "Helbredsoplysninger".into(),
                value: "Borgeren har langvarige rygsmerter og er i behandling hos egen læge.".into(),
            },
            UserField { name: "Prognose".into(), value: "Bedring forventes med et tilpasset forløb.".into() },
        ],
    }
}

pub(crate) async fn settings(State(s): State<AppState>, Json(h): Json<HubSettings>) -> StatusCode {
    s.0.hub.set(h);
    StatusCode::NO_CONTENT
}

pub(crate) async fn deliveries(State(s): State<AppState>) -> Response {
    Json(s.0.hub.deliveries()).into_response()
}
