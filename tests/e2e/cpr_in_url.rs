//! A CPR number in a URL (issue 13, defects 2 and 3), as a property over all three
//! listeners of one `sammen serve` process (API, portal, admin) with JSON debug logs:
//! proptest writes synthetic citizens' CPR numbers in many ways (separators, percent
//! encoding, full-width and Arabic-Indic digits, letters around them, a trailing `%0A`) into
//! every path position and query parameter of the routes, alone and repeated. No such
//! request is answered 2xx, no answer repeats the number, and afterwards no audit record
//! and no log line of the run holds any of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway::http::redact::digit_value;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::operators::{add_admin, contains_cpr};
use crate::support::Env;

/// One CPR number (ten ASCII digits) written in one of many ways.
fn formatted(cpr: &str, style: u8) -> String {
    let (a, b) = cpr.split_at(6);
    let (d, rest) = a.split_at(2);
    let (m, y) = rest.split_at(2);
    let shift = |base: u32| cpr.chars().map(|c| char::from_u32(base + c.to_digit(10).unwrap()).unwrap()).collect();
    let encode = |s: String| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    match style % 14 {
        0 => cpr.to_string(),
        1 => format!("{a}-{b}"),
        2 => format!("{d}.{m}.{y}.{b}"),
        3 => format!("{d}%20{m}%20{y}%20{b}"),
        4 => format!("{d}%2F{m}%2F{y}-{b}"),
        5 => cpr.chars().map(|c| format!("%3{c}")).collect(),
        6 => format!("{cpr}%0A"),
        7 => format!("x{cpr}"),
        8 => format!("cpr:{a}_{b}z"),
        9 => encode(shift(0xFF10)),
        10 => encode(shift(0x0660)),
        11 => format!("{a}%2D{b}"),
        12 => format!("{d}-{m}-{y}-{b}"),
        _ => format!("abc{a}{b}def"),
    }
}

/// `text` with percent escapes decoded and every decimal digit of any script made ASCII,
/// for the leak scan.
fn normalised(text: &str) -> Vec<u8> {
    let decoded = url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    decoded
        .chars()
        .map(|c| digit_value(c).and_then(|d| char::from_digit(d, 10)).unwrap_or(c))
        .collect::<String>()
        .into_bytes()
}

fn leaks(text: &str, cprs: &[consent::Cpr]) -> Option<consent::Cpr> {
    let raw = text.as_bytes();
    let norm = normalised(text);
    cprs.iter().copied().find(|c| contains_cpr(raw, c) || contains_cpr(&norm, c))
}

