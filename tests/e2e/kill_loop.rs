//! SIGKILL the gateway while clients are asking for case files, restart it on the same
//! store, and check: every case file a client received has its decision and release
//! records in the log, and the log verifies (every leaf, node and signed checkpoint).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::case_files::check_released;
use crate::support::{self, CATEGORIES, Env, case_file_body};

const ROUNDS: usize = 4;
const CLIENTS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_record_of_a_release() {
    let env = Env::new(5_000);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mut total_answers = 0;
    for round in 0..ROUNDS {
        let mut gw = env.start_gateway();
        let url = gw.url("/api/v1/case-files");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (client, token, url, received, stop) =
                (env.kk(), env.rehab_token(), url.clone(), received.clone(), stop.clone());
            clients.push(tokio::spawn(async move {
                let mut n = 0;
                // Bounded: at most 200 requests, and only until the gateway is killed.
                while n < 200 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = client.post(&url).bearer_auth(&token).json(&case_file_body(&citizen, &CATEGORIES)).send();
                    match r.await {
                        Ok(resp) if resp.status() == 200 => match resp.json::<Value>().await {
                            Ok(file) => {
                                received.lock().unwrap().push(file);
                                n += 1;
                            }
                            Err(_) => break, // killed mid-answer: the client got nothing
                        },
                        Ok(resp) => panic!("unexpected status {}", resp.status()),
                        Err(_) => break, // the gateway is gone
                    }
                }
                n
            }));
        }
        // Let the clients get going, then kill without warning at a varying moment.
        tokio::time::sleep(Duration::from_millis(1_500 + 300 * round as u64)).await;
        gw.kill();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in clients {
            total_answers += tokio::time::timeout(Duration::from_secs(30), c).await.unwrap().unwrap();
        }
        // The store as the killed process left it.
        let view = support::audit::read_and_verify(&env.data_dir).await;
        check_released(&view.records, &received.lock().unwrap());
    }
    eprintln!("kill loop: {total_answers} case files answered in {ROUNDS} rounds");
    assert!(total_answers > 0, "no case file was answered in {ROUNDS} rounds");
}
