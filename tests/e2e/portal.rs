//! The citizen portal end to end: MitID login against panva's `oidc-provider` (a real
//! OpenID provider, `tests/js/oidc-provider.mjs`) and against the sandbox MitID broker in
//! its test modes; approve, revoke, receipts (also verified by panva's `jose`) and "Min log" over real HTTPS with a cookie
//! jar; and every bad input of issue 6 answered by a clear Danish page with nothing changed.
//!
//! The gateway (API and portal) runs in-process over the test's store, so the test can
//! check the ledger directly; the sources are a sandbox process, the OpenID provider a
//! Node process or an in-process sandbox broker, all on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use consent::audit::{AuditFilter, AuditKind};
use consent::receipt::ConsentReceipt;
use consent::{Actor, Category, Channel, ConsentId, Period, Purpose, Requester, State, TermsInput, UnitId};
use gateway::app::RunningGateway;
use gateway::portal::{OidcSettings, PortalSettings};
use reqwest::StatusCode;
use sandbox::broker::{BrokerClient, BrokerMode};
use serde_json::{Value, json};

use crate::support::{self, Env, PURPOSE, REHAB_UNIT, case_file_body, post, statuses};

pub(crate) const CLIENT_ID: &str = "sammen-portal";
pub(crate) const SECRET: &str = "portal-test-secret-0123456789";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `tests/js/verify-receipt.mjs` (panva's `jose`) on a receipt JWS and a JWKS, within
/// 30 s; whether it verified, and its one line of output (ids and an error code, never the
/// payload).
async fn verify_with_jose(dir: &Path, jwks: &Value, jws: &str) -> (bool, String) {
    let jwks_file = dir.join("receipt-jwks.json");
    let jws_file = dir.join("receipt.jws");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    std::fs::write(&jws_file, jws).unwrap();
    let run = tokio::process::Command::new("node")
        .current_dir(repo_root())
        .arg("tests/js/verify-receipt.mjs")
        .arg(&jwks_file)
        .arg(&jws_file)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run).await.expect("node answers within 30 s").unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// `sammen serve`'s services in-process, with the portal on `port` logging in at `issuer`.
async fn start(env: &Env, port: u16, issuer: &str, ca_file: Option<PathBuf>) -> RunningGateway {
    start_with(env, port, issuer, ca_file, false).await
}

/// [`start`], with letters to the sandbox's mailbox when `notify`.
async fn start_with(env: &Env, port: u16, issuer: &str, ca_file: Option<PathBuf>, notify: bool) -> RunningGateway {
    start_tweaked(env, port, issuer, ca_file, notify, |_| {}).await
}

/// [`start_with`], with the settings changed by `tweak` before the start.
pub(crate) async fn start_tweaked(
    env: &Env,
    port: u16,
    issuer: &str,
    ca_file: Option<PathBuf>,
    notify: bool,
    tweak: impl FnOnce(&mut gateway::settings::Settings),
) -> RunningGateway {
    let mut settings = env.settings();
    if notify {
        let mut mailbox = connectors::SourceConfig::new(env.sandbox.mailbox.clone());
        mailbox.ca_file = Some(env.sandbox.ca_file.clone());
        settings.notifications = Some(gateway::settings::notifications::NotificationSettings {
            mailbox,
            poll_ms: 100,
            expiry_scan_ms: 3_600_000,
            expiry_warning_days: 30,
            sender: "sammen".into(),
        });
    }
    settings.portal = Some(PortalSettings {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        cert_file: env.pki.dev.server_cert.clone(),
        key_file: env.pki.dev.server_key.clone(),
        public_url: String::new(),
        idle_timeout_secs: 900,
        absolute_timeout_secs: 8 * 3600,
        log_page_size: 25,
        login_per_minute: 1_000,
        oidc: OidcSettings {
            issuer: issuer.to_string(),
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            ca_file,
            cpr_claim: "dk.cpr".into(),
            scopes: vec!["ssn".into(), "mitid".into()],
            // The Node provider listens on plain http on 127.0.0.1: development only.
            allow_insecure_issuer: issuer.starts_with("http://"),
        },
    });
    tweak(&mut settings);
    std::fs::create_dir_all(&env.data_dir).unwrap();
    let store = consent::store::open(&consent::Engine::sled(), &env.data_dir).unwrap();
    let running = gateway::app::start_with_store(settings, store).await.unwrap();
    assert_eq!(running.portal_addr.unwrap().port(), port);
    running
}

/// A browser: a cookie jar, no automatic redirects (each step is checked), trusting the
/// gateway's CA and `extra_ca`.
pub(crate) fn browser(env: &Env, extra_ca: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&env.pki.dev.ca_cert).unwrap()).unwrap())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    if let Some(pem) = extra_ca {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    Answer { status, location, body: r.text().await.unwrap() }
}

pub(crate) async fn get(c: &reqwest::Client, url: &str) -> Answer {
    answer(c.get(url).send().await.unwrap()).await
}

