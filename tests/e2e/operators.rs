//! Operators on the admin listener, with real processes, JSON logs at debug level:
//! audited audit-log queries (the citizen in a header or body), JSON Lines export, proofs
//! from the API checked against the signed checkpoint, online verification from a saved
//! checkpoint, metrics, readiness with a source down and back, refused certificates. At the
//! end every log file of the run is scanned for every synthetic CPR number in any format.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use consent::Cpr;
use consent::audit::{leaf_hash, verify_consistency, verify_inclusion};
use gateway::admin::checkpoint::CheckpointView;
use gateway::dev::{ClientCert, DevPki};
use rustls::AlertDescription;
use serde_json::{Value, json};

use crate::support::procs::sammen;
use crate::support::{self, CATEGORIES, Env, PURPOSE, case_file_body, post};

pub(crate) struct Operators {
    pub pki: DevPki,
    pub auditor: ClientCert,
    pub operator: ClientCert,
    pub stranger: ClientCert,
}

/// An operator CA (not the caseworker systems' CA), an auditor and an operator, and a
/// certificate of that CA registered for nobody; `[admin]` appended to the configuration.
pub(crate) fn add_admin(env: &Env) -> Operators {
    let pki = DevPki::generate(&env.dir.path().join("operator-pki"), &["localhost"], "unused").unwrap();
    let ops = Operators {
        auditor: pki.issue_client("ida-auditor").unwrap(),
        operator: pki.issue_client("otto-operator").unwrap(),
        stranger: pki.issue_client("nobody").unwrap(),
        pki,
    };
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(&format!(
        r#"
[admin]
listen = "127.0.0.1:0"
client_ca_file = "{ca}"
probe_cache_ms = 200
probe_timeout_ms = 3000
consent_gauge_interval_secs = 1

[[operators]]
id = "ida-auditor"
role = "auditor"
cert_sha256 = "{auditor}"

[[operators]]
id = "otto-operator"
role = "operator"
cert_sha256 = "{operator}"
"#,
        ca = ops.pki.ca_cert.display(),
        auditor = ops.auditor.sha256,
        operator = ops.operator.sha256,
    ));
    std::fs::write(&env.config, config).unwrap();
    ops
}

async fn get(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut rb = client.get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

async fn get_json(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Value {
    let (s, _, body) = get(client, url, headers).await;
    assert_eq!(s, 200, "GET {url}: {}", if s == 200 { "" } else { body.as_str() });
    serde_json::from_str(&body).unwrap()
}

fn hashes(v: &Value) -> Vec<[u8; 32]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h.as_str().unwrap(), &mut b).unwrap();
            b
        })
        .collect()
}

fn hash(v: &Value) -> [u8; 32] {
    hashes(&json!([v]))[0]
}

