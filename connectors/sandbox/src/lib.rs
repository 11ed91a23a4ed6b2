//! sammen's sandbox: the four document source systems (each with its department summary
//! for the shared overview, [`summary`]), the coordinated plan service ([`plan`]), the
//! person register and the power-of-attorney registry simulated over their real protocols,
//! in one
//! process, each on its own port, with deterministic synthetic citizens ([`citizens`])
//! and fault injection per source ([`Fault`], by configuration or by
//! `PUT /admin/faults/{source}` on the admin port).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sandbox::SandboxError> {
//! let running = sandbox::Sandbox::start(sandbox::SandboxConfig::default()).await?;
//! let registry = connectors::Registry::from_config(&running.connectors_config()).unwrap();
//! # Ok(()) }
//! ```

mod admin;
pub mod broker;
pub mod citizens;
pub mod custody;
pub mod faults;
pub mod fuldmagt;
pub mod hub;
mod jobcenter;
mod jobnet;
pub mod mailbox;
mod mediconnect;
mod person;
pub mod plan;
mod serve;
mod social;
mod state;
pub mod summary;
pub mod tls;
pub mod visits;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use connectors::medcom::Xctl03;
use connectors::{ConnectorsConfig, SourceConfig};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use visits::recorded;

pub use citizens::{Citizen, Profile, citizens, find};
pub use faults::{Fault, SourceFaults};
pub use tls::TlsMaterial;

use state::AppState;

/// The simulated source systems; their names are the connector ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Mediconnect,
    Jobcenter,
    Social,
    JobnetCv,
    /// The person register (municipality of residence, address protection): not a
    /// connector, so not in [`Source::ALL`].
    Cpr,
    /// The Digital Post mailbox notifications go to: not a connector either.
    Mailbox,
    /// The coordinated plan service ("fælles plan"): a connector that also takes writes;
    /// not in [`Source::ALL`], which lists the four document sources.
    Plan,
    /// The power-of-attorney registry (Digital Fuldmagt style): not a connector.
    Fuldmagt,
}

impl Source {
    /// The four document sources (the connectors).
    pub const ALL: [Source; 4] = [Source::Mediconnect, Source::Jobcenter, Source::Social, Source::JobnetCv];
    /// Every simulated service: the document sources and the person register.
    pub const EVERY: [Source; 8] = [
        Source::Mediconnect,
        Source::Jobcenter,
        Source::Social,
        Source::JobnetCv,
        Source::Cpr,
        Source::Mailbox,
        Source::Plan,
        Source::Fuldmagt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::Mediconnect => "mediconnect",
            Source::Jobcenter => "jobcenter",
            Source::Social => "social",
            Source::JobnetCv => "jobnet_cv",
            Source::Cpr => "cpr",
            Source::Mailbox => "mailbox",
            Source::Plan => "plan",
            Source::Fuldmagt => "fuldmagt",
        }
    }

    pub fn from_name(name: &str) -> Option<Source> {
        Source::EVERY.into_iter().find(|s| s.name() == name)
    }
}

/// Ports to bind; 0 picks a free one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ports {
    pub mediconnect: u16,
    pub jobcenter: u16,
    pub social: u16,
    pub jobnet_cv: u16,
    /// The person register.
    pub cpr: u16,
    /// The Digital Post mailbox.
    pub mailbox: u16,
    /// The coordinated plan service.
    pub plan: u16,
    /// The power-of-attorney registry.
    pub fuldmagt: u16,
    pub admin: u16,
    /// The sandbox MitID broker.
    pub broker: u16,
}

/// The sandbox's configuration (TOML or JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// The address to bind; 127.0.0.1 by default.
    pub bind: IpAddr,
    pub ports: Ports,
    /// Serve the sources and the person register over TLS with this certificate (the admin port stays plain
    /// HTTP on the bind address).
    pub tls: Option<TlsMaterial>,
    /// Latency and faults per source, by name (`mediconnect`, `jobcenter`, `social`,
    /// `jobnet_cv`, `cpr`).
    pub faults: BTreeMap<Source, SourceFaults>,
    /// The size of the `oversized_body` fault's body.
    pub oversized_bytes: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: Ports::default(),
            tls: None,
            faults: BTreeMap::new(),
            oversized_bytes: 16 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("bad request: {0}")]
    Request(&'static str),
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, self.to_string()).into_response()
    }
}

/// The sandbox's bound addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    pub mediconnect: SocketAddr,
    pub jobcenter: SocketAddr,
    pub social: SocketAddr,
    pub jobnet_cv: SocketAddr,
    pub cpr: SocketAddr,
    pub mailbox: SocketAddr,
    pub plan: SocketAddr,
    pub fuldmagt: SocketAddr,
    pub admin: SocketAddr,
    pub broker: SocketAddr,
}

