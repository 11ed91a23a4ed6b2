//! Messages to the citizen's own GP through the sandbox hub (a real process over TLS) from
//! `sammen serve` (a real process): the GP's statement ordered (LÆ 261), acknowledged, and
//! the LÆ 265 the synthetic GP answers appearing in the next case file; a letter sent and
//! acknowledged once under one Idempotency-Key, and the key reused with another body
//! refused; a negative receipt (`rejected` with the reason); a send without basis denied
//! and recorded; a receipt for a message nobody sent (ignored) and a lost answer (a
//! duplicate receipt, delivered once); bad input as problem+json; the hub down, then back
//! (delivered once); the
//! gateway killed (SIGKILL) while its post is at the hub, restarted, and the message
//! delivered exactly once (the hub counts posts and deliveries per envelope). At the end
//! the audit log verifies and holds each send's decision, `sent` and receipt records
//! under the citizen (what Min log shows), and no log line holds a CPR number.

use std::collections::BTreeMap;
use std::time::Duration;

use consent::Cpr;
use consent::audit::{AuditDecision, AuditKind};
use serde_json::{Value, json};

use crate::support::audit::read_after_graceful_stop;
use crate::support::{Env, PURPOSE, REHAB_UNIT, case_file_body, post};

/// Every wait for the background sender is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

fn citizen(i: usize) -> Cpr {
    sandbox::citizens()[i].cpr
}

