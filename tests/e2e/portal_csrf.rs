//! CSRF on every POST of the citizen portal. The routes come from the portal's own table
//! (`gateway::portal::PATHS`, from which its router is built), so a new POST route is
//! tested without anyone remembering to. Each path is POSTed without a token, with a wrong
//! one and with another live session's token: a path that takes POST refuses all three
//! (403, "Formularen kunne ikke sendes") and nothing changes (ledger, blocks, audit log,
//! the session itself); then each takes the same form with the right token.

use std::collections::BTreeSet;

use consent::{Actor, Channel, State};
use reqwest::StatusCode;

use crate::portal::{field, get, post_form, terms, with_broker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_post_refuses_a_missing_wrong_or_foreign_csrf_token() {
    let b = with_broker().await;
    let ledger = b.running.ledger().clone();
    let consents = b.running.consents().clone();
    // The broker logs in citizen 0.
    let me = sandbox::citizens::cpr_of(0);
    let now = chrono::Utc::now();
    let api = Actor::caseworker(
        "kk-sagssystem",
        "cw-anna",
        consent::UnitId::parse(crate::support::REHAB_UNIT).unwrap(),
        "req-csrf",
    );
    let requester = consent::Requester { caseworker: "cw-anna".into(), system: "kk-sagssystem".into() };
    let pending = consents
        .request(terms(me, 30, now), requester, "Forklaring".into(), now + chrono::Duration::days(7), &api, now)
        .await
        .unwrap();
    let active = consents.grant(terms(me, 30, now), &me, &Actor::citizen(Channel::Cli), now).await.unwrap();
    // A consent signed on paper, to confirm.
    let paper = consent::PaperRecord {
        scan_sha256: "ab".repeat(32),
        scan_reference: "SCAN-1".into(),
        registered_by: consent::Requester { caseworker: "cw-anna".into(), system: "kk-sagssystem".into() },
        confirm_by: now + chrono::Duration::days(7),
        confirmed_at: None,
    };
    let on_paper = consents.register_paper(terms(me, 30, now), paper, &api, now).await.unwrap();

    let c = b.browser();
    b.login(&c).await;
    let other = b.browser();
    b.login(&other).await;
    let portal = &b.portal;
    let token = field(&get(&c, &format!("{portal}/")).await.body, "csrf");
    let foreign = field(&get(&other, &format!("{portal}/")).await.body, "csrf");
    assert_ne!(token, foreign, "two sessions share a CSRF token");
    // A block to lift, placed with the right token.
    let placed =
        post_form(&c, &format!("{portal}/blocks"), &[("csrf", &token), ("target", "category:health.lae265")]).await;
    assert_eq!(placed.status, 200, "{}", placed.body);
    let block = ledger.blocks(&me).await.unwrap()[0].id;

    // Each path with its ids filled in, and a form that is valid but for the token.
    // The power-of-attorney paths name a power the logged-in citizen does not hold (this
    // gateway has no `[representation]`): with the right token they are "not found".
    let fill = |path: &str| {
        path.replace("{reference}", &sandbox::fuldmagt::reference(1).to_string())
            .replace("/requests/{id}", &format!("/requests/{}", pending.id))
            .replace("/consents/{id}/confirm", &format!("/consents/{}/confirm", on_paper.id))
            .replace("/consents/{id}", &format!("/consents/{}", active.id))
            .replace("/blocks/{id}", &format!("/blocks/{block}"))
            .replace("/receipts/{id}", &format!("/receipts/{}.1", active.id))
    };
    let form_of = |path: &str| -> Vec<(&str, &str)> {
        match path {
            "/requests/{id}" => vec![("answer", "approve")],
            "/grant" => vec![
                ("unit", crate::support::REHAB_UNIT),
                ("purpose", crate::support::PURPOSE),
                ("category", "jobnet.cv"),
                ("months", "3"),
            ],
            "/blocks" => vec![("target", "category:social.case")],
            "/notifications" => vec![("access", "on")],
            "/min-sag/perspektiv" => vec![("text", "Jeg vil gerne i praktik.")],
            _ => vec![],
        }
    };

    let snapshot = || async {
        let consents: Vec<(String, State, u32)> = ledger
            .consents_of(&me)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.id.to_string(), c.state, c.version))
            .collect();
        let blocks: Vec<String> = ledger.blocks(&me).await.unwrap().iter().map(|b| format!("{b:?}")).collect();
        let prefs = gateway::core::notify::preferences(ledger.store(), &me, chrono::Utc::now()).await.unwrap();
        (consents, blocks, prefs, b.running.audit().tree_size())
    };
    let before = snapshot().await;

    let mut takes_post = BTreeSet::new();
    for path in gateway::portal::PATHS {
        let url = format!("{portal}{}", fill(path));
        let form = form_of(path);
        let mut answers = Vec::new();
        for csrf in [None, Some("forged-token"), Some(foreign.as_str())] {
            let mut f = form.clone();
            if let Some(t) = csrf {
                f.push(("csrf", t));
            }
            answers.push(post_form(&c, &url, &f).await);
        }
        if answers.iter().all(|a| a.status == StatusCode::METHOD_NOT_ALLOWED) {
            continue;
        }
        takes_post.insert(path);
        for (a, which) in answers.iter().zip(["no token", "a wrong token", "another session's token"]) {
            assert_eq!(a.status, StatusCode::FORBIDDEN, "POST {path} with {which}: {}", a.body);
            assert!(a.body.contains("Formularen kunne ikke sendes"), "POST {path} with {which}: {}", a.body);
        }
        assert_eq!(snapshot().await, before, "POST {path} without a valid token changed something");
        assert!(b.is_logged_in(&c).await, "POST {path} without a valid token ended the session");
    }
    // Not vacuous: the portal's forms are among the routes found.
    for path in [
        "/logout",
        "/requests/{id}",
        "/consents/{id}/revoke",
        "/consents/{id}/confirm",
        "/grant",
        "/blocks",
        "/blocks/{id}/lift",
        "/notifications",
        "/min-sag/perspektiv",
        "/fuldmagter/{reference}/requests/{id}",
        "/fuldmagter/{reference}/consents/{id}/revoke",
        "/fuldmagter/{reference}/grant",
    ] {
        assert!(takes_post.contains(path), "POST {path} was not found in the portal's routes: {takes_post:?}");
    }

    // The same forms with the right token are taken (the refusals were the token's), the
    // logout last.
    let mut order: Vec<&str> = takes_post.iter().copied().filter(|p| *p != "/logout").collect();
    order.push("/logout");
    for path in order {
        let mut f = form_of(path);
        f.push(("csrf", &token));
        let a = post_form(&c, &format!("{portal}{}", fill(path)), &f).await;
        if path.starts_with("/fuldmagter/") {
            assert_eq!(a.status, StatusCode::NOT_FOUND, "POST {path} with the token: {}", a.body);
            continue;
        }
        assert!(
            a.status == StatusCode::OK || a.status == StatusCode::SEE_OTHER,
            "POST {path} with the token: {}",
            a.body
        );
    }
    assert_eq!(ledger.consent(pending.id).await.unwrap().state, State::Active, "approved");
    assert_eq!(ledger.consent(active.id).await.unwrap().state, State::Revoked);
    assert!(!ledger.consent(on_paper.id).await.unwrap().awaits_confirmation(), "confirmed");
    let prefs = gateway::core::notify::preferences(ledger.store(), &me, chrono::Utc::now()).await.unwrap();
    assert!(prefs.access, "the choice was saved");
    assert!(!b.is_logged_in(&c).await, "logged out");
    assert!(b.is_logged_in(&other).await, "the other session lives on");
    b.running.shutdown().await;
}
