//! Consents signed on paper, brought in by a caseworker system (`POST
//! /api/v1/paper-consents`, in-process gateway with the sandbox process's sources and
//! mailbox and the sandbox broker): active at once (a case file includes the data), shown
//! "på papir" to the citizen, who gets a letter and confirms it digitally in the portal;
//! audited at every step. A period over the cap, an unknown unit, a CPR number as the scan
//! reference and a system not allowed are refused, audited, and change nothing.

use chrono::Utc;
use consent::audit::{AuditFilter, AuditKind};
use consent::{Channel, State};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::portal::{get, post_form};
use crate::representation::{letters, rig};
use crate::support::{PURPOSE, REHAB_UNIT, post};

fn body(citizen: &consent::Cpr, days: i64, unit: &str, reference: &str) -> Value {
    json!({
        "citizen": citizen.expose(), "unit": unit, "purpose": PURPOSE, "categories": ["jobcenter.case"],
        "period": { "until": Utc::now() + chrono::Duration::days(days) },
        "scan": { "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "reference": reference },
        "text": "Jeg giver Rehabiliteringsteamet lov til at indhente min jobcentersag.", "text_version": "blanket-7"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_consent_is_active_at_once_told_confirmed_and_refusals_are_audited() {
    let r = rig().await;
    let me = sandbox::citizens::cpr_of(0);
    let api = |p: &str| format!("{}{p}", r.running.url());
    let (kk, token) = (r.env.kk(), r.env.rehab_token());

    // Registered: active at once, to be confirmed within the configured period.
    let (status, _, v) =
        post(&kk, &api("/api/v1/paper-consents"), &token, &body(&me, 90, REHAB_UNIT, "SCAN-2026/00042")).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!((v["status"].as_str(), v["channel"].as_str()), (Some("active"), Some("paper")), "{v}");
    let id: consent::ConsentId = v["id"].as_str().unwrap().parse().unwrap();
    let c = r.running.ledger().consent(id).await.unwrap();
    assert_eq!((c.state, c.channel), (State::Active, Channel::Paper));
    let p = c.paper.clone().expect("the paper record");
    assert_eq!((p.scan_reference.as_str(), p.registered_by.caseworker.as_str()), ("SCAN-2026/00042", "cw-anna"));
    let days = (p.confirm_by - Utc::now()).num_days();
    assert!((29..=30).contains(&days), "{days}");
    assert!(c.awaits_confirmation());

    // A case file includes the data on it at once.
    let file = json!({ "citizen": me.expose(), "purpose": PURPOSE, "categories": ["jobcenter.case"], "case_reference": "sag-1" });
    let (status, _, f) = post(&kk, &api("/api/v1/case-files"), &token, &file).await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["sections"][0]["status"], "included", "{f}");
    assert_eq!(f["sections"][0]["basis"]["reference"], id.to_string(), "{f}");
    // The decision says the basis is a paper consent within its confirmation period.
    assert_eq!(f["sections"][0]["policies"], json!(["consent.paper"]), "{f}");
    assert!(f["sections"][0]["reason"]["da"].as_str().unwrap().contains("på papir"), "{f}");

    // Audited with the scan's digest and who registered it.
    let all = r
        .running
        .audit()
        .query(&AuditFilter { citizen: Some(me), ..Default::default() }, None, 1_000)
        .await
        .unwrap()
        .records;
    let reg = all.iter().find(|(_, x)| x.kind == AuditKind::ConsentRegisteredFromPaper).expect("the record").1.clone();
    assert_eq!(reg.documents, std::slice::from_ref(&p.scan_sha256));
    assert_eq!((reg.system.as_deref(), reg.caseworker.as_deref()), (Some("kk-sagssystem"), Some("cw-anna")));

    // The citizen is told and asked to confirm by the deadline.
    let got = letters(&r.env, &me, "Bekræft dit samtykke på papir", 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].message.body.contains("Bekræft det senest"), "{}", got[0].message.body);

    // The portal marks it "på papir"; the citizen confirms it.
    let c = r.login(0).await;
    let home = get(&c, &r.url("/")).await;
    assert!(home.body.contains("På papir."), "{}", home.body);
    let page = get(&c, &r.url(&format!("/consents/{id}"))).await;
    assert!(page.body.contains("Samtykket er givet på papir"), "{}", page.body);
    let csrf = r.csrf(&c).await;
    let a = post_form(&c, &r.url(&format!("/consents/{id}/confirm")), &[("csrf", &csrf)]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let confirmed = r.running.ledger().consent(id).await.unwrap();
    assert!(!confirmed.awaits_confirmation() && confirmed.effective_until() == confirmed.terms.period.until);
    // A second confirmation is refused and changes nothing.
    let a = post_form(&c, &r.url(&format!("/consents/{id}/confirm")), &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(r.running.ledger().consent(id).await.unwrap().version, confirmed.version);
    let all = r
        .running
        .audit()
        .query(&AuditFilter { citizen: Some(me), ..Default::default() }, None, 1_000)
        .await
        .unwrap()
        .records;
    assert_eq!(all.iter().filter(|(_, x)| x.kind == AuditKind::ConsentConfirmed).count(), 1);
    // Min log says it.
    let log = get(&c, &r.url("/log")).await;
    assert!(log.body.contains("registrerede et samtykke, du har skrevet under på papir"), "{}", log.body);

    // Bad input: each refused, audited as a refusal, nothing changed.
    let other = sandbox::citizens::cpr_of(6);
    let refusals_before = |all: &[(u64, consent::audit::AuditRecord)]| {
        all.iter().filter(|(_, x)| x.kind == AuditKind::RequestRefused).count()
    };
    let q = AuditFilter { citizen: Some(other), ..Default::default() };
    let before = refusals_before(&r.running.audit().query(&q, None, 1_000).await.unwrap().records);
    let cases = [
        (kk.clone(), body(&other, 500, REHAB_UNIT, "SCAN-1"), 422, "invalid-request", "at most"),
        (kk.clone(), body(&other, 90, "kk.ukendt", "SCAN-1"), 422, "invalid-request", "unit"),
        (kk.clone(), body(&other, 90, REHAB_UNIT, other.expose()), 422, "invalid-request", "scan"),
        (
            r.env.client(Some(&r.env.pki.kk_other)),
            body(&other, 90, REHAB_UNIT, "SCAN-1"),
            403,
            "paper-not-allowed",
            "paper",
        ),
    ];
    let n = cases.len();
    for (client, b, want, slug, says) in cases {
        let (status, _, p) = post(&client, &api("/api/v1/paper-consents"), &token, &b).await;
        assert_eq!(status.as_u16(), want, "{p}");
        assert!(p["type"].as_str().unwrap().ends_with(slug), "{p}");
        assert!(p["detail"].as_str().unwrap_or_default().contains(says), "{p}");
        assert!(!p.to_string().contains(other.expose()), "a problem repeats the CPR number: {p}");
    }
    assert!(r.running.ledger().consents_of(&other).await.unwrap().is_empty(), "nothing registered");
    let after = refusals_before(&r.running.audit().query(&q, None, 1_000).await.unwrap().records);
    assert_eq!(after - before, n, "each refusal is audited");
    r.running.shutdown().await;
}
