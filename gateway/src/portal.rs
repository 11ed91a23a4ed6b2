//! The citizen portal: its own HTTPS listener (server certificate, no client
//! certificates), MitID login through an OpenID provider, server-side sessions, and
//! server-rendered Danish pages to answer consent requests, grant, revoke, block, read
//! "Min log" and keep receipts. Started by the composition root (`app::start_with_store`) when
//! `[portal]` is configured.
//!
//! Every change goes through the same [`ConsentService`] as the API: it commits the change
//! with its audit record and is answered only after the record is in the audit log. Code map: [`config`] (`[portal]`), [`oidc`] (login, ID token
//! checks), [`session`] (cookies, sessions, CSRF), [`pages`] (templates and views),
//! [`login`], [`consents`], [`blocks`], [`log`], [`receipts`], [`represent`] (acting for
//! someone else with a power of attorney) (the handlers).

pub mod blocks;
pub mod consents;
pub mod log;
pub mod login;
pub mod notifications;
pub mod oidc;
pub mod own_case;
pub mod pages;
pub mod receipts;
pub mod represent;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::{DateTime, Utc};
use consent::audit::AuditLog;
use consent::{ConsentService, Ledger, LedgerError, RuleError, ServiceError, SharedStore};
use ed25519_dalek::SigningKey;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::settings::portal::{OidcSettings, PortalSettings};

use crate::core::Core;
use crate::core::clock::Clock;
use pages::{MessagePage, render};
use session::{Session, Sessions};

