//! Several `sammen serve` processes on one PostgreSQL (a throw-away cluster per test, real
//! processes on 127.0.0.1, every wait bounded):
//!
//! - two gateways under concurrent case-file load: every case file answered has its
//!   decision and release records in the one shared log, the log's indexes are contiguous,
//!   it verifies offline and with `sammen audit verify`; a revocation made by another
//!   process is seen by both gateways on the very next request, round after round;
//! - one of two gateways SIGKILLed mid-request, in a loop: every case file received has its
//!   records, every acknowledged consent change is stored, and the log verifies;
//! - a gateway started before its database serves at once, not ready (503) until it is up;
//! - the primary `kill -9`ed under load and its synchronous standby promoted: the gateways
//!   carry on by themselves, nothing acknowledged is lost;
//! - the synchronous standby stopped: 503 within the deadline, nothing released; service
//!   resumes when it is back;
//! - the gateway's connections cut under load: it reconnects, nothing half-written;
//! - a URL that does not parse and a newer schema refused with a clear message;
//! - two gateways sharing one health outbox: letters stored through both are each posted to
//!   the hub once and delivered once, whichever sender claims them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use consent::audit::{AuditRecord, SignedCheckpoint, leaf_hash, verify_store};
use consent::store::scratch_postgres::ScratchPostgres;
use consent::{ConsentId, Cpr, PgStore, PostgresOptions, Store};
use serde_json::Value;

use crate::case_files::check_released;
use crate::support::procs::{Gateway, sammen};
use crate::support::{self, CATEGORIES, Env, case_file_body, statuses};

/// These tests run one at a time (each starts clusters and gateways of its own; together
/// they would crowd a small machine past their deadlines).
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A scratch cluster with one database, and an environment whose processes use it.
fn env_on_postgres() -> (ScratchPostgres, Env, String) {
    let pg = ScratchPostgres::start().unwrap_or_else(|e| panic!("starting a scratch PostgreSQL: {e}"));
    pg.create_database("sammen").unwrap();
    let url = pg.url("sammen");
    let env = Env::new_with_env(5_000, &[("SAMMEN_STORE__KIND", "postgres"), ("SAMMEN_STORE__URL", &url)]);
    (pg, env, url)
}

fn start(env: &Env, name: &str) -> Gateway {
    Gateway::start_with_env(&env.config, &env.data_dir, &env.dir.path().join(format!("{name}.log")), &env.envs)
}

/// `sammen <args>` with the environment's configuration; panics unless it succeeds.
fn cli(env: &Env, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = sammen();
    cmd.envs(env.envs.iter().map(|(k, v)| (k, v)));
    cmd.arg(args[0]).arg("--config").arg(&env.config).arg("--data-dir").arg(&env.data_dir).args(&args[1..]);
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        writeln!(child.stdin.take().unwrap(), "{input}").unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sammen {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn granted_id(out: &str) -> ConsentId {
    let id = out.split_whitespace().nth(1).unwrap_or_else(|| panic!("no consent id in {out:?}"));
    ConsentId(id.parse().unwrap())
}

/// Reads the shared log straight from the database: verifies every leaf, node and signed
/// checkpoint, checks that the leaf indexes are exactly `0..size`, and returns the records.
async fn read_and_verify(env: &Env, url: &str) -> Vec<AuditRecord> {
    let key = gateway::app::signing_key(&env.data_dir.join("audit-signing.key"), false).unwrap();
    let vk = key.verifying_key();
    let store = PgStore::open(&PostgresOptions::new(url)).unwrap();
    let report = verify_store(&store, &vk).await.expect("the shared audit log verifies");
    let size = store.audit_size().await.unwrap();
    assert_eq!(report.tree_size, size);
    let leaves = store.audit_leaves(0, size).await.unwrap();
    let indexes: Vec<u64> = leaves.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, (0..size).collect::<Vec<_>>(), "the audit indexes are not contiguous");
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|(_, b)| leaf_hash(b)).collect();
    let (at, cp) = store.audit_latest_checkpoint().await.unwrap().expect("a checkpoint");
    let cp = SignedCheckpoint::from_bytes(&cp).unwrap();
    cp.verify(&vk).expect("the latest checkpoint's signature verifies");
    assert_eq!((at, cp.tree_size), (size, size));
    assert_eq!(cp.root, support::audit::rfc6962_root(&hashes), "the recomputed root differs from the checkpoint");
    leaves.iter().map(|(_, b)| AuditRecord::from_canonical_bytes(b).unwrap()).collect()
}

