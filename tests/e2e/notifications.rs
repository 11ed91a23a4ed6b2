//! Notifications in the citizen's Digital Post mailbox (the sandbox's, a real process over
//! TLS): a consent request is told at once; while the mailbox is down nothing is lost, and
//! after a SIGKILL of the gateway and a restart every letter arrives exactly once; a
//! revocation is told; no subject holds a CPR number.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::Utc;
use consent::Cpr;
use serde_json::json;

use crate::support::{self, Env, PURPOSE, post};

/// The mailbox's letters to `citizen`, waiting (at most 15 s) until there are `want`.
async fn letters(env: &Env, citizen: &Cpr, want: usize) -> Vec<sandbox::mailbox::Received> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mine: Vec<_> =
            env.sandbox.mailbox().await.into_iter().filter(|m| m.message.recipient == citizen.expose()).collect();
        if mine.len() >= want || Instant::now() > deadline {
            return mine;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn holds_cpr(s: &str) -> bool {
    let d: Vec<char> = s.chars().filter(|c| !matches!(c, '-' | ' ' | '.')).collect();
    d.windows(10).any(|w| w.iter().all(char::is_ascii_digit))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letters_arrive_once_through_a_mailbox_outage_and_a_gateway_kill() {
    let env = Env::new(5_000);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&env.config)
        .unwrap()
        .write_all(env.sandbox.notifications_toml().as_bytes())
        .unwrap();
    let citizen = support::rehab_citizen();
    let mut gw = env.start_gateway();
    let (kk, token) = (env.kk(), env.rehab_token());
    let request = |cats: &'static [&'static str]| {
        let url = gw.url("/api/v1/consent-requests");
        let (kk, token) = (kk.clone(), token.clone());
        async move {
            let until = Utc::now() + chrono::Duration::days(90);
            let body = json!({ "citizen": citizen.expose(), "purpose": PURPOSE, "categories": cats,
                               "period": { "until": until }, "explanation": "Til mødet i rehabiliteringsteamet." });
            let (status, _, body) = post(&kk, &url, &token, &body).await;
            assert_eq!(status, 201, "{body}");
        }
    };

    // A request: the citizen is told at once, in Danish, without their CPR number in it.
    request(&["jobnet.cv"]).await;
    let got = letters(&env, &citizen, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0].message;
    assert_eq!(m.subject, "Du er blevet bedt om et samtykke");
    assert!(m.body.contains("Rehabiliteringsteamet, Jobcenter København beder om dit samtykke"), "{}", m.body);
    assert!(m.body.contains("Svar senest"), "{}", m.body);
    assert!(!holds_cpr(&m.subject) && !holds_cpr(&m.body));

    // The mailbox down: a second request is kept, not lost, and not delivered.
    env.sandbox.fault("mailbox", Some(json!({"kind": "connection_reset"}))).await;
    request(&["social.case"]).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(letters(&env, &citizen, 1).await.len(), 1);

    // The gateway killed while the letter waits; a consent granted and revoked meanwhile
    // (by the command line: the embedded store is the gateway's while it runs).
    gw.kill();
    let granted = env.grant_by_cli(&citizen, &["jobnet.cv"]);
    let id = granted.split_whitespace().nth(1).unwrap().to_string();
    let out = crate::support::procs::sammen()
        .arg("consent")
        .arg("--config")
        .arg(&env.config)
        .arg("--data-dir")
        .arg(&env.data_dir)
        .args(["revoke", "--id", &id, "--cpr", citizen.expose()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The mailbox back, the gateway restarted: the waiting request and the revocation
    // arrive, each exactly once.
    env.sandbox.clear_faults().await;
    let _gw = env.start_gateway();
    let got = letters(&env, &citizen, 3).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let got_later = letters(&env, &citizen, 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got_later, got, "nothing delivered twice or later");
    let subjects: Vec<&str> = got.iter().map(|m| m.message.subject.as_str()).collect();
    assert_eq!(
        subjects,
        ["Du er blevet bedt om et samtykke", "Du er blevet bedt om et samtykke", "Dit samtykke er tilbagekaldt"]
    );
    assert!(got.iter().all(|m| m.posts == 1), "each posted once: {got:?}");
    let ids: std::collections::BTreeSet<_> = got.iter().map(|m| m.message.message_id).collect();
    assert_eq!(ids.len(), 3);
}
