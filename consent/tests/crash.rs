//! Crash safety, proved by killing a writer.
//!
//! A child process (this test binary, re-run in "child mode") writes consent events in a
//! loop through the consent service (so each with its audit record) — grants, revocations, requests, approvals, blocks — and prints
//! one line per acknowledged write on its stdout pipe. The parent SIGKILLs it at a random
//! moment, reopens the store, and checks that:
//!
//! - the store opens;
//! - every acknowledged change is present (the consent has at least the acknowledged
//!   version; the block has at least its acknowledged version, is in force, and is in its
//!   citizen's index of blocks in force, `active_blocks`, which the pipeline reads);
//! - nothing is half-written: every consent's stored state equals the replay of its
//!   stored events, and the indexes agree with the state.
//!
//! Rounds: `SAMMEN_CRASH_ROUNDS` (default 30). Each round continues the same store, so
//! later rounds also check that earlier recoveries left a sound store.

mod common;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::Path;
use std::time::Instant;

use common::kill_loop;
use common::*;
use consent::lifecycle::replay;
use consent::{BlockId, Channel, ConsentId, Cpr, SledStore, State, Store};

const CHILD_ENV: &str = "SAMMEN_CRASH_CHILD_DIR";

/// Child mode: runs only when the parent starts this binary with the env var set.
#[test]
#[ignore = "run by crash_safety_under_sigkill as a child process"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let seed: u64 = std::env::var("SAMMEN_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(child(Path::new(&dir), seed));
}

async fn child(dir: &Path, seed: u64) {
    use std::io::Write;
    let ledger = ledger_over(common::reopen(dir).await).await;
    let mut out = std::io::stdout().lock();
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let citizens = pool();
    let now = t0();
    let mut open_requests: Vec<(ConsentId, Cpr)> = Vec::new();
    let mut active: Vec<(ConsentId, Cpr)> = Vec::new();
    loop {
        let who = citizens[(next() % citizens.len() as u64) as usize];
        let line = match next() % 6 {
            0 | 1 => {
                let c = ledger
                    .grant(
                        terms(who, "kk.jobcenter", &["jobnet.cv", "jobcenter.case"], now, 6),
                        &who,
                        Channel::Api,
                        now,
                    )
                    .await
                    .unwrap();
                active.push((c.id, who));
                format!("consent {} {}", c.id, c.version)
            }
            2 => {
                let c = ledger
                    .request(
                        terms(who, "kk.jobcenter.rehab", &["health.lae265"], now, 6),
                        consent::Requester { caseworker: "cw".into(), system: "sys".into() },
                        "Til mødet".into(),
                        now + days(14),
                        Channel::Api,
                        now,
                    )
                    .await
                    .unwrap();
                open_requests.push((c.id, who));
                format!("consent {} {}", c.id, c.version)
            }
            3 if !open_requests.is_empty() => {
                let (id, who) = open_requests.swap_remove((next() % open_requests.len() as u64) as usize);
                let c = ledger.approve(id, &who, Channel::Portal, now).await.unwrap();
                active.push((id, who));
                format!("consent {} {}", c.id, c.version)
            }
            4 if !active.is_empty() => {
                let (id, who) = active.swap_remove((next() % active.len() as u64) as usize);
                let c = ledger.revoke(id, &who, Channel::Portal, now).await.unwrap();
                format!("consent {} {}", c.id, c.version)
            }
            _ => {
                let b = ledger
                    .place_block(&who, consent::BlockTarget::Category(category("social.case")), Channel::Portal, now)
                    .await
                    .unwrap();
                // The citizen by position in the pool (no CPR number on the pipe).
                let at = citizens.iter().position(|c| *c == who).unwrap();
                format!("block {} {} {at}", b.id, b.version)
            }
        };
        // The write returned: it is acknowledged. Tell the parent.
        writeln!(out, "ack {line}").unwrap();
        out.flush().unwrap();
    }
}

/// Citizens from a small synthetic pool, so consents and blocks pile up per citizen.
fn pool() -> Vec<Cpr> {
    (0..20).map(|i| cpr(&format!("01{:02}709{:03}", 1 + i % 12, 900 + i))).collect()
}

/// An acknowledged block: its version and its citizen.
type AckedBlocks = HashMap<BlockId, (u32, Cpr)>;