pub(crate) async fn post_form(c: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Answer {
    answer(c.post(url).form(form).send().await.unwrap()).await
}

/// The value of the first `name="<name>" value="..."` in a page.
pub(crate) fn field(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let start = html.find(&key).unwrap_or_else(|| panic!("no field {name}")) + key.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") { location.to_string() } else { format!("{base}{location}") }
}

// ---------------------------------------------------------------------------------------
// panva's oidc-provider

struct NodeProvider {
    child: Child,
    issuer: String,
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `node tests/js/oidc-provider.mjs` with one client (the portal on `portal_port`)
/// and `accounts`; fails (never skips) when node or the npm packages are missing.
fn start_node(dir: &Path, portal_port: u16, accounts: Value) -> NodeProvider {
    let root = repo_root();
    let hint = "run `npm ci --prefix tests/js` (scripts/test.sh installs node and the packages)";
    let node = Command::new("node").arg("--version").output();
    assert!(node.as_ref().is_ok_and(|o| o.status.success()), "node is missing: {hint}");
    assert!(root.join("tests/js/node_modules/oidc-provider").is_dir(), "tests/js/node_modules is missing: {hint}");
    let config = dir.join("oidc-provider.json");
    let portal = format!("https://localhost:{portal_port}");
    std::fs::write(
        &config,
        json!({
            "port": 0,
            "clients": [{ "client_id": CLIENT_ID, "client_secret": SECRET,
                          "redirect_uris": [format!("{portal}/auth/callback")],
                          "post_logout_redirect_uris": [format!("{portal}/")] }],
            "accounts": accounts,
        })
        .to_string(),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("oidc-provider.log")).unwrap();
    let mut child = Command::new("node")
        .current_dir(&root)
        .arg("tests/js/oidc-provider.mjs")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(out).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
        for _ in lines {}
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "oidc-provider printed no ready line within 30 s:\n{}",
                std::fs::read_to_string(dir.join("oidc-provider.log")).unwrap_or_default()
            );
        }
    };
    let issuer = serde_json::from_str::<Value>(&line).unwrap()["issuer"].as_str().unwrap().to_string();
    NodeProvider { child, issuer }
}

/// The Node provider with one account, `citizen-7`: `citizen`, MitID level Substantial.
fn start_node_with_citizen_7(env: &Env, port: u16, citizen: &consent::Cpr) -> NodeProvider {
    start_node(
        env.dir.path(),
        port,
        json!({ "citizen-7": {
            "dk.cpr": citizen.expose(), "loa": "https://data.gov.dk/concept/core/nsis/Substantial",
            "identity_type": "private", "name": "Testborger Syv", "mitid.uuid": "7d3c0ae1-0000-4000-8000-000000000007",
        }}),
    )
}