/// The entry point.
pub struct Sandbox;

impl Sandbox {
    /// Binds every port and starts serving; returns at once.
    pub async fn start(cfg: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        let state = AppState::new(cfg.faults.clone(), cfg.oversized_bytes, broker::Broker::new()?);
        let acceptor = cfg.tls.as_ref().map(tls::acceptor).transpose()?;
        let mut tasks = Vec::new();
        let mut bind = async |port: u16, router: axum::Router, tls: Option<tokio_rustls::TlsAcceptor>| {
            let addr = SocketAddr::new(cfg.bind, port);
            let listener = TcpListener::bind(addr).await.map_err(|source| SandboxError::Bind { addr, source })?;
            let local = listener.local_addr().map_err(|source| SandboxError::Bind { addr, source })?;
            tasks.push(tokio::spawn(serve::accept_loop(listener, router, tls)));
            Ok::<_, SandboxError>(local)
        };
        let addrs = Addrs {
            mediconnect: bind(
                cfg.ports.mediconnect,
                recorded(mediconnect::router(state.clone()), state.0.visits.clone(), Source::Mediconnect),
                acceptor.clone(),
            )
            .await?,
            jobcenter: bind(
                cfg.ports.jobcenter,
                recorded(jobcenter::router(state.clone()), state.0.visits.clone(), Source::Jobcenter),
                acceptor.clone(),
            )
            .await?,
            social: bind(
                cfg.ports.social,
                recorded(social::router(state.clone()), state.0.visits.clone(), Source::Social),
                acceptor.clone(),
            )
            .await?,
            jobnet_cv: bind(
                cfg.ports.jobnet_cv,
                recorded(jobnet::router(state.clone()), state.0.visits.clone(), Source::JobnetCv),
                acceptor.clone(),
            )
            .await?,
            cpr: bind(
                cfg.ports.cpr,
                recorded(person::router(state.clone()), state.0.visits.clone(), Source::Cpr),
                acceptor.clone(),
            )
            .await?,
            mailbox: bind(
                cfg.ports.mailbox,
                recorded(mailbox::router(state.clone()), state.0.visits.clone(), Source::Mailbox),
                acceptor.clone(),
            )
            .await?,
            plan: bind(
                cfg.ports.plan,
                recorded(plan::router(state.clone()), state.0.visits.clone(), Source::Plan),
                acceptor.clone(),
            )
            .await?,
            fuldmagt: bind(
                cfg.ports.fuldmagt,
                recorded(fuldmagt::router(state.clone()), state.0.visits.clone(), Source::Fuldmagt),
                acceptor.clone(),
            )
            .await?,
            admin: bind(cfg.ports.admin, admin::router(state.clone()), None).await?,
            broker: {
                // The issuer URL names the bound port, so bind before building the router.
                let addr = SocketAddr::new(cfg.bind, cfg.ports.broker);
                let listener = TcpListener::bind(addr).await.map_err(|source| SandboxError::Bind { addr, source })?;
                let local = listener.local_addr().map_err(|source| SandboxError::Bind { addr, source })?;
                let issuer = match &acceptor {
                    Some(_) => format!("https://localhost:{}", local.port()),
                    None => format!("http://{local}"),
                };
                let _ = state.0.broker.0.issuer.set(issuer);
                tasks.push(tokio::spawn(serve::accept_loop(
                    listener,
                    broker::router(state.0.broker.clone()),
                    acceptor.clone(),
                )));
                local
            },
        };
        Ok(RunningSandbox { addrs, ca_pem: cfg.tls.map(|t| t.ca_pem), state, tasks })
    }
}

/// A started sandbox. Dropping it stops accepting connections.
pub struct RunningSandbox {
    pub addrs: Addrs,
    ca_pem: Option<String>,
    state: AppState,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningSandbox {
    fn scheme(&self) -> &'static str {
        if self.ca_pem.is_some() { "https" } else { "http" }
    }

    /// The base URL of a source (`https://localhost:PORT` with TLS, so the certificate's
    /// name matches).
    pub fn url(&self, source: Source) -> String {
        let addr = match source {
            Source::Mediconnect => self.addrs.mediconnect,
            Source::Jobcenter => self.addrs.jobcenter,
            Source::Social => self.addrs.social,
            Source::JobnetCv => self.addrs.jobnet_cv,
            Source::Cpr => self.addrs.cpr,
            Source::Mailbox => self.addrs.mailbox,
            Source::Plan => self.addrs.plan,
            Source::Fuldmagt => self.addrs.fuldmagt,
        };
        let host = if self.ca_pem.is_some() { "localhost".to_string() } else { addr.ip().to_string() };
        format!("{}://{host}:{}", self.scheme(), addr.port())
    }