/// A case-file load: `clients` clients asking `urls` (round robin) until `stop` or
/// `per_client` answers. `must_answer`: anything but a 200 fails the test.
struct Load {
    urls: Vec<String>,
    clients: usize,
    per_client: usize,
    must_answer: bool,
}

/// Runs `load`; every 200 answer is kept in `received`.
fn load(
    env: &Env,
    load: Load,
    citizen: Cpr,
    received: Arc<Mutex<Vec<Value>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    let Load { urls, clients, per_client, must_answer } = load;
    (0..clients)
        .map(|i| {
            let (client, token, urls, received, stop) =
                (env.kk(), env.rehab_token(), urls.clone(), received.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                let mut k = i;
                while n < per_client && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let url = &urls[k % urls.len()];
                    k += 1;
                    let r = client.post(url).bearer_auth(&token).json(&case_file_body(&citizen, &CATEGORIES)).send();
                    match r.await {
                        Ok(resp) if resp.status() == 200 => match resp.json::<Value>().await {
                            Ok(file) => {
                                received.lock().unwrap().push(file);
                                n += 1;
                            }
                            Err(e) if must_answer => panic!("a case file that does not read: {e}"),
                            Err(_) => continue, // killed mid-answer: the client got nothing
                        },
                        Ok(resp) if must_answer => panic!("{url}: status {}", resp.status()),
                        Ok(_) => continue,
                        Err(e) if must_answer => panic!("{url}: {e}"),
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                n
            })
        })
        .collect()
}

fn included(file: &Value) -> usize {
    statuses(file).iter().filter(|(_, st, _)| st == "included").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_log_and_see_a_revocation_at_once() {
    let _serial = SERIAL.lock().await;
    let (_pg, env, url) = env_on_postgres();
    let out = cli(&env, &["store", "migrate"], None);
    assert!(out.contains(&format!("version {}", consent::store::postgres::SCHEMA_VERSION)), "{out}");
    let citizen = support::rehab_citizen();
    let first = granted_id(&env.grant_by_cli(&citizen, &CATEGORIES));
    let (a, b) = (start(&env, "gateway-a"), start(&env, "gateway-b"));
    let urls = vec![a.url("/api/v1/case-files"), b.url("/api/v1/case-files")];

    // Concurrent load through both gateways: every request answered.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = load(
        &env,
        Load { urls: urls.clone(), clients: 6, per_client: 8, must_answer: true },
        citizen,
        received.clone(),
        stop,
    );
    let mut answered = 0;
    for c in clients {
        answered += tokio::time::timeout(Duration::from_secs(120), c).await.expect("the load finished").unwrap();
    }
    assert_eq!(answered, 48);
    assert!(received.lock().unwrap().iter().all(|f| included(f) > 0), "a case file released nothing");

    // Revoked by another process (the CLI, a third instance on the database): the very next
    // request, through either gateway, is denied. Round after round, each with a grant of
    // its own (the first, five-category grant is revoked first).
    cli(&env, &["consent", "revoke", "--id", &first.to_string()], Some(citizen.expose()));
    let (client, token) = (env.kk(), env.rehab_token());
    let ask = |url: String| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let resp = client
                .post(&url)
                .bearer_auth(&token)
                .json(&case_file_body(&citizen, &["health.lae265"]))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{url}");
            resp.json::<Value>().await.unwrap()
        }
    };
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        let id = granted_id(&env.grant_by_cli(&citizen, &["health.lae265"]));
        let file = ask(urls[round % 2].clone()).await;
        assert_eq!(included(&file), 1, "round {round}: granted, yet not released: {file}");
        cli(&env, &["consent", "revoke", "--id", &id.to_string()], Some(citizen.expose()));
        for url in [&urls[(round + 1) % 2], &urls[round % 2]] {
            let file = ask(url.clone()).await;
            assert!(
                statuses(&file).iter().all(|(_, st, n)| st == "denied" && *n == 0),
                "round {round}: revoked, yet {url} released: {file}"
            );
        }
    }

    drop((a, b));
    let records = read_and_verify(&env, &url).await;
    check_released(&records, &received.lock().unwrap());
    let out = cli(&env, &["audit", "verify"], None);
    eprintln!("sammen audit verify: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_one_of_two_gateways_loses_no_acknowledged_write() {
    let _serial = SERIAL.lock().await;
    const ROUNDS: usize = 3;
    let (_pg, env, url) = env_on_postgres();
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let b = start(&env, "gateway-b");
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mut granted = Vec::new();
    for round in 0..ROUNDS {
        let mut a = start(&env, &format!("gateway-a-{round}"));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let urls = vec![a.url("/api/v1/case-files"), b.url("/api/v1/case-files")];
        let clients = load(
            &env,
            Load { urls, clients: 4, per_client: 100, must_answer: false },
            citizen,
            received.clone(),
            stop.clone(),
        );
        // A consent change acknowledged while the load runs must survive the kill.
        granted.push(granted_id(&env.grant_by_cli(&citizen, &["jobnet.cv"])));
        tokio::time::sleep(Duration::from_millis(700 + 300 * round as u64)).await;
        a.kill();
        // B carries on alone for a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in clients {
            tokio::time::timeout(Duration::from_secs(60), c).await.expect("the clients stop").unwrap();
        }
    }
    drop(b);
    let records = read_and_verify(&env, &url).await;
    let received = received.lock().unwrap().clone();
    assert!(!received.is_empty(), "no case file was answered");
    check_released(&records, &received);
    let store = PgStore::open(&PostgresOptions::new(&url)).unwrap();
    for id in granted {
        assert!(store.consent(id).await.unwrap().is_some(), "an acknowledged grant is missing");
    }
    assert!(store.audit_outbox(10).await.unwrap().is_empty(), "records left in the outbox after a clean stop");
    eprintln!("kill loop on PostgreSQL: {} case files, {} records", received.len(), records.len());
}

