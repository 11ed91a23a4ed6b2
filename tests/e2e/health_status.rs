//! What a caseworker reads of a message to the GP, and the hub's later receipts, with the
//! sandbox hub and `sammen serve` as real processes over TLS:
//! - the GET of an acknowledged statement request brings the GP's LÆ 265 once it has
//!   arrived, the one answering that request only (a second request of the same citizen
//!   shows none), released through the release pipeline (decision and release records);
//!   a caseworker whose role may not read the LÆ 265 sees the state and the denial reason;
//!   a caseworker of another unit, and another system, get 404; every read is recorded;
//! - receipts delivered later through the hub's inbox: one receipt, the same receipt twice
//!   (one state change, one audit record), and a receipt for a message nobody sent first
//!   (logged and ignored; the sender goes on);
//! - a letter with a document of the hub's store as attachment, and one naming a document
//!   the hub holds about another citizen (422 naming the field, recorded, nothing sent);
//! - the bad input the other health test leaves: a body that is not JSON by its type, an
//!   Idempotency-Key that is not printable ASCII, a statement request's key reused with
//!   another body.

use std::time::Duration;

use consent::Cpr;
use consent::audit::{AuditDecision, AuditKind};
use serde_json::{Value, json};

use crate::health_send::{configure_health, deliveries, get, hub, letter, post_with_key, until_state};
use crate::support::audit::read_after_graceful_stop;
use crate::support::{Env, PURPOSE, REHAB_UNIT};

const WAIT: Duration = Duration::from_secs(30);

fn citizen(i: usize) -> Cpr {
    sandbox::citizens()[i].cpr
}

