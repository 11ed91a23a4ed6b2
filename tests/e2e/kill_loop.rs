//! SIGKILL the gateway while clients are asking for case files, restart it on the same
//! store, and check: every case file a client received has its decision and release
//! records in the log, and the log verifies (every leaf, node and signed checkpoint).
//!
//! The kill follows a request that was sent and not yet answered: the loop waits until
//! this round has answers and a request in flight. In every other round one source is slow
//! (1 s), so a request in flight is past its decision records and waiting for the source
//! when the gateway dies. Some rounds must lose an in-flight request (the client sees the
//! connection die), or the kills hit an idle gateway and prove nothing.
//!
//! After each round the gateway is started again and killed during its start, before it
//! listens (opening the store and draining what the kill left in the audit outbox), at a
//! varying fraction of the last measured start-up time; the store must open and verify after
//! that too.
//!
//! And the graceful stop: SIGTERM while a case file is being assembled lets it finish.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::case_files::check_released;
use crate::support::procs::Gateway;
use crate::support::{self, CATEGORIES, Env, case_file_body};

const ROUNDS: usize = 4;
const CLIENTS: usize = 6;
/// Every wait of the loop ends within this.
const BOUND: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Round {
    in_flight: AtomicUsize,
    answered: AtomicUsize,
    /// Requests sent before the kill whose answer never came: the gateway died under them.
    lost: AtomicUsize,
    /// Set just before the kill: requests sent after it do not count as lost.
    stop: AtomicBool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_record_of_a_release() {
    let env = Env::new(5_000);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (mut total_answers, mut rounds_with_losses, mut killed_while_starting) = (0, 0, 0);
    for round in 0..ROUNDS {
        env.sandbox.clear_faults().await;
        if round % 2 == 0 {
            env.sandbox.fault("jobnet_cv", Some(json!({"kind": "delay", "ms": 1_000}))).await;
        }
        let t = Instant::now();
        let mut gw = env.start_gateway();
        let start_up = t.elapsed();
        let url = gw.url("/api/v1/case-files");
        let state = Arc::new(Round::default());
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (client, token, url, received, state) =
                (env.kk(), env.rehab_token(), url.clone(), received.clone(), state.clone());
            clients.push(tokio::spawn(async move {
                // Until the gateway is killed (bounded by the loop's wait below).
                while !state.stop.load(Ordering::SeqCst) {
                    state.in_flight.fetch_add(1, Ordering::SeqCst);
                    let before_the_kill = !state.stop.load(Ordering::SeqCst);
                    let r = client.post(&url).bearer_auth(&token).json(&case_file_body(&citizen, &CATEGORIES)).send();
                    let file = match r.await {
                        Ok(resp) if resp.status() == 200 => resp.json::<Value>().await.ok(),
                        Ok(resp) => panic!("unexpected status {}", resp.status()),
                        Err(_) => None,
                    };
                    state.in_flight.fetch_sub(1, Ordering::SeqCst);
                    match file {
                        Some(file) => {
                            received.lock().unwrap().push(file);
                            state.answered.fetch_add(1, Ordering::SeqCst);
                        }
                        None => {
                            // The gateway is gone: the client got nothing. Sent before the
                            // kill, this request was in flight when the gateway died.
                            if before_the_kill {
                                state.lost.fetch_add(1, Ordering::SeqCst);
                            }
                            break;
                        }
                    }
                }
            }));
        }
        // Kill right after a moment with answers in this round (more in some rounds than in
        // others) and a request in flight.
        let enough = CLIENTS * [1, 8, 2, 12][round % 4];
        let deadline = Instant::now() + BOUND;
        while state.answered.load(Ordering::SeqCst) < enough || state.in_flight.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "round {round}: no answers and requests in flight within {BOUND:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        state.stop.store(true, Ordering::SeqCst);
        gw.kill();
        for c in clients {
            tokio::time::timeout(BOUND, c).await.expect("the clients stop").unwrap();
        }
        let (answered, lost) = (state.answered.load(Ordering::SeqCst), state.lost.load(Ordering::SeqCst));
        eprintln!("kill loop round {round}: {answered} answered, {lost} in flight lost");
        total_answers += answered;
        rounds_with_losses += usize::from(lost > 0);
        // The store as the killed process left it.
        let view = support::audit::read_and_verify(&env.data_dir).await;
        check_released(&view.records, &received.lock().unwrap());

        // Killed again while starting (the store opening, the outbox being drained).
        let at = start_up.mul_f64([0.2, 0.4, 0.6, 0.8][round % 4]);
        let log = env.dir.path().join(format!("gateway-start-{round}.log"));
        let mut child = Gateway::spawn_unwaited(&env.config, &env.data_dir, &log, &env.envs);
        tokio::time::sleep(at).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        killed_while_starting += usize::from(!out.contains("listening on"));
        let view = support::audit::read_and_verify(&env.data_dir).await;
        check_released(&view.records, &received.lock().unwrap());
    }
    eprintln!(
        "kill loop: {total_answers} case files answered in {ROUNDS} rounds; {rounds_with_losses} rounds lost a \
         request in flight; {killed_while_starting} kills before listening"
    );
    assert!(total_answers > 0, "no case file was answered in {ROUNDS} rounds");
    assert!(rounds_with_losses > 0, "no kill hit a request in flight");
    assert!(killed_while_starting > 0, "no kill hit the gateway while it was starting");
}

/// SIGTERM while a case file is being assembled (its slow source has been asked, by the
/// sandbox's visits, and has not answered): the request is still answered in full, the
/// gateway exits with status 0, and the log verifies with the case file's records and
/// nothing left in the audit outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_case_file_in_flight_finish() {
    let env = Env::new(10_000);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let mut gw = env.start_gateway();
    env.sandbox.fault("jobnet_cv", Some(json!({"kind": "delay", "ms": 2_000}))).await;
    env.sandbox.forget_visits().await;
    let (client, token, url) = (env.kk(), env.rehab_token(), gw.url("/api/v1/case-files"));
    let request =
        tokio::spawn(async move { support::post(&client, &url, &token, &case_file_body(&citizen, &CATEGORIES)).await });
    let deadline = Instant::now() + BOUND;
    loop {
        let visits = env.sandbox.visits().await;
        if visits.iter().any(|v| v.source == "jobnet_cv" && v.answered_us.is_none()) {
            break;
        }
        assert!(Instant::now() < deadline, "the slow source was not asked within {BOUND:?}: {visits:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The stop waits for the process (blocking), while the request goes on.
    let stopping = tokio::task::spawn_blocking(move || {
        gw.terminate();
        gw
    });
    let (status, _, file) = tokio::time::timeout(BOUND, request).await.expect("answered within the bound").unwrap();
    assert_eq!(status, 200, "{file}");
    assert!(support::statuses(&file).iter().all(|(_, s, n)| s == "included" && *n > 0), "{file}");
    let _gw = stopping.await.unwrap();
    let view = support::audit::read_after_graceful_stop(&env.data_dir).await;
    check_released(&view.records, &[file]);
}
