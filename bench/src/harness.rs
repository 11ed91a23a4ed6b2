//! One run of the load harness: start the sandbox, preload and start the gateway (as
//! deployed: with its admin listener, so its metrics recorder is installed), then for each
//! load measure A ("the limit": the four sources fetched directly and concurrently by this
//! process through the same connectors, TLS settings and documents) and B (case files
//! through the gateway) in the order A B B A: an open loop at a fixed rate, closed loops per
//! concurrency with a few long-lived tokens, closed loops with a fresh token per request,
//! and one source delayed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use chrono::Utc;
use connectors::{ConnectorsConfig, FetchRequest, Registry, SourceConfig};
use consent::clock::{Clock, SystemClock};
use consent::{Category, Cpr};
use gateway::dev::{DevIssuer, DevPki};
use serde::{Deserialize, Serialize};

use crate::callgrind;
use crate::children::{GatewayProc, Launcher, SandboxProc};
use crate::load::{self, Op, Sample, Summary};
use crate::preload::{self, Preloaded};
use crate::procstat;

const ISSUER: &str = "https://idp.bench.sammen";
const AUDIENCE: &str = "sammen-bench";
const UNIT: &str = "kk.jobcenter.rehab";
const ROLE: &str = "rehab-team-member";
const PURPOSE: &str = "rehabilitation-team";
/// One category from each source: mediconnect, jobcenter, social, jobnet_cv.
pub const CATEGORIES: [&str; 4] = ["health.lae265", "jobcenter.case", "social.case", "jobnet.cv"];

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Synthetic consents preloaded into the gateway's store.
    #[arg(long, default_value_t = 100_000)]
    pub consents: usize,
    /// Seconds per measured phase (each concurrency runs A, B, A, B).
    #[arg(long, default_value_t = 8.0)]
    pub secs: f64,
    /// Seconds of warm-up (A then B) before the first phase.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Concurrencies to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 64])]
    pub concurrency: Vec<usize>,
    /// Open-loop arrival rates (case files or fetch sets per second, both sides the same;
    /// choose one both can sustain): latency from each request's intended send time.
    #[arg(long, value_delimiter = ',', default_values_t = [100.0f64])]
    pub rate: Vec<f64>,
    /// Concurrencies of the "fresh token per request" scenario (closed loop).
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16])]
    pub fresh_concurrency: Vec<usize>,
    /// Tokens minted (each once, each for one request) before the run for the fresh-token
    /// scenario; when they run out, further ones are minted on the request's path.
    #[arg(long, default_value_t = 20_000)]
    pub fresh_tokens: usize,
    /// Long-lived tokens (one caseworker each) that the other scenarios take turns with.
    #[arg(long, default_value_t = 4)]
    pub long_lived_tokens: usize,
    /// The delayed-source scenario: the Mediconnect source answers this much later (0 skips it).
    #[arg(long, default_value_t = 200)]
    pub delay_ms: u64,
    /// Concurrency of the delayed-source scenario.
    #[arg(long, default_value_t = 16)]
    pub delay_concurrency: usize,
    /// The gateway's log filter (`SAMMEN_LOG`); its log goes to a file in the work directory.
    #[arg(long, default_value = "info")]
    pub gateway_log: String,
    /// Run this `sammen` binary for the sandbox and the gateway instead of this binary's own
    /// `serve-sandbox` / `serve-gateway` commands.
    #[arg(long)]
    pub sammen: Option<PathBuf>,
    /// Instead of the load phases: run the gateway under valgrind's callgrind and count the
    /// instructions it executes per case file over this many case files sent one after
    /// another (long-lived tokens, then fresh tokens). 0: the load phases.
    #[arg(long, default_value_t = 0)]
    pub callgrind: usize,
    /// Work directory (store, certificates, logs); default a temporary one, removed at the end.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The gateway's store: `sled` (embedded, in the work directory) or `postgres` (a
    /// throw-away PostgreSQL 15 cluster started for the run, `consent::store::scratch_postgres`).
    #[arg(long, value_enum, default_value_t = StoreChoice::Sled)]
    pub store: StoreChoice,
    /// Gateway instances, all on the one store (more than one needs `--store postgres`); the
    /// load takes them in turn, request by request.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// `--store postgres`: with a synchronous streaming standby (every commit waits for it).
    #[arg(long)]
    pub sync_standby: bool,
}