/// Waits until the hub's inbox holds no unread receipt (bounded).
async fn inbox_drained(env: &Env) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = reqwest::Client::new().get(format!("{}/admin/hub/inbox", env.sandbox.admin)).send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        if v["unread"] == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "receipts left unread in the hub's inbox: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn request_body(who: &Cpr, questions: &str) -> Value {
    json!({
        "citizen": who.expose(), "purpose": PURPOSE, "questions": questions,
        "deadline": (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caseworker_reads_states_statements_and_later_receipts() {
    tokio::time::timeout(Duration::from_secs(240), run()).await.expect("within four minutes");
}

async fn run() {
    let env = Env::new(5_000);
    let (x, y) = (citizen(2), citizen(4));
    env.grant_by_cli(&x, &["health.lae265", "health.correspondence"]);
    configure_health(&env);
    let mut gw = env.start_gateway();
    let caseworker = env.token("cw-jens", REHAB_UNIT, &["jobcenter-caseworker"]);
    let officer = env.token("cw-bo", REHAB_UNIT, &["benefits-officer"]);
    let elsewhere = env.token("cw-sofie", "kk.social", &["jobcenter-caseworker"]);
    let team = env.rehab_token();
    let requests = gw.url("/api/v1/health/statement-requests");
    let letters = gw.url("/api/v1/health/letters");

    // The statement request: acknowledged, then the GP's answer in its GET.
    hub(&env, "normal", 1_000, 0).await;
    let (status, location, v) = post_with_key(&env, &requests, &caseworker, None, &request_body(&x, "Prognose?")).await;
    assert_eq!(status, 202, "{v}");
    let request_url = gw.url(&location.unwrap());
    let acked = until_state(&env, &request_url, &caseworker, "acknowledged").await;
    let envelope = acked["envelope_id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    let answered = loop {
        let (status, v) = get(&env, &request_url, &caseworker).await;
        assert_eq!(status, 200, "{v}");
        let section = &v["statement"];
        assert_eq!(section["category"], "health.lae265", "{v}");
        match section["status"].as_str().unwrap() {
            "included" => break v,
            "no_data" => assert!(section["documents"].as_array().unwrap().is_empty(), "{v}"),
            other => panic!("the statement is {other}: {v}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "the GP's statement never reached the request's state");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let docs = answered["statement"]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "only the answering statement: {answered}");
    assert_eq!(docs[0]["id"], format!("A{envelope}"));
    assert_eq!(docs[0]["kind"], "lae265");
    // The released statement is about the citizen; nothing else in the answer names them.
    let mut rest = answered.clone();
    rest["statement"]["documents"] = json!([]);
    assert!(!rest.to_string().contains(x.expose()), "the CPR number in the answer: {rest}");

    // A second request about the same citizen shows no statement: the first one's answer is
    // not its answer.
    hub(&env, "normal", 600_000, 0).await;
    let (status, location, _) = post_with_key(&env, &requests, &caseworker, None, &request_body(&x, "Igen?")).await;
    assert_eq!(status, 202);
    let second_url = gw.url(&location.unwrap());
    let second = until_state(&env, &second_url, &caseworker, "acknowledged").await;
    let (_, second) =
        get(&env, &gw.url(&format!("/api/v1/health/messages/{}", second["id"].as_str().unwrap())), &caseworker).await;
    assert_eq!(second["statement"]["status"], "no_data", "{second}");

    // A caseworker of the unit whose role may not read the LÆ 265: the state, and why not.
    let (status, v) = get(&env, &request_url, &officer).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "acknowledged");
    assert_eq!(v["statement"]["status"], "denied", "{v}");
    assert!(v["statement"]["documents"].as_array().unwrap().is_empty());
    assert!(v["statement"]["reason"]["da"].as_str().unwrap().contains("LÆ 265"), "{v}");
    // Another unit, another system: no such message.
    let id = acked["id"].as_str().unwrap();
    let (status, v) = get(&env, &request_url, &elsewhere).await;
    assert_eq!(status, 404, "{v}");
    assert!(!v.to_string().contains(id), "the id echoed: {v}");
    let r = env.client(Some(&env.pki.kk_other)).get(&request_url).bearer_auth(&caseworker).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Receipts later, through the hub's inbox: once, twice, and after a stray one.
    let mut later = Vec::new();
    for mode in ["async_receipt", "duplicate_receipt", "stray_receipt"] {
        hub(&env, mode, 0, 0).await;
        let (status, location, v) =
            post_with_key(&env, &letters, &team, None, &letter(&x, "Senere kvittering", mode)).await;
        assert_eq!(status, 202, "{v}");
        let acked = until_state(&env, &gw.url(&location.unwrap()), &team, "acknowledged").await;
        inbox_drained(&env).await;
        assert_eq!(deliveries(&env).await[acked["envelope_id"].as_str().unwrap()], (1, 1), "{mode}");
        later.push(acked["envelope_id"].as_str().unwrap().to_string());
    }
    // The sender went on: a letter after them all is acknowledged too.
    hub(&env, "normal", 0, 0).await;
    let (status, location, _) = post_with_key(&env, &letters, &team, None, &letter(&x, "Efter", "Tekst.")).await;
    assert_eq!(status, 202);
    until_state(&env, &gw.url(&location.unwrap()), &team, "acknowledged").await;

    // A letter with a document of the hub's store about the citizen as its attachment.
    let own = sandbox::hub::documents::attachments_of(&x)[0].id.clone();
    let mut body = letter(&x, "Med bilag", "Se bilaget.");
    body["attachment"] = json!(own);
    let (status, location, v) = post_with_key(&env, &letters, &team, None, &body).await;
    assert_eq!(status, 202, "{v}");
    until_state(&env, &gw.url(&location.unwrap()), &team, "acknowledged").await;

    // Bad input: problem+json naming what is wrong, nothing sent.
    let before = deliveries(&env).await.len();
    let others = sandbox::hub::documents::attachments_of(&y)[0].id.clone();
    for (attachment, name) in [(others.as_str(), "another citizen's document"), ("dok-1", "not a plain token")] {
        let mut body = letter(&x, "Med bilag", "Se bilaget.");
        body["attachment"] = json!(attachment);
        let (status, _, p) = post_with_key(&env, &letters, &team, None, &body).await;
        assert_eq!(status, 422, "{name}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("attachment"), "{name}: {p}");
    }
    let not_json = env
        .kk()
        .post(&letters)
        .bearer_auth(&team)
        .header("content-type", "text/plain")
        .body("Kære læge")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    let (status, _, p) =
        post_with_key(&env, &letters, &team, Some("nøgle med mellemrum"), &letter(&x, "Nøgle", "Tekst.")).await;
    assert_eq!(status, 422, "{p}");
    let (status, _, first) =
        post_with_key(&env, &requests, &caseworker, Some("sag-9-attest"), &request_body(&x, "Første?")).await;
    assert_eq!(status, 202, "{first}");
    let (status, _, p) =
        post_with_key(&env, &requests, &caseworker, Some("sag-9-attest"), &request_body(&x, "Anden?")).await;
    assert_eq!(status, 409, "{p}");
    let after = deliveries(&env).await.len();
    assert!(after <= before + 1, "a refused send reached the hub ({before} → {after})");

    // The log: reads recorded, the statement released once per read that showed it, one
    // acknowledgement per message however often its receipt came.
    gw.terminate();
    let view = read_after_graceful_stop(&env.data_dir).await;
    let about_x = |kind: AuditKind| view.records.iter().filter(move |r| r.citizen == Some(x) && r.kind == kind);
    let reads: Vec<_> = about_x(AuditKind::MessageRead).collect();
    assert!(reads.iter().any(|r| r.caseworker.as_deref() == Some("cw-jens")));
    assert!(reads.iter().any(|r| r.caseworker.as_deref() == Some("cw-bo")));
    assert!(!reads.iter().any(|r| r.caseworker.as_deref() == Some("cw-sofie")), "a 404 is no read");
    let released: Vec<_> = about_x(AuditKind::Release)
        .filter(|r| r.category.as_ref().is_some_and(|c| c.as_str() == "health.lae265") && r.outcome == "included")
        .collect();
    assert!(!released.is_empty());
    assert!(released.iter().all(|r| r.documents.len() == 1), "only the answering statement is released");
    assert!(
        about_x(AuditKind::Decision)
            .any(|r| r.caseworker.as_deref() == Some("cw-bo") && r.decision == Some(AuditDecision::Deny)),
        "the denied read of the statement is recorded"
    );
    for envelope in &later {
        let sent = about_x(AuditKind::MessageSent)
            .find(|r| r.detail.as_deref().is_some_and(|d| d.ends_with(envelope.as_str())))
            .expect("a sent record");
        let acks = about_x(AuditKind::MessageAcknowledged).filter(|r| r.documents == sent.documents).count();
        assert_eq!(acks, 1, "one acknowledgement of {envelope}");
    }
    assert!(
        view.records.iter().any(|r| r.kind == AuditKind::SendDecision && r.outcome == "unknown_attachment"),
        "the refused attachment is recorded"
    );
    let log = std::fs::read_to_string(env.dir.path().join("gateway.log")).unwrap();
    for who in [x, y] {
        assert!(!log.contains(who.expose()), "a CPR number in the gateway's log");
    }
    assert!(log.contains("a receipt for a message we never sent"), "the stray receipt is logged");
}
