//! Acting for someone else with a power of attorney, end to end: the sandbox's
//! power-of-attorney registry (a real process over TLS, `fuldmagt`), the sandbox MitID
//! broker, the gateway's portal in-process over the test's store (so the ledger and the
//! audit log can be read directly), and letters in the sandbox's Digital Post mailbox.
//!
//! Citizen 1 holds powers of attorney (see `sandbox::fuldmagt`): for citizen 0 to see and
//! consent, for citizen 2 to see only, for citizen 3 (expired) and for citizen 4 (revoked).

use std::time::{Duration, Instant};

use chrono::Utc;
use consent::audit::{AuditFilter, AuditKind};
use consent::receipt::ConsentReceipt;
use consent::record::Privilege;
use consent::{Actor, Channel, Grantor, Requester, State};
use gateway::app::RunningGateway;
use reqwest::StatusCode;
use sandbox::broker::BrokerClient;
use sandbox::citizens::cpr_of;
use sandbox::fuldmagt::reference;
use serde_json::json;

use crate::portal::{CLIENT_ID, SECRET, browser, field, get, post_form, start_tweaked, terms};
use crate::support::{Env, REHAB_UNIT};

pub(crate) struct Rig {
    pub env: Env,
    pub broker: sandbox::RunningSandbox,
    pub running: RunningGateway,
    pub portal: String,
}

pub(crate) async fn rig() -> Rig {
    let env = Env::new(5_000);
    let broker = sandbox::Sandbox::start(sandbox::SandboxConfig {
        tls: Some(sandbox::tls::generate().unwrap()),
        ..Default::default()
    })
    .await
    .unwrap();
    let ca = env.dir.path().join("broker-ca.pem");
    std::fs::write(&ca, broker.ca_pem().unwrap()).unwrap();
    let port = crate::support::reserved_port();
    let portal = format!("https://localhost:{port}");
    broker.register_broker_client(BrokerClient {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![format!("{portal}/auth/callback")],
        post_logout_redirect_uris: vec![format!("{portal}/")],
    });
    let mut source = connectors::SourceConfig::new(env.sandbox.fuldmagt.clone());
    source.ca_file = Some(env.sandbox.ca_file.clone());
    source.timeout_ms = 3_000;
    source.max_retries = 0;
    let running = start_tweaked(&env, port, &broker.broker_url(), Some(ca), true, |s| {
        s.representation =
            Some(gateway::settings::representation::RepresentationSettings { source, pseudonym_key: "5a".repeat(32) });
    })
    .await;
    Rig { env, broker, running, portal }
}

impl Rig {
    /// Logs citizen `i` in through the broker's form; returns their browser.
    pub(crate) async fn login(&self, i: usize) -> reqwest::Client {
        let c = browser(&self.env, self.broker.ca_pem());
        let start = get(&c, &format!("{}/login", self.portal)).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let form = get(&c, &start.location.unwrap()).await;
        let auth = field(&form.body, "auth");
        let done = post_form(
            &c,
            &format!("{}/authorize", self.broker.broker_url()),
            &[("auth", &auth), ("citizen", &i.to_string()), ("loa", "substantial")],
        )
        .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let back = get(&c, &done.location.unwrap()).await;
        assert_eq!(back.status, 303, "{}", back.body);
        c
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.portal)
    }

    pub(crate) async fn csrf(&self, c: &reqwest::Client) -> String {
        field(&get(c, &self.url("/")).await.body, "csrf")
    }

    /// Everything that could change: the citizen's consents (state, version) and the log's size.
    async fn snapshot(&self, who: &consent::Cpr) -> (Vec<(String, State, u32)>, u64) {
        let consents = self
            .running
            .ledger()
            .consents_of(who)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.id.to_string(), c.state, c.version))
            .collect();
        // Every audit record except the representatives' views, which a refused action may
        // still leave (a see-only holder sees before being refused).
        let all = self.running.audit().query(&AuditFilter::default(), None, 100_000).await.unwrap().records;
        let changes = all.iter().filter(|(_, x)| !(x.kind == AuditKind::ConsentsRead && x.on_behalf.is_some())).count();
        (consents, changes as u64)
    }
}

