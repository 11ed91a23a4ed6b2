//! Invariant 3: a consent or block change and its audit record commit together, or neither.
//!
//! - `changes_and_records_survive_sigkill`: a child process (this test binary, re-run in
//!   "child mode") makes consent and block changes through the [`ConsentService`] in a loop
//!   and prints `ack <consent|block> <id> <version>` for every acknowledged change; the
//!   parent SIGKILLs it at random moments, reopens store and audit log (which drains the
//!   outbox) and checks that every event has exactly one audit record naming it and every
//!   record names an event, every acknowledged change is present, the outbox is empty and
//!   `verify_store` passes. Rounds: `SAMMEN_OUTBOX_CRASH_ROUNDS` (default 16).
//! - a failing audit store: the service refuses changes and commits nothing while the
//!   writer fails, a change caught mid-failure is stored with its record queued, and once
//!   appends work again the queued record is appended exactly once and changes succeed;
//! - a crash between commit and drain: the record is in the log after reopening.

mod audit_support;
mod common;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::kill_loop;
use common::*;
use consent::audit::OutboxRecord;
use consent::audit::{AuditConfig, AuditKind, AuditLog, verify_store};
use consent::block::{BlockEvent, BlockEventKind, apply_block};
use consent::lifecycle::apply;
use consent::record::EventKind;
use consent::service::{block_record, consent_record};
use consent::store::ConsentChange;
use consent::store::faulty::{FaultyStore, Op};
use consent::{
    Actor, BlockId, BlockTarget, Channel, ConsentEvent, ConsentId, ConsentService, Cpr, Grantor, Ledger, Requester,
    ServiceError, SledStore, Store,
};

const CHILD_ENV: &str = "SAMMEN_OUTBOX_CRASH_CHILD_DIR";

fn citizens() -> Vec<Cpr> {
    (0..12).map(|i| cpr(&format!("01{:02}709{:03}", 1 + i % 12, 800 + i))).collect()
}

/// Child mode: runs only when the parent starts this binary with the env var set.
#[test]
#[ignore = "run by changes_and_records_survive_sigkill as a child process"]
fn outbox_crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let seed: u64 = std::env::var("SAMMEN_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(child(Path::new(&dir), seed));
}

async fn child(dir: &Path, seed: u64) {
    let service = service_over(common::reopen(dir).await).await;
    // Two writers, so changes also meet in the audit writer's group commits.
    let tasks: Vec<_> = (0..2u64).map(|t| tokio::spawn(writer(service.clone(), seed * 2 + t))).collect();
    for t in tasks {
        t.await.unwrap();
    }
}

