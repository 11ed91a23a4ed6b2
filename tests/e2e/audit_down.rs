//! The audit log down (invariant 1: nothing leaves without a durable audit record). The
//! gateway runs in-process over a store wrapped in `FaultyStore`, which the test switches:
//!
//! - audit appends failing before the request: 503 problem+json, no section, and after
//!   healing no `release` record of that request;
//! - audit appends failing after the request's decisions are durable, while a slow source
//!   answers: the sources were asked, yet the answer is 503 with no document; after healing
//!   no `release` record of that request exists and the log verifies.
//!
//! - audit appends failing before a write to the coordinated plan: 503, the plan service is
//!   never asked; healed, the same write goes through against the same version.
//!
//! None is a hang: each answer arrives within a bound.

use std::sync::Arc;
use std::time::Duration;

use consent::SharedStore;
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::store::SledStore;
use consent::store::faulty::{Faults, FaultyStore, Op};
use gateway::app::RunningGateway;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::{self, CATEGORIES, Env, case_file_body, post};

const SLOW_SOURCE: &str = "jobnet_cv";
const SOURCE_DELAY_MS: u64 = 2_000;
/// Every answer, failing or not, arrives within this.
const ANSWER_BOUND: Duration = Duration::from_secs(20);

/// A consent for the five categories (granted before the gateway starts), and the gateway
/// in-process over a faulty wrapper of the sled store.
async fn start(env: &Env) -> (RunningGateway, Faults, SharedStore) {
    env.grant_by_cli(&support::rehab_citizen(), &CATEGORIES);
    // Where `consent::store::open` keeps the sled store of a data directory.
    let faulty = FaultyStore::new(SledStore::open(&env.data_dir.join("store")).unwrap());
    let faults = faulty.faults();
    let store: SharedStore = Arc::new(faulty);
    let running = gateway::app::start_with_store(env.settings(), store.clone()).await.unwrap();
    (running, faults, store)
}

/// Posts the case file; the answer must come within [`ANSWER_BOUND`].
async fn case_file(env: &Env, running: &RunningGateway) -> (StatusCode, HeaderMap, Value) {
    let url = format!("{}/api/v1/case-files", running.url());
    let body = case_file_body(&support::rehab_citizen(), &CATEGORIES);
    tokio::time::timeout(ANSWER_BOUND, post(&env.kk(), &url, &env.rehab_token(), &body))
        .await
        .expect("an answer within the bound, not a hang")
}

/// The answer is the audit-unavailable problem, and carries no section or document.
fn assert_audit_unavailable(status: StatusCode, headers: &HeaderMap, body: &Value) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/problem+json"), "{headers:?}");
    assert!(body.is_object(), "{body}");
    assert!(body.get("sections").is_none() && body.get("documents").is_none(), "{body}");
    assert!(!body.to_string().contains("\"documents\""), "{body}");
}

fn request_id(headers: &HeaderMap) -> String {
    headers[gateway::http::request_id::HEADER].to_str().unwrap().to_string()
}

async fn records_of(running: &RunningGateway, request_id: &str) -> Vec<AuditRecord> {
    let size = running.audit().tree_size();
    let all = running.audit().entries(0, size).await.unwrap();
    all.into_iter().map(|(_, r)| r).filter(|r| r.request_id == request_id).collect()
}