/// `--store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreChoice {
    Sled,
    Postgres,
}

/// One measured phase, or several merged.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    #[serde(flatten)]
    pub summary: Summary,
    /// CPU seconds the gateway process used during the phases.
    pub gateway_cpu_s: f64,
    /// The gateway's peak RSS during the phases (MiB).
    pub gateway_peak_rss_mib: f64,
    /// CPU seconds of the sandbox process and of the load generator (this process).
    pub sandbox_cpu_s: f64,
    pub loadgen_cpu_s: f64,
    pub first_error: Option<String>,
}

/// How a row's load was generated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// `concurrency` workers, each sending as soon as its previous request was answered.
    Closed { concurrency: usize },
    /// Requests per second on a fixed schedule.
    Open { rate: f64 },
}

impl Load {
    /// Whether B's latency minus A's is the gateway's overhead rather than queueing: at
    /// concurrency 1, or in an open loop both sides sustain (at higher concurrency both are
    /// saturated, and the difference is mostly c ÷ throughput).
    pub fn added_latency_meaningful(&self) -> bool {
        matches!(self, Load::Closed { concurrency: 1 } | Load::Open { .. })
    }
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Load::Closed { concurrency } => write!(f, "c={concurrency}"),
            Load::Open { rate } => write!(f, "open {rate:.0}/s"),
        }
    }
}

/// A against B under one load.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub load: Load,
    pub concurrency: usize,
    pub limit: Measured,
    pub sammen: Measured,
}

