//! Test support: a throw-away PKI and token issuer, the sandbox and gateway processes, a
//! configuration tying them together, and HTTPS clients.

pub mod audit;
pub mod procs;
pub mod tls;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::time::Duration;

use consent::Cpr;
use gateway::dev::{ClientCert, DevIssuer, DevPki};
use serde_json::{Value, json};

pub use procs::{Gateway, Sandbox};

/// A port on 127.0.0.1 that is free now, for a listener whose address must be known before
/// it starts (the portal's redirect URI is given to the OpenID provider first).
///
/// Taken from 10000-25999, below the kernel's ephemeral range (32768 up by default) and
/// apart from the scratch PostgreSQL clusters' ports, so no parallel test's socket bound to
/// port 0 can take it before the listener binds it (a port 0 probe could: it did in CI).
pub fn reserved_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const BASE: u32 = 10_000;
    const SPAN: u32 = 16_000;
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let port = (BASE + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 10000-25999");
}

pub const ISSUER: &str = "https://idp.kk.test";
pub const PURPOSE: &str = "rehabilitation-team";
pub const REHAB_UNIT: &str = "kk.jobcenter.rehab";
/// The five categories citizen 7 (a rehabilitation case) has data in.
pub const CATEGORIES: [&str; 5] =
    ["health.lae265", "health.correspondence", "jobcenter.case", "social.case", "jobnet.cv"];

/// A synthetic citizen of the sandbox with a rehabilitation case (data in every source).
pub fn rehab_citizen() -> Cpr {
    let c = &sandbox::citizens()[7];
    assert_eq!(c.profile, sandbox::Profile::Rehabilitation);
    c.cpr
}

/// How long the tests' caseworker tokens are valid.
pub fn token_ttl() -> chrono::Duration {
    chrono::Duration::minutes(10)
}

/// The gateway's PKI (`gateway::dev`) and the client certificates the tests present.
pub struct Pki {
    pub dev: DevPki,
    /// Registered as system `kk-sagssystem` (organisation `kk`).
    pub kk_system: ClientCert,
    /// Registered as system `kk-andet`: another case system of the same organisation `kk`.
    pub kk_other: ClientCert,
    /// Registered as system `aarhus-sag` (organisation `aarhus`, purpose flexjob only).
    pub aarhus_system: ClientCert,
    /// Issued by the trusted CA, but registered for no system.
    pub unregistered: ClientCert,
    /// Issued by a CA the gateway does not trust.
    pub rogue: ClientCert,
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        let dev = DevPki::generate(&dir.join("pki"), &["localhost", "127.0.0.1"], "kk-sagssystem").unwrap();
        let rogue_ca = DevPki::generate(&dir.join("rogue-pki"), &["localhost"], "kk-sagssystem").unwrap();
        Pki {
            kk_system: dev.issue_client("kk-sagssystem").unwrap(),
            aarhus_system: dev.issue_client("aarhus-sag").unwrap(),
            kk_other: dev.issue_client("kk-andet").unwrap(),
            unregistered: dev.issue_client("unregistered").unwrap(),
            rogue: rogue_ca.issue_client("kk-sagssystem").unwrap(),
            dev,
        }
    }
}

/// Everything one test needs: a directory, PKI, issuer, sandbox process and a gateway config.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub issuer: DevIssuer,
    pub sandbox: Sandbox,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    /// Extra environment for every process this environment starts.
    pub envs: Vec<(String, String)>,
}

pub fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

impl Env {
    /// Starts a sandbox and writes a gateway configuration with this case-file deadline.
    pub fn new(deadline_ms: u64) -> Env {
        Self::new_with_env(deadline_ms, &[])
    }