/// A gateway started while its database is down serves at once and says it is not ready:
/// liveness 200, `/readyz` 503 naming "store: connecting" (and no URL), the API 503
/// problem+json with nothing released; once the database is up, readiness turns 200 and
/// case files are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_before_its_database_serves_not_ready_until_it_is_up() {
    let _serial = SERIAL.lock().await;
    let (mut pg, env, _url) = env_on_postgres();
    let ops = crate::operators::add_admin(&env);
    pg.stop_immediate().unwrap();
    let started = std::time::Instant::now();
    let gw = start(&env, "gateway-early");
    assert!(started.elapsed() < Duration::from_secs(20), "the listeners took {:?} to come up", started.elapsed());
    let operator = env.client(Some(&ops.operator));
    let r = operator.get(gw.admin_url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "liveness while the database is down");
    let r = operator.get(gw.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503, "readiness while the database is down");
    let body = r.text().await.unwrap();
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], false);
    assert_eq!(ready["checks"][0]["name"], "store", "{body}");
    assert_eq!(ready["checks"][0]["detail"], "connecting", "{body}");
    assert!(
        !body.contains(&pg.port().to_string()) && !body.contains("postgres"),
        "the readiness names the URL: {body}"
    );
    let citizen = support::rehab_citizen();
    let ask = || {
        env.kk()
            .post(gw.url("/api/v1/case-files"))
            .bearer_auth(env.rehab_token())
            .json(&case_file_body(&citizen, &["health.lae265"]))
            .send()
    };
    let r = ask().await.unwrap();
    assert_eq!(r.status(), 503, "a case file while the database is down");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(r.headers().contains_key("retry-after"));
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["type"], "https://sammen.dk/problems/store-connecting", "{problem}");
    assert!(!problem.to_string().contains(citizen.expose()), "the problem repeats the CPR number");
    // An operator's audit query waits too (nothing reaches the store).
    let auditor = env.client(Some(&ops.auditor));
    let r = auditor.get(gw.admin_url("/admin/v1/audit")).send().await.unwrap();
    assert_eq!(r.status(), 503);

    pg.start_server().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let r = operator.get(gw.admin_url("/readyz")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready 40 s after the database came up: {}",
            r.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waited = std::fs::read_to_string(env.dir.path().join("gateway-early.log")).unwrap();
    assert!(waited.contains("the database is not reachable"), "no word of the wait in the log:\n{waited}");
    let resp = ask().await.unwrap();
    assert_eq!(resp.status(), 200);
    let file: Value = resp.json().await.unwrap();
    assert!(statuses(&file).iter().all(|(_, st, _)| st == "denied"), "no consent, yet released: {file}");
}

