//! The ledger against the sled store: lifecycle, lookups, and every bad input leaving the
//! store unchanged.

mod common;

use chrono::Months;
use common::*;
use consent::lifecycle::replay;
use consent::{BlockTarget, Channel, ConsentStatus, LedgerError, Requester, RuleError, SledStore, Store};

fn requester() -> Requester {
    Requester { caseworker: "cw-1".into(), system: "case-system".into() }
}

async fn snapshot(l: &consent::Ledger<SledStore>, who: &consent::Cpr) -> Vec<consent::Consent> {
    l.consents_of(who).await.unwrap()
}

#[tokio::test]
async fn request_approve_revoke_lifecycle() {
    let l = ledger().await;
    let a = cpr("0101709901");
    let now = t0();
    let req = l
        .request(
            terms(a, "kk.jobcenter.rehab", &["health.lae265", "jobnet.cv"], now, 6),
            requester(),
            "Til mødet".into(),
            now + days(14),
            Channel::Api,
            now,
        )
        .await
        .unwrap();
    assert_eq!(req.status_at(now), ConsentStatus::Requested);
    assert_eq!(l.pending(&a, now).await.unwrap().len(), 1);
    let lae = category("health.lae265");
    let p = purpose("rehabilitation-team");
    let rehab = unit("kk.jobcenter.rehab");
    assert!(l.covering(&a, &rehab, &p, &lae, now).await.unwrap().is_empty(), "a request is not a consent");

    let ok = l.approve(req.id, &a, Channel::Portal, now + days(1)).await.unwrap();
    assert_eq!(ok.status_at(now + days(1)), ConsentStatus::Active);
    assert!(l.pending(&a, now).await.unwrap().is_empty());
    assert_eq!(l.covering(&a, &rehab, &p, &lae, now + days(2)).await.unwrap().len(), 1);
    // Not for another unit, purpose or category, and not after the period.
    assert!(l.covering(&a, &unit("kk.social"), &p, &lae, now + days(2)).await.unwrap().is_empty());
    assert!(l.covering(&a, &rehab, &purpose("coordinated-plan"), &lae, now + days(2)).await.unwrap().is_empty());
    assert!(l.covering(&a, &rehab, &p, &category("social.case"), now + days(2)).await.unwrap().is_empty());
    let end = now.checked_add_months(Months::new(6)).unwrap();
    assert!(l.covering(&a, &rehab, &p, &lae, end).await.unwrap().is_empty(), "period is half-open");
    assert_eq!(l.covering(&a, &rehab, &p, &lae, end - days(1)).await.unwrap().len(), 1);

    l.revoke(req.id, &a, Channel::Portal, now + days(3)).await.unwrap();
    assert!(l.covering(&a, &rehab, &p, &lae, now + days(3)).await.unwrap().is_empty(), "revocation is immediate");
    let events = l.events(req.id).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["requested", "approved", "revoked"]);
    assert_eq!(replay(&events).unwrap().unwrap(), l.consent(req.id).await.unwrap());
    // The text is stored once under its digest.
    let c = l.consent(req.id).await.unwrap();
    assert_eq!(l.store().text(&c.terms.text.sha256).await.unwrap().as_deref(), Some("Du giver lov til ..."));
    // Each change has exactly one audit record, naming its event, and none is left pending.
    let subjects = l.audit_subjects().await;
    for v in 1..=3 {
        assert_eq!(subjects.get(&format!("consent:{}.{v}", req.id)), Some(&1), "version {v}");
    }
    assert_eq!(subjects.len(), 3);
    assert!(l.store().audit_outbox(10).await.unwrap().is_empty());
    let records: Vec<_> = l.service.audit().entries(0, 3).await.unwrap().into_iter().map(|(_, r)| r).collect();
    let kinds: Vec<_> = records.iter().map(|r| r.kind).collect();
    use consent::audit::AuditKind::*;
    assert_eq!(kinds, [ConsentRequested, ConsentApproved, ConsentRevoked]);
    assert_eq!(records[0].caseworker.as_deref(), Some("cw-1"), "the API request names the caseworker");
    assert_eq!(records[1].system.as_deref(), Some("portal"));
    assert!(records.iter().all(|r| r.citizen == Some(a) && r.basis == Some(format!("consent:{}", req.id))));
}

