//! The shared overview ("glasplade") and the coordinated plan ("én plan") end to end: the
//! sandbox's departments and plan service and the gateway as real processes over real TLS.
//!
//! - the overview: per department its summary, decided per category, a source that is down
//!   costs only its own part, no summary without a basis, all of it in the audit log;
//! - the plan: read by two departments, each writes its own effort, a stale version is 409
//!   naming the newer one, another department's effort is refused (403), a write without
//!   basis is refused and recorded with nothing written, oversized or malformed elements
//!   are 422 naming the field, a plan service answering about another citizen is refused.

use consent::Cpr;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, Env, post};

const PURPOSE: &str = "coordinated-plan";
const SUMMARIES: [&str; 3] = ["jobcenter.summary", "social.summary", "health.summary"];
const SOCIAL_UNIT: &str = "kk.social";

/// Grants `categories` for `purpose` to all of Københavns Kommune (every unit below it)
/// through `sammen consent grant` (the gateway must not be running).
pub(crate) fn grant_to_kk(env: &Env, citizen: &Cpr, categories: &[&str]) {
    use std::io::Write;
    let mut cmd = support::procs::sammen();
    cmd.arg("consent").arg("--config").arg(&env.config).arg("--data-dir").arg(&env.data_dir).arg("grant").args([
        "--unit",
        "kk",
        "--include-subunits",
        "--purpose",
        PURPOSE,
        "--months",
        "6",
    ]);
    for c in categories {
        cmd.args(["--category", c]);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", citizen.expose()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn rehab(env: &Env) -> String {
    env.rehab_token()
}

fn social(env: &Env) -> String {
    env.token("cw-sofie", SOCIAL_UNIT, &["social-caseworker"])
}

/// A second citizen in a resource programme (with a plan), other than citizen 7.
fn other_rehab_citizen() -> Cpr {
    let seven = support::rehab_citizen();
    sandbox::citizens()
        .iter()
        .find(|c| c.profile == sandbox::Profile::Rehabilitation && c.cpr != seven)
        .map(|c| c.cpr)
        .expect("more than one citizen in a resource programme")
}

fn part<'a>(overview: &'a Value, category: &str) -> &'a Value {
    overview["departments"].as_array().unwrap().iter().find(|d| d["category"] == category).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_each_department_and_one_source_down_costs_only_its_part() {
    let env = Env::new(10_000);
    let citizen = support::rehab_citizen();
    grant_to_kk(&env, &citizen, &SUMMARIES);
    let mut gw = env.start_gateway();
    let kk = env.kk();
    let url = gw.url("/api/v1/overviews");
    let body = json!({ "citizen": citizen.expose(), "purpose": PURPOSE });

    // Every department answers: its unit, contact, measures, appointments and open cases.
    let (status, headers, o) = post(&kk, &url, &rehab(&env), &body).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["request_id"], headers["x-request-id"].to_str().unwrap());
    let cats: Vec<&str> =
        o["departments"].as_array().unwrap().iter().map(|d| d["category"].as_str().unwrap()).collect();
    assert_eq!(cats, SUMMARIES);
    for c in SUMMARIES {
        let p = part(&o, c);
        assert_eq!(p["status"], "included", "{c}: {p}");
        assert_eq!(p["basis"]["type"], "consent");
        assert!(p["summary"]["responsibleUnit"].as_str().is_some_and(|u| !u.is_empty()), "{p}");
        assert!(p["summary"]["contact"]["name"].is_string(), "{p}");
    }
    let jc = &part(&o, "jobcenter.summary")["summary"];
    assert!(!jc["openCases"].as_array().unwrap().is_empty() && !jc["appointments"].as_array().unwrap().is_empty());
    assert!(!part(&o, "social.summary")["summary"]["measures"].as_array().unwrap().is_empty());
    assert!(!o.to_string().contains(citizen.expose()), "the answer does not repeat the CPR number");

    // The social services down: their part is `unavailable`, the others are still shown.
    env.sandbox.fault("social", Some(json!({"kind": "http500"}))).await;
    let (status, _, o) = post(&kk, &url, &social(&env), &body).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(part(&o, "social.summary")["status"], "unavailable", "{o}");
    assert!(part(&o, "social.summary").get("summary").is_none());
    assert_eq!(part(&o, "jobcenter.summary")["status"], "included");
    assert_eq!(part(&o, "health.summary")["status"], "included");
    env.sandbox.clear_faults().await;

    // A summary that answers about another citizen is refused like a wrong patient.
    env.sandbox.fault("jobcenter", Some(json!({"kind": "wrong_patient"}))).await;
    let (_, _, o) = post(&kk, &url, &rehab(&env), &body).await;
    assert_eq!(part(&o, "jobcenter.summary")["status"], "invalid_response", "{o}");
    env.sandbox.clear_faults().await;

    // No summary without a basis: knowing that a department works with the citizen is
    // itself information about them.
    let other = other_rehab_citizen();
    let (status, _, o) = post(&kk, &url, &rehab(&env), &json!({ "citizen": other.expose(), "purpose": PURPOSE })).await;
    assert_eq!(status, StatusCode::OK);
    for c in SUMMARIES {
        assert_eq!(part(&o, c)["status"], "denied", "{c}: {o}");
        assert!(part(&o, c).get("summary").is_none());
    }
    // A benefits officer takes no part in the coordinated effort: denied by the role gate.
    let officer = env.token("cw-bo", "kk.jobcenter.ydelse", &["benefits-officer"]);
    let (_, _, o) = post(&kk, &url, &officer, &body).await;
    assert!(SUMMARIES.iter().all(|c| part(&o, c)["status"] == "denied"), "{o}");

    // Sources are never asked with the CPR number in the URL.
    assert!(env.sandbox.visits().await.iter().all(|v| !v.url_holds_cpr), "a summary URL held a CPR number");

    // Every part is in the audit log: a decision and, when fetched, a release with the
    // summary's digest.
    gw.terminate();
    let view = support::audit::read_and_verify(&env.data_dir).await;
    let summaries = |kind: consent::audit::AuditKind| {
        view.records
            .iter()
            .filter(|r| r.kind == kind && r.category.as_ref().is_some_and(|c| c.as_str().ends_with(".summary")))
            .count()
    };
    assert_eq!(summaries(consent::audit::AuditKind::Decision), 5 * 3);
    assert_eq!(summaries(consent::audit::AuditKind::Release), 3 * 3, "no release without a permit");
}