    /// With extra environment variables for every process (e.g. the log format and level).
    pub fn new_with_env(deadline_ms: u64, envs: &[(&str, &str)]) -> Env {
        let envs: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path());
        let issuer = DevIssuer::with_kid(ISSUER, Some("kk-idp-1")).unwrap();
        let jwks = dir.path().join("jwks.json");
        // Compact, byte for byte the secret of the HMAC-confusion token.
        std::fs::write(&jwks, issuer.jwks().to_string()).unwrap();
        let sandbox = Sandbox::start_with_env(dir.path(), &envs);
        let config = dir.path().join("gateway.toml");
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:0"
cert_file = "{cert}"
key_file = "{key}"
client_ca_file = "{ca}"
handshake_timeout_ms = 3000
case_file_deadline_ms = {deadline_ms}
body_limit_bytes = 65536

[[systems]]
id = "kk-sagssystem"
organisation = "kk"
purposes = ["rehabilitation-team", "coordinated-plan", "benefit-administration"]
cert_sha256 = "{kk}"
paper_consents = true

[[systems]]
id = "kk-andet"
organisation = "kk"
purposes = ["rehabilitation-team", "coordinated-plan", "benefit-administration"]
cert_sha256 = "{kk_other}"

[[systems]]
id = "aarhus-sag"
organisation = "aarhus"
purposes = ["flexjob-assessment"]
cert_subject_cn = "aarhus-sag"

[caseworker_issuer]
issuer = "{ISSUER}"
audience = "{aud}"
jwks_file = "{jwks}"
leeway_secs = 5

[policies]
dir = "{policies}"

{connectors}
{residence}
"#,
            cert = pki.dev.server_cert.display(),
            key = pki.dev.server_key.display(),
            ca = pki.dev.ca_cert.display(),
            kk = pki.kk_system.sha256,
            kk_other = pki.kk_other.sha256,
            aud = tokens::AUDIENCE,
            jwks = jwks.display(),
            policies = policies_dir().display(),
            connectors = sandbox.connectors_toml(),
            residence = sandbox.residence_toml(),
        );
        std::fs::write(&config, toml).unwrap();
        let data_dir = dir.path().join("data");
        Env { dir, pki, issuer, sandbox, config, data_dir, envs }
    }

    pub fn settings(&self) -> gateway::settings::Settings {
        gateway::settings::Settings::load(Some(&self.config), Some(&self.data_dir)).unwrap()
    }

    pub fn start_gateway(&self) -> Gateway {
        Gateway::start_with_env(&self.config, &self.data_dir, &self.dir.path().join("gateway.log"), &self.envs)
    }

    /// An HTTPS client trusting the test CA, presenting `identity` (if any).
    pub fn client(&self, identity: Option<&ClientCert>) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&self.pki.dev.ca_cert).unwrap()).unwrap(),
            )
            .timeout(Duration::from_secs(30));
        if let Some(id) = identity {
            b = b.identity(reqwest::Identity::from_pem(id.identity_pem.as_bytes()).unwrap());
        }
        b.build().unwrap()
    }

    /// The kk case system's client.
    pub fn kk(&self) -> reqwest::Client {
        self.client(Some(&self.pki.kk_system))
    }

    /// A token from the test issuer for `caseworker` in `unit` with `roles`.
    pub fn token(&self, caseworker: &str, unit: &str, roles: &[&str]) -> String {
        self.issuer.mint(tokens::AUDIENCE, caseworker, unit, roles, token_ttl())
    }

    /// A token for a rehabilitation team member.
    pub fn rehab_token(&self) -> String {
        self.token("cw-anna", REHAB_UNIT, &["rehab-team-member"])
    }

    /// Grants the rehabilitation team consent for the five categories via `sammen consent
    /// grant` (a real process; the gateway must not be running: sled locks the store).
    pub fn grant_by_cli(&self, citizen: &Cpr, categories: &[&str]) -> String {
        use std::io::Write;
        let mut cmd = procs::sammen();
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd.arg("consent").arg("--config").arg(&self.config).arg("--data-dir").arg(&self.data_dir).arg("grant").args([
            "--unit",
            REHAB_UNIT,
            "--purpose",
            PURPOSE,
            "--months",
            "6",
        ]);
        for c in categories {
            cmd.args(["--category", c]);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The CPR number goes through standard input, not the command line.
        writeln!(child.stdin.take().unwrap(), "{}", citizen.expose()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// A case-file request body.
pub fn case_file_body(citizen: &Cpr, categories: &[&str]) -> Value {
    json!({ "citizen": citizen.expose(), "purpose": PURPOSE, "categories": categories, "case_reference": "sag-2025-17" })
}

/// POST JSON with a bearer token; returns status, headers and JSON body.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let r = client.post(url).bearer_auth(token).json(body).send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, json)
}

/// The sections of a case file by category: `(status, document count)`.
pub fn statuses(file: &Value) -> Vec<(String, String, usize)> {
    file["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["category"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
                s["documents"].as_array().unwrap().len(),
            )
        })
        .collect()
}