async fn verify(env: &Env, store: &SharedStore) {
    let key = gateway::app::signing_key(&env.data_dir.join("audit-signing.key"), false).unwrap();
    consent::audit::verify_store(store, &key.verifying_key()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_appends_failing_before_the_request_answer_503_and_release_nothing() {
    let env = Env::new(10_000);
    let (running, faults, store) = start(&env).await;

    faults.fail(Op::AuditAppend);
    let (status, headers, body) = case_file(&env, &running).await;
    assert_audit_unavailable(status, &headers, &body);
    assert!(faults.calls(Op::AuditAppend) > 0, "the pipeline tried to record");
    let id = request_id(&headers);

    faults.heal_everything();
    let records = records_of(&running, &id).await;
    assert!(records.iter().all(|r| r.kind != AuditKind::Release), "{records:?}");
    verify(&env, &store).await;

    // Healed, the gateway releases again.
    let (status, _, file) = case_file(&env, &running).await;
    assert_eq!(status, 200, "{file}");
    assert!(support::statuses(&file).iter().all(|(_, s, n)| s == "included" && *n > 0), "{file}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_appends_failing_while_a_source_is_slow_release_nothing() {
    let env = Env::new(10_000);
    let (running, faults, store) = start(&env).await;
    env.sandbox.fault(SLOW_SOURCE, Some(json!({"kind": "delay", "ms": SOURCE_DELAY_MS}))).await;

    let before = running.audit().tree_size();
    let client = env.kk();
    let url = format!("{}/api/v1/case-files", running.url());
    let token = env.rehab_token();
    let body = case_file_body(&support::rehab_citizen(), &CATEGORIES);
    let task = tokio::spawn(async move { post(&client, &url, &token, &body).await });

    // Wait (bounded) until the request's decisions are durable: the sources are asked next.
    let decided = async {
        loop {
            let size = running.audit().tree_size();
            let records = running.audit().entries(before, size).await.unwrap();
            let decisions: Vec<AuditRecord> =
                records.into_iter().map(|(_, r)| r).filter(|r| r.kind == AuditKind::Decision).collect();
            if decisions.len() == CATEGORIES.len() {
                return decisions;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let decisions =
        tokio::time::timeout(Duration::from_secs(5), decided).await.expect("the decisions were recorded within 5 s");
    // Every category was permitted: each source, the slow one too, is asked.
    assert!(decisions.iter().all(|r| r.decision == Some(AuditDecision::Permit)), "{decisions:?}");
    faults.fail(Op::AuditAppend);
    let appends_before = faults.calls(Op::AuditAppend);

    let (status, headers, answer) =
        tokio::time::timeout(ANSWER_BOUND, task).await.expect("an answer within the bound, not a hang").unwrap();
    assert_audit_unavailable(status, &headers, &answer);
    assert!(faults.calls(Op::AuditAppend) > appends_before, "the release was attempted after the fetch");
    let id = request_id(&headers);
    assert!(decisions.iter().all(|r| r.request_id == id), "{decisions:?}");

    faults.heal_everything();
    let records = records_of(&running, &id).await;
    assert_eq!(records.iter().filter(|r| r.kind == AuditKind::Decision).count(), CATEGORIES.len(), "{records:?}");
    assert!(records.iter().all(|r| r.kind != AuditKind::Release), "{records:?}");
    verify(&env, &store).await;
    running.shutdown().await;
}

/// A write to the coordinated plan while the audit log fails: 503 problem+json, and the
/// plan service is never asked (the decision could not be recorded, so nothing is
/// written); healed, the same write goes through against the same version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_write_while_the_audit_log_fails_writes_nothing() {
    let env = Env::new(10_000);
    let citizen = support::rehab_citizen();
    crate::plan::grant_to_kk(&env, &citizen, &["plan"]);
    let faulty = FaultyStore::new(SledStore::open(&env.data_dir.join("store")).unwrap());
    let faults = faulty.faults();
    let store: SharedStore = Arc::new(faulty);
    let running = gateway::app::start_with_store(env.settings(), store.clone()).await.unwrap();
    let url = format!("{}/api/v1/plans/efforts", running.url());
    let token = env.token("cw-sofie", "kk.social", &["social-caseworker"]);
    let body = json!({ "citizen": citizen.expose(), "purpose": "coordinated-plan", "version": 1,
                       "effort": { "id": "e-2", "title": "Støtte i hjemmet", "from": "2025-04-01" } });
    let changes = |visits: Vec<sandbox::visits::Visit>| {
        visits.iter().filter(|v| v.source == "plan" && v.path == connectors::plan::CHANGE_PATH).count()
    };

    faults.fail(Op::AuditAppend);
    let (status, headers, answer) =
        tokio::time::timeout(ANSWER_BOUND, post(&env.kk(), &url, &token, &body)).await.expect("an answer in time");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    assert_eq!(answer["type"], "https://sammen.dk/problems/audit-unavailable");
    assert_eq!(changes(env.sandbox.visits().await), 0, "nothing was sent to the plan service");

    faults.heal_everything();
    let (status, _, answer) = post(&env.kk(), &url, &token, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["version"], 2, "the failed attempt wrote nothing");
    assert_eq!(changes(env.sandbox.visits().await), 1);
    let records = records_of(&running, answer["request_id"].as_str().unwrap()).await;
    let kinds: Vec<AuditKind> = records.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [AuditKind::WriteDecision, AuditKind::Write, AuditKind::WriteResult]);
    verify(&env, &store).await;
    running.shutdown().await;
}