async fn writer(service: ConsentService<SledStore>, seed: u64) {
    use std::io::Write;
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let citizens = citizens();
    let now = t0();
    let portal = Actor::citizen(Channel::Portal);
    let api = actor(Channel::Api);
    let mut requests: Vec<(ConsentId, Cpr)> = Vec::new();
    let mut active: Vec<(ConsentId, Cpr)> = Vec::new();
    let mut blocks: Vec<(BlockId, Cpr)> = Vec::new();
    loop {
        let who = citizens[(next() % citizens.len() as u64) as usize];
        let line = match next() % 8 {
            0 | 1 => {
                let input = terms(who, "kk.jobcenter", &["jobnet.cv", "jobcenter.case"], now, 6);
                let c = service.grant(input, &who, &portal, now).await.unwrap();
                active.push((c.id, who));
                format!("consent {} {}", c.id, c.version)
            }
            2 => {
                let c = service
                    .request(
                        terms(who, "kk.jobcenter.rehab", &["health.lae265"], now, 6),
                        Requester { caseworker: "cw-1".into(), system: "case-system".into() },
                        "Til mødet".into(),
                        now + days(14),
                        &api,
                        now,
                    )
                    .await
                    .unwrap();
                requests.push((c.id, who));
                format!("consent {} {}", c.id, c.version)
            }
            3 if !requests.is_empty() => {
                let (id, who) = requests.swap_remove((next() % requests.len() as u64) as usize);
                let c = if next() % 3 == 0 {
                    service.reject(id, &who, &portal, now).await.unwrap()
                } else {
                    let c = service.approve(id, &who, &portal, now).await.unwrap();
                    active.push((id, who));
                    c
                };
                format!("consent {} {}", c.id, c.version)
            }
            4 if !active.is_empty() => {
                let (id, who) = active.swap_remove((next() % active.len() as u64) as usize);
                let c = service.revoke(id, &who, &portal, now).await.unwrap();
                format!("consent {} {}", c.id, c.version)
            }
            5 if !blocks.is_empty() => {
                let (id, who) = blocks.swap_remove((next() % blocks.len() as u64) as usize);
                let b = service.lift_block(id, &who, &portal, now).await.unwrap();
                format!("block {} {}", b.id, b.version)
            }
            _ => {
                let target = if next() % 2 == 0 {
                    BlockTarget::Category(category("social.case"))
                } else {
                    BlockTarget::Unit(unit("kk.social"))
                };
                let b = service.place_block(&who, target, &portal, now).await.unwrap();
                blocks.push((b.id, who));
                format!("block {} {}", b.id, b.version)
            }
        };
        // The change returned: it and its record are acknowledged. Tell the parent.
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {line}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn changes_and_records_survive_sigkill() {
    let rounds: usize = std::env::var("SAMMEN_OUTBOX_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut acked: HashMap<String, u32> = HashMap::new();
    let mut total_acks = 0usize;
    let mut left_in_outbox = 0usize;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let started = Instant::now();
    for round in 0..rounds {
        assert!(started.elapsed() < Duration::from_secs(240), "the kill loop took over 4 minutes");
        // Kill between 5 ms and 300 ms after the first acknowledgement: almost always with
        // a commit or an audit batch in flight.
        let kill_after = kill_loop::next_kill_after(&mut rng, 5, 295);
        let seed = (rng % 1_000_000).to_string();
        let envs = [(CHILD_ENV, store_dir.as_os_str()), ("SAMMEN_CRASH_SEED", OsStr::new(&seed))];
        let acks = kill_loop::run_round("outbox_crash_child_writer", &envs, kill_after, round);
        for line in &acks {
            let (what, version) = line.rsplit_once(' ').unwrap_or_else(|| panic!("unexpected line {line:?}"));
            let v: u32 = version.parse().unwrap();
            let e = acked.entry(what.to_string()).or_default();
            *e = (*e).max(v);
        }
        total_acks += acks.len();
        let t = Instant::now();
        let (events, pending) = verify(&store_dir, &acked, round);
        left_in_outbox += pending;
        eprintln!(
            "round {round}: {} acks, {events} events all audited once, {pending} records recovered from the outbox, \
             verified in {:?}",
            acks.len(),
            t.elapsed()
        );
    }
    assert!(total_acks >= rounds, "the writer acknowledged only {total_acks} changes in {rounds} rounds");
    eprintln!(
        "outbox crash test: {rounds} rounds, {total_acks} acknowledged changes, {left_in_outbox} records a kill left \
         in the outbox, every event audited exactly once"
    );
}

/// Reopens store and log and checks them; returns (events, records found in the outbox).
fn verify(dir: &Path, acked: &HashMap<String, u32>, round: usize) -> (usize, usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let out = rt.block_on(async {
        let store = SledStore::open(dir).unwrap_or_else(|e| panic!("round {round}: the store does not open: {e}"));
        let pending = store.audit_outbox(usize::MAX).await.unwrap().len();
        let log = AuditLog::open(store.clone(), audit_key(), AuditConfig::default())
            .await
            .unwrap_or_else(|e| panic!("round {round}: the log does not open: {e}"));
        assert!(store.audit_outbox(10).await.unwrap().is_empty(), "round {round}: the outbox is not empty after open");
        let report = verify_store(&store, &audit_key().verifying_key())
            .await
            .unwrap_or_else(|e| panic!("round {round}: verify_store: {e} (first bad index {:?})", e.first_bad_index()));
        assert_eq!(report.tree_size, log.tree_size());

        // Every event of the ledger, by subject, with its latest version per consent/block.
        let mut events: BTreeMap<String, ()> = BTreeMap::new();
        let mut latest: HashMap<String, u32> = HashMap::new();
        for id in store.consent_ids().await.unwrap() {
            for e in store.consent_events(id).await.unwrap() {
                events.insert(format!("consent:{id}.{}", e.version), ());
                latest.insert(format!("consent {id}"), e.version);
            }
        }
        // Blocks have no listing in the store trait: read the sled tree of block events
        // (key: block id (16) · version (u32)).
        for k in store.raw_tree("block_events").unwrap().iter().keys() {
            let k = k.unwrap();
            let id = uuid::Uuid::from_slice(&k[..16]).unwrap();
            let version = u32::from_be_bytes(k[16..20].try_into().unwrap());
            events.insert(format!("block:{id}.{version}"), ());
            let e = latest.entry(format!("block {id}")).or_default();
            *e = (*e).max(version);
        }
        let subjects = audit_subjects(&log).await;
        for s in events.keys() {
            assert_eq!(subjects.get(s), Some(&1), "round {round}: event {s} does not have exactly one audit record");
        }
        for s in subjects.keys() {
            assert!(events.contains_key(s), "round {round}: audit record for {s}, but no such event is stored");
        }
        for (what, version) in acked {
            let stored = latest.get(what).unwrap_or_else(|| panic!("round {round}: acknowledged {what} is missing"));
            assert!(stored >= version, "round {round}: {what} lost acknowledged version {version}");
        }
        (events.len(), pending)
    });
    // Dropping the runtime stops the audit writer, which lets go of the store.
    drop(rt);
    out
}

type Flaky = FaultyStore<SledStore>;

/// A service over a store whose audit appends fail on demand, with a writer that retries the
/// outbox every 50 ms.
async fn flaky_service() -> (Flaky, ConsentService<Flaky>) {
    let flaky = FaultyStore::new(SledStore::temporary().unwrap());
    let config = AuditConfig { outbox_retry: Duration::from_millis(50), ..AuditConfig::default() };
    let audit = AuditLog::open(flaky.clone(), audit_key(), config).await.unwrap();
    (flaky.clone(), ConsentService::new(Ledger::new(flaky, rules()), audit))
}

/// Everything a change could touch, for one citizen: consents with their event counts,
/// requests, active consents for one key, blocks, and the outbox.
async fn snapshot<S: Store + Clone>(s: &ConsentService<S>, who: &Cpr) -> String {
    let l = s.ledger();
    let mut out = String::new();
    for c in l.consents_of(who).await.unwrap() {
        out += &format!("{c:?} events={}\n", l.events(c.id).await.unwrap().len());
    }
    out += &format!("pending={:?}\n", l.pending(who, t0()).await.unwrap());
    let covering =
        l.covering(who, &unit("kk.jobcenter"), &purpose("rehabilitation-team"), &category("jobnet.cv"), t0()).await;
    out += &format!("covering={:?}\n", covering.unwrap());
    out += &format!("blocks={:?}\n", l.blocks(who).await.unwrap());
    out += &format!("outbox={:?}\n", l.store().audit_outbox(100).await.unwrap());
    out
}

async fn wait_until(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok().await {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_failing_audit_store_refuses_changes_and_commits_nothing() {
    let (flaky, s) = flaky_service().await;
    let a = cpr("0101709901");
    let now = t0();
    let portal = Actor::citizen(Channel::Portal);
    let first = s.grant(terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6), &a, &portal, now).await.unwrap();

    // The audit store fails: the next change is caught between commit and append. It is
    // stored, its record waits in the outbox, and the caller hears that it is pending.
    flaky.faults().fail(Op::AuditAppend);
    let r = s.grant(terms(a, "kk.social", &["social.case"], now, 3), &a, &portal, now).await;
    assert!(matches!(r, Err(ServiceError::AuditPending(_))), "{r:?}");
    let stored: Vec<_> = s.ledger().consents_of(&a).await.unwrap();
    assert_eq!(stored.len(), 2, "the pending change is stored");
    let pending_id = stored.iter().find(|c| c.id != first.id).unwrap().id;
    let outbox = flaky.audit_outbox(10).await.unwrap();
    assert_eq!(outbox.len(), 1, "its record waits in the outbox");
    assert!(!s.audit().is_writable());

    // While the writer fails, every change is refused and nothing is written.
    let before = snapshot(&s, &a).await;
    let size = s.audit().tree_size();
    let refusals = [
        s.revoke(first.id, &a, &portal, now).await.map(drop),
        s.grant(terms(a, "kk.jobcenter", &["jobcenter.case"], now, 6), &a, &portal, now).await.map(drop),
        s.place_block(&a, BlockTarget::Category(category("jobnet.cv")), &portal, now).await.map(drop),
        s.import_grants(vec![terms(a, "kk.jobcenter", &["health.lae265"], now, 6)], &portal, now).await.map(drop),
        s.request(
            terms(a, "kk.jobcenter.rehab", &["health.lae265"], now, 6),
            Requester { caseworker: "cw-1".into(), system: "case-system".into() },
            "Til mødet".into(),
            now + days(14),
            &actor(Channel::Api),
            now,
        )
        .await
        .map(drop),
    ];
    for r in refusals {
        assert!(matches!(r, Err(ServiceError::AuditUnavailable)), "{r:?}");
    }
    assert_eq!(snapshot(&s, &a).await, before, "a refused change touched the ledger or the outbox");
    assert_eq!(s.audit().tree_size(), size);

    // Appends work again: the writer appends the queued record by itself, once.
    flaky.faults().heal(Op::AuditAppend);
    // (The outbox empties in the append's transaction; the log's size moves after its flush.)
    wait_until("the queued record appended", async || s.audit().tree_size() == size + 1).await;
    assert!(flaky.audit_outbox(10).await.unwrap().is_empty());
    assert!(s.audit().is_writable());
    let subjects = audit_subjects(s.audit()).await;
    assert_eq!(subjects.get(&format!("consent:{pending_id}.1")), Some(&1));
    assert_eq!(subjects.get(&format!("consent:{}.1", first.id)), Some(&1));
    assert_eq!(s.audit().stats().outbox_recovered, 1);

    // And changes succeed, each with its record.
    let revoked = s.revoke(first.id, &a, &portal, now).await.unwrap();
    let block = s.place_block(&a, BlockTarget::Category(category("jobnet.cv")), &portal, now).await.unwrap();
    let subjects = audit_subjects(s.audit()).await;
    assert_eq!(subjects.get(&format!("consent:{}.{}", first.id, revoked.version)), Some(&1));
    assert_eq!(subjects.get(&format!("block:{}.1", block.id)), Some(&1));
    assert_eq!(subjects.len(), 4);
    verify_store(&flaky, &audit_key().verifying_key()).await.unwrap();
}

#[tokio::test]
async fn a_batch_that_was_written_but_reported_failed_is_not_appended_twice() {
    let (flaky, s) = flaky_service().await;
    let a = cpr("0101709901");
    let now = t0();
    let portal = Actor::citizen(Channel::Portal);
    // The batch is written (record appended, outbox entry deleted), then the store reports
    // a failure: the caller hears "pending", but the record is in the log already.
    flaky.faults().fail_after(Op::AuditAppend);
    let r = s.grant(terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6), &a, &portal, now).await;
    assert!(matches!(r, Err(ServiceError::AuditPending(_))), "{r:?}");
    flaky.faults().heal(Op::AuditAppend);
    assert!(flaky.audit_outbox(10).await.unwrap().is_empty());
    // With nothing to retry, the writer probes the store and becomes writable again.
    wait_until("the log writable again", async || s.audit().is_writable()).await;
    // Give the periodic retry several more chances to do something wrong.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = s.ledger().consents_of(&a).await.unwrap()[0].id;
    let c = s.revoke(id, &a, &portal, now).await.unwrap();
    let subjects = audit_subjects(s.audit()).await;
    assert_eq!(subjects.get(&format!("consent:{id}.1")), Some(&1));
    assert_eq!(subjects.get(&format!("consent:{id}.{}", c.version)), Some(&1));
    assert_eq!(s.audit().tree_size(), 2);
    verify_store(&flaky, &audit_key().verifying_key()).await.unwrap();
}

/// Commits a grant and a block directly through the store, each with its outbox record,
/// without anyone waiting for the records (as if the process died right after the commit).
async fn commit_without_draining(
    log: &AuditLog<SledStore>,
    store: &SledStore,
    who: &Cpr,
) -> ((String, String), Vec<OutboxRecord>) {
    let now = t0();
    let actor = Actor::citizen(Channel::Portal);
    let (terms, body) = {
        let input = terms(*who, "kk.jobcenter", &["jobnet.cv"], now, 6);
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(input.text_body.as_bytes()))
        };
        let t = consent::record::Terms {
            citizen: input.citizen,
            grantee: input.grantee,
            include_subunits: input.include_subunits,
            purpose: input.purpose,
            categories: input.categories,
            period: input.period,
            data_period: None,
            text: consent::record::ConsentText { version: input.text_version, sha256: sha },
        };
        (t, input.text_body)
    };
    let event = ConsentEvent {
        consent_id: ConsentId::new(),
        version: 1,
        at: now,
        channel: Channel::Portal,
        kind: EventKind::Granted { terms: Box::new(terms), by: Grantor::Citizen },
    };
    let state = apply(None, &event).unwrap();
    let record = log.outbox_record(&consent_record(&event, &state, &actor, now));
    let change = ConsentChange { event: &event, state: &state, text_body: Some(&body), audit: record.entry() };
    store.commit_consent(change).await.unwrap();

    let bevent = BlockEvent {
        block_id: BlockId::new(),
        version: 1,
        at: now,
        channel: Channel::Portal,
        kind: BlockEventKind::Placed { citizen: *who, target: BlockTarget::Unit(unit("kk.social")) },
    };
    let block = apply_block(None, &bevent).unwrap();
    let brecord = log.outbox_record(&block_record(&bevent, &block, &actor, now));
    store.commit_block(&bevent, &block, brecord.entry()).await.unwrap();
    ((format!("consent:{}.1", state.id), format!("block:{}.1", block.id)), vec![record, brecord])
}

#[tokio::test]
async fn a_crash_between_commit_and_append_is_drained_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let a = cpr("0101709901");
    let slow = AuditConfig { outbox_retry: Duration::from_secs(3600), ..AuditConfig::default() };
    let subjects = {
        let store = SledStore::open(dir.path()).unwrap();
        let log = AuditLog::open(store.clone(), audit_key(), slow.clone()).await.unwrap();
        let (subjects, _) = commit_without_draining(&log, &store, &a).await;
        assert_eq!(log.tree_size(), 0);
        subjects
    };
    let store = reopen(dir.path()).await;
    assert_eq!(store.audit_outbox(10).await.unwrap().len(), 2, "the records wait in the outbox");
    assert_eq!(store.audit_size().await.unwrap(), 0);
    let log = AuditLog::open(store.clone(), audit_key(), slow).await.unwrap();
    // Drained before open returned: no waiting here.
    assert!(store.audit_outbox(10).await.unwrap().is_empty());
    assert_eq!(log.tree_size(), 2);
    let found = audit_subjects(&log).await;
    assert_eq!(found.get(&subjects.0), Some(&1));
    assert_eq!(found.get(&subjects.1), Some(&1));
    let kinds: Vec<_> = log.entries(0, 2).await.unwrap().into_iter().map(|(_, r)| r.kind).collect();
    assert_eq!(kinds, [AuditKind::ConsentGranted, AuditKind::BlockPlaced]);
    // The per-citizen index was written with the leaves.
    let page = log.query(&consent::audit::AuditFilter { citizen: Some(a), ..Default::default() }, None, 10).await;
    assert_eq!(page.unwrap().records.len(), 2);
    verify_store(&store, &audit_key().verifying_key()).await.unwrap();
}

