//! MitID login through an OpenID provider (a MitID broker): authorisation code flow with
//! PKCE (S256), `state` and `nonce`, and ID token verification (issuer exactly as
//! discovered, audience, expiry, signature, nonce) with the `openidconnect` crate.
//!
//! Discovery happens on the first login and is cached (for [`DISCOVERY_TTL`]), so the
//! portal starts while the broker is down and says so when someone tries to log in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use consent::Cpr;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::settings::portal::OidcSettings;

/// How long discovery (metadata and keys) is used before it is fetched again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// Levels of assurance (NSIS) as the Danish eID brokers send them in `loa`.
pub const LOA_LOW: &str = "https://data.gov.dk/concept/core/nsis/Low";
pub const LOA_SUBSTANTIAL: &str = "https://data.gov.dk/concept/core/nsis/Substantial";
pub const LOA_HIGH: &str = "https://data.gov.dk/concept/core/nsis/High";

/// Every claim of the ID token beyond the standard ones, by name (the CPR claim's name is
/// configuration).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrokerClaims(pub HashMap<String, serde_json::Value>);

impl AdditionalClaims for BrokerClaims {}

type Fields = IdTokenFields<
    BrokerClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type OidcClient = Client<
    BrokerClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Provider {
    client: OidcClient,
    end_session: Option<EndSessionUrl>,
    fetched: Instant,
}

/// What is kept server-side between sending the citizen to the broker and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// The citizen, as the verified ID token says.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cpr: Cpr,
    pub name: Option<String>,
    pub loa: String,
}

/// Why a login did not succeed. Each has a Danish page ([`super::pages`]).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the login state is missing, used or expired")]
    NoLoginState,
    #[error("the state parameter does not match")]
    StateMismatch,
    #[error("the provider answered with an error: {0}")]
    Provider(String),
    #[error("the code exchange failed: {0}")]
    CodeExchange(String),
    #[error("the ID token is invalid: {0}")]
    IdToken(String),
    #[error("the ID token has no valid CPR number")]
    NoCpr,
    #[error("the level of assurance is too low: {0}")]
    LowAssurance(String),
    #[error("not a private person's MitID: {0}")]
    NotPrivate(String),
}

pub struct Oidc {
    settings: OidcSettings,
    redirect: RedirectUrl,
    http: reqwest::Client,
    provider: Mutex<Option<Arc<Provider>>>,
}