/// What the portal's handlers share.
pub struct PortalServices {
    /// Reads of consents and blocks.
    pub ledger: Ledger<SharedStore>,
    /// Every consent and block change, with its audit record.
    pub consents: ConsentService<SharedStore>,
    pub audit: AuditLog<SharedStore>,
    pub sessions: Sessions,
    pub oidc: oidc::Oidc,
    /// Signs receipts (the audit log's key: one gateway key, published at
    /// `/.well-known/jwks.json`).
    pub receipt_key: SigningKey,
    /// `https://host[:port]`, no trailing slash.
    pub public_url: String,
    pub log_page_size: usize,
    /// The core: the citizen's own access goes through its release pipeline.
    pub core: Core,
    /// Whether letters are sent (`[notifications]`); the page says so when not.
    pub notifications_enabled: bool,
    /// The core's clock: each handler reads it once and passes `now` down.
    pub clock: Arc<dyn Clock>,
    /// `GET /login` per client address.
    pub login_rate: crate::http::rate::RateLimit,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct PortalState(pub Arc<PortalServices>);

impl std::ops::Deref for PortalState {
    type Target = PortalServices;
    fn deref(&self) -> &PortalServices {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("[portal]: {0}")]
    Config(String),
    #[error("[portal] TLS: {0}")]
    Tls(#[from] crate::http::tls::TlsError),
    #[error("[portal] cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A started portal: its address and its accept loop.
pub struct RunningPortal {
    pub addr: SocketAddr,
    pub public_url: String,
    pub task: JoinHandle<()>,
}

/// The portal, bound and answering, waiting for the core: until [`PendingPortal::open`]
/// every page is a Danish 503 page ("the service is starting").
pub struct PendingPortal {
    slot: crate::http::deferred::Deferred,
    oidc: oidc::Oidc,
    public_url: String,
    idle_timeout_secs: u64,
    absolute_timeout_secs: u64,
    log_page_size: usize,
    login_per_minute: u32,
    stop: watch::Receiver<bool>,
}

/// Binds the portal and serves it until `stop` turns true: a 503 page until
/// [`PendingPortal::open`] gives it the core.
pub async fn bind(
    settings: &PortalSettings,
    server: &crate::settings::ServerSettings,
    limits: &crate::http::limits::ConnectionLimits,
    stop: watch::Receiver<bool>,
) -> Result<(RunningPortal, PendingPortal), PortalError> {
    settings.check().map_err(PortalError::Config)?;
    let tls = crate::http::tls::server_config_without_client_auth(&settings.cert_file, &settings.key_file)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| PortalError::Bind { addr: settings.listen, source })?;
    let addr = listener.local_addr().map_err(|source| PortalError::Bind { addr: settings.listen, source })?;
    let public_url = if settings.public_url.is_empty() {
        format!("https://localhost:{}", addr.port())
    } else {
        settings.public_url.trim_end_matches('/').to_string()
    };
    let oidc = oidc::Oidc::new(settings.oidc.clone(), &format!("{public_url}/auth/callback"))
        .map_err(|e| PortalError::Config(format!("[portal.oidc]: {e}")))?;
    let cfg = crate::http::tls::LoopConfig {
        handshake_timeout: Duration::from_millis(server.handshake_timeout_ms),
        max_connections: server.max_connections,
        drain: Duration::from_secs(10),
        limits: limits.clone(),
        timeout_response: timed_out,
    };
    let slot = crate::http::deferred::Deferred::new();
    let router = slot.router(Router::new().fallback(|| async { starting() }));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let task = tokio::spawn(crate::http::tls::accept_loop(listener, acceptor, router, cfg, stop.clone()));
    tracing::info!(%addr, %public_url, "citizen portal listening");
    let pending = PendingPortal {
        slot,
        oidc,
        public_url: public_url.clone(),
        idle_timeout_secs: settings.idle_timeout_secs,
        absolute_timeout_secs: settings.absolute_timeout_secs,
        log_page_size: settings.log_page_size,
        login_per_minute: settings.login_per_minute,
        stop,
    };
    Ok((RunningPortal { addr, public_url, task }, pending))
}

impl PendingPortal {
    /// Serves the portal over `core` from now on (changes go through the core's consent
    /// service; the time comes from the core's clock), and sweeps expired sessions.
    pub fn open(self, core: &Core, receipt_key: SigningKey, notifications_enabled: bool) {
        let consents = core.consents.clone();
        let store = consents.ledger().store().clone();
        let state = PortalState(Arc::new(PortalServices {
            ledger: consents.ledger().clone(),
            audit: consents.audit().clone(),
            consents,
            sessions: Sessions::new(store, self.idle_timeout_secs, self.absolute_timeout_secs),
            oidc: self.oidc,
            receipt_key,
            public_url: self.public_url,
            log_page_size: self.log_page_size,
            clock: core.clock.clone(),
            core: core.clone(),
            notifications_enabled,
            login_rate: crate::http::rate::RateLimit::per_minute(self.login_per_minute),
        }));
        // Expired sessions and login states are swept every 10 minutes.
        let sweeper = state.clone();
        let mut sweep_stop = self.stop;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                    _ = sweep_stop.wait_for(|s| *s) => return,
                }
                if let Err(e) = sweeper.sessions.purge(sweeper.clock.now()).await {
                    tracing::warn!(error = %e, "purging expired portal sessions failed");
                }
            }
        });
        self.slot.set(router(state));
    }
}

/// The page while the store connects: nothing of the citizen's can be shown or changed.
fn starting() -> Response {
    let mut r = with_security_headers(page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Tjenesten starter",
        &["Vi kan ikke vise dine samtykker lige nu, fordi tjenesten er ved at starte. Prøv igen om lidt."],
        &[("/", "Prøv igen")],
        None,
    ));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// Every path of the portal. [`router`] registers exactly these, each with [`methods`]:
/// a path missing here is not served, and one here without methods stops the start, so
/// tests can walk every route (e.g. every POST for its CSRF check) from this list.
pub const PATHS: [&str; 26] = [
    "/",
    "/login",
    "/auth/callback",
    "/logout",
    "/requests/{id}",
    "/consents/{id}",
    "/consents/{id}/revoke",
    "/consents/{id}/confirm",
    "/grant",
    "/blocks",
    "/blocks/{id}/lift",
    "/min-sag",
    "/min-sag/perspektiv",
    "/notifications",
    "/log",
    "/log/download",
    "/log/verify",
    "/receipts/{id}",
    "/receipts/{id}/json",
    "/.well-known/jwks.json",
    "/static/portal.css",
    "/fuldmagter",
    "/fuldmagter/{reference}",
    "/fuldmagter/{reference}/requests/{id}",
    "/fuldmagter/{reference}/consents/{id}/revoke",
    "/fuldmagter/{reference}/grant",
];

/// The handlers of one of [`PATHS`].
fn methods(path: &str) -> MethodRouter<PortalState> {
    match path {
        "/" => get(consents::overview),
        "/login" => get(login::login),
        "/auth/callback" => get(login::callback),
        "/logout" => post(login::logout),
        "/requests/{id}" => get(consents::request).post(consents::answer),
        "/consents/{id}" => get(consents::consent),
        "/consents/{id}/revoke" => get(consents::revoke_confirm).post(consents::revoke),
        "/consents/{id}/confirm" => post(consents::confirm),
        "/grant" => get(consents::grant_form).post(consents::grant),
        "/blocks" => get(blocks::list).post(blocks::place),
        "/blocks/{id}/lift" => post(blocks::lift),
        "/min-sag" => get(own_case::own_case),
        "/min-sag/perspektiv" => post(own_case::perspective),
        "/notifications" => get(notifications::show).post(notifications::save),
        "/log" => get(log::log),
        "/log/download" => get(log::download),
        "/log/verify" => get(log::verify),
        "/receipts/{id}" => get(receipts::readable),
        "/receipts/{id}/json" => get(receipts::json),
        "/.well-known/jwks.json" => get(receipts::jwks),
        "/static/portal.css" => get(stylesheet),
        "/fuldmagter" => get(represent::list),
        "/fuldmagter/{reference}" => get(represent::overview),
        "/fuldmagter/{reference}/requests/{id}" => get(represent::request).post(represent::answer),
        "/fuldmagter/{reference}/consents/{id}/revoke" => get(represent::revoke_confirm).post(represent::revoke),
        "/fuldmagter/{reference}/grant" => get(represent::grant_form).post(represent::grant),
        other => panic!("the portal path {other} has no handlers"),
    }
}

/// The portal's routes: [`PATHS`], each with its [`methods`].
pub fn router(state: PortalState) -> Router {
    PATHS
        .iter()
        .fold(Router::new(), |r, path| r.route(path, methods(path)))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::from_fn(no_cpr_in_url))
        // Request ids and logging by route template (never the path as sent).
        .layer(axum::middleware::from_fn(crate::http::request_id::layer))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// A URL that holds something that could be a CPR number is refused with a page before
/// any handler runs: a path segment that is not an id (ids are UUIDs, receipts
/// `<uuid>.<version>`), or a query string (the login callback's parameters come from the
/// provider and are left to it).
async fn no_cpr_in_url(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use crate::http::redact::{holds_number, query_holds_cpr};
    let uri = req.uri();
    let in_path = uri.path().split('/').any(|seg| {
        let id = seg.split('.').next().unwrap_or(seg);
        holds_number(seg) && uuid::Uuid::try_parse(id).is_err()
    });
    let callback = uri.path() == "/auth/callback";
    let in_query = !callback && uri.query().is_some_and(query_holds_cpr);
    if in_path {
        return not_found().await;
    }
    if in_query {
        return page(
            StatusCode::BAD_REQUEST,
            "Adressen kan ikke bruges",
            &["Et CPR-nummer hører ikke hjemme i en adresse. Gå tilbage til oversigten og prøv igen."],
            &[("/", "Tilbage til oversigten")],
            None,
        );
    }
    next.run(req).await
}