impl Row {
    /// Throughput of sammen over the limit's.
    pub fn ratio(&self) -> f64 {
        if self.limit.summary.throughput > 0.0 {
            self.sammen.summary.throughput / self.limit.summary.throughput
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: chrono::DateTime<Utc>,
    pub machine: String,
    /// The store and the gateway instances on it, e.g. "postgres (synchronous standby), 2 instances".
    pub store: String,
    pub secs_per_phase: f64,
    pub preloaded: Preloaded,
    pub gateway_rss_after_start_mib: f64,
    /// The case files the gateway's own metrics counted (`/metrics` on the admin listener,
    /// before the delayed-source scenario): proof that the recorder was installed.
    pub case_files_counted_by_metrics: Option<u64>,
    /// `--callgrind`: the gateway's instructions per case file.
    pub callgrind: Vec<callgrind::Count>,
    pub rows: Vec<Row>,
}

struct Pids {
    /// Every gateway instance: their CPU is summed, their peak RSS is the largest.
    gateways: Vec<u32>,
    sandbox: u32,
}

#[derive(Clone, Copy)]
struct Usage {
    gateway: f64,
    sandbox: f64,
    me: f64,
}

fn usage(p: &Pids) -> anyhow::Result<Usage> {
    let mut gateway = 0.0;
    for &pid in &p.gateways {
        gateway += procstat::cpu_seconds(pid)?;
    }
    Ok(Usage { gateway, sandbox: procstat::cpu_seconds(p.sandbox)?, me: procstat::cpu_seconds(std::process::id())? })
}

/// Runs `op` for `secs`, with the processes' CPU and the gateway's peak RSS.
async fn phase(op: &Op, how: Load, secs: f64, pids: &Pids) -> anyhow::Result<(Sample, Usage, u64)> {
    for &pid in &pids.gateways {
        procstat::reset_peak_rss(pid).context("resetting the gateway's peak RSS")?;
    }
    let before = usage(pids)?;
    let duration = Duration::from_secs_f64(secs);
    let sample = match how {
        Load::Closed { concurrency } => load::run(op, concurrency, duration).await,
        Load::Open { rate } => load::open_loop(op, rate, duration).await,
    };
    let after = usage(pids)?;
    let mut peak = 0;
    for &pid in &pids.gateways {
        peak = peak.max(procstat::peak_rss_kib(pid)?);
    }
    let used = Usage {
        gateway: after.gateway - before.gateway,
        sandbox: after.sandbox - before.sandbox,
        me: after.me - before.me,
    };
    Ok((sample, used, peak))
}

#[derive(Default)]
struct Acc {
    sample: Sample,
    gateway: f64,
    sandbox: f64,
    me: f64,
    peak_kib: u64,
}

impl Acc {
    fn add(&mut self, (sample, u, peak): (Sample, Usage, u64)) {
        self.sample.merge(sample);
        self.gateway += u.gateway;
        self.sandbox += u.sandbox;
        self.me += u.me;
        self.peak_kib = self.peak_kib.max(peak);
    }

    fn measured(self) -> Measured {
        Measured {
            summary: self.sample.summary(),
            gateway_cpu_s: self.gateway,
            gateway_peak_rss_mib: self.peak_kib as f64 / 1024.0,
            sandbox_cpu_s: self.sandbox,
            loadgen_cpu_s: self.me,
            first_error: self.sample.first_error,
        }
    }
}

/// A B B A under one load: the store grows during B (audit records), so each side gets
/// one phase before and one after the other's two.
async fn compare(scenario: &str, limit: &Op, sammen: &Op, how: Load, secs: f64, pids: &Pids) -> anyhow::Result<Row> {
    let (mut a, mut b) = (Acc::default(), Acc::default());
    a.add(phase(limit, how, secs, pids).await?);
    b.add(phase(sammen, how, secs, pids).await?);
    b.add(phase(sammen, how, secs, pids).await?);
    a.add(phase(limit, how, secs, pids).await?);
    let concurrency = match how {
        Load::Closed { concurrency } => concurrency,
        Load::Open { .. } => 0,
    };
    let row = Row { scenario: scenario.to_string(), load: how, concurrency, limit: a.measured(), sammen: b.measured() };
    eprintln!(
        "  {scenario} {how}: limit {:.0}/s p50 {:.2} ms p99 {:.2} ms | sammen {:.0}/s p50 {:.2} ms p99 {:.2} ms | ratio {:.2}",
        row.limit.summary.throughput,
        row.limit.summary.p50_ms,
        row.limit.summary.p99_ms,
        row.sammen.summary.throughput,
        row.sammen.summary.p50_ms,
        row.sammen.summary.p99_ms,
        row.ratio()
    );
    Ok(row)
}

/// The sandbox citizens with data in all four categories.
fn subjects() -> Vec<Cpr> {
    sandbox::citizens().iter().filter(|c| c.profile == sandbox::Profile::Rehabilitation).map(|c| c.cpr).collect()
}

fn connectors_config(sb: &SandboxProc) -> ConnectorsConfig {
    let mut cfg = ConnectorsConfig::default();
    for (name, url) in &sb.urls {
        let mut s = SourceConfig::new(url.clone());
        s.ca_file = Some(sb.ca_file.clone());
        s.timeout_ms = 10_000;
        s.max_retries = 0;
        cfg.sources.insert(name.clone(), s);
    }
    cfg
}

fn gateway_config(
    dir: &Path,
    pki: &DevPki,
    operator_sha256: &str,
    jwks: &Path,
    connectors: &ConnectorsConfig,
    postgres_url: Option<&str>,
) -> anyhow::Result<PathBuf> {
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
cert_file = "{cert}"
key_file = "{key}"
client_ca_file = "{ca}"
case_file_deadline_ms = 10000
max_connections = 2048

# The load generator is one client address with as many connections as its concurrency.
[limits]
max_connections_per_address = 2048

[[systems]]
id = "bench-sag"
organisation = "kk"
purposes = ["{PURPOSE}"]
cert_sha256 = "{fp}"

[caseworker_issuer]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
jwks_file = "{jwks}"

[policies]
dir = "{policies}"

# As deployed: the operators' listener is on, so the metrics recorder is installed and
# every request pays for its metrics.
[admin]
listen = "127.0.0.1:0"
client_ca_file = "{ca}"

[[operators]]
id = "bench-operator"
role = "operator"
cert_sha256 = "{operator}"

"#,
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
        ca = pki.ca_cert.display(),
        fp = pki.client_sha256,
        jwks = jwks.display(),
        policies = policies.display(),
        operator = operator_sha256,
    );
    if let Some(url) = postgres_url {
        toml.push_str(&format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"\npool_size = 32\n\n"));
    }
    for (name, s) in &connectors.sources {
        toml.push_str(&format!(
            "[connectors.sources.{name}]\nbase_url = \"{}\"\nca_file = \"{}\"\ntimeout_ms = {}\nmax_retries = {}\n\n",
            s.base_url,
            s.ca_file.as_ref().expect("set above").display(),
            s.timeout_ms,
            s.max_retries
        ));
    }
    let path = dir.join("gateway.toml");
    std::fs::write(&path, toml)?;
    Ok(path)
}

