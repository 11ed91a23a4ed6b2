//! The admin listener over a failing store (gateway in-process over `FaultyStore`):
//!
//! - an operator's audit read is recorded before the answer: with the store's audit appends
//!   delayed, the answer comes only after the delay, and the `audit_read` record is already
//!   in the store when it arrives; with the appends failing, each audited read (query,
//!   search, entries) is refused with 503 problem+json and no record in it;
//! - `/readyz` answers 503 naming exactly the failing check when the store refuses a flush,
//!   when the audit writer cannot write, and when the watched policy directory is made
//!   invalid; and 200 again once each is repaired.
//!
//! Every wait is bounded.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use consent::audit::{AuditKind, AuditRecord};
use consent::store::SledStore;
use consent::store::faulty::{Faults, FaultyStore, Op};
use consent::{SharedStore, Store};
use gateway::app::RunningGateway;
use serde_json::{Value, json};

use crate::operators::{Operators, add_admin};
use crate::support::{self, CATEGORIES, Env, case_file_body, post};

/// How long a delayed audit append waits before it reaches the store.
const APPEND_DELAY: Duration = Duration::from_millis(1_500);
/// Every answer arrives within this.
const ANSWER_BOUND: Duration = Duration::from_secs(20);

struct Admin {
    env: Env,
    ops: Operators,
    running: RunningGateway,
    faults: Faults,
    store: Arc<FaultyStore<SledStore>>,
}

impl Admin {
    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.running.admin_addr().expect("the admin listener runs"))
    }

    /// The `audit_read` records in the store itself (not through the gateway's log).
    async fn stored_reads(&self) -> Vec<AuditRecord> {
        let inner = self.store.inner();
        let size = inner.audit_size().await.unwrap();
        let leaves = inner.audit_leaves(0, size).await.unwrap();
        leaves
            .iter()
            .map(|(_, b)| AuditRecord::from_canonical_bytes(b).unwrap())
            .filter(|r| r.kind == AuditKind::AuditRead)
            .collect()
    }
}

/// `[admin]` in the configuration, a consent granted, then the gateway in-process over a
/// faulty wrapper of the sled store. `policies` replaces the configured policy directory.
async fn start(policies: Option<&Path>) -> Admin {
    let env = Env::new(10_000);
    let ops = add_admin(&env);
    if let Some(dir) = policies {
        let config = std::fs::read_to_string(&env.config).unwrap();
        let from = format!("dir = \"{}\"", support::policies_dir().display());
        assert!(config.contains(&from));
        std::fs::write(&env.config, config.replace(&from, &format!("dir = \"{}\"", dir.display()))).unwrap();
    }
    env.grant_by_cli(&support::rehab_citizen(), &CATEGORIES);
    let store = Arc::new(FaultyStore::new(SledStore::open(&env.data_dir.join("store")).unwrap()));
    let faults = store.faults();
    let shared: SharedStore = store.clone();
    let running = gateway::app::start_with_store(env.settings(), shared).await.unwrap();
    Admin { env, ops, running, faults, store }
}