fn name(i: usize) -> String {
    sandbox::citizens()[i].name()
}

/// No CPR number of any synthetic citizen in `text`, in any of the usual formattings.
fn holds_no_cpr(text: &str) {
    for c in sandbox::citizens() {
        let d = c.cpr.expose();
        for form in [d.to_string(), format!("{}-{}", &d[..6], &d[6..]), format!("{} {}", &d[..6], &d[6..])] {
            assert!(!text.contains(&form), "a CPR number ({}) in: {text}", c.cpr);
        }
    }
}

pub(crate) async fn letters(
    env: &Env,
    citizen: &consent::Cpr,
    subject: &str,
    want: usize,
) -> Vec<sandbox::mailbox::Received> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mine: Vec<_> = env
            .sandbox
            .mailbox()
            .await
            .into_iter()
            .filter(|m| m.message.recipient == citizen.expose() && m.message.subject == subject)
            .collect();
        if mine.len() >= want || Instant::now() > deadline {
            return mine;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_acts_for_the_person_and_the_ledger_log_receipt_and_letters_say_so() {
    let r = rig().await;
    let (me, holder) = (cpr_of(0), cpr_of(1));
    let now = Utc::now();
    let api = Actor::caseworker("kk-sagssystem", "cw-anna", consent::UnitId::parse(REHAB_UNIT).unwrap(), "req-1");
    let requester = Requester { caseworker: "cw-anna".into(), system: "kk-sagssystem".into() };
    let pending = r
        .running
        .consents()
        .request(terms(me, 30, now), requester, "Til mødet.".into(), now + chrono::Duration::days(7), &api, now)
        .await
        .unwrap();

    // The holder logs in and sees whom they may act for, by name; no CPR number anywhere.
    let c = r.login(1).await;
    let list = get(&c, &r.url("/fuldmagter")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    for i in [0, 2, 3, 4] {
        assert!(list.body.contains(&name(i)), "{} missing: {}", name(i), list.body);
    }
    assert!(list.body.contains("gælder ikke nu"), "the expired and revoked powers say so: {}", list.body);
    holds_no_cpr(&list.body);
    let ref1 = reference(1).to_string();
    assert!(list.body.contains(&format!("/fuldmagter/{ref1}")));
    assert!(!list.body.contains(&format!("/fuldmagter/{}", reference(3))), "no link for an expired power");

    // "Du handler på vegne af …": the person's pending request.
    let page = get(&c, &r.url(&format!("/fuldmagter/{ref1}"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("Du handler på vegne af {}", name(0))), "{}", page.body);
    assert!(page.body.contains(&format!("/fuldmagter/{ref1}/requests/{}", pending.id)));
    holds_no_cpr(&page.body);

    // Approve on their behalf.
    let csrf = r.csrf(&c).await;
    let a = post_form(
        &c,
        &r.url(&format!("/fuldmagter/{ref1}/requests/{}", pending.id)),
        &[("csrf", &csrf), ("answer", "approve")],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Du har givet samtykke"), "{}", a.body);
    let approved = r.running.ledger().consent(pending.id).await.unwrap();
    assert_eq!(approved.state, State::Active);
    let Some(Grantor::PowerOfAttorney { holder: pseudonym, holder_name, reference: got_ref, privilege, .. }) =
        approved.grantor.clone()
    else {
        panic!("the grantor is the holder: {:?}", approved.grantor)
    };
    assert_eq!(
        (got_ref.as_str(), privilege, holder_name.as_str()),
        (ref1.as_str(), Privilege::Consent, name(1).as_str())
    );
    assert!(pseudonym.starts_with("poa-holder:") && !pseudonym.contains(holder.expose()), "{pseudonym}");

    // The events name the holder by the pseudonym only.
    let events = r.running.ledger().events(pending.id).await.unwrap();
    let events_json = serde_json::to_string(&events).unwrap();
    assert!(!events_json.contains(holder.expose()), "the holder's CPR number is in the event");

    // The receipt names both people.
    let receipt = ConsentReceipt::for_event(&approved, &events[1], r.running.ledger().rules(), "https://x").unwrap();
    let rep = receipt.representative.expect("the representative is on the receipt");
    assert_eq!((rep.name, rep.on_behalf_of, rep.reference), (name(1), name(0), ref1.clone()));

    // Grant a consent on their behalf, then revoke it (with the one confirmation).
    let form = get(&c, &r.url(&format!("/fuldmagter/{ref1}/grant"))).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let g = post_form(
        &c,
        &r.url(&format!("/fuldmagter/{ref1}/grant")),
        &[
            ("csrf", &csrf),
            ("unit", REHAB_UNIT),
            ("purpose", crate::support::PURPOSE),
            ("category", "jobnet.cv"),
            ("months", "3"),
        ],
    )
    .await;
    assert_eq!(g.status, 200, "{}", g.body);
    let granted =
        r.running.ledger().consents_of(&me).await.unwrap().into_iter().find(|x| x.id != pending.id).expect("granted");
    assert_eq!(granted.state, State::Active);
    assert!(matches!(granted.grantor, Some(Grantor::PowerOfAttorney { .. })));
    let confirm = get(&c, &r.url(&format!("/fuldmagter/{ref1}/consents/{}/revoke", granted.id))).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let rv =
        post_form(&c, &r.url(&format!("/fuldmagter/{ref1}/consents/{}/revoke", granted.id)), &[("csrf", &csrf)]).await;
    assert_eq!(rv.status, 200, "{}", rv.body);
    assert_eq!(r.running.ledger().consent(granted.id).await.unwrap().state, State::Revoked);

    // The audit records: each change names the representation, never the holder's CPR.
    let f = AuditFilter { citizen: Some(me), ..Default::default() };
    let records = r.running.audit().query(&f, None, 1_000).await.unwrap().records;
    let mut by_holder: Vec<_> = records.iter().filter(|(_, x)| x.on_behalf.is_some()).collect();
    by_holder.sort_by_key(|(i, _)| *i);
    let kinds: Vec<AuditKind> =
        by_holder.iter().map(|(_, x)| x.kind).filter(|k| *k != AuditKind::ConsentsRead).collect();
    assert_eq!(kinds, [AuditKind::ConsentApproved, AuditKind::ConsentGranted, AuditKind::ConsentRevoked]);
    // Seeing is recorded too: the overview and the revocation's confirmation page, each
    // before it was shown.
    let views = by_holder.iter().filter(|(_, x)| x.kind == AuditKind::ConsentsRead).count();
    assert!(views >= 2, "{views} views of the person's consents recorded");
    for (_, x) in &by_holder {
        let o = x.on_behalf.as_ref().unwrap();
        assert_eq!(
            (o.kind.as_str(), o.holder.as_str(), o.reference.as_str()),
            ("power_of_attorney", pseudonym.as_str(), ref1.as_str())
        );
        assert!(!serde_json::to_string(x).unwrap().contains(holder.expose()));
    }

    // The represented person is told of each action, and sees each in Min log.
    let got = letters(&r.env, &me, "Der er handlet på dine vegne", 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|m| m.message.body.contains("fuldmagt")), "{got:?}");
    let mine = r.login(0).await;
    let log = get(&mine, &r.url("/log")).await;
    assert_eq!(log.status, 200);
    assert!(log.body.contains("Din fuldmægtig godkendte en anmodning om samtykke"), "{}", log.body);
    assert!(log.body.contains("Din fuldmægtig gav samtykke"), "{}", log.body);
    assert!(log.body.contains("Din fuldmægtig tilbagekaldte dit samtykke"), "{}", log.body);
    assert!(log.body.contains("Din fuldmægtig så dine samtykker"), "{}", log.body);
    // And can revoke what the holder approved, like any consent.
    let own_csrf = r.csrf(&mine).await;
    let own = post_form(&mine, &r.url(&format!("/consents/{}/revoke", pending.id)), &[("csrf", &own_csrf)]).await;
    assert_eq!(own.status, 200, "{}", own.body);
    // The readable receipt of the holder's approval names both.
    let rc = get(&mine, &r.url(&format!("/receipts/{}.2", pending.id))).await;
    assert!(rc.body.contains(&format!("{} handlede på vegne af {}", name(1), name(0))), "{}", rc.body);
    r.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powers_that_do_not_cover_the_action_refuse_it_and_change_nothing() {
    let r = rig().await;
    let (me, view_only) = (cpr_of(0), cpr_of(2));
    let now = Utc::now();
    let mine = r.running.consents().grant(terms(me, 30, now), &me, &Actor::citizen(Channel::Cli), now).await.unwrap();
    let theirs = r
        .running
        .consents()
        .grant(terms(view_only, 30, now), &view_only, &Actor::citizen(Channel::Cli), now)
        .await
        .unwrap();
    let stranger = cpr_of(5);
    let strangers = r
        .running
        .consents()
        .grant(terms(stranger, 30, now), &stranger, &Actor::citizen(Channel::Cli), now)
        .await
        .unwrap();
    let c = r.login(1).await;
    let csrf = r.csrf(&c).await;
    let grant_form = |csrf: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("unit".to_string(), REHAB_UNIT.to_string()),
            ("purpose".to_string(), crate::support::PURPOSE.to_string()),
            ("category".to_string(), "jobnet.cv".to_string()),
            ("months".to_string(), "3".to_string()),
        ]
    };
    let post = |path: String, form: Vec<(String, String)>| {
        let c = c.clone();
        let url = r.url(&path);
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post_form(&c, &url, &f).await
        }
    };
    let before = (r.snapshot(&me).await, r.snapshot(&view_only).await, r.snapshot(&stranger).await);

    // See only: the page shows the consents without forms; acting is a 403 page.
    let ref2 = reference(2);
    let page = get(&c, &r.url(&format!("/fuldmagter/{ref2}"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("ikke til at ændre dem"), "{}", page.body);
    assert!(!page.body.contains("/revoke"), "{}", page.body);
    for (path, form) in [
        (format!("/fuldmagter/{ref2}/grant"), grant_form(&csrf)),
        (format!("/fuldmagter/{ref2}/consents/{}/revoke", theirs.id), vec![("csrf".into(), csrf.clone())]),
    ] {
        let a = post(path.clone(), form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.body);
        assert!(a.body.contains("Det giver din fuldmagt ikke lov til"), "{}", a.body);
    }

    // Expired and revoked powers: refused, a Danish page.
    for n in [3, 4] {
        let a = get(&c, &r.url(&format!("/fuldmagter/{}", reference(n)))).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert!(a.body.contains("Fuldmagten gælder ikke længere"), "{}", a.body);
        let a = post(format!("/fuldmagter/{}/grant", reference(n)), grant_form(&csrf)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    }

    // A crafted form (IDOR): a power the holder does not hold, and a consent of a third
    // person under a valid power: "not found", nothing changed.
    let ref1 = reference(1);
    let a = post(format!("/fuldmagter/{}/grant", uuid::Uuid::now_v7()), grant_form(&csrf)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let a =
        post(format!("/fuldmagter/{ref1}/consents/{}/revoke", strangers.id), vec![("csrf".into(), csrf.clone())]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert!(a.body.contains("Vi kan ikke finde samtykket"), "{}", a.body);
    let a = get(&c, &r.url(&format!("/fuldmagter/{ref1}/consents/{}/revoke", strangers.id))).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // Revoked between page load and POST: the action is refused.
    let confirm = get(&c, &r.url(&format!("/fuldmagter/{ref1}/consents/{}/revoke", mine.id))).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    r.env.sandbox.change_power(ref1, json!({ "revoked": true })).await;
    let a = post(format!("/fuldmagter/{ref1}/consents/{}/revoke", mine.id), vec![("csrf".into(), csrf.clone())]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("Fuldmagten gælder ikke længere"), "{}", a.body);
    // Reinstated, then ended (expired) between page load and POST: refused too.
    r.env.sandbox.change_power(ref1, json!({ "revoked": false })).await;
    let confirm = get(&c, &r.url(&format!("/fuldmagter/{ref1}/consents/{}/revoke", mine.id))).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    r.env.sandbox.change_power(ref1, json!({ "valid_to": Utc::now() - chrono::Duration::seconds(1) })).await;
    let a = post(format!("/fuldmagter/{ref1}/consents/{}/revoke", mine.id), vec![("csrf".into(), csrf.clone())]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

    // The registry down: the holder cannot act (fail closed), a Danish page.
    r.env.sandbox.change_power(ref1, json!({ "valid_to": Utc::now() + chrono::Duration::days(30) })).await;
    r.env.sandbox.fault("fuldmagt", Some(json!({"kind": "connection_reset"}))).await;
    let a = post(format!("/fuldmagter/{ref1}/consents/{}/revoke", mine.id), vec![("csrf".into(), csrf.clone())]).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert!(a.body.contains("Fuldmagtsregistret svarer ikke"), "{}", a.body);
    let a = get(&c, &r.url("/fuldmagter")).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    holds_no_cpr(&a.body);

    let after = (r.snapshot(&me).await, r.snapshot(&view_only).await, r.snapshot(&stranger).await);
    assert_eq!(after, before, "a refused action changed something");

    // The registry back: the same revocation goes through (the refusals were the power's).
    r.env.sandbox.clear_faults().await;
    let a = post(format!("/fuldmagter/{ref1}/consents/{}/revoke", mine.id), vec![("csrf".into(), csrf.clone())]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(r.running.ledger().consent(mine.id).await.unwrap().state, State::Revoked);
    r.running.shutdown().await;
}

/// Parents for their children (the person register's custody relations in the sandbox
/// process): citizen 0 has custody of Emil (born 2014) jointly with citizen 5, and of Ida
/// (born 2009, 15 or older).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_acts_for_a_young_child_and_not_for_one_who_decides_herself() {
    let r = rig().await;
    let kids = sandbox::custody::children();
    let (emil, ida) = (&kids[0], &kids[1]);
    let key = hex::decode("5a".repeat(32)).unwrap();
    let emil_ref = gateway::core::representation::custody_reference(&key, &cpr_of(0), &emil.cpr);
    let ida_ref = gateway::core::representation::custody_reference(&key, &cpr_of(0), &ida.cpr);

    // The list names both children; only Emil (under 15) can be chosen.
    let c = r.login(0).await;
    let list = get(&c, &r.url("/fuldmagter")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("Emil Nielsen") && list.body.contains("Ida Nielsen"), "{}", list.body);
    assert!(list.body.contains(&format!("/fuldmagter/{emil_ref}")), "{}", list.body);
    assert!(!list.body.contains(&format!("/fuldmagter/{ida_ref}")), "{}", list.body);
    assert!(list.body.contains("bestemmer nu selv"), "{}", list.body);
    holds_no_cpr(&list.body);

    // Grant for Emil: recorded as the parent's, under custody.
    let csrf = r.csrf(&c).await;
    let g = post_form(
        &c,
        &r.url(&format!("/fuldmagter/{emil_ref}/grant")),
        &[
            ("csrf", &csrf),
            ("unit", REHAB_UNIT),
            ("purpose", crate::support::PURPOSE),
            ("category", "jobnet.cv"),
            ("months", "3"),
        ],
    )
    .await;
    assert_eq!(g.status, 200, "{}", g.body);
    let granted = r.running.ledger().consents_of(&emil.cpr).await.unwrap();
    assert_eq!(granted.len(), 1);
    assert!(matches!(granted[0].grantor, Some(Grantor::Custody { .. })), "{:?}", granted[0].grantor);
    let f = AuditFilter { citizen: Some(emil.cpr), ..Default::default() };
    let records = r.running.audit().query(&f, None, 100).await.unwrap().records;
    let rec = records.iter().find(|(_, x)| x.kind == AuditKind::ConsentGranted).unwrap();
    assert_eq!(rec.1.on_behalf.as_ref().map(|o| o.kind.as_str()), Some("custody"));
    assert!(!serde_json::to_string(&rec.1).unwrap().contains(cpr_of(0).expose()));

    // The other parent (joint custody) is told; the acting parent is not told of their own
    // action; the child gets the letter a represented person gets.
    let told = letters(&r.env, &cpr_of(5), "Der er handlet for jeres barn", 1).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].message.body.contains("Den anden forælder"), "{}", told[0].message.body);
    assert!(letters(&r.env, &emil.cpr, "Der er handlet på dine vegne", 1).await.len() == 1);
    assert!(letters(&r.env, &cpr_of(0), "Der er handlet for jeres barn", 0).await.is_empty());

    // The other parent (joint custody) sees the consent and can act too.
    let other = r.login(5).await;
    let page = get(
        &other,
        &r.url(&format!(
            "/fuldmagter/{}",
            gateway::core::representation::custody_reference(&key, &cpr_of(5), &emil.cpr)
        )),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Du handler på vegne af Emil Nielsen"), "{}", page.body);
    assert!(page.body.contains(&format!("/consents/{}/revoke", granted[0].id)), "{}", page.body);
    // They revoke it; now the first parent is told.
    let csrf5 = r.csrf(&other).await;
    let ref5 = gateway::core::representation::custody_reference(&key, &cpr_of(5), &emil.cpr);
    let rv = post_form(
        &other,
        &r.url(&format!("/fuldmagter/{ref5}/consents/{}/revoke", granted[0].id)),
        &[("csrf", &csrf5)],
    )
    .await;
    assert_eq!(rv.status, 200, "{}", rv.body);
    let told = letters(&r.env, &cpr_of(0), "Der er handlet for jeres barn", 1).await;
    assert_eq!(told.len(), 1, "{told:?}");
    // Each parent was told once: of the other's action, never of their own.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(letters(&r.env, &cpr_of(5), "Der er handlet for jeres barn", 2).await.len(), 1);
    assert_eq!(letters(&r.env, &cpr_of(0), "Der er handlet for jeres barn", 2).await.len(), 1);
    // But not through the first parent's reference (it names their relation, not this one).
    let a = get(&other, &r.url(&format!("/fuldmagter/{emil_ref}"))).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);

    // The power-of-attorney registry down: a parent still acts for their child (custody
    // comes from the person register); a reference that is no child's is refused as the
    // registry's failure (503), not as "not found".
    r.env.sandbox.fault("fuldmagt", Some(json!({"kind": "connection_reset"}))).await;
    let a = get(&c, &r.url(&format!("/fuldmagter/{emil_ref}"))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Du handler på vegne af Emil Nielsen"), "{}", a.body);
    let a = get(&c, &r.url(&format!("/fuldmagter/{}", uuid::Uuid::now_v7()))).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    r.env.sandbox.clear_faults().await;

    // Ida has reached the age of self-determination: the parent can no longer act.
    let before = r.snapshot(&ida.cpr).await;
    let a = get(&c, &r.url(&format!("/fuldmagter/{ida_ref}"))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("Barnet bestemmer nu selv") && a.body.contains("fyldt 15"), "{}", a.body);
    let a = post_form(
        &c,
        &r.url(&format!("/fuldmagter/{ida_ref}/grant")),
        &[
            ("csrf", &csrf),
            ("unit", REHAB_UNIT),
            ("purpose", crate::support::PURPOSE),
            ("category", "jobnet.cv"),
            ("months", "3"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(r.snapshot(&ida.cpr).await, before, "nothing changed for Ida");
    // Ida herself can (the ledger lets the citizen act; the broker has no login for her).
    let now = Utc::now();
    let own =
        r.running.consents().grant(terms(ida.cpr, 30, now), &ida.cpr, &Actor::citizen(Channel::Portal), now).await;
    assert!(own.is_ok(), "{own:?}");
    r.running.shutdown().await;
}