#[derive(Deserialize)]
struct FileView {
    sections: Vec<SectionView>,
}

#[derive(Deserialize)]
struct SectionView {
    category: String,
    status: String,
}

/// The caseworker tokens B sends.
#[derive(Clone)]
enum Tokens {
    /// A few long-lived tokens (one caseworker each), taken in turn: what a case system
    /// that keeps its caseworkers' tokens sends; the gateway's token cache hits.
    LongLived(Arc<Vec<String>>),
    /// A token never sent before on every request (each with its own `jti`): the
    /// signature is checked every time. Minted before the run; minted on the request's
    /// path once those run out.
    Fresh { pool: Arc<Vec<String>>, next: Arc<AtomicUsize>, issuer: Arc<DevIssuer> },
}

fn caseworker(k: usize) -> String {
    format!("cw-bench-{k}")
}

fn fresh_token(issuer: &DevIssuer, k: usize) -> String {
    let mut claims = issuer.claims(AUDIENCE, &caseworker(k % 4), UNIT, &[ROLE], chrono::Duration::hours(2));
    claims["jti"] = serde_json::Value::String(format!("bench-{k}"));
    issuer.mint_claims(&claims)
}

impl Tokens {
    fn long_lived(issuer: &DevIssuer, n: usize) -> Tokens {
        Tokens::LongLived(Arc::new(
            (0..n.max(1))
                .map(|k| issuer.mint(AUDIENCE, &caseworker(k), UNIT, &[ROLE], chrono::Duration::hours(2)))
                .collect(),
        ))
    }

    fn fresh(issuer: Arc<DevIssuer>, n: usize) -> Tokens {
        let pool = Arc::new((0..n).map(|k| fresh_token(&issuer, k)).collect());
        Tokens::Fresh { pool, next: Arc::new(AtomicUsize::new(0)), issuer }
    }

    fn token(&self, i: usize) -> String {
        match self {
            Tokens::LongLived(t) => t[i % t.len()].clone(),
            Tokens::Fresh { pool, next, issuer } => {
                let k = next.fetch_add(1, Ordering::Relaxed);
                pool.get(k).cloned().unwrap_or_else(|| fresh_token(issuer, k))
            }
        }
    }
}

/// B: one case file through the gateway; correct only when all four sections are included.
fn sammen_op(client: reqwest::Client, urls: Arc<Vec<String>>, tokens: Tokens, subjects: Arc<Vec<Cpr>>) -> Op {
    load::op(move |i| {
        let (client, url, token) = (client.clone(), urls[i % urls.len()].clone(), tokens.token(i));
        let citizen = subjects[i % subjects.len()];
        async move {
            let body = serde_json::json!({
                "citizen": citizen.expose(), "purpose": PURPOSE, "categories": CATEGORIES, "case_reference": "bench",
            });
            let r = client.post(&url).bearer_auth(&token).json(&body).send().await.map_err(|e| e.to_string())?;
            let status = r.status();
            let bytes = r.bytes().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)])));
            }
            let file: FileView = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            if file.sections.len() != CATEGORIES.len() || file.sections.iter().any(|s| s.status != "included") {
                let got: Vec<_> = file.sections.iter().map(|s| format!("{}={}", s.category, s.status)).collect();
                return Err(format!("not every section included: {got:?}"));
            }
            Ok(())
        }
    })
}