/// A request that ran out of time (`[limits] request_timeout_ms`).
fn timed_out() -> Response {
    with_security_headers(page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Siden svarer ikke lige nu",
        &["Det tog for lang tid at svare. Prøv igen om lidt."],
        &[("/", "Tilbage til oversigten")],
        None,
    ))
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("portal/portal.css")).into_response()
}

async fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Siden findes ikke",
        &["Vi kan ikke finde den side, du leder efter."],
        &[("/", "Tilbage til oversigten")],
        None,
    )
}

async fn security_headers(r: Response) -> Response {
    with_security_headers(r)
}

fn with_security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'none'; frame-ancestors 'none'"),
    );
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    r
}

/// A message page (errors and confirmations) with `status`.
pub fn page(
    status: StatusCode,
    heading: &str,
    paragraphs: &[&str],
    links: &[(&str, &str)],
    session: Option<&Session>,
) -> Response {
    render(status, &MessagePage::new(heading, paragraphs, links, session.map(|s| s.csrf.clone())))
}

/// The answer when something inside failed (store, audit log): nothing to fix for the citizen.
pub fn failure(session: Option<&Session>) -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Der skete en fejl",
        &["Vi kunne ikke gøre det lige nu. Prøv igen om lidt."],
        &[("/", "Tilbage til oversigten")],
        session,
    )
}

/// The current session, or the answer to send instead (to the login page).
pub async fn require_session(
    state: &PortalState,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Session, Response> {
    match state.sessions.current(headers, now).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(Redirect::to("/").into_response()),
        Err(e) => {
            tracing::error!(error = %e, "the session store failed");
            Err(failure(None))
        }
    }
}