#[tokio::test]
async fn the_writer_appends_leftovers_while_running_and_a_late_waiter_gets_no_duplicate() {
    let store = SledStore::temporary().unwrap();
    let fast = AuditConfig { outbox_retry: Duration::from_millis(50), ..AuditConfig::default() };
    let log = AuditLog::open(store.clone(), audit_key(), fast).await.unwrap();
    let a = cpr("0101709901");
    let now = t0();
    // A committed change whose caller never waited (e.g. a request that was cancelled).
    let input = terms(a, "kk.jobcenter", &["jobnet.cv"], now, 6);
    let s = ConsentService::new(Ledger::new(store.clone(), rules()), log.clone());
    let c = s.grant(input, &a, &Actor::citizen(Channel::Portal), now).await.unwrap();
    let ((consent, block), records) = commit_without_draining(&log, &store, &a).await;
    wait_until("the writer appended the leftovers", async || log.tree_size() == 3).await;
    assert!(store.audit_outbox(10).await.unwrap().is_empty());
    let found = audit_subjects(&log).await;
    assert_eq!((found.get(&consent), found.get(&block)), (Some(&1), Some(&1)));
    assert_eq!(found.get(&format!("consent:{}.1", c.id)), Some(&1));
    assert_eq!(log.tree_size(), 3);
    assert_eq!(log.stats().outbox_recovered, 2);
    // A waiter that comes late (after the writer drained its records) is answered, and
    // nothing is appended twice.
    tokio::time::timeout(Duration::from_secs(10), log.wait_outbox(&records)).await.unwrap().unwrap();
    assert_eq!(log.tree_size(), 3);
    assert_eq!(audit_subjects(&log).await.values().sum::<usize>(), 3);
    verify_store(&store, &audit_key().verifying_key()).await.unwrap();
}