impl Oidc {
    pub fn new(settings: OidcSettings, redirect_uri: &str) -> Result<Oidc, String> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            // No redirects: the provider's endpoints answer directly (SSRF protection).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10));
        if let Some(ca) = &settings.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("{}: {e}", ca.display()))? {
                b = b.add_root_certificate(cert);
            }
            b = b.tls_built_in_root_certs(false);
        }
        let http = b.build().map_err(|e| e.to_string())?;
        let redirect = RedirectUrl::new(redirect_uri.to_string()).map_err(|e| e.to_string())?;
        Ok(Oidc { settings, redirect, http, provider: Mutex::new(None) })
    }

    async fn provider(&self) -> Result<Arc<Provider>, LoginError> {
        let mut cached = self.provider.lock().await;
        if let Some(p) = cached.as_ref().filter(|p| p.fetched.elapsed() < DISCOVERY_TTL) {
            return Ok(p.clone());
        }
        let issuer =
            IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| LoginError::Unavailable(e.to_string()))?;
        let meta = ProviderMetadataWithLogout::discover_async(issuer, &self.http).await.map_err(|e| {
            tracing::warn!(error = %e, "OpenID discovery failed");
            LoginError::Unavailable(e.to_string())
        })?;
        let end_session = meta.additional_metadata().end_session_endpoint.clone();
        let client = OidcClient::from_provider_metadata(
            meta,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let p = Arc::new(Provider { client, end_session, fetched: Instant::now() });
        *cached = Some(p.clone());
        Ok(p)
    }

    /// Where to send the citizen, and what to keep until the callback.
    pub async fn begin(&self) -> Result<(String, LoginState), LoginError> {
        let p = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = p.client.authorize_url(
            AuthenticationFlow::<openidconnect::core::CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &self.settings.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        let login = LoginState {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        Ok((url.to_string(), login))
    }

    /// Checks the callback against the kept state (and its `iss`, RFC 9207, when the provider
    /// sends one), exchanges the code and verifies the ID token.
    pub async fn finish(
        &self,
        code: &str,
        state: &str,
        iss: Option<&str>,
        login: LoginState,
    ) -> Result<Identity, LoginError> {
        if !constant_time_eq(state.as_bytes(), login.state.as_bytes()) {
            return Err(LoginError::StateMismatch);
        }
        if iss.is_some_and(|i| i != self.settings.issuer) {
            return Err(LoginError::Provider("the authorisation response names another issuer".into()));
        }
        let p = self.provider().await?;
        let tokens = p
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| LoginError::CodeExchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| LoginError::CodeExchange(e.to_string()))?;
        let id_token = tokens.id_token().ok_or_else(|| LoginError::IdToken("no ID token in the answer".into()))?;
        let verifier = p.client.id_token_verifier().set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EdDsa,
        ]);
        let claims =
            id_token.claims(&verifier, &Nonce::new(login.nonce)).map_err(|e| LoginError::IdToken(e.to_string()))?;
        let extra = &claims.additional_claims().0;
        let text = |name: &str| extra.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let loa = text("loa").unwrap_or_default();
        if loa != LOA_SUBSTANTIAL && loa != LOA_HIGH {
            return Err(LoginError::LowAssurance(loa));
        }
        let identity_type = text("identity_type").unwrap_or_default();
        if identity_type != "private" {
            return Err(LoginError::NotPrivate(identity_type));
        }
        let cpr = text(&self.settings.cpr_claim).and_then(|c| Cpr::parse(&c).ok()).ok_or(LoginError::NoCpr)?;
        let name = text("name").or_else(|| claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string()));
        Ok(Identity { cpr, name, loa })
    }

    /// The provider's logout URL, when the provider has one (from cached discovery only:
    /// logging out never waits for a broker that is down). RP-initiated logout with
    /// `client_id` and `post_logout_redirect_uri` only: no `id_token_hint`, since the ID
    /// token carries the citizen's CPR number and name and a URL ends in browser history
    /// and the provider's access log.
    pub async fn logout_url(&self, post_logout: &str) -> Option<String> {
        let cached = self.provider.lock().await.clone()?;
        let end = cached.end_session.clone()?;
        let mut req = LogoutRequest::from(end).set_client_id(ClientId::new(self.settings.client_id.clone()));
        if let Ok(u) = PostLogoutRedirectUrl::new(post_logout.to_string()) {
            req = req.set_post_logout_redirect_uri(u);
        }
        Some(req.http_get_url().to_string())
    }
}

/// Compares secrets (the login state, the CSRF token) without leaking where they differ
/// (`subtle`).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