/// The primary `kill -9`ed under load, the synchronous standby promoted: both gateways find
/// the new primary by themselves (a multi-host URL with `target_session_attrs=read-write`)
/// and answer again; every case file received and every consent change acknowledged before
/// the kill is on the new primary, and the log there verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_killed_and_the_standby_promoted_loses_no_acknowledged_write() {
    let _serial = SERIAL.lock().await;
    let mut primary = ScratchPostgres::start().unwrap_or_else(|e| panic!("starting a scratch PostgreSQL: {e}"));
    primary.create_database("sammen").unwrap();
    let standby = primary.start_sync_standby().unwrap_or_else(|e| panic!("starting the standby: {e}"));
    let url = format!(
        "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/sammen?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
    let env = Env::new_with_env(5_000, &[("SAMMEN_STORE__KIND", "postgres"), ("SAMMEN_STORE__URL", &url)]);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let (a, b) = (start(&env, "gateway-a"), start(&env, "gateway-b"));
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let urls = vec![a.url("/api/v1/case-files"), b.url("/api/v1/case-files")];
    let clients = load(
        &env,
        Load { urls: urls.clone(), clients: 4, per_client: 1_000, must_answer: false },
        citizen,
        received.clone(),
        stop.clone(),
    );
    let granted = granted_id(&env.grant_by_cli(&citizen, &["jobnet.cv"]));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    primary.kill_9().unwrap();
    let before = received.lock().unwrap().len();
    standby.promote().unwrap();
    // The gateways find the new primary by themselves: answers resume (bounded wait).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < before + 10 {
        assert!(std::time::Instant::now() < deadline, "no case file answered within 30 s of the promotion");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c).await.expect("the clients stop").unwrap();
    }
    drop((a, b));
    let on_standby = format!("postgresql://postgres@127.0.0.1:{}/sammen", standby.port());
    let records = read_and_verify(&env, &on_standby).await;
    let received = received.lock().unwrap().clone();
    check_released(&records, &received);
    let store = PgStore::open(&PostgresOptions::new(&on_standby)).unwrap();
    assert!(store.consent(granted).await.unwrap().is_some(), "a grant acknowledged before the kill is missing");
    eprintln!("failover: {} case files ({before} before the kill), {} records", received.len(), records.len());
}

/// The synchronous standby stopped: a case file, whose records need a durable write,
/// answers 503 within its deadline and releases nothing; once the standby is back the
/// gateway answers again by itself, and the log verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_stopped_means_503_in_time_and_service_resumes() {
    let _serial = SERIAL.lock().await;
    let primary = ScratchPostgres::start().unwrap_or_else(|e| panic!("starting a scratch PostgreSQL: {e}"));
    primary.create_database("sammen").unwrap();
    let mut standby = primary.start_sync_standby().unwrap_or_else(|e| panic!("starting the standby: {e}"));
    let url = primary.url("sammen");
    let env = Env::new_with_env(
        5_000,
        &[
            ("SAMMEN_STORE__KIND", "postgres"),
            ("SAMMEN_STORE__URL", &url),
            ("SAMMEN_STORE__STATEMENT_TIMEOUT_MS", "1500"),
        ],
    );
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let gw = start(&env, "gateway");
    let (client, token) = (env.kk(), env.rehab_token());
    let ask = || {
        client
            .post(gw.url("/api/v1/case-files"))
            .bearer_auth(&token)
            .json(&case_file_body(&citizen, &CATEGORIES))
            .send()
    };
    let file: Value = ask().await.unwrap().json().await.unwrap();
    assert!(included(&file) > 0, "released nothing with the standby up: {file}");

    standby.stop_immediate().unwrap();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let resp = ask().await.unwrap();
        let took = started.elapsed();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 503, "with the standby down: {body}");
        assert!(!body.contains("\"documents\""), "a 503 carries documents: {body}");
        assert!(took < Duration::from_secs(8), "the 503 took {took:?}");
    }

    standby.start_server().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let resp = ask().await.unwrap();
        if resp.status() == 200 {
            let file: Value = resp.json().await.unwrap();
            assert!(included(&file) > 0, "released nothing after the standby came back: {file}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no answer within 60 s of the standby's return");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(gw);
    read_and_verify(&env, &url).await;
}

