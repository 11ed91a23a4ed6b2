//! `sammen store copy`: an installation on sled, made through real use (CLI grants, case
//! files through the API, a consent request, a revocation, blocks placed and lifted, a
//! letter to the GP the hub does not take yet), stopped, copied into a scratch PostgreSQL,
//! and served from there: the same consents, the same records in the citizen's log (the
//! audit index behind Min log), `sammen audit verify` names the same size and root, and the
//! letter is delivered from there once, its Idempotency-Key still known. A copy into a non-empty database is refused; a
//! database that goes down mid-copy fails the copy with an error, and the partial copy is
//! refused by a second run (it must be emptied first). Real processes, bounded waits.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use consent::audit::{AuditConfig, AuditLog};
use consent::{Actor, BlockTarget, Category, Channel, ConsentService, Cpr, Ledger};
use serde_json::{Value, json};

use crate::operators::add_admin;
use crate::support::procs::{Gateway, sammen};
use crate::support::{self, CATEGORIES, Env, case_file_body};

/// `sammen ARGS` with the environment's configuration and `extra` environment, at most
/// 120 s; the output whatever the exit status.
fn run(env: &Env, extra: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = sammen();
    cmd.envs(env.envs.iter().map(|(k, v)| (k, v)));
    cmd.envs(extra.iter().copied());
    cmd.arg(args[0]).arg("--config").arg(&env.config).arg("--data-dir").arg(&env.data_dir).args(&args[1..]);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    if let Some(input) = stdin {
        writeln!(child.stdin.take().unwrap(), "{input}").unwrap();
    }
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sammen {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Places a block on `social.case` and places and lifts one on the hospital, through the
/// consent service the portal uses, on the stopped installation's store (in-process: the
/// portal's login is not what this test is about). Their records wait in the outbox for
/// the next start of the gateway.
fn place_blocks(env: &Env, citizen: Cpr) {
    let settings = env.settings();
    let data_dir = env.data_dir.clone();
    // Its own runtime, dropped at the end: every task holding the store ends with it, so
    // the sled lock is free for the next process.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = consent::store::open(&consent::Engine::sled(), &data_dir).unwrap();
            let key = gateway::app::signing_key(&settings.audit.key_file(&data_dir), false).unwrap();
            let audit = AuditLog::open(store.clone(), key, AuditConfig::default()).await.unwrap();
            let service = ConsentService::new(Ledger::new(store, settings.domain.into_rules().unwrap()), audit);
            let me = Actor::citizen(Channel::Portal);
            let now = chrono::Utc::now();
            let cat = BlockTarget::Category(Category::parse("social.case").unwrap());
            service.place_block(&citizen, cat, &me, now).await.unwrap();
            let unit = BlockTarget::Unit(consent::UnitId::parse("kk.jobcenter.rehab").unwrap());
            let b = service.place_block(&citizen, unit, &me, now).await.unwrap();
            service.lift_block(b.id, &citizen, &me, now).await.unwrap();
        });
        drop(rt);
    })
    .join()
    .expect("placing the blocks");
}

/// What the caseworker API and the auditor see of the citizen.
struct Seen {
    consents: Value,
    /// The citizen's records (index, record), newest first.
    log: Vec<(u64, Value)>,
}

