//! Property test of the ledger's state machine against a model.
//!
//! Random sequences of grants, requests, approvals, rejections, revocations (by the right
//! citizen or another) and passing time. After every step: the ledger accepted exactly
//! what the model says is allowed, a refused step changed nothing, every stored state
//! equals the replay of its events, and no consent is in an impossible state. At the end:
//! every event has exactly one audit record and a refused step wrote none.

mod common;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use common::*;
use consent::lifecycle::replay;
use consent::{Channel, ConsentId, ConsentStatus, Cpr, Requester, State, Store};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Grant { who: usize, actor: usize, months: u32, cats: u8 },
    Request { who: usize, months: u32, respond_days: i64 },
    Approve { pick: usize, actor: usize },
    Reject { pick: usize, actor: usize },
    Revoke { pick: usize, actor: usize },
    Wait { days: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..3usize, 0..15u32, 0..4u8).prop_map(|(who, actor, months, cats)| Op::Grant {
            who,
            actor,
            months,
            cats
        }),
        (0..3usize, 1..13u32, -2..30i64).prop_map(|(who, months, respond_days)| Op::Request {
            who,
            months,
            respond_days
        }),
        (0..16usize, 0..3usize).prop_map(|(pick, actor)| Op::Approve { pick, actor }),
        (0..16usize, 0..3usize).prop_map(|(pick, actor)| Op::Reject { pick, actor }),
        (0..16usize, 0..3usize).prop_map(|(pick, actor)| Op::Revoke { pick, actor }),
        (1..120i64).prop_map(|days| Op::Wait { days }),
    ]
}

const CATS: [&str; 3] = ["jobnet.cv", "jobcenter.case", "health.lae265"];

/// The model: what each consent's status should be.
#[derive(Debug, Clone)]
struct Model {
    citizen: Cpr,
    state: State,
    until: DateTime<Utc>,
    respond_by: Option<DateTime<Utc>>,
}

impl Model {
    fn status(&self, t: DateTime<Utc>) -> ConsentStatus {
        match self.state {
            State::Requested if self.respond_by.is_some_and(|r| t >= r) || t >= self.until => ConsentStatus::Expired,
            State::Requested => ConsentStatus::Requested,
            State::Active if t >= self.until => ConsentStatus::Expired,
            State::Active => ConsentStatus::Active,
            State::Rejected => ConsentStatus::Rejected,
            State::Revoked => ConsentStatus::Revoked,
        }
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let l = ledger().await;
    let people = [cpr("0101709901"), cpr("0202709902"), cpr("0303709903")];
    let mut now = t0();
    let mut ids: Vec<ConsentId> = Vec::new();
    let mut model: HashMap<ConsentId, Model> = HashMap::new();
    for op in ops {
        let before = dump(&l, &ids).await;
        let accepted = match op {
            Op::Grant { who, actor, months, cats } => {
                let c: Vec<&str> =
                    CATS.iter().enumerate().filter(|(i, _)| cats & (1 << i) != 0).map(|(_, c)| *c).collect();
                let r = l
                    .grant(terms(people[who], "kk.jobcenter", &c, now, months), &people[actor], Channel::Portal, now)
                    .await;
                let allowed = who == actor && (1..=12).contains(&months) && !c.is_empty();
                prop_assert_eq!(r.is_ok(), allowed, "grant {:?}", r.as_ref().err());
                if let Ok(c) = r {
                    ids.push(c.id);
                    model.insert(
                        c.id,
                        Model {
                            citizen: people[who],
                            state: State::Active,
                            until: c.terms.period.until,
                            respond_by: None,
                        },
                    );
                }
                allowed
            }
            Op::Request { who, months, respond_days } => {
                let respond_by = now + days(respond_days);
                let r = l
                    .request(
                        terms(people[who], "kk.jobcenter.rehab", &["health.lae265"], now, months),
                        Requester { caseworker: "cw".into(), system: "sys".into() },
                        "Til mødet".into(),
                        respond_by,
                        Channel::Api,
                        now,
                    )
                    .await;
                let until = now.checked_add_months(chrono::Months::new(months)).unwrap();
                let allowed = respond_days > 0 && respond_by <= until;
                prop_assert_eq!(r.is_ok(), allowed, "request {:?}", r.as_ref().err());
                if let Ok(c) = r {
                    ids.push(c.id);
                    model.insert(
                        c.id,
                        Model { citizen: people[who], state: State::Requested, until, respond_by: Some(respond_by) },
                    );
                }
                allowed
            }
            Op::Approve { pick, actor } | Op::Reject { pick, actor } | Op::Revoke { pick, actor }
                if !ids.is_empty() =>
            {
                let id = ids[pick % ids.len()];
                let m = model[&id].clone();
                let by_citizen = m.citizen == people[actor];
                let status = m.status(now);
                let (r, allowed, next) = match op {
                    Op::Approve { .. } => (
                        l.approve(id, &people[actor], Channel::Portal, now).await,
                        by_citizen && status == ConsentStatus::Requested,
                        State::Active,
                    ),
                    Op::Reject { .. } => (
                        l.reject(id, &people[actor], Channel::Portal, now).await,
                        by_citizen && status == ConsentStatus::Requested,
                        State::Rejected,
                    ),
                    _ => (
                        l.revoke(id, &people[actor], Channel::Portal, now).await,
                        by_citizen && status == ConsentStatus::Active,
                        State::Revoked,
                    ),
                };
                prop_assert_eq!(r.is_ok(), allowed, "{:?} on {:?}: {:?}", op, status, r.as_ref().err());
                if allowed {
                    model.get_mut(&id).unwrap().state = next;
                }
                allowed
            }
            Op::Wait { days: d } => {
                now += days(d);
                true
            }
            _ => true,
        };
        let after = dump(&l, &ids).await;
        if !accepted {
            prop_assert_eq!(&before, &after, "a refused operation changed the store");
        }
        // Every stored consent equals the replay of its events and agrees with the model.
        for id in &ids {
            let events = l.events(*id).await.unwrap();
            let stored = l.consent(*id).await.unwrap();
            let replayed = replay(&events).unwrap();
            prop_assert_eq!(replayed.as_ref(), Some(&stored));
            prop_assert_eq!(stored.version as usize, events.len());
            let m = &model[id];
            prop_assert_eq!(stored.state, m.state);
            prop_assert_eq!(stored.status_at(now), m.status(now));
            match stored.state {
                State::Active | State::Revoked => prop_assert!(stored.grantor.is_some()),
                State::Requested | State::Rejected => prop_assert!(stored.grantor.is_none()),
            }
            prop_assert!(stored.terms.period.from < stored.terms.period.until);
            prop_assert!(!stored.terms.categories.is_empty());
        }
        // The pending list is exactly the model's requested consents.
        for who in &people {
            let mut pending: Vec<_> = l.pending(who, now).await.unwrap().into_iter().map(|c| c.id).collect();
            let mut expected: Vec<_> = model
                .iter()
                .filter(|(_, m)| m.citizen == *who && m.status(now) == ConsentStatus::Requested)
                .map(|(id, _)| *id)
                .collect();
            pending.sort();
            expected.sort();
            prop_assert_eq!(pending, expected);
        }
    }
    l.assert_consents_audited().await;
    Ok(())
}

async fn dump(l: &consent::Ledger<consent::SledStore>, ids: &[ConsentId]) -> Vec<(consent::Consent, usize)> {
    let mut v = Vec::new();
    for id in ids {
        v.push((l.consent(*id).await.unwrap(), l.store().consent_events(*id).await.unwrap().len()));
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn ledger_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops))?;
    }
}
