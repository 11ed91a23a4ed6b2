//! The HTTPS API for caseworker systems (`sammen serve`).
//!
//! Code map: [`systems`] (certificate → registered system), [`token`] (caseworker JWT and
//! JWKS), [`auth`] (the [`auth::Caller`] extractor and admission checks), [`case_file`]
//! (decide, audit, fetch, audit, answer), [`consent_api`] (consent requests and search),
//! [`overview_api`] (the shared overview across departments), [`plan_api`] (the
//! coordinated plan: read, and write the caller's department's part),
//! [`bodies`] (request and response bodies), [`routes`] (the router and the OpenAPI
//! document).

pub mod auth;
pub mod bodies;
pub mod case_file;
pub mod consent_api;
pub mod health_api;
pub mod overview_api;
pub mod paper_api;
pub mod plan_api;
pub mod routes;
pub mod systems;
pub mod token;

use std::sync::Arc;

use crate::core::{Core, Services};

/// Everything an API handler needs. Cheap to clone. Derefs to [`ApiServices`], which
/// derefs to the core's [`Services`] (`state.ledger`, `state.audit`, `state.clock`, ...).
#[derive(Clone)]
pub struct AppState(Arc<ApiServices>);

pub struct ApiServices {
    pub core: Core,
    pub systems: systems::Systems,
    pub tokens: Arc<token::TokenVerifier>,
}

impl std::ops::Deref for AppState {
    type Target = ApiServices;
    fn deref(&self) -> &ApiServices {
        &self.0
    }
}

impl std::ops::Deref for ApiServices {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.core
    }
}

impl AppState {
    pub fn new(services: ApiServices) -> Self {
        AppState(Arc::new(services))
    }
}

/// Why the API listener did not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error(transparent)]
    Listen(#[from] crate::http::tls::ListenError),
    #[error("the caseworker issuer: {0}")]
    Jwks(#[from] token::JwksError),
}

/// A serving API listener.
pub struct RunningApi {
    pub addr: std::net::SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// The API listener, bound and answering, waiting for the core: until [`PendingApi::open`]
/// every request is answered 503 problem+json (`store-connecting`).
pub struct PendingApi {
    slot: crate::http::deferred::Deferred,
    systems: systems::Systems,
    tokens: Arc<token::TokenVerifier>,
    body_limit: usize,
}

impl PendingApi {
    /// Serves the API over `core` from now on.
    pub fn open(self, core: Core) {
        let state = AppState::new(ApiServices { core, systems: self.systems, tokens: self.tokens });
        self.slot.set(routes::router(state, self.body_limit));
    }
}

/// Loads the caseworker issuer's keys, binds the API listener (`[server]`) and serves until
/// `stopped` turns true: 503 until [`PendingApi::open`] gives it the core.
pub async fn bind(
    settings: &crate::settings::Settings,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<(RunningApi, PendingApi), ApiStartError> {
    use crate::http::{deferred, tls};
    let issuer = settings.caseworker_issuer.clone().expect("checked by check_for_serve");
    let tokens = token::TokenVerifier::new(issuer).await?;
    let server = &settings.server;
    let tls_config = tls::server_config(
        server.cert_file.as_deref().expect("checked"),
        server.key_file.as_deref().expect("checked"),
        server.client_ca_file.as_deref().expect("checked"),
    )
    .map_err(tls::ListenError::from)?;
    let slot = deferred::Deferred::new();
    let waiting = axum::Router::new().fallback(|| async { deferred::store_connecting() });
    let router = slot.router(waiting);
    let (listener, addr) = tls::bind(server.listen).await?;
    let loop_cfg = tls::LoopConfig {
        handshake_timeout: std::time::Duration::from_millis(server.handshake_timeout_ms),
        max_connections: server.max_connections,
        drain: std::time::Duration::from_secs(10),
        limits: settings.limits.clone(),
        timeout_response: crate::http::problem::request_timed_out,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config));
    let task = tokio::spawn(tls::accept_loop(listener, acceptor, router, loop_cfg, stopped));
    let pending = PendingApi {
        slot,
        systems: systems::Systems::new(&settings.systems),
        tokens,
        body_limit: server.body_limit_bytes,
    };
    Ok((RunningApi { addr, task }, pending))
}