/// `sammen store migrate` and `sammen serve` say what is wrong: a URL that does not parse
/// (without echoing its password), and a database migrated by a newer sammen (naming the
/// version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_and_newer_schemas_are_refused_clearly() {
    let _serial = SERIAL.lock().await;
    let (pg, env, _url) = env_on_postgres();
    let run = |args: &[&str], url: &str| {
        let mut cmd = sammen();
        cmd.envs(env.envs.iter().map(|(k, v)| (k, v)));
        cmd.env("SAMMEN_STORE__URL", url);
        cmd.arg(args[0]).arg("--config").arg(&env.config).arg("--data-dir").arg(&env.data_dir).args(&args[1..]);
        let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = run(&["store", "migrate"], "postgresql://sammen:hemmeligt@127.0.0.1:notaport/sammen");
    assert!(!ok, "a URL that does not parse was accepted");
    assert!(err.contains("does not parse"), "{err}");
    assert!(!err.contains("hemmeligt"), "the error echoes the password: {err}");

    let good = pg.url("sammen");
    let (ok, err) = run(&["store", "migrate"], &good);
    assert!(ok, "{err}");
    let newer = consent::store::postgres::SCHEMA_VERSION + 1;
    pg.psql("sammen", &format!("INSERT INTO sammen_schema (version) VALUES ({newer})")).unwrap();
    let (ok, err) = run(&["store", "migrate"], &good);
    assert!(!ok && err.contains(&format!("schema version {newer}")), "migrate over a newer schema: {err}");
    let (ok, err) = run(&["serve"], &good);
    assert!(!ok && err.contains(&format!("schema version {newer}")), "serve over a newer schema: {err}");
}

/// The gateway's database connections cut under load (`pg_terminate_backend`, as a network
/// failure or a restarted pooler would): requests caught in it fail, the gateway
/// reconnects by itself, every case file received has its records, and the log verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_mid_transaction_half_write_nothing() {
    let _serial = SERIAL.lock().await;
    let (pg, env, url) = env_on_postgres();
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let gw = start(&env, "gateway");
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let urls = vec![gw.url("/api/v1/case-files")];
    let clients = load(
        &env,
        Load { urls, clients: 4, per_client: 1_000, must_answer: false },
        citizen,
        received.clone(),
        stop.clone(),
    );
    let mut cut = 0;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let n = pg
            .psql(
                "postgres",
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'sammen'",
            )
            .unwrap();
        cut += n.trim().parse::<u32>().unwrap();
    }
    assert!(cut > 0, "no connection was cut");
    let before = received.lock().unwrap().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < before + 5 {
        assert!(std::time::Instant::now() < deadline, "no case file answered within 30 s of the last cut");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c).await.expect("the clients stop").unwrap();
    }
    drop(gw);
    let records = read_and_verify(&env, &url).await;
    let received = received.lock().unwrap().clone();
    check_released(&records, &received);
    eprintln!("connections cut: {cut}; {} case files, {} records", received.len(), records.len());
}