async fn read_plan(env: &Env, gw: &support::Gateway, token: &str, citizen: &Cpr) -> (StatusCode, Value) {
    let (status, _, body) = post(
        &env.kk(),
        &gw.url("/api/v1/plans/read"),
        token,
        &json!({ "citizen": citizen.expose(), "purpose": PURPOSE }),
    )
    .await;
    (status, body)
}

async fn write_effort(
    env: &Env,
    gw: &support::Gateway,
    token: &str,
    citizen: &Cpr,
    version: u64,
    effort: Value,
) -> (StatusCode, Value) {
    let (status, headers, body) = post(
        &env.kk(),
        &gw.url("/api/v1/plans/efforts"),
        token,
        &json!({ "citizen": citizen.expose(), "purpose": PURPOSE, "version": version, "effort": effort }),
    )
    .await;
    if !status.is_success() {
        assert_eq!(headers["content-type"], "application/problem+json", "{body}");
    }
    (status, body)
}

fn changes(visits: &[sandbox::visits::Visit]) -> usize {
    visits.iter().filter(|v| v.source == "plan" && v.path == connectors::plan::CHANGE_PATH).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_departments_read_and_write_the_plan_with_a_version_conflict_and_refusals() {
    let env = Env::new(10_000);
    let citizen = support::rehab_citizen();
    grant_to_kk(&env, &citizen, &["plan"]);
    let mut gw = env.start_gateway();
    let (jc, so) = (rehab(&env), social(&env));

    // Both departments read the same plan, version 1, with both departments' efforts.
    let (status, p) = read_plan(&env, &gw, &jc, &citizen).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["section"]["status"], "included", "{p}");
    assert_eq!(p["version"], 1);
    let plan = &p["section"]["documents"][0]["content"];
    let owners: Vec<&str> = plan["efforts"].as_array().unwrap().iter().map(|e| e["unit"].as_str().unwrap()).collect();
    assert_eq!(owners, ["kk.jobcenter.rehab", "kk.social"]);
    assert!(!p.to_string().contains(citizen.expose()), "the plan as released holds no CPR number");
    let (_, p) = read_plan(&env, &gw, &so, &citizen).await;
    assert_eq!(p["version"], 1);

    // The job centre updates its own effort against version 1.
    let effort = |id: &str, title: &str| json!({ "id": id, "title": title, "description": "Aftalt med borgeren.", "from": "2025-04-01", "to": "2025-12-31" });
    let (status, w) = write_effort(&env, &gw, &jc, &citizen, 1, effort("e-1", "Virksomhedspraktik med mentor")).await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["version"], 2);
    assert_eq!(w["element"], "e-1");
    assert_eq!(w["change_sha256"].as_str().unwrap().len(), 64);

    // The social services, still on version 1: 409 naming version 2, nothing written.
    let before = changes(&env.sandbox.visits().await);
    let (status, problem) = write_effort(&env, &gw, &so, &citizen, 1, effort("e-2", "Støtte i hjemmet")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "https://sammen.dk/problems/version-conflict");
    assert!(problem["detail"].as_str().unwrap().contains("version 2"), "{problem}");
    // Read again and write against the new version.
    let (_, p) = read_plan(&env, &gw, &so, &citizen).await;
    assert_eq!(p["version"], 2);
    let (status, w) = write_effort(&env, &gw, &so, &citizen, 2, effort("e-2", "Støtte i hjemmet")).await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["version"], 3);
    assert_eq!(changes(&env.sandbox.visits().await), before + 2, "the stale write reached the service once");

    // The social services cannot change the job centre's effort: 403, nothing written.
    let before = changes(&env.sandbox.visits().await);
    let (status, problem) = write_effort(&env, &gw, &so, &citizen, 3, effort("e-1", "Noget andet")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["type"], "https://sammen.dk/problems/not-own-part");
    assert_eq!(changes(&env.sandbox.visits().await), before, "nothing was sent to the plan service");

    // A new effort and a milestone of the social services' own.
    let (status, w) =
        write_effort(&env, &gw, &so, &citizen, 3, json!({ "title": "Bostøtte", "from": "2025-05-01" })).await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!((w["version"].as_u64(), w["element"].as_str()), (Some(4), Some("e-3")));
    let (status, _, m) = post(
        &env.kk(),
        &gw.url("/api/v1/plans/milestones"),
        &so,
        &json!({ "citizen": citizen.expose(), "purpose": PURPOSE, "version": 4,
                 "milestone": { "title": "Flyttet i egen bolig", "due": "2025-10-01" } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    let (_, p) = read_plan(&env, &gw, &jc, &citizen).await;
    assert_eq!(p["version"], 5);
    let plan = &p["section"]["documents"][0]["content"];
    assert_eq!(plan["efforts"][1]["title"], "Støtte i hjemmet");
    assert_eq!(plan["efforts"][2]["unit"], SOCIAL_UNIT, "a new effort belongs to the writer's unit");
    assert_eq!(plan["milestones"][1]["unit"], SOCIAL_UNIT);

    // Oversized or malformed elements: 422 naming the field, nothing written.
    let before = changes(&env.sandbox.visits().await);
    let (status, problem) =
        write_effort(&env, &gw, &jc, &citizen, 5, json!({ "title": "x".repeat(201), "from": "2025-05-01" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().starts_with("effort.title"), "{problem}");
    let (status, problem) =
        write_effort(&env, &gw, &jc, &citizen, 5, json!({ "title": "Praktik", "from": "1. maj" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().starts_with("effort.from"), "{problem}");
    let (status, problem) =
        write_effort(&env, &gw, &jc, &citizen, 5, json!({ "id": "e-99", "title": "Praktik", "from": "2025-05-01" }))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["detail"].as_str().unwrap().starts_with("effort.id"), "{problem}");
    assert_eq!(changes(&env.sandbox.visits().await), before);

    // A write without basis: another citizen who gave no consent. 403, recorded, nothing written.
    let other = other_rehab_citizen();
    let (status, problem) = write_effort(&env, &gw, &jc, &other, 1, effort("e-1", "Uden samtykke")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["type"], "https://sammen.dk/problems/no-basis");
    assert_eq!(changes(&env.sandbox.visits().await), before, "nothing was sent to the plan service");
    // A benefits officer takes no part in the plan.
    let officer = env.token("cw-bo", "kk.jobcenter.ydelse", &["benefits-officer"]);
    let (status, _) = write_effort(&env, &gw, &officer, &citizen, 5, effort("e-1", "Ydelse")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The plan service answering about another citizen is refused like a wrong patient.
    env.sandbox.fault("plan", Some(json!({"kind": "wrong_patient"}))).await;
    let (_, p) = read_plan(&env, &gw, &jc, &citizen).await;
    assert_eq!(p["section"]["status"], "invalid_response", "{p}");
    assert!(p.get("version").is_none());
    // The plan service down: the read says so, a write is 503 with nothing written.
    env.sandbox.fault("plan", Some(json!({"kind": "http500"}))).await;
    let (_, p) = read_plan(&env, &gw, &jc, &citizen).await;
    assert_eq!(p["section"]["status"], "unavailable", "{p}");
    let (status, _) = write_effort(&env, &gw, &jc, &citizen, 5, effort("e-1", "Nede")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    env.sandbox.clear_faults().await;
    assert!(env.sandbox.visits().await.iter().all(|v| !v.url_holds_cpr), "a plan URL held a CPR number");

    // The audit log: every write's decision, the write with the digest of what was written,
    // and its outcome; the refused write's decision with nothing after it.
    gw.terminate();
    let view = support::audit::read_and_verify(&env.data_dir).await;
    use consent::audit::{AuditDecision, AuditKind};
    let writes: Vec<_> = view.records.iter().filter(|r| r.kind == AuditKind::Write).collect();
    assert_eq!(writes.len(), 5, "four written and one conflict; the refusals before it wrote nothing");
    assert!(writes.iter().all(|r| r.documents.len() == 1 && r.documents[0].len() == 64));
    let written: Vec<_> =
        view.records.iter().filter(|r| r.kind == AuditKind::WriteResult && r.outcome == "written").collect();
    assert_eq!(written.len(), 4);
    assert!(view.records.iter().any(|r| r.kind == AuditKind::WriteResult && r.outcome == "conflict"));
    assert!(view.records.iter().any(|r| r.kind == AuditKind::WriteResult && r.outcome == "not_owner"));
    assert!(view.records.iter().any(|r| r.kind == AuditKind::WriteResult && r.outcome == "refused"), "e-99");
    let refused: Vec<_> = view
        .records
        .iter()
        .filter(|r| r.kind == AuditKind::WriteDecision && r.decision == Some(AuditDecision::Deny))
        .collect();
    assert_eq!(refused.len(), 2, "no basis, and the benefits officer");
    assert_eq!(refused[0].citizen, Some(other));
    let refused_ids: Vec<&str> = refused.iter().map(|r| r.request_id.as_str()).collect();
    assert!(
        view.records
            .iter()
            .filter(|r| refused_ids.contains(&r.request_id.as_str()))
            .all(|r| r.kind == AuditKind::WriteDecision),
        "nothing written after a denial"
    );
}