async fn send(rb: reqwest::RequestBuilder) -> (u16, String, String, Duration) {
    let t = Instant::now();
    let r = tokio::time::timeout(ANSWER_BOUND, rb.send()).await.expect("an answer within the bound").unwrap();
    let elapsed = t.elapsed();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, r.text().await.unwrap(), elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_read_is_durable_before_the_answer_and_a_failing_append_refuses_the_read() {
    let a = start(None).await;
    let auditor = a.env.client(Some(&a.ops.auditor));
    let citizen = support::rehab_citizen();
    let cpr = [("x-citizen-cpr", citizen.expose())];
    let query = |url: String| {
        let mut rb = auditor.get(url);
        for (k, v) in cpr {
            rb = rb.header(k, v);
        }
        rb
    };

    // Delayed appends: the answer waits for the record, which is in the store when it comes.
    let reads_before = a.stored_reads().await.len();
    a.faults.delay(Op::AuditAppend, APPEND_DELAY);
    let (s, _, body, elapsed) = send(query(a.url("/admin/v1/audit?limit=100"))).await;
    let reads_at_answer = a.stored_reads().await;
    assert_eq!(s, 200, "{body}");
    assert!(elapsed >= APPEND_DELAY, "answered after {elapsed:?}, before the delayed append could be durable");
    assert_eq!(reads_at_answer.len(), reads_before + 1, "the audit_read record was not in the store at the answer");
    let read = reads_at_answer.last().unwrap();
    assert_eq!(read.caseworker.as_deref(), Some("ida-auditor"));
    assert_eq!(read.citizen.as_ref(), Some(&citizen));
    let page: Value = serde_json::from_str(&body).unwrap();
    let returned = page["records"].as_array().unwrap().len();
    let detail: Value = serde_json::from_str(read.detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["returned"].as_u64(), Some(returned as u64));
    a.faults.heal_everything();

    // Failing appends: every audited read is refused, with nothing of the log in it.
    a.faults.fail(Op::AuditAppend);
    let size = a.running.audit().tree_size();
    let reads = [
        ("query", query(a.url("/admin/v1/audit?limit=100"))),
        ("search", auditor.post(a.url("/admin/v1/audit/search")).json(&json!({ "citizen": citizen.expose() }))),
        ("entries", auditor.get(a.url(&format!("/admin/v1/audit/entries?start=0&end={}", size - 1)))),
    ];
    for (name, rb) in reads {
        let appends = a.faults.calls(Op::AuditAppend);
        let (s, ct, body, _) = send(rb).await;
        assert_eq!((s, ct.as_str()), (503, "application/problem+json"), "{name}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v.get("records").is_none() && v.get("entries").is_none(), "{name}: {body}");
        assert!(!body.contains("consent_granted") && !body.contains(citizen.expose()), "{name}: {body}");
        assert!(a.faults.calls(Op::AuditAppend) > appends, "{name}: no append was attempted");
    }
    assert_eq!(a.stored_reads().await.len(), reads_before + 1, "a refused read left a record");
    a.faults.heal_everything();
    let (s, _, body, _) = send(query(a.url("/admin/v1/audit?limit=100"))).await;
    assert_eq!(s, 200, "{body}");
    a.running.shutdown().await;
}

/// Polls `/readyz` until it answers `want` (bounded); returns the names of failing checks.
async fn ready(a: &Admin, client: &reqwest::Client, want: u16) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _, body, _) = send(client.get(a.url("/readyz"))).await;
        if s == want {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["ready"], want == 200, "{body}");
            return v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["ok"] == false)
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect();
        }
        assert!(Instant::now() < deadline, "/readyz did not answer {want} within 30 s; last {s} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_with_the_store_the_audit_writer_or_the_policy_set() {
    let policies = tempfile::tempdir().unwrap();
    copy_dir(&support::policies_dir().join("policy-set"), &policies.path().join("policy-set"));
    std::fs::copy(support::policies_dir().join("schema.cedarschema"), policies.path().join("schema.cedarschema"))
        .unwrap();
    let a = start(Some(policies.path())).await;
    let operator = a.env.client(Some(&a.ops.operator));
    assert_eq!(ready(&a, &operator, 200).await, Vec::<String>::new());

    // The store refuses a flush.
    a.faults.fail(Op::Ping);
    assert_eq!(ready(&a, &operator, 503).await, ["store"]);
    a.faults.heal_everything();
    assert_eq!(ready(&a, &operator, 200).await, Vec::<String>::new());

    // The audit writer cannot write (its appends fail, and it cannot re-read the tree to
    // recover): a case file is refused, and readiness says why.
    a.faults.fail(Op::AuditAppend);
    a.faults.fail(Op::AuditRead);
    let url = format!("{}/api/v1/case-files", a.running.url());
    let body = case_file_body(&support::rehab_citizen(), &CATEGORIES);
    let (s, _, answer) = tokio::time::timeout(ANSWER_BOUND, post(&a.env.kk(), &url, &a.env.rehab_token(), &body))
        .await
        .expect("an answer within the bound");
    assert_eq!(s, 503, "{answer}");
    assert_eq!(ready(&a, &operator, 503).await, ["audit"]);
    a.faults.heal_everything();
    assert_eq!(ready(&a, &operator, 200).await, Vec::<String>::new());

    // The watched policy directory made invalid: the old set stays in force, but the
    // gateway is not ready until the directory loads again.
    let file = policies.path().join("policy-set/40-roles.cedar");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{good}\npermit (principal, action, resource) when {{ nonsense;\n")).unwrap();
    assert_eq!(ready(&a, &operator, 503).await, ["policies"]);
    std::fs::write(&file, &good).unwrap();
    assert_eq!(ready(&a, &operator, 200).await, Vec::<String>::new());
    a.running.shutdown().await;
}