#[tokio::test]
async fn subunits_are_covered_only_when_the_consent_says_so() {
    let l = ledger().await;
    let a = cpr("0101709901");
    let now = t0();
    let p = purpose("rehabilitation-team");
    let cv = category("jobnet.cv");
    let plain = l.grant(terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6), &a, Channel::Portal, now).await.unwrap();
    assert!(l.covering(&a, &unit("kk.jobcenter.rehab"), &p, &cv, now).await.unwrap().is_empty());
    assert_eq!(l.covering(&a, &unit("kk.jobcenter"), &p, &cv, now).await.unwrap().len(), 1);
    let mut wide = terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6);
    wide.include_subunits = true;
    let wide = l.grant(wide, &a, Channel::Portal, now).await.unwrap();
    let found = l.covering(&a, &unit("kk.jobcenter.rehab"), &p, &cv, now).await.unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [wide.id]);
    // A sibling unit is never covered.
    assert!(l.covering(&a, &unit("kk.social"), &p, &cv, now).await.unwrap().is_empty());
    // Another citizen sees nothing.
    assert!(l.covering(&cpr("0202709902"), &unit("kk.jobcenter"), &p, &cv, now).await.unwrap().is_empty());
    let _ = plain;
}

#[tokio::test]
async fn bad_input_is_a_typed_error_and_changes_nothing() {
    let l = ledger().await;
    let a = cpr("0101709901");
    let now = t0();
    let existing = l.grant(terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6), &a, Channel::Portal, now).await.unwrap();
    let before = snapshot(&l, &a).await;

    let mut unknown_purpose = terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6);
    unknown_purpose.purpose = purpose("marketing");
    let mut unknown_category = terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6);
    unknown_category.categories.insert(category("tax.returns"));
    let empty = terms(a, "kk.jobcenter", &[], now, 6);
    let too_long = terms(a, "kk.jobcenter", &["jobnet.cv"], now, 13);
    let mut backwards = terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6);
    backwards.period.until = backwards.period.from - days(1);
    let unknown_unit = terms(a, "kk.nowhere", &["jobnet.cv"], now, 6);

    type Expect = fn(&RuleError) -> bool;
    let cases: Vec<(consent::TermsInput, Expect)> = vec![
        (unknown_purpose, |e| {
            matches!(e, RuleError::Vocabulary(consent::vocabulary::VocabularyError::UnknownPurpose(..)))
        }),
        (unknown_category, |e| {
            matches!(e, RuleError::Vocabulary(consent::vocabulary::VocabularyError::UnknownCategory(..)))
        }),
        (empty, |e| matches!(e, RuleError::NoCategories)),
        (too_long, |e| matches!(e, RuleError::PeriodTooLong { max_months: 12 })),
        (backwards, |e| matches!(e, RuleError::PeriodEndsBeforeStart)),
        (unknown_unit, |e| matches!(e, RuleError::Organisation(_))),
    ];
    for (input, check) in cases {
        match l.grant(input, &a, Channel::Portal, now).await {
            Err(LedgerError::Rule(e)) => {
                assert!(check(&e), "unexpected error {e:?}");
                assert!(!e.to_string().is_empty());
            }
            other => panic!("expected a rule error, got {other:?}"),
        }
    }
    // Someone else cannot grant on the citizen's behalf.
    let r = l.grant(terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6), &cpr("0202709902"), Channel::Portal, now).await;
    assert!(matches!(r, Err(LedgerError::Rule(RuleError::NotTheCitizen))));
    // Someone else cannot revoke it.
    let r = l.revoke(existing.id, &cpr("0202709902"), Channel::Portal, now).await;
    assert!(matches!(r, Err(LedgerError::Rule(RuleError::NotTheCitizen))));
    // Revoking twice: the second is refused and says why.
    l.revoke(existing.id, &a, Channel::Portal, now).await.unwrap();
    let after_revoke = snapshot(&l, &a).await;
    let r = l.revoke(existing.id, &a, Channel::Portal, now).await;
    match r {
        Err(LedgerError::Rule(e @ RuleError::NotActive { status: ConsentStatus::Revoked })) => {
            assert!(e.to_string().contains("revoked"), "{e}")
        }
        other => panic!("expected NotActive, got {other:?}"),
    }
    // Approving an active or revoked consent is refused.
    assert!(matches!(
        l.approve(existing.id, &a, Channel::Portal, now).await,
        Err(LedgerError::Rule(RuleError::NotRequested { .. }))
    ));
    assert!(matches!(
        l.revoke(consent::ConsentId::new(), &a, Channel::Portal, now).await,
        Err(LedgerError::NoSuchConsent(_))
    ));
    assert_eq!(snapshot(&l, &a).await, after_revoke, "refused operations changed nothing");
    // ... and wrote no audit record.
    l.assert_consents_audited().await;
    assert_eq!(before.len(), after_revoke.len());
    assert_eq!(l.events(existing.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_expired_request_cannot_be_approved() {
    let l = ledger().await;
    let a = cpr("0101709901");
    let now = t0();
    let req = l
        .request(
            terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6),
            requester(),
            "Til mødet".into(),
            now + days(7),
            Channel::Api,
            now,
        )
        .await
        .unwrap();
    let late = now + days(7);
    assert_eq!(l.consent(req.id).await.unwrap().status_at(late), ConsentStatus::Expired);
    assert!(matches!(
        l.approve(req.id, &a, Channel::Portal, late).await,
        Err(LedgerError::Rule(RuleError::RequestExpired))
    ));
    assert!(l.pending(&a, late).await.unwrap().is_empty());
    assert_eq!(l.events(req.id).await.unwrap().len(), 1);
    // A request must have an explanation and a deadline inside the period.
    let r = l
        .request(
            terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6),
            requester(),
            "  ".into(),
            now + days(7),
            Channel::Api,
            now,
        )
        .await;
    assert!(matches!(r, Err(LedgerError::Rule(RuleError::MissingExplanation))));
    let r = l
        .request(
            terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6),
            requester(),
            "x".into(),
            now - days(1),
            Channel::Api,
            now,
        )
        .await;
    assert!(matches!(r, Err(LedgerError::Rule(RuleError::BadRespondBy))));
}

