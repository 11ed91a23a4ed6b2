//! The case file: consent requested through the API and approved by the citizen, a full
//! case file, revocation effective on the very next request, and the audit log.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use consent::audit::{AuditDecision, AuditKind};
use consent::{Actor, Channel, ConsentId};
use serde_json::json;

use crate::support::{self, CATEGORIES, Env, PURPOSE, REHAB_UNIT, case_file_body, post, statuses};

/// In-process gateway (`gateway::app::start_with_store`) sharing its store with the
/// test's ledger: the test plays the citizen (approve, revoke) while the gateway serves,
/// which a second process cannot do (sled locks the store). The sandbox is a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_requested_via_api_approved_then_revoked() {
    let env = Env::new(5_000);
    let citizen = support::rehab_citizen();
    std::fs::create_dir_all(&env.data_dir).unwrap();
    let store = consent::store::open(&consent::Engine::sled(), &env.data_dir).unwrap();
    let running = gateway::app::start_with_store(env.settings(), store.clone()).await.unwrap();
    let url = |p: &str| format!("{}{p}", running.url());
    let consents = running.consents().clone();
    let client = env.kk();
    let token = env.rehab_token();

    // The caseworker asks for consent.
    let until = Utc::now() + Duration::days(90);
    let (status, headers, body) = post(
        &client,
        &url("/api/v1/consent-requests"),
        &token,
        &json!({
            "citizen": citizen.expose(), "purpose": PURPOSE, "categories": CATEGORIES,
            "period": { "until": until }, "explanation": "Vi forbereder dit møde med rehabiliteringsteamet."
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "requested");
    assert_eq!(body["grantee"], REHAB_UNIT);
    assert_eq!(body["citizen"], citizen.masked());
    let id: ConsentId = body["id"].as_str().unwrap().parse().unwrap();
    let location = headers["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/api/v1/consent-requests/{id}"));

    let get = |token: String| {
        let client = client.clone();
        let u = url(&location);
        async move {
            let r = client.get(u).bearer_auth(token).send().await.unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, b) = get(token.clone()).await;
    assert_eq!((s.as_u16(), b["status"].as_str()), (200, Some("requested")));
    // Another unit does not see it.
    let other = env.token("cw-bo", "kk.jobcenter", &["jobcenter-caseworker"]);
    let (s, b) = get(other).await;
    assert_eq!(s, 404);
    assert_eq!(b["type"], "https://sammen.dk/problems/not-found");

    // Before the citizen answers: nothing is released.
    let file_url = url("/api/v1/case-files");
    let (s, _, file) = post(&client, &file_url, &token, &case_file_body(&citizen, &CATEGORIES)).await;
    assert_eq!(s, 200, "{file}");
    assert!(statuses(&file).iter().all(|(_, st, n)| st == "denied" && *n == 0), "{file}");

    // The citizen approves (the portal is issue 6; the test acts on the shared ledger).
    consents.approve(id, &citizen, &Actor::citizen(Channel::Portal), Utc::now()).await.unwrap();
    let (_, b) = get(token.clone()).await;
    assert_eq!(b["status"], "active");
    let (s, _, found) =
        post(&client, &url("/api/v1/consents/search"), &token, &json!({ "citizen": citizen.expose() })).await;
    assert_eq!(s, 200);
    assert_eq!(found["consents"][0]["id"], id.to_string());
    assert_eq!(found["consents"][0]["status"], "active");

    // The full case file.
    let (s, h, file) = post(&client, &file_url, &token, &case_file_body(&citizen, &CATEGORIES)).await;
    assert_eq!(s, 200, "{file}");
    let included = statuses(&file);
    assert_eq!(included.len(), CATEGORIES.len());
    for (cat, st, n) in &included {
        assert_eq!(st, "included", "{cat}: {file}");
        assert!(*n > 0, "{cat} has no documents");
    }
    for s in file["sections"].as_array().unwrap() {
        assert_eq!(s["basis"]["type"], "consent");
        assert_eq!(s["basis"]["reference"], id.to_string());
        assert!(s["policies"].as_array().unwrap().iter().any(|p| p == "consent.matching"));
        assert!(s["source"].is_string() && s["fetched_at"].is_string() && s["reason"]["da"].is_string());
    }
    assert_eq!(h["x-request-id"].to_str().unwrap(), file["request_id"].as_str().unwrap());

    // The citizen revokes: the very next request is denied.
    consents.revoke(id, &citizen, &Actor::citizen(Channel::Portal), Utc::now()).await.unwrap();
    let (s, _, file) = post(&client, &file_url, &token, &case_file_body(&citizen, &CATEGORIES)).await;
    assert_eq!(s, 200);
    assert!(statuses(&file).iter().all(|(_, st, n)| st == "denied" && *n == 0), "{file}");
    let health = &file["sections"][0];
    assert!(health["policies"].as_array().unwrap().iter().any(|p| p == "guardrail.health-needs-consent"), "{file}");

    // The audit log: the request, decisions and releases, and it verifies.
    let size = running.audit().tree_size();
    let records = running.audit().entries(0, size).await.unwrap();
    let kinds: Vec<AuditKind> = records.iter().map(|(_, r)| r.kind).collect();
    assert!(kinds.contains(&AuditKind::ConsentRequested));
    // Each change of the consent has one record naming its event: the request by the
    // caseworker's system, the approval and revocation by the citizen.
    for (version, kind) in
        [(1, AuditKind::ConsentRequested), (2, AuditKind::ConsentApproved), (3, AuditKind::ConsentRevoked)]
    {
        let subject = format!("consent:{id}.{version}");
        let named: Vec<_> = records.iter().filter(|(_, r)| r.subject.as_deref() == Some(subject.as_str())).collect();
        assert_eq!(named.len(), 1, "{subject}: {named:?}");
        assert_eq!(named[0].1.kind, kind);
        assert_eq!(named[0].1.citizen, Some(citizen));
    }
    let requested = records.iter().find(|(_, r)| r.kind == AuditKind::ConsentRequested).unwrap();
    assert_eq!(requested.1.caseworker.as_deref(), Some("cw-anna"));
    assert_eq!(requested.1.unit.as_ref().map(|u| u.as_str()), Some(REHAB_UNIT));
    // Every read of consent data is recorded: two status reads by the asking unit (the
    // other unit's 404 shows nothing and is not a read) and one search.
    let reads: Vec<_> = records.iter().filter(|(_, r)| r.kind == AuditKind::ConsentsRead).collect();
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert!(
        reads
            .iter()
            .all(|(_, r)| r.citizen == Some(citizen) && r.unit.as_ref().map(|u| u.as_str()) == Some(REHAB_UNIT))
    );
    assert_eq!(
        reads.iter().filter(|(_, r)| r.detail.as_deref().is_some_and(|d| d.starts_with("consent search"))).count(),
        1
    );
    let releases = records.iter().filter(|(_, r)| r.kind == AuditKind::Release && r.outcome == "included").count();
    assert_eq!(releases, CATEGORIES.len());
    running.shutdown().await;
    let key = gateway::app::signing_key(&env.data_dir.join("audit-signing.key"), false).unwrap();
    let report = consent::audit::verify_store(&store, &key.verifying_key()).await.unwrap();
    assert_eq!(report.tree_size, size);
}

/// Processes throughout: a consent granted with `sammen consent grant`, then `sammen
/// serve`. A full case file, a denied health section without consent, and after a
/// graceful stop: a durable release record for every included section, and the Merkle root
/// recomputed from all leaves equal to the latest signed checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_case_file_then_every_release_is_in_the_audit_log() {
    let env = Env::new(5_000);
    let citizen = support::rehab_citizen();
    let printed = env.grant_by_cli(&citizen, &CATEGORIES);
    assert!(!printed.contains(citizen.expose()), "the CLI printed a CPR number");
    let mut gw = env.start_gateway();
    let client = env.kk();
    let token = env.rehab_token();
    let url = gw.url("/api/v1/case-files");

    let mut received = Vec::new();
    let (s, _, file) = post(&client, &url, &token, &case_file_body(&citizen, &CATEGORIES)).await;
    assert_eq!(s, 200, "{file}");
    assert!(statuses(&file).iter().all(|(_, st, n)| st == "included" && *n > 0), "{file}");
    received.push(file);

    // Another citizen, no consent: the health section is denied by the guardrail.
    let other = sandbox::citizens()[0].cpr;
    let (s, _, file) = post(&client, &url, &token, &case_file_body(&other, &["health.lae265", "jobnet.cv"])).await;
    assert_eq!(s, 200, "{file}");
    let health = &file["sections"][0];
    assert_eq!(health["status"], "denied");
    assert!(health["documents"].as_array().unwrap().is_empty());
    assert!(health.get("basis").is_none());
    assert_eq!(health["policies"], json!(["guardrail.health-needs-consent"]));
    assert!(health["reason"]["en"].as_str().unwrap().contains("consent"));
    assert_eq!(file["sections"][1]["status"], "denied");
    received.push(file);

    gw.terminate();
    let log = std::fs::read_to_string(&gw.log).unwrap();
    assert!(!log.contains(citizen.expose()) && !log.contains(other.expose()), "a CPR number in the log");
    assert!(log.contains(&citizen.masked()));

    let view = support::audit::read_after_graceful_stop(&env.data_dir).await;
    assert!(view.checkpoint.is_some());
    check_released(&view.records, &received);
    // The denied health section has its decision on record.
    let denied = view.records.iter().find(|r| {
        r.kind == AuditKind::Decision
            && r.citizen == Some(other)
            && r.category.as_ref().is_some_and(|c| c.as_str() == "health.lae265")
    });
    let denied = denied.expect("a decision record for the denied section");
    assert_eq!(denied.decision, Some(AuditDecision::Deny));
    assert_eq!(denied.policies, ["guardrail.health-needs-consent"]);
    assert!(!view.records.iter().any(|r| r.kind == AuditKind::Release && r.citizen == Some(other)));
}