#[test]
fn crash_safety_under_sigkill() {
    let rounds: usize = std::env::var("SAMMEN_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut acked_consents: HashMap<ConsentId, u32> = HashMap::new();
    let mut acked_blocks: AckedBlocks = HashMap::new();
    let mut total_acks = 0usize;
    let mut rng = 0x9e3779b97f4a7c15u64;
    for round in 0..rounds {
        // Kill between 20 ms and 400 ms after the first acknowledgement.
        let kill_after = kill_loop::next_kill_after(&mut rng, 20, 380);
        let seed = (rng % 1_000_000).to_string();
        let envs = [(CHILD_ENV, store_dir.as_os_str()), ("SAMMEN_CRASH_SEED", OsStr::new(&seed))];
        let acks = kill_loop::run_round("crash_child_writer", &envs, kill_after, round);
        for line in &acks {
            record_ack(line, &mut acked_consents, &mut acked_blocks);
        }
        let round_acks = acks.len();
        total_acks += round_acks;
        let t = Instant::now();
        verify(&store_dir, &acked_consents, &acked_blocks, round);
        eprintln!("round {round}: {round_acks} acks, verified in {:?}", t.elapsed());
    }
    assert!(total_acks >= rounds, "the writer acknowledged only {total_acks} writes in {rounds} rounds");
    eprintln!("crash test: {rounds} rounds, {total_acks} acknowledged writes, all present and consistent");
}

/// Records one acknowledgement (`consent <id> <version>` or `block <id> <version> <citizen
/// position in the pool>`).
fn record_ack(line: &str, consents: &mut HashMap<ConsentId, u32>, blocks: &mut AckedBlocks) {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("consent"), Some(id), Some(v), None) => {
            let v: u32 = v.parse().unwrap();
            let e = consents.entry(id.parse().unwrap()).or_default();
            *e = (*e).max(v);
        }
        (Some("block"), Some(id), Some(v), Some(at)) => {
            let v: u32 = v.parse().unwrap();
            let who = pool()[at.parse::<usize>().unwrap()];
            let e = blocks.entry(id.parse().unwrap()).or_insert((0, who));
            assert_eq!(e.1, who, "block {id} changed citizen");
            e.0 = e.0.max(v);
        }
        _ => panic!("the writer printed an unexpected line: {line:?}"),
    }
}

fn verify(dir: &Path, acked: &HashMap<ConsentId, u32>, blocks: &AckedBlocks, round: usize) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = SledStore::open(dir).unwrap_or_else(|e| panic!("round {round}: the store does not open: {e}"));
        for (id, version) in acked {
            let c = store
                .consent(*id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged consent {id} is missing"));
            assert!(c.version >= *version, "round {round}: consent {id} lost acknowledged version {version}");
        }
        // The writer places blocks and never lifts one: each acknowledged block is in force
        // with at least its acknowledged version, and its citizen's index lists it.
        let mut in_force: HashMap<Cpr, HashSet<BlockId>> = HashMap::new();
        for (id, (version, who)) in blocks {
            let b = store
                .block(*id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged block {id} is missing"));
            assert!(b.version >= *version, "round {round}: block {id} lost acknowledged version {version}");
            assert_eq!(b.citizen, *who, "round {round}: block {id} is another citizen's");
            assert!(b.is_active(), "round {round}: acknowledged block {id} is not in force");
            if let Entry::Vacant(slot) = in_force.entry(*who) {
                slot.insert(store.active_blocks(who).await.unwrap().iter().map(|b| b.id).collect());
            }
            assert!(
                in_force[who].contains(id),
                "round {round}: block {id} is missing from its citizen's active_blocks"
            );
        }
        // No half-written change: state = replay(events), and the indexes agree. Index
        // reads are cached per citizen and per key so the check stays linear.
        let mut by_citizen: HashMap<Cpr, (HashSet<ConsentId>, HashSet<ConsentId>)> = HashMap::new();
        let mut active: HashMap<String, HashSet<ConsentId>> = HashMap::new();
        for id in store.consent_ids().await.unwrap() {
            let events = store.consent_events(id).await.unwrap();
            let state = store.consent(id).await.unwrap().unwrap();
            let replayed =
                replay(&events).unwrap_or_else(|e| panic!("round {round}: events of {id} do not replay: {e}"));
            assert_eq!(replayed.as_ref(), Some(&state), "round {round}: consent {id} differs from its events");
            let t = &state.terms;
            if let Entry::Vacant(slot) = by_citizen.entry(t.citizen) {
                let all = store.consents_of(&t.citizen).await.unwrap().iter().map(|c| c.id).collect();
                let requested = store.requested_of(&t.citizen).await.unwrap().iter().map(|c| c.id).collect();
                slot.insert((all, requested));
            }
            let (all, requested) = &by_citizen[&t.citizen];
            assert!(all.contains(&id), "round {round}: consent {id} is missing from the citizen index");
            assert_eq!(
                requested.contains(&id),
                state.state == State::Requested,
                "round {round}: request index for {id}"
            );
            for cat in &t.categories {
                let key = format!("{}|{}|{}|{}", t.citizen.expose(), t.grantee, t.purpose, cat);
                if let Entry::Vacant(slot) = active.entry(key.clone()) {
                    let found = store.active_for(&t.citizen, std::slice::from_ref(&t.grantee), &t.purpose, cat).await;
                    slot.insert(found.unwrap().iter().map(|c| c.id).collect());
                }
                let indexed = active[&key].contains(&id);
                assert_eq!(indexed, state.state == State::Active, "round {round}: active index disagrees for {id}");
            }
        }
        drop(store);
    });
}