#[tokio::test]
async fn a_consent_expires_by_time() {
    let l = ledger().await;
    let a = cpr("0101709901");
    let now = t0();
    let c = l.grant(terms(a, "kk.jobcenter", &["jobnet.cv"], now, 1), &a, Channel::Portal, now).await.unwrap();
    let later = now.checked_add_months(Months::new(1)).unwrap();
    assert_eq!(l.consent(c.id).await.unwrap().status_at(later), ConsentStatus::Expired);
    assert!(matches!(
        l.revoke(c.id, &a, Channel::Portal, later).await,
        Err(LedgerError::Rule(RuleError::NotActive { status: ConsentStatus::Expired }))
    ));
}

#[tokio::test]
async fn blocks_are_placed_listed_and_lifted() {
    let l = ledger().await;
    let a = cpr("0101709901");
    let now = t0();
    let b = l.place_block(&a, BlockTarget::Unit(unit("kk.social")), Channel::Portal, now).await.unwrap();
    let c = l.place_block(&a, BlockTarget::Category(category("health.lae265")), Channel::Portal, now).await.unwrap();
    assert_eq!(l.blocks(&a).await.unwrap().len(), 2);
    assert!(l.blocks(&cpr("0202709902")).await.unwrap().is_empty());
    assert!(matches!(
        l.place_block(&a, BlockTarget::Unit(unit("kk.nowhere")), Channel::Portal, now).await,
        Err(LedgerError::Rule(RuleError::Organisation(_)))
    ));
    assert!(matches!(
        l.place_block(&a, BlockTarget::Category(category("tax.x")), Channel::Portal, now).await,
        Err(LedgerError::Rule(RuleError::Vocabulary(_)))
    ));
    assert!(matches!(
        l.lift_block(b.id, &cpr("0202709902"), Channel::Portal, now).await,
        Err(LedgerError::Rule(RuleError::NotTheCitizen))
    ));
    l.lift_block(b.id, &a, Channel::Portal, now).await.unwrap();
    assert!(matches!(l.lift_block(b.id, &a, Channel::Portal, now).await, Err(LedgerError::Block(_))));
    let left: Vec<_> = l.blocks(&a).await.unwrap().into_iter().map(|b| b.id).collect();
    assert_eq!(left, [c.id]);
}

#[tokio::test]
async fn the_store_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let a = cpr("0101709901");
    let now = t0();
    let id = {
        let l = ledger_over(SledStore::open(dir.path()).unwrap()).await;
        l.grant(terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6), &a, Channel::Portal, now).await.unwrap().id
    };
    let l = ledger_over(reopen(dir.path()).await).await;
    assert_eq!(l.consent(id).await.unwrap().status_at(now), ConsentStatus::Active);
    assert_eq!(l.store().consent_ids().await.unwrap(), [id]);
    assert_eq!(l.audit_subjects().await.get(&format!("consent:{id}.1")), Some(&1));
}

#[tokio::test]
async fn import_is_checked_and_all_or_nothing() {
    let l = ledger().await;
    let a = cpr("0101709901");
    let b = cpr("0202709902");
    let now = t0();
    let good = vec![terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6), terms(b, "kk.social", &["social.case"], now, 3)];
    let imported = l.import_grants(good, Channel::Cli, now).await.unwrap();
    assert_eq!(imported.len(), 2);
    assert_eq!(
        l.covering(&b, &unit("kk.social"), &purpose("rehabilitation-team"), &category("social.case"), now)
            .await
            .unwrap()
            .len(),
        1
    );
    // One bad consent refuses the batch; nothing of it is stored.
    let bad =
        vec![terms(a, "kk.jobcenter", &["jobcenter.case"], now, 6), terms(b, "kk.social", &["social.case"], now, 24)];
    assert!(matches!(
        l.import_grants(bad, Channel::Cli, now).await,
        Err(LedgerError::Rule(RuleError::PeriodTooLong { .. }))
    ));
    assert_eq!(l.consents_of(&a).await.unwrap().len(), 1);
    assert_eq!(l.store().consent_ids().await.unwrap().len(), 2);
}