/// SHA-256 (hex) of a document's content as the API documents it: JSON with object keys
/// sorted at every level and no white space. Written here, apart from the connectors' code.
pub fn content_digest(content: &serde_json::Value) -> String {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    write(&map[k.as_str()], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
        }
    }
    let mut text = String::new();
    write(content, &mut text);
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// For every included section of every case file received: a durable release record of
/// the same request, category and document digests (each recomputed from the content
/// received), after a permit decision record.
pub fn check_released(records: &[consent::audit::AuditRecord], received: &[serde_json::Value]) {
    for file in received {
        let rid = file["request_id"].as_str().unwrap();
        for s in file["sections"].as_array().unwrap() {
            if s["status"] != "included" {
                continue;
            }
            let cat = s["category"].as_str().unwrap();
            let documents = s["documents"].as_array().unwrap();
            let digests: BTreeSet<String> =
                documents.iter().map(|d| d["sha256"].as_str().unwrap().to_string()).collect();
            // Each digest is recomputed here from the content received.
            for d in documents {
                assert!(d["content"].is_object(), "{rid} {cat}: a document without content: {d}");
                assert_eq!(d["sha256"].as_str().unwrap(), content_digest(&d["content"]), "{rid} {cat}: {}", d["id"]);
            }
            let of = |kind: AuditKind| {
                records.iter().position(|r| {
                    r.kind == kind && r.request_id == rid && r.category.as_ref().is_some_and(|c| c.as_str() == cat)
                })
            };
            let decision = of(AuditKind::Decision).unwrap_or_else(|| panic!("no decision record for {rid} {cat}"));
            let release = of(AuditKind::Release).unwrap_or_else(|| panic!("no release record for {rid} {cat}"));
            assert!(decision < release);
            assert_eq!(records[decision].decision, Some(AuditDecision::Permit));
            let r = &records[release];
            assert_eq!(r.outcome, "included");
            assert_eq!(r.documents.iter().cloned().collect::<BTreeSet<_>>(), digests, "{rid} {cat}");
        }
    }
}