/// The records of a page as (index, kind, citizen digits).
fn summary(page: &Value) -> Vec<(u64, String, Option<String>)> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["record"]["kind"].as_str().unwrap().to_string(),
                r["record"]["citizen"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Polls `/readyz` until its status is `want` (at most 40 s); returns the last body.
async fn wait_ready(client: &reqwest::Client, url: &str, want: u16) -> Value {
    let mut last = (0, String::new());
    for _ in 0..200 {
        let (s, _, body) = get(client, url, &[]).await;
        if s == want {
            return serde_json::from_str(&body).unwrap();
        }
        last = (s, body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("/readyz never answered {want}; last {} {}", last.0, last.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_query_prove_scrape_and_no_cpr_is_logged() {
    let env = Env::new_with_env(5_000, &[("SAMMEN_LOG_FORMAT", "json"), ("SAMMEN_LOG", "debug")]);
    let ops = add_admin(&env);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let mut gw = env.start_gateway();
    assert!(gw.admin.is_some(), "the admin listener did not start");
    let kk = env.kk();
    let token = env.rehab_token();
    let auditor = env.client(Some(&ops.auditor));
    let operator = env.client(Some(&ops.operator));

    // Caseworker traffic: a full case file, a consent request for another citizen, a
    // request that is refused.
    let (s, headers, file) =
        post(&kk, &gw.url("/api/v1/case-files"), &token, &case_file_body(&citizen, &CATEGORIES)).await;
    assert_eq!(s, 200);
    assert_eq!(file["sections"].as_array().unwrap().len(), CATEGORIES.len());
    let case_file_request_id = headers["x-request-id"].to_str().unwrap().to_string();
    let other = sandbox::citizens()[11].cpr;
    let until = chrono::Utc::now() + chrono::Duration::days(90);
    let body = json!({
        "citizen": other.expose(), "purpose": PURPOSE, "categories": ["jobcenter.case"],
        "period": { "until": until }, "explanation": "Til dit møde i jobcentret."
    });
    let (s, _, _) = post(&kk, &gw.url("/api/v1/consent-requests"), &token, &body).await;
    assert_eq!(s, 201);
    let (s, _, _) = post(
        &kk,
        &gw.url("/api/v1/case-files"),
        &token,
        &json!({"citizen": other.expose(), "purpose": "marketing", "categories": ["jobcenter.case"]}),
    )
    .await;
    assert_eq!(s, 422);

    // A checkpoint saved now, for the online check later.
    let saved_file = env.dir.path().join("saved-checkpoint.json");
    let (auditor_cert, auditor_key) = write_identity(env.dir.path(), "auditor", &ops.auditor);
    let out = sammen()
        .envs(env.envs.iter().map(|(k, v)| (k, v)))
        .args(["audit", "checkpoint", "--url", &gw.admin_url(""), "--out"])
        .arg(&saved_file)
        .arg("--cert")
        .arg(&auditor_cert)
        .arg("--key")
        .arg(&auditor_key)
        .arg("--ca")
        .arg(&env.pki.dev.ca_cert)
        .output()
        .unwrap();
    std::fs::write(env.dir.path().join("cli-checkpoint.log"), &out.stderr).unwrap();
    assert!(out.status.success(), "audit checkpoint failed");
    let saved: CheckpointView = serde_json::from_slice(&std::fs::read(&saved_file).unwrap()).unwrap();

    // --- The auditor queries the log about the citizen: the CPR number in a header. ---
    let cpr_header = [("x-citizen-cpr", citizen.expose())];
    let page = get_json(&auditor, &gw.admin_url("/admin/v1/audit?limit=1000"), &cpr_header).await;
    let mine = summary(&page);
    assert!(mine.iter().all(|(_, _, c)| c.as_deref() == Some(citizen.expose())), "another citizen's record");
    let kinds: Vec<&str> = mine.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "decision").count(), CATEGORIES.len());
    assert_eq!(kinds.iter().filter(|k| **k == "release").count(), CATEGORIES.len());
    assert!(mine.windows(2).all(|w| w[0].0 > w[1].0), "not newest first");
    // The CLI's grant is the oldest record about the citizen; the case file's are the rest.
    assert_eq!(mine.last().map(|(i, k, _)| (*i, k.as_str())), Some((0, "consent_granted")));
    assert!(
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["record"]["kind"] != "consent_granted")
            .all(|r| r["record"]["request_id"] == case_file_request_id)
    );

    // Cursor pages cover the same records.
    let mut paged = Vec::new();
    let mut before: Option<u64> = None;
    for _ in 0..100 {
        let url = match before {
            Some(b) => gw.admin_url(&format!("/admin/v1/audit?limit=3&before={b}")),
            None => gw.admin_url("/admin/v1/audit?limit=3"),
        };
        let p = get_json(&auditor, &url, &cpr_header).await;
        paged.extend(summary(&p));
        match p["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    // The paged result also holds the audit_read records of the earlier queries.
    let paged_not_reads: Vec<_> = paged.iter().filter(|(_, k, _)| k != "audit_read").cloned().collect();
    let mine_not_reads: Vec<_> = mine.iter().filter(|(_, k, _)| k != "audit_read").cloned().collect();
    assert_eq!(paged_not_reads, mine_not_reads);

    // The same by POST, with more filters.
    let r = auditor
        .post(gw.admin_url("/admin/v1/audit/search"))
        .json(&json!({ "citizen": citizen.expose(), "kinds": ["release"], "outcome": "included" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let releases = summary(&r.json::<Value>().await.unwrap());
    assert_eq!(releases.len(), CATEGORIES.len());
    assert!(releases.iter().all(|(_, k, _)| k == "release"));

    // Its own queries are audited: who, which filters (no CPR number), how many.
    let reads = get_json(&auditor, &gw.admin_url("/admin/v1/audit?kinds=audit_read&limit=1000"), &cpr_header).await;
    let reads = reads["records"].as_array().unwrap();
    assert!(reads.len() >= 3, "{} audit_read records", reads.len());
    for r in reads {
        assert_eq!(r["record"]["caseworker"], "ida-auditor");
        assert_eq!(r["record"]["citizen"], citizen.expose());
        let detail = r["record"]["detail"].as_str().unwrap();
        assert!(!detail.contains(citizen.expose()), "the CPR number is in an audit_read detail");
        let d: Value = serde_json::from_str(detail).unwrap();
        assert_eq!(d["query"]["citizen"], "given");
        assert!(d["returned"].is_u64());
    }
    assert!(reads.iter().any(|r| r["record"]["detail"].as_str().unwrap().contains("\"kinds\":[\"release\"]")));

    // Export as JSON Lines: every record, newest first, the cursor in a header.
    let (s, ct, body) =
        get(&auditor, &gw.admin_url("/admin/v1/audit?limit=10000"), &[("accept", "application/x-ndjson")]).await;
    assert_eq!(s, 200);
    assert_eq!(ct, "application/x-ndjson");
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let size_then = lines[0]["index"].as_u64().unwrap() + 1;
    assert_eq!(lines.len() as u64, size_then, "every record up to the export");
    assert!(lines.windows(2).all(|w| w[0]["index"].as_u64() > w[1]["index"].as_u64()));
    assert!(
        lines.iter().any(|l| l["record"]["kind"] == "consent_requested" || l["record"]["kind"] == "request_refused")
    );

    // A CPR number in the URL is refused, unread.
    let (s, ct, body) =
        get(&auditor, &gw.admin_url(&format!("/admin/v1/audit?citizen={}", citizen.expose())), &[]).await;
    assert_eq!((s, ct.as_str()), (400, "application/problem+json"));
    assert!(body.contains("cpr-in-url"));

    // --- Proofs from the API against the signed checkpoint (operators may read them too). ---
    let cp: CheckpointView =
        serde_json::from_value(get_json(&operator, &gw.admin_url("/admin/v1/audit/checkpoint"), &[]).await).unwrap();
    let signed = cp.verify(Some(&saved.verifying_key().unwrap())).expect("the checkpoint verifies under the saved key");
    assert!(signed.tree_size > saved.tree_size);
    let n = signed.tree_size;
    let entries =
        get_json(&auditor, &gw.admin_url(&format!("/admin/v1/audit/entries?start=0&end={}", n - 1)), &[]).await;
    let entries = entries["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, n);
    for i in [0, 1, n / 2, n - 2, n - 1] {
        let e = &entries[i as usize];
        let input = base64::engine::general_purpose::STANDARD.decode(e["leaf_input"].as_str().unwrap()).unwrap();
        assert_eq!(leaf_hash(&input), hash(&e["leaf_hash"]));
        assert_eq!(e["pruned"], false);
        let p = get_json(
            &operator,
            &gw.admin_url(&format!("/admin/v1/audit/proof/inclusion?index={i}&tree_size={n}")),
            &[],
        )
        .await;
        assert!(verify_inclusion(&leaf_hash(&input), i, n, &hashes(&p["audit_path"]), &signed.root), "index {i}");
        // A proof for another leaf does not pass for this one.
        assert!(!verify_inclusion(&leaf_hash(b"forged"), i, n, &hashes(&p["audit_path"]), &signed.root));
    }
    let old = saved.signed().unwrap();
    let p = get_json(
        &operator,
        &gw.admin_url(&format!("/admin/v1/audit/proof/consistency?first={}&second={n}", old.tree_size)),
        &[],
    )
    .await;
    assert!(verify_consistency(old.tree_size, n, &old.root, &signed.root, &hashes(&p["consistency"])));
    let (s, _, body) =
        get(&operator, &gw.admin_url(&format!("/admin/v1/audit/proof/inclusion?index={n}&tree_size={n}")), &[]).await;
    assert_eq!(s, 422, "{body}");
    let (s, ct, _) = get(&operator, &gw.admin_url("/admin/v1/audit/proof/inclusion?index=first"), &[]).await;
    assert_eq!((s, ct.as_str()), (422, "application/problem+json"));
    let (s, ct, _) = get(&operator, &gw.admin_url("/admin/v1/nothing-here"), &[]).await;
    assert_eq!((s, ct.as_str()), (404, "application/problem+json"));

    // Online verification from the saved checkpoint.
    let (cert, key) = write_identity(env.dir.path(), "operator", &ops.operator);
    let out = sammen()
        .envs(env.envs.iter().map(|(k, v)| (k, v)))
        .args(["audit", "verify", "--url", &gw.admin_url(""), "--checkpoint"])
        .arg(&saved_file)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--ca")
        .arg(&env.pki.dev.ca_cert)
        .output()
        .unwrap();
    std::fs::write(env.dir.path().join("cli-verify.log"), &out.stderr).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "online verify failed: {stdout}");
    assert!(stdout.contains("consistency proof verified"), "{stdout}");
    // A checkpoint from the future (a bigger log than this one, signed by another key) fails.
    let mut forged = saved.clone();
    forged.tree_size = n + 100;
    let forged_file = env.dir.path().join("forged.json");
    std::fs::write(&forged_file, serde_json::to_vec(&forged).unwrap()).unwrap();
    let out = sammen()
        .args(["audit", "verify", "--url", &gw.admin_url(""), "--checkpoint"])
        .arg(&forged_file)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--ca")
        .arg(&env.pki.dev.ca_cert)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a forged saved checkpoint passed");

    // --- Metrics (operators). The consent gauge is recounted every second. ---
    let (mut s, mut ct, mut metrics) = (0, String::new(), String::new());
    for _ in 0..100 {
        (s, ct, metrics) = get(&operator, &gw.admin_url("/metrics"), &[]).await;
        if metrics.contains(r#"sammen_consents{status="requested"} 1"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/plain"), "{ct}");
    for needle in [
        r#"sammen_http_requests_total{route="/api/v1/case-files",method="POST",status="200"}"#,
        r#"sammen_http_requests_total{route="/api/v1/case-files",method="POST",status="422"}"#,
        r#"sammen_decisions_total{category="health.lae265",outcome="permit"}"#,
        r#"sammen_connector_fetch_seconds_bucket{source="mediconnect""#,
        r#"sammen_connector_fetches_total{source="jobnet_cv",outcome="included"}"#,
        "sammen_audit_append_seconds_bucket",
        "sammen_audit_batch_records_bucket",
        r#"sammen_consents{status="active"} 1"#,
        r#"sammen_consents{status="requested"} 1"#,
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}");
    }
    for c in sandbox::citizens() {
        assert!(!metrics.contains(c.cpr.expose()), "a CPR number in /metrics");
    }

    // --- Roles. ---
    let (s, _, body) = get(&auditor, &gw.admin_url("/metrics"), &[]).await;
    assert_eq!(s, 403);
    assert!(body.contains("role-not-allowed"));
    let (s, _, body) = get(&operator, &gw.admin_url("/admin/v1/audit"), &[]).await;
    assert_eq!(s, 403);
    assert!(body.contains("role-not-allowed"));
    let (s, _, _) = get(&operator, &gw.admin_url("/admin/v1/audit/entries?start=0&end=1"), &[]).await;
    assert_eq!(s, 403);
    let (s, _, body) = get(&operator, &gw.admin_url("/healthz"), &[]).await;
    assert_eq!((s, body.as_str()), (200, "ok\n"));

    // --- Readiness: a source down makes the gateway not ready, and ready again when back. ---
    let ready_url = gw.admin_url("/readyz");
    let r = wait_ready(&operator, &ready_url, 200).await;
    let names: Vec<&str> = r["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for n in
        ["store", "audit", "policies", "source:mediconnect", "source:jobcenter", "source:social", "source:jobnet_cv"]
    {
        assert!(names.contains(&n), "no check {n}: {names:?}");
    }
    env.sandbox.fault("jobcenter", Some(json!({"kind": "connection_reset"}))).await;
    let r = wait_ready(&operator, &ready_url, 503).await;
    let failing: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["source:jobcenter"]);
    env.sandbox.clear_faults().await;
    wait_ready(&operator, &ready_url, 200).await;
    // The person register down: not ready, named `residence`.
    assert!(names.contains(&"residence"), "no check residence: {names:?}");
    env.sandbox.fault("cpr", Some(json!({"kind": "http500"}))).await;
    let r = wait_ready(&operator, &ready_url, 503).await;
    let failing: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["residence"]);
    env.sandbox.clear_faults().await;
    wait_ready(&operator, &ready_url, 200).await;
    let (_, _, metrics) = get(&operator, &gw.admin_url("/metrics"), &[]).await;
    assert!(metrics.contains(r#"sammen_connector_probes_total{source="jobcenter",outcome="down"}"#));

    // --- Refused: no certificate, a caseworker system's certificate, an unregistered one. ---
    let nobody = env.client(None);
    assert!(nobody.get(gw.admin_url("/healthz")).send().await.is_err(), "no certificate was let in");
    assert!(kk.get(gw.admin_url("/healthz")).send().await.is_err(), "a caseworker system's certificate was let in");
    let rogue = env.client(Some(&env.pki.rogue));
    assert!(rogue.get(gw.admin_url("/healthz")).send().await.is_err());
    // ... each for the right reason, by the handshake's alert.
    let admin_addr = gw.admin.unwrap();
    let ca = &env.pki.dev.ca_cert;
    assert_eq!(support::tls::alert(admin_addr, ca, None).await, AlertDescription::CertificateRequired);
    assert_eq!(support::tls::alert(admin_addr, ca, Some(&env.pki.kk_system)).await, AlertDescription::DecryptError);
    assert_eq!(support::tls::alert(admin_addr, ca, Some(&env.pki.rogue)).await, AlertDescription::DecryptError);
    let stranger = env.client(Some(&ops.stranger));
    let (s, ct, body) = get(&stranger, &gw.admin_url("/healthz"), &[]).await;
    assert_eq!((s, ct.as_str()), (403, "application/problem+json"));
    assert!(body.contains("unknown-operator"));
    // An operator certificate is no caseworker system on the caseworker API either.
    let op_on_api = env.client(Some(&ops.auditor));
    let r = op_on_api
        .post(gw.url("/api/v1/case-files"))
        .bearer_auth(&token)
        .json(&case_file_body(&citizen, &CATEGORIES))
        .send()
        .await;
    assert!(r.is_err(), "an operator certificate was let into the caseworker API");
    assert_eq!(support::tls::alert(gw.addr, ca, Some(&ops.auditor)).await, AlertDescription::DecryptError);

    gw.terminate();
    // Offline verification by the CLI (a process: the store's lock goes with it).
    let out = sammen().args(["audit", "verify", "--data-dir"]).arg(&env.data_dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "the log does not verify: {stdout}");
    let size: u64 = stdout.split("audit log OK: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(size > n, "{stdout}");

    // --- Retention: restarted with 0 days, every record's payload goes at start; the
    // entries API marks them pruned with the same leaf hashes, and proofs still verify. ---
    let mut envs = env.envs.clone();
    envs.push(("SAMMEN_AUDIT__RETENTION_DAYS".into(), "0".into()));
    let mut gw = support::procs::Gateway::start_with_env(
        &env.config,
        &env.data_dir,
        &env.dir.path().join("gateway-retention.log"),
        &envs,
    );
    let entries_url = gw.admin_url(&format!("/admin/v1/audit/entries?start=0&end={}", size - 1));
    let mut pruned = Vec::new();
    for _ in 0..100 {
        let v = get_json(&auditor, &entries_url, &[]).await;
        pruned = v["entries"].as_array().unwrap().clone();
        if pruned.iter().all(|e| e["pruned"] == true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(pruned.len() as u64, size);
    for (e, before) in pruned.iter().zip(entries.iter()) {
        assert_eq!(e["pruned"], true, "record {} was not pruned", e["index"]);
        assert!(e["record"].is_null() && e["leaf_input"].is_null());
        assert_eq!(e["leaf_hash"], before["leaf_hash"]);
    }
    let cp: CheckpointView =
        serde_json::from_value(get_json(&operator, &gw.admin_url("/admin/v1/audit/checkpoint"), &[]).await).unwrap();
    let now = cp.verify(Some(&saved.verifying_key().unwrap())).unwrap();
    for i in [0, n / 2, n - 1] {
        let p = get_json(
            &operator,
            &gw.admin_url(&format!("/admin/v1/audit/proof/inclusion?index={i}&tree_size={}", now.tree_size)),
            &[],
        )
        .await;
        assert_eq!(p["leaf_hash"], entries[i as usize]["leaf_hash"]);
        assert!(verify_inclusion(&hash(&p["leaf_hash"]), i, now.tree_size, &hashes(&p["audit_path"]), &now.root));
    }
    // Queries find nothing of what was pruned.
    let page = get_json(&auditor, &gw.admin_url("/admin/v1/audit?kinds=release"), &cpr_header).await;
    assert_eq!(page["records"].as_array().unwrap().len(), 0);
    gw.terminate();
    let out = sammen().args(["audit", "verify", "--data-dir"]).arg(&env.data_dir).output().unwrap();
    assert!(out.status.success(), "the pruned log does not verify: {}", String::from_utf8_lossy(&out.stdout));

    // --- The logs: JSON lines, with the request id, and no CPR number in any format. ---
    let gateway_log = std::fs::read_to_string(env.dir.path().join("gateway.log")).unwrap();
    let with_id = gateway_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.to_string().contains(&case_file_request_id))
        .count();
    assert!(with_id > 0, "no JSON log line carries the case file's request id");
    assert!(gateway_log.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "a log line is not JSON");
    assert!(gateway_log.contains(r#""level":"DEBUG""#), "the gateway did not log at debug level");
    let sandbox_log = std::fs::read_to_string(env.dir.path().join("sandbox.log")).unwrap();
    assert!(
        sandbox_log.contains(r#""level":"DEBUG""#) || sandbox_log.contains(r#""level":"INFO""#),
        "the sandbox's log is not JSON"
    );
    let mut scanned = 0;
    for entry in std::fs::read_dir(env.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            scan_for_cprs(&path);
            scanned += 1;
        }
    }
    assert!(scanned >= 4, "{scanned} log files");
}

/// Writes an identity's certificate and key to PEM files; returns their paths.
pub(crate) fn write_identity(dir: &Path, name: &str, id: &ClientCert) -> (std::path::PathBuf, std::path::PathBuf) {
    let split = id.identity_pem.find("-----BEGIN PRIVATE KEY-----").expect("certificate then key");
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert, &id.identity_pem[..split]).unwrap();
    std::fs::write(&key, &id.identity_pem[split..]).unwrap();
    (cert, key)
}

/// True when `text` holds the ten digits of `cpr` with at most two separator characters
/// (space, `-`, `.`, `/`, `_`, `:`, tab) between any two, not inside a longer digit run.
pub(crate) fn contains_cpr(text: &[u8], cpr: &Cpr) -> bool {
    let digits = cpr.expose().as_bytes();
    let sep = |b: u8| b" -./_:\t".contains(&b);
    'start: for start in 0..text.len() {
        if text[start] != digits[0] || (start > 0 && text[start - 1].is_ascii_digit()) {
            continue;
        }
        let mut at = start + 1;
        for d in &digits[1..] {
            let mut skipped = 0;
            while at < text.len() && sep(text[at]) && skipped < 2 {
                at += 1;
                skipped += 1;
            }
            if at >= text.len() || text[at] != *d {
                continue 'start;
            }
            at += 1;
        }
        if at < text.len() && text[at].is_ascii_digit() {
            continue;
        }
        return true;
    }
    false
}

fn scan_for_cprs(path: &Path) {
    let text = std::fs::read(path).unwrap();
    for c in sandbox::citizens() {
        assert!(!contains_cpr(&text, &c.cpr), "{} holds a synthetic citizen's CPR number ({})", path.display(), c.cpr);
    }
}

#[test]
fn the_cpr_scanner_finds_every_format() {
    let c = sandbox::citizens()[7].cpr;
    let d = c.expose();
    for leak in [
        d.to_string(),
        format!("{}-{}", &d[..6], &d[6..]),
        format!("{} {}", &d[..6], &d[6..]),
        format!("{} {} {} {}", &d[..2], &d[2..4], &d[4..6], &d[6..]),
        format!("{}.{}.{}-{}", &d[..2], &d[2..4], &d[4..6], &d[6..]),
        format!("\"citizen\":\"{d}\""),
        format!("cpr={d}&x"),
    ] {
        assert!(contains_cpr(leak.as_bytes(), &c), "missed a format");
    }
    for fine in
        [c.masked(), format!("9{d}"), format!("{d}7"), d[..9].to_string(), format!("{}--- {}", &d[..6], &d[6..])]
    {
        assert!(!contains_cpr(fine.as_bytes(), &c), "a false alarm");
    }
}