/// Every URL of the three listeners with `f` in one position.
fn urls(api: &str, portal: &str, admin: &str, f: &str) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("api", format!("{api}/api/v1/consent-requests/{f}")),
        ("api", format!("{api}/api/v1/case-files/{f}")),
        ("api", format!("{api}/api/v1/case-files?citizen={f}")),
        ("api", format!("{api}/api/v1/openapi.json?q={f}")),
        ("api", format!("{api}/{f}")),
        ("portal", format!("{portal}/consents/{f}")),
        ("portal", format!("{portal}/requests/{f}")),
        ("portal", format!("{portal}/receipts/{f}/json")),
        ("portal", format!("{portal}/log?before={f}")),
        ("portal", format!("{portal}/?cpr={f}")),
        ("portal", format!("{portal}/static/portal.css?{f}")),
        ("portal", format!("{portal}/.well-known/jwks.json?x={f}")),
        ("admin", format!("{admin}/{f}")),
        ("admin", format!("{admin}/healthz?{f}=1")),
        ("admin", format!("{admin}/admin/v1/openapi.json?q={f}")),
        ("admin", format!("{admin}/admin/v1/audit/checkpoint?citizen={f}")),
        ("admin", format!("{admin}/admin/v1/audit/entries?start=0&end={f}")),
        ("admin", format!("{admin}/admin/v1/audit/proof/inclusion?index={f}&tree_size=1")),
    ];
    for p in ["caseworker", "unit", "system", "purpose", "category", "outcome", "kinds", "from", "before"] {
        v.push(("admin", format!("{admin}/admin/v1/audit?{p}={f}")));
        v.push(("admin", format!("{admin}/admin/v1/audit?{p}=kk&{p}={f}")));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cpr_in_any_url_of_any_listener_is_answered_audited_or_logged() {
    let env = Env::new_with_env(5_000, &[("SAMMEN_LOG_FORMAT", "json"), ("SAMMEN_LOG", "debug")]);
    let ops = add_admin(&env);
    let portal_port = crate::support::reserved_port();
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(&format!(
        r#"
[portal]
listen = "127.0.0.1:{portal_port}"
cert_file = "{cert}"
key_file = "{key}"

[portal.oidc]
issuer = "https://127.0.0.1:9/"
client_id = "sammen-portal"
client_secret = "portal-test-secret-0123456789"
"#,
        cert = env.pki.dev.server_cert.display(),
        key = env.pki.dev.server_key.display(),
    ));
    std::fs::write(&env.config, config).unwrap();
    let mut gw = env.start_gateway();
    let api = gw.url("");
    let admin = gw.admin_url("");
    let portal = format!("https://localhost:{portal_port}");
    let clients = [("api", env.kk()), ("portal", env.client(None)), ("admin", env.client(Some(&ops.auditor)))];
    let token = env.rehab_token();
    let citizens: Vec<consent::Cpr> = sandbox::citizens().iter().map(|c| c.cpr).collect();
    let handle = tokio::runtime::Handle::current();
    let sent = Arc::new(Mutex::new(0usize));

    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    let strategy = (0usize..citizens.len(), 0u8..14);
    let result = runner.run(&strategy, |(who, style)| {
        let cpr = citizens[who];
        let f = formatted(cpr.expose(), style);
        let failures = tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut failures = Vec::new();
                for (listener, url) in urls(&api, &portal, &admin, &f) {
                    let client = &clients.iter().find(|(l, _)| *l == listener).unwrap().1;
                    let r = match client.get(&url).bearer_auth(&token).timeout(Duration::from_secs(10)).send().await {
                        Ok(r) => r,
                        Err(e) if e.is_builder() => continue, // not a URL reqwest will send
                        Err(e) => {
                            failures.push(format!("{url}: {e}"));
                            continue;
                        }
                    };
                    *sent.lock().unwrap() += 1;
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    if status.is_success() {
                        failures.push(format!("{url}: answered {status}"));
                    }
                    if leaks(&body, &[cpr]).is_some() {
                        failures.push(format!("{url}: the answer repeats the number: {body}"));
                    }
                }
                // A legitimate, audited read about the same citizen (the number in the
                // header, where it belongs), so the audit scan below has records to read.
                let admin_client = &clients.iter().find(|(l, _)| *l == "admin").unwrap().1;
                let r = admin_client
                    .get(format!("{admin}/admin/v1/audit?limit=1"))
                    .header("x-citizen-cpr", cpr.expose())
                    .send()
                    .await
                    .unwrap();
                if r.status() != 200 {
                    failures.push(format!("the audited read answered {}", r.status()));
                }
                // And the number as free text in a search body: refused, not audited.
                let r = admin_client
                    .post(format!("{admin}/admin/v1/audit/search"))
                    .json(&serde_json::json!({ "caseworker": formatted(cpr.expose(), style) }))
                    .send()
                    .await
                    .unwrap();
                if r.status().is_success() {
                    failures.push("a search with the number as a caseworker was answered".into());
                }
                failures
            })
        });
        prop_assert!(failures.is_empty(), "{}", failures.join("\n"));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let sent = *sent.lock().unwrap();
    assert!(sent >= 24 * 30, "only {sent} requests were sent");

    // No audit record holds any of the numbers (the auditor reads the whole log).
    gw.terminate();
    let export = env.dir.path().join("audit.jsonl");
    let mut out = None;
    for _ in 0..100 {
        let o = crate::support::procs::sammen()
            .args(["audit", "export", "--out"])
            .arg(&export)
            .arg("--data-dir")
            .arg(&env.data_dir)
            .output()
            .unwrap();
        let locked = String::from_utf8_lossy(&o.stderr).contains("could not acquire lock");
        out = Some(o);
        if !locked {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records = std::fs::read_to_string(&export).unwrap();
    let mut reads = 0;
    for line in records.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        // The record's own citizen field is where a number belongs; nowhere else.
        let mut without = v.clone();
        without.as_object_mut().map(|o| o.remove("citizen"));
        if let Some(r) = without.get_mut("record").and_then(Value::as_object_mut) {
            r.remove("citizen");
        }
        assert!(leaks(&without.to_string(), &citizens).is_none(), "an audit record holds a CPR number: {line}");
        reads += 1;
    }
    eprintln!("{sent} requests; {reads} audit records checked");
    assert!(reads >= 24, "the audited reads are in the log ({reads} records)");

    // No log line of the run holds any of them.
    let gateway_log = std::fs::read_to_string(env.dir.path().join("gateway.log")).unwrap();
    assert!(gateway_log.lines().count() >= sent, "the gateway logged every request");
    for entry in std::fs::read_dir(env.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                if let Some(c) = leaks(line, &citizens) {
                    panic!("{} holds a CPR number ({c}): {line}", path.display());
                }
            }
        }
    }
}
