//! A sandbox MitID broker: an OpenID provider shaped like Signaturgruppen's MitID broker,
//! for the portal's development and tests.
//!
//! Endpoints (on the broker's own port): `/.well-known/openid-configuration`, `/jwks`,
//! `/authorize` (an HTML form listing the synthetic citizens by name, with a choice of
//! level of assurance), `/token` (authorisation code with PKCE S256 only, client secret by
//! HTTP Basic or form), `/end_session` (RP-initiated logout). The ID token (ES256) carries
//! `dk.cpr`, `loa`, `identity_type`, `mitid.uuid` and `name`.
//!
//! Clients are registered at run time ([`crate::RunningSandbox::register_broker_client`] or
//! `PUT /admin/broker/clients/{client_id}`), because a portal's redirect URI names a port
//! picked at start. Test modes ([`BrokerMode`], `PUT /admin/broker/mode`) make the next ID
//! tokens wrong on purpose: another issuer, another audience, a wrong or missing nonce,
//! expired, signed by another key, or a professional identity.

mod flow;
mod keys;
mod page;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use axum::Router;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

pub(crate) use keys::BrokerKey;

/// `loa` values (NSIS levels of assurance, as the Danish eID brokers name them).
pub const LOA_LOW: &str = "https://data.gov.dk/concept/core/nsis/Low";
pub const LOA_SUBSTANTIAL: &str = "https://data.gov.dk/concept/core/nsis/Substantial";
pub const LOA_HIGH: &str = "https://data.gov.dk/concept/core/nsis/High";

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
}

/// How the broker misbehaves (for tests); `normal` by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerMode {
    #[default]
    Normal,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `aud` is another client.
    WrongAudience,
    /// `nonce` is not the one the client sent.
    WrongNonce,
    /// No `nonce` claim.
    MissingNonce,
    /// `exp` an hour in the past.
    Expired,
    /// Signed with a key the JWKS does not publish (same `kid`).
    BadSignature,
    /// `identity_type` is `professional` (an employee's MitID Erhverv).
    Professional,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ModeBody {
    pub mode: BrokerMode,
}

/// An authorisation request waiting for the login form.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
}

/// An issued authorisation code (one use).
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub pending: Pending,
    pub citizen: usize,
    pub loa: &'static str,
    pub issued: std::time::Instant,
}

/// The broker's state. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Broker(pub(crate) Arc<BrokerInner>);

pub(crate) struct BrokerInner {
    /// `https://localhost:PORT` (or `http://127.0.0.1:PORT`), set once bound.
    pub issuer: OnceLock<String>,
    pub key: BrokerKey,
    /// Signs ID tokens in `bad_signature` mode; never published.
    pub rogue_key: BrokerKey,
    pub clients: RwLock<HashMap<String, BrokerClient>>,
    pub mode: RwLock<BrokerMode>,
    pub pending: Mutex<HashMap<String, Pending>>,
    pub codes: Mutex<HashMap<String, Grant>>,
}

impl Broker {
    pub(crate) fn new() -> Result<Broker, crate::SandboxError> {
        Ok(Broker(Arc::new(BrokerInner {
            issuer: OnceLock::new(),
            key: BrokerKey::generate("broker-1")?,
            rogue_key: BrokerKey::generate("broker-1")?,
            clients: RwLock::new(HashMap::new()),
            mode: RwLock::new(BrokerMode::Normal),
            pending: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
        })))
    }

    pub(crate) fn issuer(&self) -> &str {
        self.0.issuer.get().map_or("", String::as_str)
    }

    pub(crate) fn register(&self, client: BrokerClient) {
        self.0.clients.write().expect("not poisoned").insert(client.client_id.clone(), client);
    }

    pub(crate) fn set_mode(&self, mode: BrokerMode) {
        *self.0.mode.write().expect("not poisoned") = mode;
    }

    pub(crate) fn mode(&self) -> BrokerMode {
        *self.0.mode.read().expect("not poisoned")
    }

    fn client(&self, id: &str) -> Option<BrokerClient> {
        self.0.clients.read().expect("not poisoned").get(id).cloned()
    }
}

pub(crate) fn router(broker: Broker) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(flow::discovery))
        .route("/jwks", get(flow::jwks))
        .route("/authorize", get(flow::authorize).post(flow::login))
        .route("/token", post(flow::token))
        .route("/end_session", get(flow::end_session))
        .with_state(broker)
}

/// A random URL-safe token (32 bytes).
pub(crate) fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