/// One of two gateways frozen (SIGSTOP) under load, perhaps holding the audit log's head
/// lock in the middle of a batch: the other carries on (the database ends a transaction left
/// idle past `idle_in_transaction_session_timeout`, 4 × the statement timeout); when the
/// frozen one resumes, its stale batch fails instead of forking the log, and it serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_gateway_neither_stops_the_other_nor_forks_the_log() {
    let _serial = SERIAL.lock().await;
    let pg = ScratchPostgres::start().unwrap_or_else(|e| panic!("starting a scratch PostgreSQL: {e}"));
    pg.create_database("sammen").unwrap();
    let url = pg.url("sammen");
    let env = Env::new_with_env(
        5_000,
        &[
            ("SAMMEN_STORE__KIND", "postgres"),
            ("SAMMEN_STORE__URL", &url),
            ("SAMMEN_STORE__STATEMENT_TIMEOUT_MS", "1000"),
            ("SAMMEN_STORE__LOCK_TIMEOUT_MS", "500"),
        ],
    );
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let (a, b) = (start(&env, "gateway-a"), start(&env, "gateway-b"));
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let urls = [a.url("/api/v1/case-files"), b.url("/api/v1/case-files")];
    let clients = load(
        &env,
        Load { urls: vec![urls[0].clone()], clients: 3, per_client: 1_000, must_answer: false },
        citizen,
        received.clone(),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let signal = |sig: &str, pid: u32| {
        let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP", a.child.id());
    // B answers within the idle-transaction timeout (4 s) plus a margin.
    let (client, token) = (env.kk(), env.rehab_token());
    let started = std::time::Instant::now();
    loop {
        let resp = client
            .post(&urls[1])
            .bearer_auth(&token)
            .json(&case_file_body(&citizen, &CATEGORIES))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            let file: Value = resp.json().await.unwrap();
            received.lock().unwrap().push(file);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "B did not answer within 15 s of A freezing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more through B while A is frozen.
    for _ in 0..5 {
        let resp = client.post(&urls[1]).bearer_auth(&token).json(&case_file_body(&citizen, &CATEGORIES)).send();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status(), 200, "B while A is frozen");
        let file: Value = resp.json().await.unwrap();
        received.lock().unwrap().push(file);
    }
    signal("-CONT", a.child.id());
    // A serves again by itself.
    let before = received.lock().unwrap().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < before + 5 {
        assert!(std::time::Instant::now() < deadline, "A did not answer within 30 s of resuming");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c).await.expect("the clients stop").unwrap();
    }
    drop((a, b));
    let records = read_and_verify(&env, &url).await;
    let received = received.lock().unwrap().clone();
    check_released(&records, &received);
    eprintln!("frozen gateway: {} case files, {} records", received.len(), records.len());
}

/// Two gateways on one database share the health outbox: letters stored through both, while
/// both senders run against a slow hub, are each posted once and delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_health_outbox_and_deliver_each_message_once() {
    let _serial = SERIAL.lock().await;
    tokio::time::timeout(Duration::from_secs(180), async {
        let (_pg, env, _url) = env_on_postgres();
        let citizen = support::rehab_citizen();
        env.grant_by_cli(&citizen, &["health.correspondence"]);
        crate::health_send::configure_health(&env);
        let (a, b) = (start(&env, "gateway-a"), start(&env, "gateway-b"));
        // Each post waits at the hub, so the two senders' claims overlap in time.
        crate::health_send::hub(&env, "normal", 0, 150).await;
        let token = env.rehab_token();
        let mut locations = Vec::new();
        for i in 0..24 {
            let gw = if i % 2 == 0 { &a } else { &b };
            let body = crate::health_send::letter(&citizen, "Status", &format!("Brev nummer {i}."));
            let (status, location, v) =
                crate::health_send::post_with_key(&env, &gw.url("/api/v1/health/letters"), &token, None, &body).await;
            assert_eq!(status, 202, "{v}");
            locations.push(location.unwrap());
        }
        let mut envelopes = Vec::new();
        for (i, l) in locations.iter().enumerate() {
            // Read through the other gateway: the state is in the shared store.
            let gw = if i % 2 == 0 { &b } else { &a };
            let v = crate::health_send::until_state(&env, &gw.url(l), &token, "acknowledged").await;
            envelopes.push(v["envelope_id"].as_str().unwrap().to_string());
        }
        let counted = crate::health_send::deliveries(&env).await;
        for e in &envelopes {
            assert_eq!(counted[e], (1, 1), "envelope {e}: (posts, deliveries)");
        }
        let senders: std::collections::BTreeSet<String> = ["gateway-a", "gateway-b"]
            .iter()
            .filter(|n| {
                std::fs::read_to_string(env.dir.path().join(format!("{n}.log")))
                    .unwrap_or_default()
                    .contains("message stored for sending")
            })
            .map(|n| n.to_string())
            .collect();
        assert_eq!(senders.len(), 2, "both gateways stored messages");
        drop((a, b));
    })
    .await
    .expect("within three minutes");
}