async fn look(env: &Env, gw: &Gateway, auditor: &reqwest::Client, citizen: &Cpr) -> Seen {
    let resp = env
        .kk()
        .post(gw.url("/api/v1/consents/search"))
        .bearer_auth(env.rehab_token())
        .json(&json!({ "citizen": citizen.expose() }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let consents: Value = resp.json().await.unwrap();
    let resp = auditor
        .get(gw.admin_url("/admin/v1/audit?limit=1000"))
        .header("x-citizen-cpr", citizen.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.unwrap();
    let log = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["record"].clone()))
        .collect();
    Seen { consents, log }
}

/// The "audit log OK: N records, root R" part of `sammen audit verify`'s answer.
fn size_and_root(out: &Output) -> String {
    assert!(out.status.success(), "audit verify: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("audit log OK")).unwrap_or_else(|| panic!("{stdout}"));
    line.split(", ").take(2).collect::<Vec<_>>().join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_moves_from_sled_to_postgres() {
    let _serial = crate::postgres::SERIAL.lock().await;
    // --- An installation on sled, through real use. ---
    let env = Env::new(5_000);
    let ops = add_admin(&env);
    let auditor = env.client(Some(&ops.auditor));
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let second = env.grant_by_cli(&citizen, &["jobnet.cv"]);
    crate::health_send::configure_health(&env);
    let mut gw = env.start_gateway();
    for _ in 0..3 {
        let r = env
            .kk()
            .post(gw.url("/api/v1/case-files"))
            .bearer_auth(env.rehab_token())
            .json(&case_file_body(&citizen, &CATEGORIES))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let other = sandbox::citizens()[11].cpr;
    let r = env
        .kk()
        .post(gw.url("/api/v1/consent-requests"))
        .bearer_auth(env.rehab_token())
        .json(&json!({
            "citizen": other.expose(), "purpose": support::PURPOSE, "categories": ["jobcenter.case"],
            "period": { "until": (chrono::Utc::now() + chrono::Duration::days(90)).to_rfc3339() },
            "explanation": "Til mødet.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    gw.terminate();
    let id = second.split_whitespace().nth(1).unwrap();
    let out = run(&env, &[], &["consent", "revoke", "--id", id], Some(citizen.expose()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    place_blocks(&env, citizen);
    // One more start drains the blocks' records; what it shows is what the copy must show.
    let mut gw = env.start_gateway();
    // A letter to the GP the hub does not take yet: still queued when the store moves.
    crate::health_send::hub(&env, "down", 0, 0).await;
    let letter = crate::health_send::letter(&citizen, "Flytning", "Sendt under flytningen.");
    let letters = gw.url("/api/v1/health/letters");
    let (status, location, queued) =
        crate::health_send::post_with_key(&env, &letters, &env.rehab_token(), Some("flyt-1"), &letter).await;
    assert_eq!(status, 202, "{queued}");
    let location = location.unwrap();
    let before = look(&env, &gw, &auditor, &citizen).await;
    gw.terminate();
    assert_eq!(before.consents["consents"].as_array().map(Vec::len), Some(2), "{}", before.consents);
    let kinds: Vec<&str> = before.log.iter().filter_map(|(_, r)| r["kind"].as_str()).collect();
    for k in ["consent_granted", "consent_revoked", "block_placed", "block_lifted", "release"] {
        assert!(kinds.contains(&k), "no {k} record about the citizen: {kinds:?}");
    }
    let sled_verified = size_and_root(&run(&env, &[], &["audit", "verify"], None));

    // --- Copied into an empty PostgreSQL database. ---
    let mut pg = consent::store::scratch_postgres::ScratchPostgres::start()
        .unwrap_or_else(|e| panic!("starting a scratch PostgreSQL: {e}"));
    pg.create_database("sammen").unwrap();
    // A password in the URL (the scratch cluster trusts local connections and ignores it):
    // it must not appear in anything the commands print.
    let url = pg.url("sammen").replacen("postgres@", "postgres:pw-not-to-print@", 1);
    assert!(url.contains("pw-not-to-print"), "{url}");
    let from = format!("sled:{}", env.data_dir.display());
    let to = format!("postgres:{url}");
    let started = Instant::now();
    let out = run(&env, &[], &["store", "copy", "--from", &from, "--to", &to, "--batch", "7"], None);
    let copy_time = started.elapsed();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "store copy: {stderr}");
    assert!(stdout.contains("copied and verified: 3 consents"), "{stdout}");
    assert!(stdout.contains("2 blocks (3 events)"), "{stdout}");
    assert!(stdout.contains("1 messages to GPs"), "{stdout}");
    assert!(stderr.contains(" consents") && stderr.contains(" audit records"), "no progress on stderr: {stderr}");
    for (what, s) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!s.contains("pw-not-to-print"), "the password is in the copy's {what}");
        for cpr in [citizen, other] {
            assert!(!s.contains(cpr.expose()), "a CPR number is in the copy's {what}");
        }
    }
    eprintln!("store copy took {copy_time:?}");

    // --- Served from PostgreSQL: the same consents, the same log. ---
    let pg_env = [("SAMMEN_STORE__KIND", "postgres"), ("SAMMEN_STORE__URL", url.as_str())];
    let pg_verified = size_and_root(&run(&env, &pg_env, &["audit", "verify"], None));
    assert_eq!(pg_verified, sled_verified, "the copy's log differs from the source's");
    let envs: Vec<(String, String)> = pg_env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut gw = Gateway::start_with_env(&env.config, &env.data_dir, &env.dir.path().join("gateway-pg.log"), &envs);
    let after = look(&env, &gw, &auditor, &citizen).await;
    assert_eq!(after.consents, before.consents, "the consents served from PostgreSQL differ");
    // The citizen's log there holds every record it held on sled, and after them only the
    // reads `look` itself made (the caseworker's consent search, the auditor's query).
    let last = before.log.first().map(|(i, _)| *i).unwrap();
    let older: Vec<_> = after.log.iter().filter(|(i, _)| *i <= last).cloned().collect();
    assert_eq!(older, before.log, "the citizen's log served from PostgreSQL differs");
    assert!(
        after
            .log
            .iter()
            .filter(|(i, _)| *i > last)
            .all(|(_, r)| r["kind"] == "audit_read" || r["kind"] == "consents_read"),
        "records about the citizen that sled did not have: {:?}",
        after.log.iter().filter(|(i, _)| *i > last).map(|(_, r)| r["kind"].clone()).collect::<Vec<_>>()
    );
    // The queued letter is delivered from PostgreSQL, once; its key is known there.
    crate::health_send::hub(&env, "normal", 0, 0).await;
    let acked = crate::health_send::until_state(&env, &gw.url(&location), &env.rehab_token(), "acknowledged").await;
    assert_eq!(acked["id"], queued["id"]);
    let envelope = acked["envelope_id"].as_str().unwrap();
    assert_eq!(crate::health_send::deliveries(&env).await[envelope], (1, 1), "delivered once");
    let letters = gw.url("/api/v1/health/letters");
    let (status, _, again) =
        crate::health_send::post_with_key(&env, &letters, &env.rehab_token(), Some("flyt-1"), &letter).await;
    assert_eq!((status, &again["id"]), (200, &queued["id"]), "{again}");

    // And it goes on: a case file served from PostgreSQL is released and recorded.
    let r = env
        .kk()
        .post(gw.url("/api/v1/case-files"))
        .bearer_auth(env.rehab_token())
        .json(&case_file_body(&citizen, &["health.lae265"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.terminate();
    let pg_now = size_and_root(&run(&env, &pg_env, &["audit", "verify"], None));

    // --- A copy into a database that is not empty is refused, and changes nothing. ---
    let out = run(&env, &[], &["store", "copy", "--from", &from, "--to", &to], None);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "a copy into a non-empty database succeeded");
    assert!(stderr.contains("the target is not empty"), "{stderr}");
    assert!(!stderr.contains("pw-not-to-print"), "{stderr}");
    assert_eq!(size_and_root(&run(&env, &pg_env, &["audit", "verify"], None)), pg_now, "a refused copy wrote");

    // --- The database goes down mid-copy. ---
    pg.create_database("halfway").unwrap();
    let half = format!("postgres:{}", pg.url("halfway"));
    let mut cmd = sammen();
    cmd.envs(env.envs.iter().map(|(k, v)| (k, v)));
    cmd.args(["store", "--config"]).arg(&env.config).arg("--data-dir").arg(&env.data_dir);
    cmd.args(["copy", "--from", &from, "--to", &half, "--batch", "1"]);
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id().to_string();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Stopped at its first consent written: the database goes down, then it carries on.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no progress within 60 s: {seen:?}");
        let line = lines.next().expect("the copy ended before writing a consent").unwrap();
        let first_consent = line.contains(" consents");
        seen.push(line);
        if first_consent {
            break;
        }
    }
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    pg.stop_immediate().unwrap();
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the copy did not end within 60 s of the database going down");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = rest.join("\n");
    assert!(!status.success(), "the copy succeeded with its database down: {stderr}");
    assert!(stderr.contains("the target store failed"), "{stderr}");
    for cpr in [citizen, other] {
        assert!(!stderr.contains(cpr.expose()), "a CPR number in the failed copy's error");
    }
    // The partial copy is refused by a second run, until the database is emptied.
    pg.start_server().unwrap();
    let out = run(&env, &[], &["store", "copy", "--from", &from, "--to", &half], None);
    assert!(!out.status.success(), "a copy over a partial copy succeeded");
    assert!(text(&out.stderr).contains("the target is not empty"), "{}", text(&out.stderr));
    pg.psql("postgres", "DROP DATABASE halfway").unwrap();
    pg.create_database("halfway").unwrap();
    let out = run(&env, &[], &["store", "copy", "--from", &from, "--to", &half], None);
    assert!(out.status.success(), "the copy into the emptied database: {}", text(&out.stderr));
}
