//! Sources that fail: each failing source gives its own sections a status, while the
//! other sections are included, and nothing waits beyond the case file's deadline.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{self, CATEGORIES, Env, case_file_body, post, statuses};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_costs_only_its_own_sections() {
    const DEADLINE_MS: u64 = 1_500;
    const SOURCE_DELAY_MS: u64 = 60_000;
    let env = Env::new(DEADLINE_MS);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let mut gw = env.start_gateway();
    let client = env.kk();
    let token = env.rehab_token();
    let url = gw.url("/api/v1/case-files");

    let cases = [
        // Malformed XML from the MedCom hub.
        (
            "mediconnect",
            json!({"kind": "malformed_body"}),
            &["health.lae265", "health.correspondence"][..],
            "invalid_response",
        ),
        // Far slower than the deadline.
        ("jobcenter", json!({"kind": "delay", "ms": SOURCE_DELAY_MS}), &["jobcenter.case"][..], "timeout"),
        // Down: the connection is reset.
        ("social", json!({"kind": "connection_reset"}), &["social.case"][..], "unavailable"),
        // The right answer about the wrong citizen.
        ("jobnet_cv", json!({"kind": "wrong_patient"}), &["jobnet.cv"][..], "invalid_response"),
        // The wrong patient in MedCom XML, too.
        (
            "mediconnect",
            json!({"kind": "wrong_patient"}),
            &["health.lae265", "health.correspondence"][..],
            "invalid_response",
        ),
    ];
    for (source, fault, affected, expected) in cases {
        env.sandbox.clear_faults().await;
        env.sandbox.fault(source, Some(fault.clone())).await;
        let started = Instant::now();
        let (s, _, file) = post(&client, &url, &token, &case_file_body(&citizen, &CATEGORIES)).await;
        let elapsed = started.elapsed();
        assert_eq!(s, 200, "{source} {fault}: {file}");
        for (cat, status, docs) in statuses(&file) {
            if affected.contains(&cat.as_str()) {
                assert_eq!(status, expected, "{source} {fault}: {cat}: {file}");
                assert_eq!(docs, 0, "{cat}");
            } else {
                assert_eq!(status, "included", "{source} {fault}: {cat} should be unaffected: {file}");
                assert!(docs > 0);
            }
        }
        for s in file["sections"].as_array().unwrap() {
            if s["status"] != "included" {
                assert_eq!(s["source"], source);
                assert!(s["detail"].is_string() && s["reason"]["en"].is_string(), "{s}");
            }
        }
        // The slow source's section is a `timeout` (above), cut at the deadline: the answer
        // never waits for the source itself, which would take 60 s (the bound leaves a busy
        // machine half of that).
        assert!(elapsed.as_millis() < u128::from(SOURCE_DELAY_MS) / 2, "{source}: {elapsed:?}");
    }
    gw.terminate();
    let view = support::audit::read_after_graceful_stop(&env.data_dir).await;
    let outcomes: Vec<&str> = view
        .records
        .iter()
        .filter(|r| r.kind == consent::audit::AuditKind::Release)
        .map(|r| r.outcome.as_str())
        .collect();
    for o in ["included", "invalid_response", "timeout", "unavailable"] {
        assert!(outcomes.contains(&o), "no release record with outcome {o}");
    }
}

/// "The slowest source's time, not the sum": two sources each delayed by `DELAY`, with a
/// deadline far above both. By the sandbox's own clock the two requests overlap: the second
/// arrived before the first was answered (one after the other, it would arrive only after
/// the first's `DELAY`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_slow_sources_are_asked_at_the_same_time() {
    const DELAY: Duration = Duration::from_millis(2_000);
    const SLOW: [&str; 2] = ["jobcenter", "jobnet_cv"];
    let env = Env::new(30_000);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let mut gw = env.start_gateway();
    let client = env.kk();
    let token = env.rehab_token();
    let url = gw.url("/api/v1/case-files");
    let body = case_file_body(&citizen, &["jobcenter.case", "jobnet.cv"]);

    for source in SLOW {
        env.sandbox.fault(source, Some(json!({"kind": "delay", "ms": DELAY.as_millis() as u64}))).await;
    }
    env.sandbox.forget_visits().await;
    let started = Instant::now();
    let (s, _, file) = post(&client, &url, &token, &body).await;
    let elapsed = started.elapsed();
    assert_eq!(s, 200, "{file}");
    // Both waited for (no timeout): each section is included.
    let sections = statuses(&file);
    assert_eq!(sections.len(), 2, "{file}");
    assert!(sections.iter().all(|(_, st, n)| st == "included" && *n > 0), "{file}");
    assert!(elapsed >= DELAY, "{elapsed:?}: faster than one delayed source");

    let visits = env.sandbox.visits().await;
    let asked: Vec<_> = SLOW
        .iter()
        .map(|source| {
            let mine: Vec<_> = visits.iter().filter(|v| v.source == *source).collect();
            assert_eq!(mine.len(), 1, "{source} asked once (no retries configured): {visits:?}");
            let v = mine[0];
            let answered = v.answered_us.unwrap_or_else(|| panic!("{source} never answered: {v:?}"));
            assert!(answered - v.arrived_us >= DELAY.as_micros() as u64, "{source} answered before its delay: {v:?}");
            (v.arrived_us, answered)
        })
        .collect();
    let last_arrival = asked.iter().map(|(a, _)| *a).max().unwrap();
    let first_answer = asked.iter().map(|(_, d)| *d).min().unwrap();
    assert!(
        last_arrival < first_answer,
        "the sources were asked one after the other, not together: {asked:?} (µs since the sandbox started)"
    );
    gw.terminate();
    let view = support::audit::read_after_graceful_stop(&env.data_dir).await;
    crate::case_files::check_released(&view.records, &[file]);
}

/// sammen sends the CPR number to the sources in headers and bodies, never in a URL: every
/// request the four sources received for a full case file (the sandbox's own record of
/// each path and query string) holds no CPR number in any writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_source_is_asked_with_a_cpr_number_in_its_url() {
    let env = Env::new(10_000);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let mut gw = env.start_gateway();
    env.sandbox.forget_visits().await;
    let (s, _, file) =
        post(&env.kk(), &gw.url("/api/v1/case-files"), &env.rehab_token(), &case_file_body(&citizen, &CATEGORIES))
            .await;
    assert_eq!(s, 200, "{file}");
    assert!(statuses(&file).iter().all(|(_, st, _)| st == "included"), "{file}");
    let visits = env.sandbox.visits().await;
    for source in ["mediconnect", "jobcenter", "social", "jobnet_cv"] {
        assert!(visits.iter().any(|v| v.source == source), "{source} was not asked: {visits:?}");
    }
    let with_cpr: Vec<_> = visits.iter().filter(|v| v.url_holds_cpr).collect();
    assert!(with_cpr.is_empty(), "a CPR number in a source's URL: {with_cpr:?}");
    gw.terminate();
}
