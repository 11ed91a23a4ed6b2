//! The municipality of residence from the sandbox's person register (a real process over
//! TLS): the statute of retssikkerhedsloven § 11 a, stk. 2 lets a benefits officer of
//! Københavns Kommune read `jobcenter.benefits` without consent for a citizen living in
//! København, not for one living in Aarhus, not when the register is down or answers about
//! another person; after a move in the register the result flips. A citizen with address
//! protection is served like any other, and neither the answer nor the log shows where
//! they live.

use std::time::Duration;

use consent::Cpr;
use serde_json::{Value, json};

use crate::support::{Env, post};

const STATUTE: &str = "retssikkerhedsloven § 11 a, stk. 2";

/// A citizen with benefit payments, living in `code`, with or without address protection.
fn citizen(code: &str, protected: bool) -> &'static sandbox::Citizen {
    sandbox::citizens()
        .iter()
        .find(|c| c.benefits.is_some() && c.municipality_code == code && c.address_protection == protected)
        .unwrap_or_else(|| panic!("the sandbox has a citizen with benefits in {code} (protected: {protected})"))
}

async fn benefits(env: &Env, url: &str, token: &str, who: &Cpr) -> Value {
    let body = json!({
        "citizen": who.expose(), "purpose": "benefit-administration",
        "categories": ["jobcenter.benefits"], "case_reference": "ydelse-2026-3"
    });
    let (status, _, file) = post(&env.kk(), url, token, &body).await;
    assert_eq!(status, 200, "{file}");
    file["sections"][0].clone()
}

fn permitted_by_statute(section: &Value) -> bool {
    section["status"] == "included"
        && section["basis"]["type"] == "statute"
        && section["basis"]["reference"] == STATUTE
        && !section["documents"].as_array().unwrap().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statute_applies_in_the_citizens_own_municipality_only() {
    tokio::time::timeout(Duration::from_secs(120), run()).await.expect("within two minutes");
}

async fn run() {
    let env = Env::new(5_000);
    let gw = env.start_gateway();
    let url = gw.url("/api/v1/case-files");
    let officer = env.token("cw-bo", "kk.jobcenter.ydelse", &["benefits-officer"]);
    let in_kk = citizen("0101", false);
    let in_aarhus = citizen("0751", false);
    let protected = citizen("0101", true);

    // Lives in København, the officer's municipality: permitted, no consent needed.
    let s = benefits(&env, &url, &officer, &in_kk.cpr).await;
    assert!(permitted_by_statute(&s), "{s}");

    // Lives in Aarhus: denied, nothing fetched.
    let s = benefits(&env, &url, &officer, &in_aarhus.cpr).await;
    assert_eq!(s["status"], "denied", "{s}");
    assert!(s["documents"].as_array().unwrap().is_empty());
    assert!(s.get("detail").is_none(), "the register answered: {s}");

    // Moves to København: the very next request is permitted; and back again.
    env.sandbox.move_citizen(&in_aarhus.cpr, "0101").await;
    assert!(permitted_by_statute(&benefits(&env, &url, &officer, &in_aarhus.cpr).await));
    env.sandbox.move_citizen(&in_aarhus.cpr, "0751").await;
    assert_eq!(benefits(&env, &url, &officer, &in_aarhus.cpr).await["status"], "denied");

    // Address protection: still the municipality's own citizen, but where they live is
    // nowhere in the answer.
    let s = benefits(&env, &url, &officer, &protected.cpr).await;
    assert!(permitted_by_statute(&s), "{s}");
    let text = s.to_string();
    for hidden in ["\"municipality", "kommunekode", "0101", protected.street.as_str(), protected.post_code.as_str()] {
        assert!(!text.contains(hidden), "{hidden:?} in {text}");
    }

    // The register down, or answering about someone else: the municipality is unknown and
    // the statute cannot apply (fail closed); the benefits source itself is fine.
    for fault in [json!({"kind": "http500"}), json!({"kind": "wrong_patient"}), json!({"kind": "connection_reset"})] {
        env.sandbox.fault("cpr", Some(fault.clone())).await;
        let s = benefits(&env, &url, &officer, &in_kk.cpr).await;
        assert_eq!(s["status"], "denied", "{fault}: {s}");
        assert!(s["documents"].as_array().unwrap().is_empty());
        assert!(s["detail"].as_str().unwrap().contains("municipality of residence could not be looked up"), "{s}");
    }
    env.sandbox.clear_faults().await;
    assert!(permitted_by_statute(&benefits(&env, &url, &officer, &in_kk.cpr).await), "back up");

    // The register was asked once per request (no cache configured), never with the CPR
    // number in the path.
    let visits = env.sandbox.visits().await;
    let asked: Vec<_> = visits.iter().filter(|v| v.source == "cpr").collect();
    assert!(asked.len() >= 9, "{asked:?}");
    assert!(asked.iter().all(|v| v.path == "/cpr/v1/person"), "{asked:?}");

    // The gateway's log names no citizen and no protected address; the failures were logged.
    drop(gw);
    let log = std::fs::read_to_string(env.dir.path().join("gateway.log")).unwrap();
    for c in [in_kk, in_aarhus, protected] {
        assert!(!log.contains(c.cpr.expose()), "a CPR number in the log");
    }
    assert!(!log.contains(protected.street.as_str()));
    assert!(log.contains("municipality is unknown"), "the failed lookups are logged");
}