/// A: the four categories fetched directly, concurrently (one task each, as the gateway
/// does), through the same connectors; correct only when each returns documents.
fn limit_op(registry: Registry, subjects: Arc<Vec<Cpr>>) -> Op {
    let categories: Arc<Vec<Category>> =
        Arc::new(CATEGORIES.iter().map(|c| Category::parse(c).expect("category")).collect());
    load::op(move |i| {
        let citizen = subjects[i % subjects.len()];
        let fetches: Vec<_> = categories
            .iter()
            .map(|c| {
                let connector = registry.for_category(c).expect("a connector per category");
                let req = FetchRequest {
                    citizen,
                    category: c.clone(),
                    data_period: None,
                    request_id: format!("bench-{i}"),
                    clock: Arc::new(SystemClock),
                };
                tokio::spawn(async move { connector.fetch(&req).await })
            })
            .collect();
        async move {
            for f in fetches {
                match f.await {
                    Ok(Ok(docs)) if !docs.is_empty() => {}
                    Ok(Ok(_)) => return Err("a source returned no documents".to_string()),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(())
        }
    })
}

/// The gateway's `sammen_http_requests_total` for the case-file route, summed over
/// statuses, read from the admin listener as an operator.
async fn scrape_metrics(
    admin: std::net::SocketAddr,
    pki: &DevPki,
    operator: &gateway::dev::ClientCert,
) -> anyhow::Result<u64> {
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&pki.ca_cert)?)?)
        .identity(reqwest::Identity::from_pem(operator.identity_pem.as_bytes())?)
        .build()?;
    let r = client.get(format!("https://localhost:{}/metrics", admin.port())).send().await?;
    ensure!(r.status().is_success(), "reading the gateway's metrics: HTTP {}", r.status());
    let text = r.text().await?;
    let total = text
        .lines()
        .filter(|l| l.starts_with("sammen_http_requests_total") && l.contains("case-files") && l.contains("POST"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    Ok(total as u64)
}

async fn set_latency(sb: &SandboxProc, source: &str, ms: u64) -> anyhow::Result<()> {
    let r = reqwest::Client::new()
        .put(format!("{}/admin/faults/{source}", sb.admin))
        .json(&serde_json::json!({ "latency_ms": ms, "fault": null }))
        .send()
        .await?;
    ensure!(r.status().is_success(), "setting the sandbox's latency: HTTP {}", r.status());
    Ok(())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|m| m.trim().to_string())))
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpus} CPUs ({model}), {mem} memory, load average at start {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    )
}

pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    ensure!(opts.secs > 0.0 && !opts.concurrency.is_empty(), "need a phase length and at least one concurrency");
    let started_at = SystemClock.now();
    let tmp;
    let dir = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let launcher = Launcher::new(opts.sammen.clone())?;
    let subjects = subjects();
    ensure!(!subjects.is_empty(), "the sandbox has no rehabilitation citizens");

    eprintln!("starting the sandbox");
    let sb = SandboxProc::start(&launcher, &dir)?;
    let connectors = connectors_config(&sb);
    let pki = DevPki::generate(&dir.join("pki"), &["localhost", "127.0.0.1"], "bench-sag")?;
    let issuer = DevIssuer::with_kid(ISSUER, Some("bench-idp-1"))?;
    let jwks = dir.join("jwks.json");
    issuer.write_jwks(&jwks)?;
    let operator = pki.issue_client("bench-operator")?;
    ensure!(
        opts.instances >= 1 && (opts.instances == 1 || opts.store == StoreChoice::Postgres),
        "several gateway instances need --store postgres (sled is one process's store)"
    );
    ensure!(opts.callgrind == 0 || opts.instances == 1, "--callgrind measures one instance");
    // PostgreSQL: a throw-away cluster (and its standby) for this run, stopped at the end.
    let (_primary, _standby, postgres_url) = match opts.store {
        StoreChoice::Sled => (None, None, None),
        StoreChoice::Postgres => {
            eprintln!(
                "starting a scratch PostgreSQL{}",
                if opts.sync_standby { " with a synchronous standby" } else { "" }
            );
            let pg = consent::store::scratch_postgres::ScratchPostgres::start().map_err(anyhow::Error::msg)?;
            pg.create_database("sammen").map_err(anyhow::Error::msg)?;
            let standby =
                if opts.sync_standby { Some(pg.start_sync_standby().map_err(anyhow::Error::msg)?) } else { None };
            let url = pg.url("sammen");
            (Some(pg), standby, Some(url))
        }
    };
    let config = gateway_config(&dir, &pki, &operator.sha256, &jwks, &connectors, postgres_url.as_deref())?;
    let data_dir = dir.join("data");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    std::fs::create_dir_all(&data_dir)?;

    eprintln!("preloading {} consents", opts.consents);
    let settings = gateway::settings::Settings::load(Some(&config), Some(&data_dir))?;
    let rules = settings.domain.clone().into_rules()?;
    let engine = settings.store.engine()?;
    let preloaded = preload::preload(
        &engine,
        &data_dir,
        &settings.audit.key_file(&data_dir),
        rules,
        opts.consents,
        preload::Subjects { citizens: &subjects, unit: UNIT, purpose: PURPOSE, categories: &CATEGORIES },
        SystemClock.now(),
    )?;
    eprintln!(
        "  {} consents in {:.1} s, {} bytes on disk ({} per consent)",
        preloaded.consents,
        preloaded.seconds,
        preloaded.bytes_on_disk,
        preloaded.bytes_on_disk / preloaded.consents.max(1) as u64
    );

    eprintln!("starting the gateway");
    let callgrind_out = dir.join("callgrind.out");
    let wrapper = if opts.callgrind > 0 { callgrind::wrapper(&callgrind_out) } else { Vec::new() };
    let mut gws = Vec::new();
    for k in 0..opts.instances {
        let log = if k == 0 { dir.join("gateway.log") } else { dir.join(format!("gateway-{k}.log")) };
        gws.push(GatewayProc::start(&launcher, &config, &data_dir, &log, &opts.gateway_log, &wrapper)?);
    }
    let pids = Pids { gateways: gws.iter().map(|g| g.proc.pid()).collect(), sandbox: sb.proc.pid() };
    let gateway_rss_after_start_mib = procstat::rss_kib(pids.gateways[0])? as f64 / 1024.0;
    let urls: Arc<Vec<String>> = Arc::new(gws.iter().map(|g| g.url("/api/v1/case-files")).collect());

    let identity =
        format!("{}{}", std::fs::read_to_string(&pki.client_cert)?, std::fs::read_to_string(&pki.client_key)?);
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&pki.ca_cert)?)?)
        .identity(reqwest::Identity::from_pem(identity.as_bytes())?)
        .timeout(Duration::from_secs(60))
        .build()?;
    let long_lived = Tokens::long_lived(&issuer, opts.long_lived_tokens);
    let subjects = Arc::new(subjects);
    let sammen = sammen_op(client.clone(), urls.clone(), long_lived, subjects.clone());
    let fresh = if opts.fresh_concurrency.iter().all(|c| *c == 0) {
        None
    } else {
        eprintln!("minting {} fresh tokens", opts.fresh_tokens);
        let tokens = Tokens::fresh(Arc::new(issuer), opts.fresh_tokens);
        Some(sammen_op(client, urls.clone(), tokens, subjects.clone()))
    };
    let registry = Registry::from_config(&connectors)?;
    let limit = limit_op(registry, subjects.clone());

    // Both answer correctly before anything is timed.
    for i in 0..subjects.len() {
        if let Err(e) = limit(i).await {
            bail!("the limit's fetch failed before the run: {e}");
        }
        if let Err(e) = sammen(i).await {
            bail!("a case file failed before the run (gateway log: {}): {e}", dir.join("gateway.log").display());
        }
    }
    if opts.callgrind > 0 {
        let n = opts.callgrind;
        let mut counts = Vec::new();
        // Warm up first: connections, the token and entity caches, the policy set.
        for i in 0..n.min(20) {
            sammen(i).await.map_err(|e| anyhow::anyhow!("warm-up case file failed: {e}"))?;
        }
        counts.push(
            callgrind::measure("case file, long-lived tokens", &sammen, n, 1_000, pids.gateways[0], &callgrind_out)
                .await?,
        );
        if let Some(fresh) = &fresh {
            counts.push(
                callgrind::measure("case file, fresh token per request", fresh, n, 0, pids.gateways[0], &callgrind_out)
                    .await?,
            );
        }
        for c in &counts {
            eprintln!(
                "  {}: {} instructions over {} requests, {} per request",
                c.what,
                c.instructions,
                c.requests,
                c.per_request()
            );
        }
        for gw in &mut gws {
            gw.proc.stop();
        }
        drop(sb);
        return finish(
            opts,
            Report {
                started_at,
                machine: machine(),
                store: store_label(opts),
                secs_per_phase: 0.0,
                preloaded,
                gateway_rss_after_start_mib,
                case_files_counted_by_metrics: None,
                callgrind: counts,
                rows: Vec::new(),
            },
        );
    }
    if opts.warmup_secs > 0.0 {
        let c = opts.concurrency.iter().copied().max().unwrap_or(1);
        load::run(&limit, c, Duration::from_secs_f64(opts.warmup_secs / 2.0)).await;
        load::run(&sammen, c, Duration::from_secs_f64(opts.warmup_secs / 2.0)).await;
    }

    let mut rows = Vec::new();
    eprintln!("measuring: {} s per phase, A B B A per load", opts.secs);
    const LONG_LIVED: &str = "sources at once";
    for &rate in opts.rate.iter().filter(|r| **r > 0.0) {
        rows.push(compare(LONG_LIVED, &limit, &sammen, Load::Open { rate }, opts.secs, &pids).await?);
    }
    for &c in &opts.concurrency {
        rows.push(compare(LONG_LIVED, &limit, &sammen, Load::Closed { concurrency: c }, opts.secs, &pids).await?);
    }
    if let Some(fresh) = &fresh {
        for &c in opts.fresh_concurrency.iter().filter(|c| **c > 0) {
            let how = Load::Closed { concurrency: c };
            rows.push(compare("fresh token per request", &limit, fresh, how, opts.secs, &pids).await?);
        }
    }
    let metrics = match gws[0].admin {
        Some(admin) => Some(scrape_metrics(admin, &pki, &operator).await?),
        None => None,
    };
    if opts.delay_ms > 0 {
        set_latency(&sb, "mediconnect", opts.delay_ms).await?;
        let name = format!("mediconnect +{} ms", opts.delay_ms);
        let how = Load::Closed { concurrency: opts.delay_concurrency };
        rows.push(compare(&name, &limit, &sammen, how, opts.secs, &pids).await?);
        set_latency(&sb, "mediconnect", 0).await?;
    }
    for gw in &mut gws {
        gw.proc.stop();
    }
    drop(sb);
    let report = Report {
        started_at,
        machine: machine(),
        store: store_label(opts),
        secs_per_phase: opts.secs,
        preloaded,
        gateway_rss_after_start_mib,
        case_files_counted_by_metrics: metrics,
        callgrind: Vec::new(),
        rows,
    };
    finish(opts, report)
}

fn store_label(opts: &Options) -> String {
    let store = match (opts.store, opts.sync_standby) {
        (StoreChoice::Sled, _) => "sled",
        (StoreChoice::Postgres, false) => "postgres",
        (StoreChoice::Postgres, true) => "postgres with a synchronous standby",
    };
    format!("{store}, {} gateway instance{}", opts.instances, if opts.instances == 1 { "" } else { "s" })
}

fn finish(opts: &Options, report: Report) -> anyhow::Result<Report> {
    if let Some(path) = &opts.json {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(report)
}