    /// The admin base URL (plain HTTP).
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.addrs.admin)
    }

    /// The sandbox MitID broker's issuer URL (its discovery document is under
    /// `/.well-known/openid-configuration`).
    pub fn broker_url(&self) -> String {
        self.state.0.broker.issuer().to_string()
    }

    /// Registers a relying party with the broker (replacing one with the same id).
    pub fn register_broker_client(&self, client: broker::BrokerClient) {
        self.state.0.broker.register(client);
    }

    /// How the broker's next ID tokens are made (as `PUT /admin/broker/mode` does).
    pub fn set_broker_mode(&self, mode: broker::BrokerMode) {
        self.state.0.broker.set_mode(mode);
    }

    /// The CA certificate to trust, when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Sets a source's latency and fault (as `PUT /admin/faults/{source}` does).
    pub fn set_faults(&self, source: Source, faults: SourceFaults) {
        self.state.set_faults(source, faults);
    }

    /// Every request the sources received since the start (or the last
    /// [`RunningSandbox::forget_visits`]), in order of arrival.
    pub fn visits(&self) -> Vec<visits::Visit> {
        self.state.visits()
    }

    pub fn forget_visits(&self) {
        self.state.forget_visits();
    }

    /// Moves a citizen to the municipality with kommunekode `code` (as `PUT
    /// /admin/residence` does).
    pub fn move_citizen(&self, cpr: consent::Cpr, code: &str) {
        self.state.move_to(cpr, code.to_string());
    }

    /// A person register client configuration pointing at this sandbox.
    pub fn person_register_config(&self) -> SourceConfig {
        let mut source = SourceConfig::new(self.url(Source::Cpr));
        source.ca_pem = self.ca_pem.clone();
        source
    }

    /// A power-of-attorney registry client configuration pointing at this sandbox.
    pub fn fuldmagt_config(&self) -> SourceConfig {
        let mut source = SourceConfig::new(self.url(Source::Fuldmagt));
        source.ca_pem = self.ca_pem.clone();
        source
    }

    /// Revokes or ends a synthetic power of attorney (as `PUT /admin/fuldmagt/{reference}` does).
    pub fn change_power(&self, reference: uuid::Uuid, change: fuldmagt::PowerChange) {
        self.state.change_power(reference, change);
    }

    /// A Digital Post client configuration pointing at this sandbox's mailbox.
    pub fn mailbox_config(&self) -> SourceConfig {
        let mut source = SourceConfig::new(self.url(Source::Mailbox));
        source.ca_pem = self.ca_pem.clone();
        source
    }

    /// What the mailbox received, in order of arrival.
    pub fn mailbox(&self) -> Vec<mailbox::Received> {
        self.state.0.mailbox.lock().expect("not poisoned").clone()
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        for s in Source::EVERY {
            self.state.set_faults(s, SourceFaults::default());
        }
    }

    /// The hub's mode and the synthetic GP's answer delay (as `PUT /admin/hub` does).
    pub fn set_hub(&self, settings: hub::HubSettings) {
        self.state.0.hub.set(settings);
    }

    /// How often each envelope identifier was posted to the hub and delivered (as `GET
    /// /admin/hub` answers).
    pub fn hub_deliveries(&self) -> std::collections::BTreeMap<String, hub::Deliveries> {
        self.state.0.hub.deliveries()
    }

    /// The XCTL03 receipts the hub has received.
    pub fn receipts(&self) -> Vec<Xctl03> {
        self.state.0.receipts.lock().expect("not poisoned").clone()
    }

    /// A connectors configuration pointing at this sandbox (trusting its CA with TLS).
    pub fn connectors_config(&self) -> ConnectorsConfig {
        let mut cfg = ConnectorsConfig::default();
        for s in Source::ALL.into_iter().chain([Source::Plan]) {
            let mut source = SourceConfig::new(self.url(s));
            source.ca_pem = self.ca_pem.clone();
            cfg.sources.insert(s.name().to_string(), source);
        }
        cfg
    }

    /// Serves until ctrl-c.
    pub async fn run_until_ctrl_c(self) -> std::io::Result<()> {
        tokio::signal::ctrl_c().await?;
        drop(self);
        Ok(())
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A connectors configuration pointing at a running sandbox.
pub fn connectors_config(running: &RunningSandbox) -> ConnectorsConfig {
    running.connectors_config()
}