/// A posted form (`application/x-www-form-urlencoded`), keeping repeated names.
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &Bytes) -> FormData {
        FormData(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// The session of a POST whose form carries the session's CSRF token; otherwise the answer.
pub async fn require_form_session(
    state: &PortalState,
    headers: &HeaderMap,
    form: &FormData,
    now: DateTime<Utc>,
) -> Result<Session, Response> {
    let s = require_session(state, headers, now).await?;
    match form.get("csrf") {
        Some(t) if oidc::constant_time_eq(t.as_bytes(), s.csrf.as_bytes()) => Ok(s),
        _ => {
            tracing::info!("portal form refused: missing or wrong CSRF token");
            Err(page(
                StatusCode::FORBIDDEN,
                "Formularen kunne ikke sendes",
                &[
                    "Siden var for gammel, eller formularen kom ikke fra sammen.",
                    "Gå tilbage, hent siden igen og prøv en gang til. Der er ikke ændret noget.",
                ],
                &[("/", "Tilbage til oversigten")],
                Some(&s),
            ))
        }
    }
}

/// The citizen acting in the portal, as the audit record of a change names them.
pub fn citizen_actor() -> consent::Actor {
    consent::Actor::citizen(consent::Channel::Portal)
}

/// A refused or unconfirmed change as a Danish page.
pub fn service_refusal(e: ServiceError, session: &Session) -> Response {
    match e {
        ServiceError::Ledger(e) => ledger_refusal(e, session),
        ServiceError::AuditUnavailable => {
            tracing::error!("a portal change refused: the audit log is unavailable");
            failure(Some(session))
        }
        ServiceError::AuditPending(e) => {
            tracing::error!(error = %e, "a portal change is saved but its audit record is not confirmed");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Din ændring er gemt, men kunne ikke bekræftes",
                &[
                    "Vi har gemt din ændring, men kunne ikke bekræfte den færdigt lige nu.",
                    "Se efter under Mine samtykker om lidt, før du prøver igen.",
                ],
                &[("/", "Tilbage til oversigten")],
                Some(session),
            )
        }
    }
}

/// A ledger refusal as a Danish page; nothing was changed.
pub fn ledger_refusal(e: LedgerError, session: &Session) -> Response {
    let back = [("/", "Tilbage til oversigten")];
    let (status, heading, text): (StatusCode, &str, String) = match &e {
        LedgerError::Rule(RuleError::RequestExpired) => (
            StatusCode::CONFLICT,
            "Anmodningen er udløbet",
            "Fristen for at svare er overskredet, så du kan ikke længere svare på den. Sagsbehandleren må spørge igen, hvis der stadig er brug for oplysningerne.".into(),
        ),
        LedgerError::Rule(RuleError::NotRequested { status }) => (
            StatusCode::CONFLICT,
            "Anmodningen er allerede besvaret",
            format!("Den har nu status: {}. Der er ikke ændret noget.", pages::status_da(*status).to_lowercase()),
        ),
        LedgerError::Rule(RuleError::NotActive { status }) => (
            StatusCode::CONFLICT,
            "Samtykket er ikke aktivt",
            format!("Det har status: {}. Der er ikke ændret noget.", pages::status_da(*status).to_lowercase()),
        ),
        LedgerError::Rule(RuleError::NotTheCitizen)
        | LedgerError::NoSuchConsent(_)
        | LedgerError::NoSuchBlock(_)
        | LedgerError::Rule(RuleError::NoSuchConsent) => (
            StatusCode::NOT_FOUND,
            "Vi kan ikke finde det",
            "Det, du leder efter, findes ikke blandt dine samtykker og spærringer.".into(),
        ),
        LedgerError::Rule(RuleError::PeriodTooLong { max_months }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Perioden er for lang",
            format!("Et samtykke må højst vare {max_months} måneder. Vælg en kortere periode."),
        ),
        LedgerError::Rule(RuleError::NoCategories) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Vælg mindst én slags oplysninger",
            "Et samtykke skal gælde mindst én slags oplysninger.".into(),
        ),
        LedgerError::Block(_) => (
            StatusCode::CONFLICT,
            "Spærringen er allerede ophævet",
            "Der er ikke ændret noget.".into(),
        ),
        LedgerError::Rule(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Det kan ikke lade sig gøre",
            "Dit valg kunne ikke bruges. Gå tilbage og prøv igen.".into(),
        ),
        LedgerError::Store(err) => {
            tracing::error!(error = %err, "the ledger's store failed");
            return failure(Some(session));
        }
    };
    tracing::info!(refusal = %e, "portal action refused by the ledger");
    page(status, heading, &[&text], &back, Some(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let now: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        Session {
            cpr: consent::Cpr::parse("0101709901").unwrap(),
            name: None,
            loa: "substantial".into(),
            csrf: "token".into(),
            created: now,
            last_seen: now,
        }
    }

    async fn body(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn while_the_store_connects_every_page_is_a_danish_503() {
        use tower::ServiceExt;
        let slot = crate::http::deferred::Deferred::new();
        let router = slot.router(Router::new().fallback(|| async { starting() }));
        for path in ["/", "/log", "/blocks", "/login"] {
            let req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
            let r = router.clone().oneshot(req).await.unwrap();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_eq!(r.headers()[header::RETRY_AFTER], "5");
            assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
            let html = body(r).await;
            assert!(html.contains("lang=\"da\"") && html.contains("Tjenesten starter"), "{html}");
        }
    }

    #[tokio::test]
    async fn a_pending_audit_record_is_saved_but_not_confirmed() {
        let s = session();
        let pending = ServiceError::AuditPending(consent::audit::AuditError::Closed);
        let r = service_refusal(pending, &s);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(body(r).await.contains("Din ændring er gemt, men kunne ikke bekræftes"));

        let r = service_refusal(ServiceError::AuditUnavailable, &s);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(body(r).await.contains("Der skete en fejl"));

        let refused = ServiceError::Ledger(LedgerError::NoSuchConsent(consent::ConsentId::new()));
        assert_eq!(service_refusal(refused, &s).status(), StatusCode::NOT_FOUND);
    }
}