#[cfg(test)]
mod tests {
    use sandbox::broker::{BrokerClient, BrokerMode};

    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    /// One login at the sandbox broker (citizen 0 at `loa`), checked by `finish`.
    async fn login(oidc: &Oidc, broker: &sandbox::RunningSandbox, loa: &str) -> Result<Identity, LoginError> {
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(broker.ca_pem().unwrap().as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (url, state) = oidc.begin().await.unwrap();
        let page = http.get(url).send().await.unwrap().text().await.unwrap();
        let auth = page.split("name=\"auth\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let r = http
            .post(format!("{}/authorize", broker.broker_url()))
            .form(&[("auth", auth.as_str()), ("citizen", "0"), ("loa", loa)])
            .send()
            .await
            .unwrap();
        let back = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let q: HashMap<String, String> = back.query_pairs().into_owned().collect();
        oidc.finish(&q["code"], &q["state"], q.get("iss").map(String::as_str), state).await
    }

    #[tokio::test]
    async fn each_bad_id_token_is_refused_for_its_own_reason() {
        let broker = sandbox::Sandbox::start(sandbox::SandboxConfig {
            tls: Some(sandbox::tls::generate().unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, broker.ca_pem().unwrap()).unwrap();
        let redirect = "https://localhost:1/auth/callback";
        broker.register_broker_client(BrokerClient {
            client_id: "portal".into(),
            client_secret: "secret".into(),
            redirect_uris: vec![redirect.into()],
            post_logout_redirect_uris: vec![],
        });
        let settings = OidcSettings {
            issuer: broker.broker_url(),
            client_id: "portal".into(),
            client_secret: "secret".into(),
            ca_file: Some(ca),
            cpr_claim: "dk.cpr".into(),
            scopes: vec!["ssn".into()],
            allow_insecure_issuer: false,
        };
        let oidc = Oidc::new(settings.clone(), redirect).unwrap();

        let ok = login(&oidc, &broker, "substantial").await.unwrap();
        assert_eq!(ok.cpr, sandbox::citizens::cpr_of(0));
        assert_eq!(ok.loa, LOA_SUBSTANTIAL);
        assert_eq!(login(&oidc, &broker, "high").await.unwrap().loa, LOA_HIGH);
        assert!(matches!(login(&oidc, &broker, "low").await, Err(LoginError::LowAssurance(l)) if l == LOA_LOW));

        let cases = [
            (BrokerMode::WrongNonce, "nonce"),
            (BrokerMode::MissingNonce, "nonce"),
            (BrokerMode::WrongIssuer, "issuer"),
            (BrokerMode::WrongAudience, "audience"),
            (BrokerMode::Expired, "expired"),
            (BrokerMode::BadSignature, "signature"),
        ];
        for (mode, why) in cases {
            broker.set_broker_mode(mode);
            match login(&oidc, &broker, "substantial").await {
                Err(LoginError::IdToken(m)) => assert!(m.to_lowercase().contains(why), "{mode:?}: {m}"),
                other => panic!("{mode:?}: {:?}", other.map(|i| i.loa)),
            }
        }
        broker.set_broker_mode(BrokerMode::Professional);
        assert!(
            matches!(login(&oidc, &broker, "substantial").await, Err(LoginError::NotPrivate(t)) if t == "professional")
        );
        broker.set_broker_mode(BrokerMode::Normal);

        // A CPR claim under another name (Criipto's) is not found under `dk.cpr`'s.
        let criipto =
            Oidc::new(OidcSettings { cpr_claim: "cprNumberIdentifier".into(), ..settings }, redirect).unwrap();
        assert!(matches!(login(&criipto, &broker, "substantial").await, Err(LoginError::NoCpr)));

        // A wrong state is refused before anything is exchanged.
        let (_, state) = oidc.begin().await.unwrap();
        assert!(matches!(oidc.finish("code", "other", None, state).await, Err(LoginError::StateMismatch)));
    }

    /// RP-initiated logout names the client and where to come back, and carries no ID
    /// token (it holds the CPR number and name); the sandbox broker accepts it.
    #[tokio::test]
    async fn logout_carries_no_id_token_and_the_broker_accepts_it() {
        let broker = sandbox::Sandbox::start(sandbox::SandboxConfig {
            tls: Some(sandbox::tls::generate().unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, broker.ca_pem().unwrap()).unwrap();
        let (redirect, back) = ("https://localhost:1/auth/callback", "https://localhost:1/");
        broker.register_broker_client(BrokerClient {
            client_id: "portal".into(),
            client_secret: "secret".into(),
            redirect_uris: vec![redirect.into()],
            post_logout_redirect_uris: vec![back.into()],
        });
        let settings = OidcSettings {
            issuer: broker.broker_url(),
            client_id: "portal".into(),
            client_secret: "secret".into(),
            ca_file: Some(ca),
            cpr_claim: "dk.cpr".into(),
            scopes: vec!["ssn".into()],
            allow_insecure_issuer: false,
        };
        let oidc = Oidc::new(settings, redirect).unwrap();
        login(&oidc, &broker, "substantial").await.unwrap();
        let url = oidc.logout_url(back).await.expect("the broker has an end_session_endpoint");
        assert!(!url.contains("id_token_hint") && !url.contains("eyJ"), "{url}");
        let q: HashMap<String, String> = url::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
        assert_eq!(q.get("client_id").map(String::as_str), Some("portal"));
        assert_eq!(q.get("post_logout_redirect_uri").map(String::as_str), Some(back));
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(broker.ca_pem().unwrap().as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http.get(&url).send().await.unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        assert!(r.headers()["location"].to_str().unwrap().starts_with(back));
    }
}