pub(crate) async fn hub(env: &Env, mode: &str, answer_ms: u64, delay_ms: u64) {
    let r = reqwest::Client::new()
        .put(format!("{}/admin/hub", env.sandbox.admin))
        .json(&json!({ "mode": mode, "gp_answer_delay_ms": answer_ms, "delay_ms": delay_ms }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

pub(crate) async fn deliveries(env: &Env) -> BTreeMap<String, (u32, u32)> {
    let r = reqwest::Client::new().get(format!("{}/admin/hub", env.sandbox.admin)).send().await.unwrap();
    let v: BTreeMap<String, Value> = r.json().await.unwrap();
    v.into_iter()
        .map(|(k, d)| (k, (d["posts"].as_u64().unwrap() as u32, d["delivered"].as_u64().unwrap() as u32)))
        .collect()
}

pub(crate) async fn post_with_key(
    env: &Env,
    url: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let mut r = env.kk().post(url).bearer_auth(token).json(body);
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let v: Value = r.json().await.unwrap();
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{v}");
    }
    (status, location, v)
}

pub(crate) async fn get(env: &Env, url: &str, token: &str) -> (u16, Value) {
    let r = env.kk().get(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Polls a message until it is in `state` (bounded).
pub(crate) async fn until_state(env: &Env, url: &str, token: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, v) = get(env, url, token).await;
        assert_eq!(status, 200, "{v}");
        if v["state"] == state {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "not {state} within {WAIT:?}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn letter(who: &Cpr, subject: &str, text: &str) -> Value {
    json!({ "citizen": who.expose(), "purpose": PURPOSE, "subject": subject, "text": text })
}

/// Adds `[health]` to the environment's gateway configuration: the sandbox hub, short
/// leases and pauses.
pub(crate) fn configure_health(env: &Env) {
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(
        "\n[health]\nsource = \"mediconnect\"\nour_ean = \"5790000121441\"\nour_name = \"Københavns Kommune, Jobcenter\"\n\
         lease_ms = 2000\nmax_attempts = 100\nbackoff_ms = 100\npoll_ms = 50\n",
    );
    std::fs::write(&env.config, config).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_to_the_gp_are_decided_recorded_and_delivered_once() {
    tokio::time::timeout(Duration::from_secs(240), run()).await.expect("within four minutes");
}

async fn run() {
    let env = Env::new(5_000);
    let (x, y, no_gp) = (citizen(2), citizen(4), citizen(9));
    env.grant_by_cli(&x, &["health.lae265", "health.correspondence"]);
    env.grant_by_cli(&no_gp, &["health.correspondence"]);
    configure_health(&env);
    let mut gw = env.start_gateway();
    let caseworker = env.token("cw-jens", REHAB_UNIT, &["jobcenter-caseworker"]);
    let team = env.rehab_token();
    let requests = gw.url("/api/v1/health/statement-requests");
    let letters = gw.url("/api/v1/health/letters");

    // The GP's statement ordered, acknowledged, and answered into the next case file.
    hub(&env, "normal", 300, 0).await;
    let (status, location, v) = post_with_key(
        &env,
        &requests,
        &caseworker,
        None,
        &json!({
            "citizen": x.expose(), "purpose": PURPOSE,
            "questions": "Hvilke helbredsmæssige forhold har betydning for arbejdsevnen?\nHvad er prognosen?",
            "deadline": (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string(),
        }),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["kind"], "statement_request");
    let request_url = gw.url(&location.expect("a Location"));
    let acked = until_state(&env, &request_url, &caseworker, "acknowledged").await;
    let envelope = acked["envelope_id"].as_str().unwrap().to_string();
    assert!(envelope.len() <= 14, "{envelope}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, _, file) =
            post(&env.kk(), &gw.url("/api/v1/case-files"), &team, &case_file_body(&x, &["health.lae265"])).await;
        assert_eq!(status, 200, "{file}");
        let docs = file["sections"][0]["documents"].as_array().unwrap().clone();
        if docs.iter().any(|d| d["id"] == format!("A{envelope}")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the GP's statement never reached the case file");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A letter, once under its key; the key with another body is refused.
    let body = letter(&x, "Rehabiliteringsteamets indstilling", "Teamet indstiller til ressourceforløb.\nMvh. teamet");
    let (status, location, first) = post_with_key(&env, &letters, &team, Some("sag-17-indstilling"), &body).await;
    assert_eq!(status, 202, "{first}");
    let letter_url = gw.url(&location.unwrap());
    let (status, _, again) = post_with_key(&env, &letters, &team, Some("sag-17-indstilling"), &body).await;
    assert_eq!((status, &again["id"]), (200, &first["id"]), "{again}");
    let other = letter(&x, "Rehabiliteringsteamets indstilling", "En anden tekst.");
    let (status, _, p) = post_with_key(&env, &letters, &team, Some("sag-17-indstilling"), &other).await;
    assert_eq!(status, 409, "{p}");
    let acked = until_state(&env, &letter_url, &team, "acknowledged").await;
    let letter_env = acked["envelope_id"].as_str().unwrap().to_string();
    assert_eq!(deliveries(&env).await[&letter_env], (1, 1), "one post, one delivery");
    // Another system cannot read it.
    let r = env.client(Some(&env.pki.kk_other)).get(&letter_url).bearer_auth(&team).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // A negative receipt: rejected, with the receiver's reason.
    hub(&env, "negative", 0, 0).await;
    let (status, location, _) = post_with_key(&env, &letters, &team, None, &letter(&x, "Status", "Kort status.")).await;
    assert_eq!(status, 202);
    let rejected = until_state(&env, &gw.url(&location.unwrap()), &team, "rejected").await;
    assert!(rejected["reason"].as_str().unwrap().contains("afviste"), "{rejected}");
    hub(&env, "normal", 0, 0).await;

    // A receipt for a message nobody sent: logged and ignored, the message stays sent, and
    // the sender goes on. A lost answer: posted again, the same receipt a second time
    // (a duplicate receipt), delivered once.
    hub(&env, "unknown_receipt", 0, 0).await;
    let (status, location, _) = post_with_key(&env, &letters, &team, None, &letter(&x, "Ukendt", "Kvittering.")).await;
    assert_eq!(status, 202);
    let stray = until_state(&env, &gw.url(&location.unwrap()), &team, "sent").await;
    hub(&env, "answer_lost", 0, 0).await;
    let (status, location, _) = post_with_key(&env, &letters, &team, None, &letter(&x, "Tabt", "Svar tabt.")).await;
    assert_eq!(status, 202);
    let lost = until_state(&env, &gw.url(&location.unwrap()), &team, "acknowledged").await;
    assert_eq!(deliveries(&env).await[lost["envelope_id"].as_str().unwrap()], (2, 1), "{lost}");
    let (_, stray_now) =
        get(&env, &gw.url(&format!("/api/v1/health/messages/{}", stray["id"].as_str().unwrap())), &team).await;
    assert_eq!(stray_now["state"], "sent", "an unknown receipt settled a message: {stray_now}");
    hub(&env, "normal", 0, 0).await;

    // No basis: 403, recorded, nothing sent. A team member may not order the statement.
    let before = deliveries(&env).await.len();
    let (status, _, p) = post_with_key(&env, &letters, &team, None, &letter(&y, "Status", "Kort status.")).await;
    assert_eq!(status, 403, "{p}");
    assert!(!p.to_string().contains(y.expose()), "{p}");
    let (status, _, p) = post_with_key(
        &env,
        &requests,
        &team,
        None,
        &json!({
            "citizen": x.expose(), "purpose": PURPOSE, "questions": "?",
            "deadline": (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string(),
        }),
    )
    .await;
    assert_eq!(status, 403, "{p}");

    // Bad input: problem+json, nothing stored, the input never repeated.
    let not_json = env
        .kk()
        .post(&letters)
        .bearer_auth(&team)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    for (body, want) in [
        (letter(&x, "Status", "Tekst med \u{7} klokke"), 422),
        (letter(&x, "Status", &"ø".repeat(20_001)), 422),
        (letter(&x, "Linje\nskift", "Tekst"), 422),
        (letter(&x, "", "Tekst"), 422),
        (json!({ "citizen": x.expose(), "purpose": PURPOSE, "subject": "S", "text": "T", "cc": "dok-1" }), 400),
        (json!({ "citizen": x.expose(), "purpose": PURPOSE, "subject": "S", "text": "T", "attachment": "dok-1" }), 422),
        (letter(&no_gp, "Status", "Kort status."), 422),
        (json!({ "citizen": x.expose(), "purpose": PURPOSE, "questions": "?", "deadline": "2020-01-01" }), 422),
    ] {
        let url = if body.get("questions").is_some() { &requests } else { &letters };
        let token = if body.get("questions").is_some() { &caseworker } else { &team };
        let (status, _, p) = post_with_key(&env, url, token, None, &body).await;
        assert_eq!(status, want, "{p}");
        let text = p.to_string();
        assert!(!text.contains(x.expose()) && !text.contains(no_gp.expose()) && !text.contains("klokke"), "{text}");
    }
    let (status, _) = get(&env, &gw.url("/api/v1/health/messages/0190e5a4-0000-7000-8000-000000000000"), &team).await;
    assert_eq!(status, 404);
    assert_eq!(deliveries(&env).await.len(), before, "a refused send reached the hub");

    // The hub down, then back: delivered once.
    hub(&env, "down", 0, 0).await;
    let (status, location, _) = post_with_key(&env, &letters, &team, None, &letter(&x, "Igen", "Efter nedbrud.")).await;
    assert_eq!(status, 202);
    let down_url = gw.url(&location.unwrap());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, v) = get(&env, &down_url, &team).await;
        assert_eq!(v["state"], "queued", "{v}");
        if v["attempts"].as_u64().unwrap() >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no retries within {WAIT:?}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hub(&env, "normal", 0, 0).await;
    let acked = until_state(&env, &down_url, &team, "acknowledged").await;
    assert_eq!(deliveries(&env).await[acked["envelope_id"].as_str().unwrap()], (1, 1));

    // SIGKILL while the post is at the hub (which answers only after 3 s): the hub delivers
    // it, the restarted gateway posts it again after the lease, and the hub recognises it.
    hub(&env, "normal", 0, 3_000).await;
    let (status, location, _) =
        post_with_key(&env, &letters, &team, None, &letter(&x, "Kill", "Under nedlukning.")).await;
    assert_eq!(status, 202);
    let location = location.unwrap();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    gw.kill();
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    hub(&env, "normal", 0, 0).await;
    gw = env.start_gateway();
    let killed = until_state(&env, &gw.url(&location), &team, "acknowledged").await;
    let (posts, delivered) = deliveries(&env).await[killed["envelope_id"].as_str().unwrap()];
    assert_eq!(delivered, 1, "delivered exactly once");
    assert_eq!(posts, 2, "posted before the kill and again after the restart");

    // The log verifies and holds every send under the citizen, as Min log shows it.
    gw.terminate();
    let view = read_after_graceful_stop(&env.data_dir).await;
    let of =
        |who: &Cpr, kind: AuditKind| view.records.iter().filter(|r| r.citizen == Some(*who) && r.kind == kind).count();
    assert_eq!(of(&x, AuditKind::MessageSent), 7, "the request and six letters were sent");
    assert_eq!(of(&x, AuditKind::MessageAcknowledged), 5);
    assert_eq!(of(&x, AuditKind::MessageRejected), 1);
    let denied: Vec<_> = view
        .records
        .iter()
        .filter(|r| r.kind == AuditKind::SendDecision && r.decision == Some(AuditDecision::Deny))
        .collect();
    assert_eq!(denied.len(), 2, "both sends without basis are recorded");
    assert!(denied.iter().any(|r| r.citizen == Some(y)));
    let sent = view.records.iter().find(|r| r.kind == AuditKind::MessageSent).unwrap();
    assert_eq!(sent.documents.len(), 1, "the sent record names the message's digest");
    assert_eq!(sent.documents[0].len(), 64);
    assert_eq!(of(&no_gp, AuditKind::SendDecision), 1, "the permit without a GP is recorded");
    let log = std::fs::read_to_string(env.dir.path().join("gateway.log")).unwrap();
    for who in [x, y, no_gp] {
        assert!(!log.contains(who.expose()), "a CPR number in the gateway's log");
    }
}
