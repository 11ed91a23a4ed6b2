//! Revocation wins the race: a consent revoked, or a block placed, while a slow source is
//! still answering turns the section into a denial; no document of it is released, and the
//! release record says why. The gateway runs in-process (sharing its store with the test,
//! which plays the citizen); the sandbox is a process whose CV source answers after 2.5 s.

use std::time::Duration;

use chrono::Utc;
use consent::audit::{AuditKind, AuditRecord};
use consent::{Actor, BlockTarget, Category, Channel, Ledger, SharedStore};
use gateway::app::RunningGateway;
use serde_json::{Value, json};

use crate::support::{self, CATEGORIES, Env, case_file_body, post, statuses};

const SLOW_SOURCE: &str = "jobnet_cv";
const SLOW_CATEGORY: &str = "jobnet.cv";
const SOURCE_DELAY_MS: u64 = 2_500;

/// A consent for the five categories (granted before the gateway starts), the gateway
/// in-process, and the CV source slowed down.
async fn start(env: &Env) -> (RunningGateway, Ledger<SharedStore>) {
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let store = consent::store::open(&consent::Engine::sled(), &env.data_dir).unwrap();
    let running = gateway::app::start_with_store(env.settings(), store).await.unwrap();
    let ledger = running.ledger().clone();
    env.sandbox.fault(SLOW_SOURCE, Some(json!({"kind": "delay", "ms": SOURCE_DELAY_MS}))).await;
    (running, ledger)
}

/// Sends the case-file request in the background, waits (bounded) until its decisions are
/// durable, which is before any source is asked, and returns the request's task.
async fn request_in_flight(env: &Env, running: &RunningGateway) -> tokio::task::JoinHandle<(u16, Value)> {
    let before = running.audit().tree_size();
    let client = env.kk();
    let url = format!("{}/api/v1/case-files", running.url());
    let token = env.rehab_token();
    let body = case_file_body(&support::rehab_citizen(), &CATEGORIES);
    let task = tokio::spawn(async move {
        let (s, _, file) = post(&client, &url, &token, &body).await;
        (s.as_u16(), file)
    });
    let decided = async {
        loop {
            let size = running.audit().tree_size();
            let records = running.audit().entries(before, size).await.unwrap();
            if records.iter().filter(|(_, r)| r.kind == AuditKind::Decision).count() == CATEGORIES.len() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), decided).await.expect("the decisions were recorded within 5 s");
    task
}

async fn answer(task: tokio::task::JoinHandle<(u16, Value)>) -> Value {
    let (status, file) =
        tokio::time::timeout(Duration::from_secs(20), task).await.expect("an answer within 20 s").unwrap();
    assert_eq!(status, 200, "{file}");
    file
}

async fn release_records(running: &RunningGateway, request_id: &str) -> Vec<AuditRecord> {
    let size = running.audit().tree_size();
    let all = running.audit().entries(0, size).await.unwrap();
    all.into_iter().map(|(_, r)| r).filter(|r| r.kind == AuditKind::Release && r.request_id == request_id).collect()
}

fn section<'a>(file: &'a Value, category: &str) -> &'a Value {
    file["sections"].as_array().unwrap().iter().find(|s| s["category"] == category).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_revoked_while_a_source_is_slow_releases_nothing() {
    let env = Env::new(10_000);
    let citizen = support::rehab_citizen();
    let (running, ledger) = start(&env).await;
    let id = ledger.consents_of(&citizen).await.unwrap()[0].id;

    let task = request_in_flight(&env, &running).await;
    // The CV source is still answering: the citizen revokes.
    running.consents().revoke(id, &citizen, &Actor::citizen(Channel::Portal), Utc::now()).await.unwrap();
    let file = answer(task).await;

    // Every section rested on the revoked consent: all are denied, none has a document.
    for (cat, status, docs) in statuses(&file) {
        assert_eq!((status.as_str(), docs), ("denied", 0), "{cat}: {file}");
        let s = section(&file, &cat);
        assert_eq!(s["reason"]["da"], "Samtykket blev trukket tilbage, mens oplysningerne blev hentet.", "{s}");
        assert_eq!(s["reason"]["en"], "The consent was withdrawn while the data was being fetched.");
        assert!(s["basis"].is_null(), "{s}");
    }
    let releases = release_records(&running, file["request_id"].as_str().unwrap()).await;
    assert_eq!(releases.len(), CATEGORIES.len(), "{releases:?}");
    for r in &releases {
        assert_eq!(r.outcome, "denied", "{r:?}");
        assert!(r.documents.is_empty(), "{r:?}");
        let detail = r.detail.as_deref().unwrap();
        assert!(detail.contains(&format!("consent {id}")) && detail.contains("no longer in force"), "{detail}");
    }
    // The slow source was asked: the decision came before the revocation.
    let cv = releases.iter().find(|r| r.category.as_ref().map(Category::as_str) == Some(SLOW_CATEGORY)).unwrap();
    assert!(cv.detail.as_deref().unwrap().starts_with("source jobnet_cv"), "{cv:?}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_placed_while_a_source_is_slow_denies_that_section_only() {
    let env = Env::new(10_000);
    let citizen = support::rehab_citizen();
    let (running, _) = start(&env).await;

    let task = request_in_flight(&env, &running).await;
    let cv: Category = SLOW_CATEGORY.parse().unwrap();
    let portal = Actor::citizen(Channel::Portal);
    let block = running.consents().place_block(&citizen, BlockTarget::Category(cv), &portal, Utc::now()).await.unwrap();
    let file = answer(task).await;

    for (cat, status, docs) in statuses(&file) {
        if cat == SLOW_CATEGORY {
            assert_eq!((status.as_str(), docs), ("denied", 0), "{file}");
            let s = section(&file, &cat);
            assert_eq!(s["reason"]["en"], "The citizen placed a block while the data was being fetched.", "{s}");
        } else {
            // The consent still holds for the other categories.
            assert_eq!(status, "included", "{cat}: {file}");
            assert!(docs > 0, "{cat}");
        }
    }
    let releases = release_records(&running, file["request_id"].as_str().unwrap()).await;
    let denied: Vec<_> = releases.iter().filter(|r| r.outcome == "denied").collect();
    assert_eq!(denied.len(), 1, "{releases:?}");
    assert_eq!(denied[0].category.as_ref().map(Category::as_str), Some(SLOW_CATEGORY));
    assert!(denied[0].documents.is_empty());
    assert!(denied[0].detail.as_deref().unwrap().contains(&format!("block {}", block.id)), "{:?}", denied[0]);
    running.shutdown().await;
}