/// Logs in at the portal through the provider's login and consent forms (tests/js/README.md);
/// returns the portal's callback URL that completed the login.
async fn login_node(c: &reqwest::Client, portal: &str, issuer: &str, account: &str) -> String {
    let start = get(c, &format!("{portal}/login")).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let mut url = start.location.unwrap();
    assert!(url.starts_with(issuer), "the portal sends the citizen to the provider");
    for _ in 0..16 {
        if url.starts_with(portal) {
            let done = get(c, &url).await;
            assert_eq!(done.status, 303, "the callback: {}", done.body);
            assert_eq!(done.location.as_deref(), Some("/"));
            return url;
        }
        let a = get(c, &url).await;
        match a.status.as_u16() {
            302 | 303 => url = absolute(issuer, &a.location.unwrap()),
            200 => {
                let action = a.body.split("action=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
                let form: Vec<(&str, &str)> = if a.body.contains("name=\"login\"") {
                    vec![("prompt", "login"), ("login", account), ("password", "x")]
                } else {
                    vec![("prompt", "consent")]
                };
                let next = post_form(c, &absolute(issuer, &action), &form).await;
                assert_eq!(next.status, 303, "{}", next.body);
                url = absolute(issuer, &next.location.unwrap());
            }
            s => panic!("unexpected {s} from the provider at {url}: {}", a.body),
        }
    }
    panic!("the login did not come back to the portal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_oidc_provider_approve_revoke_then_denied_and_min_log_lists_both() {
    let env = Env::new(5_000);
    let citizen = support::rehab_citizen();
    let port = support::reserved_port();
    let node = start_node_with_citizen_7(&env, port, &citizen);
    let running = start(&env, port, &node.issuer, None).await;
    let portal = format!("https://localhost:{port}");
    let api = |p: &str| format!("{}{p}", running.url());
    let (kk, token) = (env.kk(), env.rehab_token());
    let ledger = running.ledger().clone();

    // A caseworker asks for consent over the API.
    let cats = ["health.lae265", "jobcenter.case"];
    let until = Utc::now() + chrono::Duration::days(90);
    let (status, _, body) = post(
        &kk,
        &api("/api/v1/consent-requests"),
        &token,
        &json!({ "citizen": citizen.expose(), "purpose": PURPOSE, "categories": cats,
                 "period": { "until": until }, "explanation": "Vi forbereder dit møde med rehabiliteringsteamet." }),
    )
    .await;
    assert_eq!(status, 201);
    let id: ConsentId = body["id"].as_str().unwrap().parse().unwrap();

    // Logged out: the login link. Then log in through the real provider.
    let c = browser(&env, None);
    let home = get(&c, &format!("{portal}/")).await;
    assert!(home.body.contains("Log ind med MitID") && !home.body.contains("Log ud"));
    login_node(&c, &portal, &node.issuer, "citizen-7").await;
    let home = get(&c, &format!("{portal}/")).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("<h1>Dine samtykker</h1>") && home.body.contains("Log ud"), "{}", home.body);
    assert!(!home.body.contains(citizen.expose()), "the CPR number is never shown");
    let pending = home.body.find("Venter på dit svar").unwrap();
    let link = home.body.find(&format!("href=\"/requests/{id}\">Se anmodningen")).expect("the request is listed");
    assert!(pending < link);

    // Approve.
    let req = get(&c, &format!("{portal}/requests/{id}")).await;
    assert!(req.body.contains(">Godkend</button>") && req.body.contains(">Afvis</button>"));
    assert!(req.body.contains("Vi forbereder dit møde med rehabiliteringsteamet."));
    let csrf = field(&req.body, "csrf");
    let done = post_form(&c, &format!("{portal}/requests/{id}"), &[("csrf", &csrf), ("answer", "approve")]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Du har givet samtykke") && done.body.contains("Tilbage til oversigten"));
    assert!(done.body.contains(&format!("href=\"/receipts/{id}.2\">Se kvittering")));
    assert_eq!(ledger.consent(id).await.unwrap().state, State::Active);

    // The case file now includes both categories.
    let (status, _, file) = post(&kk, &api("/api/v1/case-files"), &token, &case_file_body(&citizen, &cats)).await;
    assert_eq!(status, 200, "{file}");
    assert!(statuses(&file).iter().all(|(_, s, _)| s == "included"), "{:?}", statuses(&file));

    // The receipt: readable, and as JSON with a JWS that verifies against the portal's JWKS.
    let page = get(&c, &format!("{portal}/receipts/{id}.2")).await;
    assert!(page.body.contains("<h1>Kvittering</h1>") && page.body.contains("Du godkendte"));
    let json_receipt: Value =
        c.get(format!("{portal}/receipts/{id}.2/json")).send().await.unwrap().json().await.unwrap();
    let jwks: Value = c.get(format!("{portal}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    use base64::Engine;
    let raw: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(x).unwrap().try_into().unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw).unwrap();
    let receipt = ConsentReceipt::verify(json_receipt["jws"].as_str().unwrap(), &key).unwrap();
    assert_eq!(receipt.consent_id, id);
    assert_eq!(receipt.principal.id, citizen);
    assert_eq!(receipt.controller.unit.as_str(), REHAB_UNIT);
    assert_eq!(receipt.categories.len(), 2);
    // The same receipt and JWKS through an independent JOSE implementation (panva's jose,
    // Node); a receipt with a changed payload or signature fails there.
    let jws = json_receipt["jws"].as_str().unwrap();
    let (ok, out) = verify_with_jose(env.dir.path(), &jwks, jws).await;
    assert!(ok, "jose refused the receipt: {out}");
    let out: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((out["alg"].as_str(), out["receipt_id"].as_str()), (Some("EdDSA"), Some(format!("{id}.2").as_str())));
    assert_eq!(out["kid"], jwks["keys"][0]["kid"]);
    let (h, rest) = jws.split_once('.').unwrap();
    let (p, sig) = rest.split_once('.').unwrap();
    let mut payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap();
    let at = payload.windows(8).position(|w| w == b"approved").expect("the action is in the payload");
    payload[at..at + 8].copy_from_slice(b"rejected");
    let forged = format!("{h}.{}.{sig}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload));
    let (ok, out) = verify_with_jose(env.dir.path(), &jwks, &forged).await;
    assert!(!ok && out.contains("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"), "a changed payload: {out}");
    let mut bad_sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig).unwrap();
    bad_sig[0] ^= 1;
    let forged = format!("{h}.{p}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bad_sig));
    let (ok, out) = verify_with_jose(env.dir.path(), &jwks, &forged).await;
    assert!(!ok && out.contains("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"), "a changed signature: {out}");

    // Revoke: the consent page, one confirmation, done.
    let consent_page = get(&c, &format!("{portal}/consents/{id}")).await;
    assert!(consent_page.body.contains("Tilbagekald samtykket"));
    let confirm = get(&c, &format!("{portal}/consents/{id}/revoke")).await;
    assert!(confirm.body.contains(">Ja, tilbagekald</button>"));
    let csrf = field(&confirm.body, "csrf");
    let revoked = post_form(&c, &format!("{portal}/consents/{id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body.contains("Samtykket er tilbagekaldt"));

    // The very next case-file request is denied.
    let (status, _, file) = post(&kk, &api("/api/v1/case-files"), &token, &case_file_body(&citizen, &cats)).await;
    assert_eq!(status, 200);
    assert!(statuses(&file).iter().all(|(_, s, _)| s == "denied"), "{:?}", statuses(&file));

    // Min log says it in sentences, one per request: the release (on my consent), then
    // the denial after the revocation, newest first.
    let log = get(&c, &format!("{portal}/log")).await;
    assert_eq!(log.status, 200);
    let cards: Vec<&str> = log.body.split("<li class=\"").skip(1).collect();
    let fetched: Vec<&&str> = cards.iter().filter(|l| l.starts_with("released") && l.contains(" hentede ")).collect();
    let refused: Vec<&&str> =
        cards.iter().filter(|l| l.starts_with("refused") && l.contains("fik ikke adgang")).collect();
    assert_eq!(fetched.len(), 1, "one line for the case file that was released: {cards:?}");
    assert!(fetched[0].contains("fordi du gav samtykke") && fetched[0].contains("cw-anna"), "{}", fetched[0]);
    assert!(fetched[0].contains("Rehabiliteringsteamet"), "{}", fetched[0]);
    assert_eq!(refused.len(), 1, "one line for the denied request: {cards:?}");
    let first_denied = cards.iter().position(|l| l.starts_with("refused")).unwrap();
    let first_released = cards.iter().position(|l| l.starts_with("released")).unwrap();
    assert!(first_denied < first_released);
    assert!(cards.iter().any(|l| l.contains("Du tilbagekaldte dit samtykke")));
    // Filtered to consents only: no access lines; a bad filter is a Danish 400 that does
    // not repeat what was sent.
    let only = get(&c, &format!("{portal}/log?what=consents")).await;
    assert_eq!(only.status, 200);
    assert!(!only.body.contains(" hentede ") && only.body.contains("Du tilbagekaldte dit samtykke"));
    let bad = get(&c, &format!("{portal}/log?unit=kk.nowhere&what=consents")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("Filteret kan ikke bruges") && !bad.body.contains("kk.nowhere"), "{}", bad.body);
    assert_eq!(get(&c, &format!("{portal}/log?before=1&before=2")).await.status, 400);

    // The download: every record about me with a proof, checked by `sammen audit verify`
    // with only the public key the verify page shows; a changed file is caught.
    let help = get(&c, &format!("{portal}/log/verify")).await;
    assert_eq!(help.status, 200);
    let key = hex::encode(running.audit().verifying_key().as_bytes());
    assert!(help.body.contains(&key), "the page shows the key to check against");
    let file = c.get(format!("{portal}/log/download")).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert!(file.headers()["content-disposition"].to_str().unwrap().contains("min-log.json"));
    let file: Value = file.json().await.unwrap();
    let entries = file["entries"].as_array().unwrap();
    assert_eq!(entries.len(), page_count(&running, citizen).await, "every record about me, no one else's");
    assert!(entries.iter().all(|e| e["record"]["citizen"] == json!(citizen.expose())));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("min-log.json");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    let check = |p: &Path| {
        support::procs::sammen()
            .args(["audit", "verify", "--citizen-log"])
            .arg(p)
            .args(["--public-key", &key])
            .output()
            .unwrap()
    };
    let ok = check(&path);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with(&format!("ok: {} record(s)", entries.len())));
    let mut changed = file.clone();
    changed["entries"][0]["record"]["caseworker"] = json!("someone-else");
    std::fs::write(&path, serde_json::to_vec(&changed).unwrap()).unwrap();
    let caught = check(&path);
    assert!(!caught.status.success());
    assert!(String::from_utf8_lossy(&caught.stderr).contains("differs from the signed bytes"));

    // The same as the audit log holds.
    let page =
        running.audit().query(&AuditFilter { citizen: Some(citizen), ..Default::default() }, None, 100).await.unwrap();
    assert!(page.records.iter().any(|(_, r)| r.kind == AuditKind::ConsentApproved));
    assert!(page.records.iter().any(|(_, r)| r.kind == AuditKind::ConsentRevoked));

    // Log out: the session ends here and the citizen goes to the provider's logout.
    let home = get(&c, &format!("{portal}/")).await;
    let csrf = field(&home.body, "csrf");
    let out = post_form(&c, &format!("{portal}/logout"), &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    let logout = out.location.clone().unwrap();
    assert!(logout.starts_with(&node.issuer), "{logout}");
    // No personal data in the URL: no ID token (a JWT starts `eyJ`), only who the client
    // is and where to come back to (issue 13, defect 4).
    assert!(!logout.contains("id_token_hint") && !logout.contains("eyJ"), "{logout}");
    let q: std::collections::HashMap<String, String> =
        url::Url::parse(&logout).unwrap().query_pairs().into_owned().collect();
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(q.get("post_logout_redirect_uri"), Some(&format!("{portal}/")));
    // The provider accepts it: its logout confirmation, not an error.
    let confirm = get(&c, &logout).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("op.logoutForm"), "{}", confirm.body);
    let home = get(&c, &format!("{portal}/")).await;
    assert!(home.body.contains("Log ind med MitID") && !home.body.contains("Log ud"));
    assert_eq!(get(&c, &format!("{portal}/log")).await.status, 303, "Min log needs a session");

    running.shutdown().await;
}

/// "Min sag": the logged-in citizen reads their own data live from every source, on the
/// basis of their right of access, without any consent; every view is audited and in Min
/// log; a source that is down says so, and all sources down is a clear Danish page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_sag_shows_my_own_data_live_audited_and_says_which_source_is_down() {
    let env = Env::new(3_000);
    let citizen = support::rehab_citizen();
    let port = support::reserved_port();
    let node = start_node_with_citizen_7(&env, port, &citizen);
    let running = start(&env, port, &node.issuer, None).await;
    let portal = format!("https://localhost:{port}");
    let c = browser(&env, None);
    assert_eq!(get(&c, &format!("{portal}/min-sag")).await.status, 303, "Min sag needs a session");
    login_node(&c, &portal, &node.issuer, "citizen-7").await;
    let own = |r: &consent::audit::AuditRecord| {
        r.basis.as_deref().is_some_and(|b| b.starts_with("own-access:")) && r.system.as_deref() == Some("portal")
    };
    let count_own = || async {
        let f = AuditFilter { citizen: Some(citizen), ..Default::default() };
        running.audit().query(&f, None, 100_000).await.unwrap().records.iter().filter(|(_, r)| own(r)).count()
    };
    assert_eq!(count_own().await, 0);

    // Every source answers: each category's section with its source and time, no consent needed.
    let page = get(&c, &format!("{portal}/min-sag")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for source in ["Fra: Jobcentret", "Fra: Socialforvaltningen", "Fra: Jobnet", "Fra: Sundhedsvæsenet"] {
        assert!(page.body.contains(source), "{source}: {}", page.body);
    }
    assert!(page.body.contains("hentet "), "each section says when it was fetched");
    assert!(!page.body.contains("Vi kunne ikke få svar"), "{}", page.body);
    assert!(page.body.matches("<article class=\"doc\">").count() >= 4, "documents from the sources");
    assert!(!page.body.contains(citizen.expose()), "no CPR number on the page");
    let categories = running.ledger().rules().vocabulary.categories.len();
    assert_eq!(count_own().await, 2 * categories, "a decision and a release record per category");
    let log = get(&c, &format!("{portal}/log")).await;
    assert!(log.body.contains("Du så ") && log.body.contains("fordi du har ret til at se dine egne oplysninger"));

    // One source down: its sections say so, the others still show.
    env.sandbox.fault("jobcenter", Some(json!({"kind": "connection_reset"}))).await;
    let page = get(&c, &format!("{portal}/min-sag")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Vi kunne ikke få svar lige nu"), "{}", page.body);
    assert!(!page.body.contains("Vi kunne ikke få svar fra nogen"));
    assert!(page.body.contains("Fra: Jobnet"));

    // Every source down: one clear Danish sentence at the top, still a page, still audited.
    for source in ["mediconnect", "jobcenter", "social", "jobnet_cv", "plan"] {
        env.sandbox.fault(source, Some(json!({"kind": "connection_reset"}))).await;
    }
    let page = get(&c, &format!("{portal}/min-sag")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Vi kunne ikke få svar fra nogen af myndighederne lige nu"), "{}", page.body);
    assert_eq!(count_own().await, 6 * categories);
    env.sandbox.clear_faults().await;
    running.shutdown().await;
}

/// "Mit perspektiv": the citizen reads the coordinated plan in Min sag and adds their own
/// statement (a CSRF-protected POST, decided by `write_own`, audited); a caseworker of
/// another department with a consent to the plan then reads it, and Min log says both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citizens_statement_in_the_plan_appears_for_a_caseworker() {
    let env = Env::new(5_000);
    let citizen = support::rehab_citizen();
    let port = support::reserved_port();
    let node = start_node_with_citizen_7(&env, port, &citizen);
    let running = start(&env, port, &node.issuer, None).await;
    let portal = format!("https://localhost:{port}");
    let now = Utc::now();
    let mut t = terms(citizen, 30, now - chrono::Duration::minutes(1));
    t.grantee = UnitId::parse("kk").unwrap();
    t.include_subunits = true;
    t.purpose = Purpose::parse("coordinated-plan").unwrap();
    t.categories = [Category::parse("plan").unwrap()].into();
    running.consents().grant(t, &citizen, &Actor::citizen(Channel::Cli), now).await.unwrap();

    let c = browser(&env, None);
    login_node(&c, &portal, &node.issuer, "citizen-7").await;
    let page = get(&c, &format!("{portal}/min-sag")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Din fælles plan på tværs af forvaltninger"), "{}", page.body);
    assert!(page.body.contains("Indsatser") && page.body.contains("Ressourceforløb med mentor"), "{}", page.body);
    assert!(page.body.contains("action=\"/min-sag/perspektiv\""), "the statement form");
    let csrf = field(&page.body, "csrf");
    let said = "Jeg vil gerne starte med få timer om ugen.";
    let done = post_form(&c, &format!("{portal}/min-sag/perspektiv"), &[("csrf", &csrf), ("text", said)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Dit perspektiv er tilføjet"), "{}", done.body);
    // An empty statement is refused, and nothing is written.
    let empty = post_form(&c, &format!("{portal}/min-sag/perspektiv"), &[("csrf", &csrf), ("text", "  ")]).await;
    assert_eq!(empty.status, 422);

    // The social services read the plan through the API: the statement is there.
    let api = |p: &str| format!("{}{p}", running.url());
    let social = env.token("cw-sofie", "kk.social", &["social-caseworker"]);
    let (status, _, p) = post(
        &env.kk(),
        &api("/api/v1/plans/read"),
        &social,
        &json!({ "citizen": citizen.expose(), "purpose": "coordinated-plan" }),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["version"], 2);
    let statements = &p["section"]["documents"][0]["content"]["statements"];
    assert_eq!(statements[0]["text"], said, "{p}");

    // Min log: the citizen's own statement and the social services' read.
    let log = get(&c, &format!("{portal}/log")).await;
    assert!(log.body.contains("Du skrev dit perspektiv i din fælles plan"), "{}", log.body);
    assert!(log.body.contains("Socialforvaltningen, Københavns Kommune hentede din fælles plan"), "{}", log.body);
    let f = AuditFilter { citizen: Some(citizen), ..Default::default() };
    let records = running.audit().query(&f, None, 100_000).await.unwrap().records;
    let written: Vec<_> = records.iter().filter(|(_, r)| r.kind == AuditKind::Write).collect();
    assert_eq!(written.len(), 1, "one statement written");
    assert_eq!(written[0].1.system.as_deref(), Some("portal"));
    assert_eq!(written[0].1.documents.len(), 1);
    running.shutdown().await;
}

/// "Beskeder": the citizen asks for a letter at every access; the next case file about
/// them brings exactly one letter naming what was fetched; Min sag (their own view) none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_who_opts_in_gets_one_letter_per_access() {
    let env = Env::new(5_000);
    let citizen = support::rehab_citizen();
    let port = support::reserved_port();
    let node = start_node_with_citizen_7(&env, port, &citizen);
    let running = start_with(&env, port, &node.issuer, None, true).await;
    let portal = format!("https://localhost:{port}");
    let c = browser(&env, None);
    login_node(&c, &portal, &node.issuer, "citizen-7").await;
    let letters = || async {
        env.sandbox
            .mailbox()
            .await
            .into_iter()
            .filter(|m| m.message.recipient == citizen.expose())
            .map(|m| m.message)
            .collect::<Vec<_>>()
    };

    // Off by default; a bad choice changes nothing; "Ja" is saved.
    let settings = get(&c, &format!("{portal}/notifications")).await;
    assert_eq!(settings.status, 200);
    assert!(settings.body.contains("value=\"off\" checked"), "{}", settings.body);
    let csrf = field(&settings.body, "csrf");
    let bad = post_form(&c, &format!("{portal}/notifications"), &[("csrf", &csrf), ("access", "maybe")]).await;
    assert_eq!(bad.status, 422);
    let saved = post_form(&c, &format!("{portal}/notifications"), &[("csrf", &csrf), ("access", "on")]).await;
    assert_eq!(saved.status, 200);
    assert!(saved.body.contains("Dit valg er gemt") && saved.body.contains("value=\"on\" checked"));

    // The citizen's own view brings no letter; a caseworker's case file brings one.
    assert_eq!(get(&c, &format!("{portal}/min-sag")).await.status, 200);
    let cats = ["jobnet.cv", "jobcenter.case"];
    let granted = env_grant(&running, &citizen, &cats).await;
    let (status, _, file) = post(
        &env.kk(),
        &format!("{}/api/v1/case-files", running.url()),
        &env.rehab_token(),
        &case_file_body(&citizen, &cats),
    )
    .await;
    assert_eq!(status, 200, "{file}");
    assert!(statuses(&file).iter().all(|(_, s, _)| s == "included"), "{granted}: {:?}", statuses(&file));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut got = letters().await;
    while got.iter().all(|m| m.subject != "Der er hentet oplysninger om dig") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = letters().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = letters().await;
    let access: Vec<_> = got.iter().filter(|m| m.subject == "Der er hentet oplysninger om dig").collect();
    assert_eq!(access.len(), 1, "one letter for the one case file: {got:?}");
    assert!(access[0].body.contains("Rehabiliteringsteamet, Jobcenter København hentede"), "{}", access[0].body);
    assert!(access[0].body.contains("Dit CV på Jobnet"), "{}", access[0].body);
    running.shutdown().await;
}

/// Grants the rehabilitation team consent to `categories` through the running gateway's
/// consent service (the citizen's own grant, as the portal would).
async fn env_grant(running: &RunningGateway, citizen: &consent::Cpr, categories: &[&str]) -> ConsentId {
    let now = Utc::now();
    let c = running
        .consents()
        .grant(
            TermsInput {
                citizen: *citizen,
                grantee: UnitId::parse(REHAB_UNIT).unwrap(),
                include_subunits: false,
                purpose: Purpose::parse(PURPOSE).unwrap(),
                categories: categories.iter().map(|c| Category::parse(c).unwrap()).collect(),
                period: Period { from: now - chrono::Duration::minutes(1), until: now + chrono::Duration::days(30) },
                data_period: None,
                text_version: "t-1".into(),
                text_body: "Ja.".into(),
            },
            citizen,
            &Actor::citizen(Channel::Portal),
            now,
        )
        .await
        .unwrap();
    c.id
}

/// How many records the audit log holds about `citizen`.
async fn page_count(running: &RunningGateway, citizen: consent::Cpr) -> usize {
    let f = AuditFilter { citizen: Some(citizen), ..Default::default() };
    running.audit().query(&f, None, 100_000).await.unwrap().records.len()
}

// ---------------------------------------------------------------------------------------
// The sandbox MitID broker, for the bad inputs

pub(crate) struct BrokerEnv {
    pub env: Env,
    pub broker: sandbox::RunningSandbox,
    pub running: RunningGateway,
    pub portal: String,
}

pub(crate) async fn with_broker() -> BrokerEnv {
    let env = Env::new(5_000);
    let broker = sandbox::Sandbox::start(sandbox::SandboxConfig {
        tls: Some(sandbox::tls::generate().unwrap()),
        ..Default::default()
    })
    .await
    .unwrap();
    let ca = env.dir.path().join("broker-ca.pem");
    std::fs::write(&ca, broker.ca_pem().unwrap()).unwrap();
    let port = support::reserved_port();
    let portal = format!("https://localhost:{port}");
    broker.register_broker_client(BrokerClient {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![format!("{portal}/auth/callback")],
        post_logout_redirect_uris: vec![format!("{portal}/")],
    });
    let running = start(&env, port, &broker.broker_url(), Some(ca)).await;
    BrokerEnv { env, broker, running, portal }
}

impl BrokerEnv {
    pub(crate) fn browser(&self) -> reqwest::Client {
        browser(&self.env, self.broker.ca_pem())
    }

    /// Through the broker's form as citizen 0 at `loa`; returns the callback URL (not visited).
    async fn callback(&self, c: &reqwest::Client, loa: &str) -> String {
        let start = get(c, &format!("{}/login", self.portal)).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let authorize = start.location.unwrap();
        let form = get(c, &authorize).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let auth = field(&form.body, "auth");
        let done = post_form(
            c,
            &format!("{}/authorize", self.broker.broker_url()),
            &[("auth", &auth), ("citizen", "0"), ("loa", loa)],
        )
        .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let cb = done.location.unwrap();
        assert!(cb.starts_with(&format!("{}/auth/callback?", self.portal)), "{cb}");
        cb
    }

    pub(crate) async fn login(&self, c: &reqwest::Client) {
        let cb = self.callback(c, "substantial").await;
        let a = get(c, &cb).await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert!(self.is_logged_in(c).await);
    }

    pub(crate) async fn is_logged_in(&self, c: &reqwest::Client) -> bool {
        let home = get(c, &format!("{}/", self.portal)).await;
        assert_eq!(home.status, 200);
        home.body.contains("Log ud")
    }
}

/// A refused login: the Danish page, and no session.
async fn refused(b: &BrokerEnv, c: &reqwest::Client, cb: &str, status: u16, text: &str) {
    let a = get(c, cb).await;
    assert_eq!(a.status.as_u16(), status, "{}", a.body);
    assert!(a.body.contains(text), "expected {text:?} in {}", a.body);
    assert!(a.body.contains("<html lang=\"da\">"));
    assert!(!b.is_logged_in(c).await, "a refused login leaves no session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_login_gets_a_danish_page_and_no_session() {
    let b = with_broker().await;
    let c = b.browser();
    let not_confirmed = "Vi kunne ikke bekræfte dit login";

    // A wrong state.
    let cb = b.callback(&c, "substantial").await;
    let (head, _) = cb.split_once("state=").unwrap();
    let tail = cb.split_once("state=").unwrap().1;
    let rest = tail.split_once('&').map(|(_, r)| format!("&{r}")).unwrap_or_default();
    refused(&b, &c, &format!("{head}state=forged{rest}"), 400, not_confirmed).await;

    // A replayed code: the first use logs in, the second is refused (the login state is used up).
    let cb = b.callback(&c, "substantial").await;
    assert_eq!(get(&c, &cb).await.status, 303);
    let other = b.browser();
    refused(&b, &other, &cb, 400, "Login-forsøget er ikke gyldigt").await;
    // ... also with a fresh login started in that browser (its state differs; the code is spent).
    let _ = get(&other, &format!("{}/login", b.portal)).await;
    refused(&b, &other, &cb, 400, not_confirmed).await;

    // An authorisation response naming another issuer (RFC 9207: a mix-up attempt).
    let c = b.browser();
    let cb = b.callback(&c, "substantial").await;
    let (head, tail) = cb.split_once("iss=").unwrap();
    let rest = tail.split_once('&').map(|(_, r)| format!("&{r}")).unwrap_or_default();
    refused(&b, &c, &format!("{head}iss=https%3A%2F%2Fevil.invalid{rest}"), 400, not_confirmed).await;

    // The broker misbehaving: each token is refused.
    for mode in [
        BrokerMode::WrongNonce,
        BrokerMode::MissingNonce,
        BrokerMode::WrongIssuer,
        BrokerMode::WrongAudience,
        BrokerMode::Expired,
        BrokerMode::BadSignature,
    ] {
        b.broker.set_broker_mode(mode);
        let c = b.browser();
        let cb = b.callback(&c, "substantial").await;
        refused(&b, &c, &cb, 400, not_confirmed).await;
    }
    b.broker.set_broker_mode(BrokerMode::Professional);
    let c = b.browser();
    let cb = b.callback(&c, "high").await;
    refused(&b, &c, &cb, 403, "Log ind med dit private MitID").await;
    b.broker.set_broker_mode(BrokerMode::Normal);

    // Low level of assurance.
    let c = b.browser();
    let cb = b.callback(&c, "low").await;
    refused(&b, &c, &cb, 403, "Du skal bruge et højere sikringsniveau").await;

    // A callback with no login started at all.
    let c = b.browser();
    refused(&b, &c, &format!("{}/auth/callback?code=x&state=y", b.portal), 400, "Login-forsøget er ikke gyldigt").await;

    // And the good path still works.
    let c = b.browser();
    b.login(&c).await;
    b.running.shutdown().await;
}

pub(crate) fn terms(citizen: consent::Cpr, days: i64, from: chrono::DateTime<Utc>) -> TermsInput {
    TermsInput {
        citizen,
        grantee: UnitId::parse(REHAB_UNIT).unwrap(),
        include_subunits: false,
        purpose: Purpose::parse(PURPOSE).unwrap(),
        categories: [Category::parse("jobcenter.case").unwrap()].into(),
        period: Period { from, until: from + chrono::Duration::days(days) },
        data_period: None,
        text_version: "t-1".into(),
        text_body: "Samtykke til test.".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_csrf_others_consents_and_expired_requests_change_nothing() {
    let b = with_broker().await;
    let ledger = b.running.ledger().clone();
    let consents = b.running.consents().clone();
    let api = Actor::caseworker("kk-sagssystem", "cw-anna", UnitId::parse(REHAB_UNIT).unwrap(), "req-test");
    let me = sandbox::citizens::cpr_of(0);
    let someone_else = sandbox::citizens::cpr_of(1);
    let now = Utc::now();
    let requester = Requester { caseworker: "cw-anna".into(), system: "kk-sagssystem".into() };
    let pending = consents
        .request(terms(me, 30, now), requester.clone(), "Forklaring".into(), now + chrono::Duration::days(7), &api, now)
        .await
        .unwrap();
    let past = now - chrono::Duration::hours(2);
    let expired = consents
        .request(terms(me, 30, past), requester, "Forklaring".into(), past + chrono::Duration::hours(1), &api, past)
        .await
        .unwrap();
    let others =
        consents.grant(terms(someone_else, 30, now), &someone_else, &Actor::citizen(Channel::Cli), now).await.unwrap();
    let c = b.browser();
    b.login(&c).await;
    let size = b.running.audit().tree_size();
    let portal = &b.portal;

    // A form without (or with a wrong) CSRF token.
    for form in [vec![("answer", "approve")], vec![("answer", "approve"), ("csrf", "forged")]] {
        let a = post_form(&c, &format!("{portal}/requests/{}", pending.id), &form).await;
        assert_eq!(a.status, 403);
        assert!(a.body.contains("Formularen kunne ikke sendes"), "{}", a.body);
    }
    assert_eq!(ledger.consent(pending.id).await.unwrap().state, State::Requested);
    let a = post_form(
        &c,
        &format!("{portal}/grant"),
        &[("unit", REHAB_UNIT), ("purpose", PURPOSE), ("category", "jobcenter.case"), ("months", "3")],
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(ledger.consents_of(&me).await.unwrap().len(), 2, "no consent was granted");

    let home = get(&c, &format!("{portal}/")).await;
    let csrf = field(&home.body, "csrf");

    // Someone else's consent: not found, whatever the action, and still active.
    let a = post_form(&c, &format!("{portal}/consents/{}/revoke", others.id), &[("csrf", &csrf)]).await;
    assert_eq!(a.status, 404);
    assert!(a.body.contains("Vi kan ikke finde samtykket"));
    assert_eq!(get(&c, &format!("{portal}/consents/{}", others.id)).await.status, 404);
    assert_eq!(get(&c, &format!("{portal}/receipts/{}.1", others.id)).await.status, 404);
    assert_eq!(ledger.consent(others.id).await.unwrap().state, State::Active);

    // An expired request cannot be approved.
    let a =
        post_form(&c, &format!("{portal}/requests/{}", expired.id), &[("csrf", &csrf), ("answer", "approve")]).await;
    assert_eq!(a.status, 409);
    assert!(a.body.contains("Anmodningen er udløbet"), "{}", a.body);
    assert_eq!(ledger.consent(expired.id).await.unwrap().state, State::Requested);

    // A grant beyond the cap is refused with the form again.
    let a = post_form(
        &c,
        &format!("{portal}/grant"),
        &[
            ("csrf", &csrf),
            ("unit", REHAB_UNIT),
            ("purpose", PURPOSE),
            ("category", "jobcenter.case"),
            ("months", "13"),
        ],
    )
    .await;
    assert_eq!(a.status, 422);
    assert!(a.body.contains("Vælg et antal måneder fra 1 til 12"));

    // Nothing above changed the ledger or wrote an audit record.
    assert_eq!(b.running.audit().tree_size(), size);
    assert_eq!(ledger.consents_of(&me).await.unwrap().len(), 2);

    // The same forms with the token work: reject the pending request, grant, block and lift.
    let a = post_form(&c, &format!("{portal}/requests/{}", pending.id), &[("csrf", &csrf), ("answer", "reject")]).await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("Du har afvist anmodningen"));
    assert_eq!(ledger.consent(pending.id).await.unwrap().state, State::Rejected);
    let a = post_form(
        &c,
        &format!("{portal}/grant"),
        &[
            ("csrf", &csrf),
            ("unit", REHAB_UNIT),
            ("purpose", PURPOSE),
            ("category", "jobcenter.case"),
            ("category", "jobnet.cv"),
            ("months", "3"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let mine = ledger.consents_of(&me).await.unwrap();
    assert_eq!(mine.len(), 3);
    assert_eq!(mine[0].terms.categories.len(), 2);
    let a = post_form(&c, &format!("{portal}/blocks"), &[("csrf", &csrf), ("target", "category:health.lae265")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let blocks = ledger.blocks(&me).await.unwrap();
    assert_eq!(blocks.len(), 1);
    let a = post_form(&c, &format!("{portal}/blocks/{}/lift", blocks[0].id), &[("csrf", &csrf)]).await;
    assert_eq!(a.status, 200);
    assert!(ledger.blocks(&me).await.unwrap().is_empty());
    let records = b.running.audit().entries(size, b.running.audit().tree_size()).await.unwrap();
    let kinds: Vec<AuditKind> = records.iter().map(|(_, r)| r.kind).collect();
    assert_eq!(
        kinds,
        [AuditKind::ConsentRejected, AuditKind::ConsentGranted, AuditKind::BlockPlaced, AuditKind::BlockLifted]
    );
    // Each names the exact event it records.
    let subjects: Vec<_> = records.iter().map(|(_, r)| r.subject.clone().unwrap_or_default()).collect();
    assert_eq!(subjects[0], format!("consent:{}.2", pending.id));
    assert_eq!(subjects[1], format!("consent:{}.1", mine[0].id));
    assert_eq!(subjects[2], format!("block:{}.1", blocks[0].id));
    assert_eq!(subjects[3], format!("block:{}.2", blocks[0].id));
    b.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_starts_while_the_broker_is_down_and_says_so() {
    let env = Env::new(5_000);
    let down = support::reserved_port();
    let port = support::reserved_port();
    let running = start(&env, port, &format!("http://127.0.0.1:{down}"), None).await;
    let c = browser(&env, None);
    let a = get(&c, &format!("https://localhost:{port}/login")).await;
    assert_eq!(a.status, 503);
    assert!(a.body.contains("MitID er ikke tilgængelig lige nu"), "{}", a.body);
    running.shutdown().await;
}

/// A `MakeWriter` that keeps every log line of this thread's subscriber in memory.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The ID token of a MitID login carries the citizen's CPR number: a whole portal session
/// (login through the broker, the overview, Min log, logout) logged at trace level, the
/// portal's and the broker's tasks alike (one thread: this test's runtime), holds the
/// number in no format.
#[tokio::test(flavor = "current_thread")]
async fn a_portal_session_logged_at_trace_level_holds_no_cpr_number() {
    let captured = Captured::default();
    let subscriber =
        tracing_subscriber::fmt().json().with_max_level(tracing::Level::TRACE).with_writer(captured.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let b = with_broker().await;
    // Callsites first reached by another test's thread (no subscriber there) may have
    // cached "never" while that thread raced this subscriber's registration: make every
    // callsite ask again, now that this thread's subscriber exists.
    tracing::callsite::rebuild_interest_cache();
    let c = b.browser();
    b.login(&c).await;
    assert_eq!(get(&c, &format!("{}/log", b.portal)).await.status, 200);
    let home = get(&c, &format!("{}/", b.portal)).await;
    let out = post_form(&c, &format!("{}/logout", b.portal), &[("csrf", &field(&home.body, "csrf"))]).await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert!(!b.is_logged_in(&c).await, "logged out");
    let text = captured.0.lock().unwrap().clone();
    let lines = String::from_utf8_lossy(&text);
    // Not vacuous: the login's requests were logged, at debug level and below.
    assert!(lines.lines().count() > 20, "too few log lines to prove anything:\n{lines}");
    assert!(lines.contains("/auth/callback"), "the callback's request is not in the log:\n{lines}");
    let me = sandbox::citizens::cpr_of(0);
    assert!(!crate::operators::contains_cpr(&text, &me), "the logged-in citizen's CPR number is in a log line");
}
