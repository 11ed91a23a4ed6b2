//! Caseworker tokens: bearer JWTs from the configured issuer, verified against its JWKS.
//!
//! The algorithm comes from the key, never from the token: the token's `alg` must equal
//! the algorithm of the key its `kid` names. Keys for HMAC (`oct`) are ignored and `none`
//! cannot be parsed, so neither can verify a token. `iss`, `aud` and `exp` are required,
//! `exp` and `nbf` are checked with the configured leeway.
//!
//! A case system sends the same token with many requests, and checking its signature is
//! the gateway's largest single CPU cost per case file (BENCHMARKS.md). So a verified token
//! is remembered, under the SHA-256 of its bytes, until its `exp` (plus the leeway), and only
//! while the key set it was verified against is the current one: any refresh of the JWKS
//! (rotation, the periodic re-fetch) forgets every remembered token.
//!
//! Certificate-bound tokens (RFC 8705 § 3): a token with a `cnf` claim holding
//! `x5t#S256` (the base64url SHA-256 of a client certificate's DER) is accepted only on a
//! connection that presented that certificate, so a token issued to one case system cannot
//! be replayed by another system, even of the same organisation. The binding is checked on
//! every request, also for a remembered token. With `[caseworker_issuer]
//! require_certificate_binding = true` a token without `cnf` is refused too.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use consent::UnitId;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use policies::Caseworker;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, RwLock};

use crate::settings::IssuerSettings;

/// Why a token was refused. The message is safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the token is malformed or uses an algorithm this gateway does not accept: {0}")]
    Malformed(String),
    #[error("the token's key is not one the trusted issuer publishes")]
    UnknownKey,
    #[error("the token's algorithm {0} is not the algorithm of its key")]
    AlgorithmMismatch(String),
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token lacks the claim {0:?} or it has the wrong form")]
    Claim(String),
    #[error("the trusted issuer's keys are not available right now")]
    KeysUnavailable,
    #[error("the token is bound to another client certificate (cnf x5t#S256) than the one presented")]
    WrongCertificate,
    #[error("the token is not bound to a client certificate (RFC 8705 cnf x5t#S256), which this gateway requires")]
    Unbound,
}

/// An error message of the token library, with anything that could be a CPR number taken out.
fn safe(e: &jsonwebtoken::errors::Error) -> String {
    crate::http::redact::redact(&e.to_string()).into_owned()
}

/// The RFC 8705 thumbprint (`x5t#S256`) of a certificate whose SHA-256 is `sha256_hex`.
pub fn x5t_s256(sha256_hex: &str) -> Option<String> {
    use base64::Engine;
    let raw = hex::decode(sha256_hex).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read the JWKS file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot fetch the JWKS from {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("the JWKS is not valid JSON: {0}")]
    Parse(String),
    #[error("cannot build the JWKS client: {0}")]
    Client(String),
}

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

struct KeySet {
    keys: Vec<Arc<Key>>,
    fetched: Instant,
    /// Which load this is; remembered tokens are valid for their own generation only.
    generation: u64,
}

/// A token verified earlier: what it says, until when, under which key set.
#[derive(Clone)]
struct Verified {
    caseworker: Caseworker,
    /// The token's `cnf` `x5t#S256`, when it is certificate-bound.
    bound_to: Option<String>,
    /// `exp` plus the leeway, in Unix seconds.
    until: i64,
    generation: u64,
}

/// Remembered tokens, about. When full, a bounded concurrent cache (`quick_cache`, S3-FIFO)
/// evicts the coldest tokens one at a time, so the tokens in steady use stay remembered;
/// an expired or superseded token is forgotten when it is next presented.
const VERIFIED_CAPACITY: usize = 10_000;

enum Origin {
    File(PathBuf),
    Url { url: String, client: reqwest::Client },
}

/// Verifies caseworker tokens. Share behind an `Arc`.
pub struct TokenVerifier {
    cfg: IssuerSettings,
    origin: Origin,
    keys: RwLock<Option<KeySet>>,
    /// Serialises refreshes and rate-limits them on unknown key ids.
    refresh: Mutex<Option<Instant>>,
    generations: AtomicU64,
    verified: quick_cache::sync::Cache<[u8; 32], Verified>,
}

/// A token's lifetime at `now` (Unix seconds): not after `exp`, not before `nbf`, each with
/// the leeway.
fn check_lifetime(exp: i64, nbf: Option<i64>, now: i64, leeway: u64) -> Result<(), TokenError> {
    let leeway = i64::try_from(leeway).unwrap_or(i64::MAX);
    if now > exp.saturating_add(leeway) {
        return Err(TokenError::Invalid("ExpiredSignature".into()));
    }
    if let Some(nbf) = nbf
        && now.saturating_add(leeway) < nbf
    {
        return Err(TokenError::Invalid("ImmatureSignature".into()));
    }
    Ok(())
}

/// At most one refresh for an unknown key id in this long.
const MISS_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// The algorithm a JWK is for, or `None` when it cannot verify signatures here.
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if let Some(u) = &jwk.common.public_key_use
        && *u != PublicKeyUse::Signature
    {
        return None;
    }
    let declared = jwk.common.key_algorithm;
    let alg = match (&jwk.algorithm, declared) {
        (AlgorithmParameters::OctetKey(_), _) => return None,
        (_, Some(KeyAlgorithm::HS256 | KeyAlgorithm::HS384 | KeyAlgorithm::HS512)) => return None,
        (AlgorithmParameters::EllipticCurve(p), None) => match p.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        (AlgorithmParameters::EllipticCurve(p), Some(a)) => match (a, &p.curve) {
            (KeyAlgorithm::ES256, EllipticCurve::P256) => Algorithm::ES256,
            (KeyAlgorithm::ES384, EllipticCurve::P384) => Algorithm::ES384,
            _ => return None,
        },
        // RSA keys often come without `alg` (e.g. Microsoft Entra ID); RS256 is the JWT default.
        (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
        (AlgorithmParameters::RSA(_), Some(a)) => match a {
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            _ => return None,
        },
        (AlgorithmParameters::OctetKeyPair(p), a) => match (&p.curve, a) {
            (EllipticCurve::Ed25519, None | Some(KeyAlgorithm::EdDSA)) => Algorithm::EdDSA,
            _ => return None,
        },
    };
    Some(alg)
}

fn parse_jwks(bytes: &[u8]) -> Result<Vec<Arc<Key>>, JwksError> {
    // Parse key by key, so one key of a kind this library does not know does not hide the others.
    let raw: Value = serde_json::from_slice(bytes).map_err(|e| JwksError::Parse(e.to_string()))?;
    let list = raw.get("keys").and_then(Value::as_array).ok_or_else(|| JwksError::Parse("no \"keys\" array".into()))?;
    let mut keys = Vec::new();
    for k in list {
        let Ok(jwk) = serde_json::from_value::<Jwk>(k.clone()) else { continue };
        let Some(alg) = key_algorithm(&jwk) else { continue };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        keys.push(Arc::new(Key { kid: jwk.common.key_id.clone(), alg, key }));
    }
    Ok(keys)
}

impl TokenVerifier {
    /// Builds the verifier and loads the keys once; a failing first load is logged and
    /// retried on the first token (tokens are refused meanwhile).
    pub async fn new(cfg: IssuerSettings) -> Result<Arc<Self>, JwksError> {
        crate::http::jwt_crypto::install();
        let origin = match (&cfg.jwks_file, &cfg.jwks_url) {
            (Some(path), _) => Origin::File(path.clone()),
            (None, Some(url)) => {
                let mut b = reqwest::Client::builder().timeout(Duration::from_secs(5)).https_only(false);
                if let Some(ca) = &cfg.jwks_ca_file {
                    let pem =
                        std::fs::read(ca).map_err(|e| JwksError::File { path: ca.clone(), message: e.to_string() })?;
                    for cert in
                        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| JwksError::Client(e.to_string()))?
                    {
                        b = b.add_root_certificate(cert);
                    }
                    b = b.tls_built_in_root_certs(false);
                }
                Origin::Url { url: url.clone(), client: b.build().map_err(|e| JwksError::Client(e.to_string()))? }
            }
            (None, None) => return Err(JwksError::Client("neither jwks_url nor jwks_file is configured".into())),
        };
        let v = Arc::new(TokenVerifier {
            cfg,
            origin,
            keys: RwLock::new(None),
            refresh: Mutex::new(None),
            generations: AtomicU64::new(0),
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        });
        match v.load().await {
            Ok(set) => *v.keys.write().await = Some(set),
            Err(e) => tracing::warn!(error = %e, "the caseworker issuer's keys could not be loaded; will retry"),
        }
        Ok(v)
    }

    async fn load(&self) -> Result<KeySet, JwksError> {
        let bytes = match &self.origin {
            Origin::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| JwksError::File { path: path.clone(), message: e.to_string() })?,
            Origin::Url { url, client } => {
                let fetch = |e: reqwest::Error| JwksError::Fetch { url: url.clone(), message: e.to_string() };
                let resp = client.get(url).send().await.map_err(fetch)?.error_for_status().map_err(fetch)?;
                resp.bytes().await.map_err(fetch)?.to_vec()
            }
        };
        let keys = parse_jwks(&bytes)?;
        tracing::info!(keys = keys.len(), "caseworker issuer keys loaded");
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(KeySet { keys, fetched: Instant::now(), generation })
    }

    async fn stale(&self) -> bool {
        match &*self.keys.read().await {
            None => true,
            Some(set) => set.fetched.elapsed() >= Duration::from_secs(self.cfg.jwks_refresh_secs),
        }
    }

    /// Refreshes the key set; `force` for an unknown key id (rate-limited).
    async fn refresh(&self, force: bool) {
        if !force && !self.stale().await {
            return; // the common case: no lock taken
        }
        let mut last = self.refresh.lock().await;
        let now = Instant::now();
        let stale = self.stale().await;
        let recently = last.is_some_and(|t| now.duration_since(t) < MISS_REFRESH_INTERVAL);
        if !(stale || force) || recently {
            return;
        }
        *last = Some(now);
        match self.load().await {
            Ok(set) => *self.keys.write().await = Some(set),
            Err(e) => {
                tracing::warn!(error = %e, "refreshing the caseworker issuer's keys failed; keeping the old ones")
            }
        }
    }

    async fn find_key(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<Key>> {
        let guard = self.keys.read().await;
        let keys = &guard.as_ref()?.keys;
        match kid {
            Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            None => {
                let mut it = keys.iter().filter(|k| k.alg == alg);
                let first = it.next()?;
                it.next().is_none().then(|| first.clone())
            }
        }
    }

    /// Verifies a token presented on a connection with the client certificate whose
    /// SHA-256 is `presented_sha256` (hex), and returns the caseworker it names.
    pub async fn verify_presented(
        &self,
        token: &str,
        presented_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Caseworker, TokenError> {
        let (caseworker, bound_to) = self.verify_claims(token, now).await?;
        match bound_to {
            Some(thumbprint) => {
                let presented = x5t_s256(presented_sha256).unwrap_or_default();
                if bool::from(subtle::ConstantTimeEq::ct_eq(thumbprint.as_bytes(), presented.as_bytes())) {
                    Ok(caseworker)
                } else {
                    Err(TokenError::WrongCertificate)
                }
            }
            None if self.cfg.require_certificate_binding => Err(TokenError::Unbound),
            None => Ok(caseworker),
        }
    }

    /// Verifies a token at `now` without looking at its certificate binding (the unit tests).
    #[cfg(test)]
    pub async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Caseworker, TokenError> {
        self.verify_claims(token, now).await.map(|(c, _)| c)
    }

    /// Verifies a token at `now`; returns the caseworker it names and the certificate
    /// thumbprint it is bound to, if any.
    async fn verify_claims(&self, token: &str, now: DateTime<Utc>) -> Result<(Caseworker, Option<String>), TokenError> {
        // The library's messages may quote the token's own JSON: redacted, since they are
        // logged and answered.
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(safe(&e)))?;
        if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(TokenError::Malformed("HMAC algorithms are not accepted".into()));
        }
        self.refresh(false).await;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let generation = self.keys.read().await.as_ref().map(|set| set.generation);
        if let Some(known) = generation.and_then(|g| self.remembered(&digest, g, now)) {
            return Ok(known);
        }
        let kid = header.kid.as_deref();
        let key = match self.find_key(kid, header.alg).await {
            Some(k) => k,
            None => {
                self.refresh(true).await;
                if self.keys.read().await.is_none() {
                    return Err(TokenError::KeysUnavailable);
                }
                self.find_key(kid, header.alg).await.ok_or(TokenError::UnknownKey)?
            }
        };
        if key.alg != header.alg {
            return Err(TokenError::AlgorithmMismatch(format!("{:?}", header.alg)));
        }
        let mut v = Validation::new(key.alg);
        v.leeway = self.cfg.leeway_secs;
        // `exp` and `nbf` are checked below against `now`, not the library's reading of the
        // system clock.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.set_issuer(&[&self.cfg.issuer]);
        v.set_audience(&[&self.cfg.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key.key, &v)
            .map_err(|e| TokenError::Invalid(safe(&e)))?;
        let exp = data.claims.get("exp").and_then(Value::as_i64).ok_or_else(|| TokenError::Claim("exp".into()))?;
        check_lifetime(exp, data.claims.get("nbf").and_then(Value::as_i64), now.timestamp(), self.cfg.leeway_secs)?;
        let caseworker = self.caseworker(&data.claims)?;
        let bound_to = match data.claims.get("cnf") {
            None => None,
            Some(cnf) => Some(
                cnf.get("x5t#S256")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| TokenError::Claim("cnf".into()))?
                    .to_string(),
            ),
        };
        // `exp` is required and was checked; remember the token under the key set it was
        // checked against (read again: a refresh may have happened meanwhile).
        if let Some(generation) = self.keys.read().await.as_ref().map(|set| set.generation) {
            let until = exp.saturating_add(self.cfg.leeway_secs as i64);
            self.remember(
                digest,
                Verified { caseworker: caseworker.clone(), bound_to: bound_to.clone(), until, generation },
            );
        }
        Ok((caseworker, bound_to))
    }

    /// The caseworker of a token verified earlier under key set `generation`, while it lasts.
    fn remembered(
        &self,
        digest: &[u8; 32],
        generation: u64,
        now: DateTime<Utc>,
    ) -> Option<(Caseworker, Option<String>)> {
        let now = now.timestamp();
        let fresh = |v: &Verified| v.generation == generation && now <= v.until;
        match self.verified.get(digest) {
            Some(v) if fresh(&v) => Some((v.caseworker, v.bound_to)),
            Some(_) => {
                self.verified.remove_if(digest, |v| !fresh(v));
                None
            }
            None => None,
        }
    }

    fn remember(&self, digest: [u8; 32], verified: Verified) {
        self.verified.insert(digest, verified);
    }

    fn caseworker(&self, claims: &serde_json::Map<String, Value>) -> Result<Caseworker, TokenError> {
        let names = &self.cfg.claims;
        let claim = |n: &str| TokenError::Claim(n.to_string());
        let id = claims
            .get(&names.caseworker)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty() && s.len() <= 256)
            .ok_or_else(|| claim(&names.caseworker))?
            .to_string();
        let unit = claims
            .get(&names.unit)
            .and_then(Value::as_str)
            .and_then(|s| UnitId::parse(s).ok())
            .ok_or_else(|| claim(&names.unit))?;
        let roles: BTreeSet<String> = match claims.get(&names.roles) {
            None => BTreeSet::new(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|r| r.as_str().filter(|r| !r.trim().is_empty()).map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| claim(&names.roles))?,
            Some(_) => return Err(claim(&names.roles)),
        };
        Ok(Caseworker { id, unit, roles })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{EncodingKey, Header};

    /// An ES256 key: its JWK (public) and its encoding key.
    fn es256(kid: &str) -> (Value, EncodingKey) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = pair.public_key_raw();
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid,
            "x": B64.encode(&raw[1..33]), "y": B64.encode(&raw[33..])});
        (jwk, EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap())
    }

    /// The tests' "now"; tokens are minted and checked at it.
    fn now() -> DateTime<Utc> {
        "2025-03-01T10:00:00Z".parse().unwrap()
    }

    fn token(key: &EncodingKey, kid: &str) -> String {
        let now = now().timestamp();
        let claims = serde_json::json!({"iss": "https://idp", "aud": "gw", "sub": "cw-1", "unit": "kk.jobcenter",
            "roles": "jobcenter-caseworker rehab-team-member", "exp": now + 60});
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &claims, key).unwrap()
    }

    type Served = Arc<std::sync::Mutex<Value>>;

    /// Serves `served` as a JWKS over HTTP; returns the verifier's settings and the fetch count.
    async fn jwks_server(served: Served) -> (IssuerSettings, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::AtomicUsize;
        let fetches = Arc::new(AtomicUsize::new(0));
        let (s, f) = (served.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (s, f) = (s.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    axum::Json(s.lock().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let cfg = IssuerSettings {
            issuer: "https://idp".into(),
            audience: "gw".into(),
            jwks_url: Some(format!("http://{addr}/jwks")),
            jwks_file: None,
            jwks_ca_file: None,
            jwks_refresh_secs: 300,
            leeway_secs: 5,
            claims: Default::default(),
            require_certificate_binding: false,
        };
        (cfg, fetches)
    }

    /// `exp` and `nbf` are checked against the time the caller gives, with the leeway, also
    /// for a token remembered from an earlier request.
    #[tokio::test]
    async fn the_lifetime_is_checked_at_the_given_time() {
        let (jwk1, key1) = es256("k1");
        let served = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [jwk1]})));
        let (cfg, _) = jwks_server(served).await;
        let v = TokenVerifier::new(cfg).await.unwrap();
        let t = token(&key1, "k1"); // exp = now() + 60, leeway 5
        v.verify(&t, now() + chrono::Duration::seconds(65)).await.unwrap();
        let late = v.verify(&t, now() + chrono::Duration::seconds(66)).await.unwrap_err();
        assert_eq!(late, TokenError::Invalid("ExpiredSignature".into()));
        let claims = serde_json::json!({"iss": "https://idp", "aud": "gw", "sub": "cw-1", "unit": "kk.jobcenter",
            "roles": "jobcenter-caseworker", "exp": now().timestamp() + 600, "nbf": now().timestamp() + 60});
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("k1".into());
        let early = jsonwebtoken::encode(&h, &claims, &key1).unwrap();
        assert_eq!(v.verify(&early, now()).await.unwrap_err(), TokenError::Invalid("ImmatureSignature".into()));
        v.verify(&early, now() + chrono::Duration::seconds(55)).await.unwrap();
    }

    /// The JWKS is fetched over HTTP, cached, and fetched again when a token names a key
    /// the cached set lacks (key rotation).
    #[tokio::test]
    async fn jwks_from_a_url_is_cached_and_refreshed_on_rotation() {
        let (jwk1, key1) = es256("k1");
        let (jwk2, key2) = es256("k2");
        let served = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [jwk1]})));
        let (cfg, fetches) = jwks_server(served.clone()).await;
        let v = TokenVerifier::new(cfg).await.unwrap();
        let cw = v.verify(&token(&key1, "k1"), now()).await.unwrap();
        assert_eq!(cw.id, "cw-1");
        assert_eq!(cw.unit.as_str(), "kk.jobcenter");
        assert_eq!(cw.roles.len(), 2);
        v.verify(&token(&key1, "k1"), now()).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "the key set is cached");
        // The issuer rotates to k2.
        *served.lock().unwrap() = serde_json::json!({"keys": [jwk2]});
        v.verify(&token(&key2, "k2"), now()).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // A token signed with k1 but claiming k2 fails the signature check.
        assert!(matches!(v.verify(&token(&key1, "k2"), now()).await, Err(TokenError::Invalid(_))));
        // An unknown kid does not hammer the issuer: refreshes are rate-limited.
        assert_eq!(v.verify(&token(&key1, "k9"), now()).await.unwrap_err(), TokenError::UnknownKey);
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    /// A verified token is remembered only while its key set is current: once the issuer
    /// stops publishing its key (and the set is fetched again), the same token is refused.
    #[tokio::test]
    async fn a_remembered_token_is_forgotten_when_its_key_is_withdrawn() {
        let (jwk1, key1) = es256("k1");
        let (jwk2, key2) = es256("k2");
        let served = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [jwk1]})));
        let (cfg, _) = jwks_server(served.clone()).await;
        let v = TokenVerifier::new(cfg).await.unwrap();
        let old = token(&key1, "k1");
        v.verify(&old, now()).await.unwrap();
        v.verify(&old, now()).await.unwrap();
        assert_eq!(v.verified.len(), 1, "verified once, remembered once");
        *served.lock().unwrap() = serde_json::json!({"keys": [jwk2]});
        v.verify(&token(&key2, "k2"), now()).await.unwrap(); // an unknown kid: the set is fetched again
        assert_eq!(v.verify(&old, now()).await.unwrap_err(), TokenError::UnknownKey);
    }

    /// A remembered token lasts until its `exp` plus the leeway, and no longer.
    #[tokio::test]
    async fn a_remembered_token_expires() {
        let (jwk1, _) = es256("k1");
        let served = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [jwk1]})));
        let (cfg, _) = jwks_server(served).await;
        let v = TokenVerifier::new(cfg).await.unwrap();
        let caseworker = Caseworker { id: "cw".into(), unit: UnitId::parse("kk").unwrap(), roles: BTreeSet::new() };
        let at = now();
        let now = at.timestamp();
        v.remember(
            [1; 32],
            Verified { caseworker: caseworker.clone(), bound_to: None, until: now + 60, generation: 1 },
        );
        v.remember([2; 32], Verified { caseworker: caseworker.clone(), bound_to: None, until: now - 1, generation: 1 });
        assert_eq!(v.remembered(&[1; 32], 1, at), Some((caseworker, None)));
        assert_eq!(v.remembered(&[1; 32], 2, at), None, "another key set");
        assert_eq!(v.remembered(&[2; 32], 1, at), None, "expired");
        assert_eq!(v.verified.len(), 0, "both forgotten");
    }

    /// Full, the token cache evicts cold tokens a few at a time: after three times its
    /// capacity of one-off tokens it still holds nearly its capacity, and the token in use
    /// all along was never forgotten (the old cache emptied itself when full).
    #[tokio::test]
    async fn a_full_token_cache_keeps_the_tokens_in_use() {
        let (jwk1, _) = es256("k1");
        let served = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [jwk1]})));
        let (cfg, _) = jwks_server(served).await;
        let v = TokenVerifier::new(cfg).await.unwrap();
        let caseworker = Caseworker { id: "cw".into(), unit: UnitId::parse("kk").unwrap(), roles: BTreeSet::new() };
        let at = now();
        let verified =
            Verified { caseworker: caseworker.clone(), bound_to: None, until: at.timestamp() + 60, generation: 1 };
        let hot = [0xff; 32];
        v.remember(hot, verified.clone());
        for i in 0..3 * VERIFIED_CAPACITY as u64 {
            let mut digest = [0; 32];
            digest[..8].copy_from_slice(&i.to_be_bytes());
            v.remember(digest, verified.clone());
            if i % 16 == 0 {
                assert!(v.remembered(&hot, 1, at).is_some(), "the token in use was forgotten after {i} others");
            }
            assert!(v.verified.len() <= VERIFIED_CAPACITY + VERIFIED_CAPACITY / 10);
        }
        let held = v.verified.len();
        assert!(held >= VERIFIED_CAPACITY * 9 / 10, "only {held} of {VERIFIED_CAPACITY} held");
        let mut last = [0; 32];
        last[..8].copy_from_slice(&(3 * VERIFIED_CAPACITY as u64 - 1).to_be_bytes());
        assert!(v.remembered(&last, 1, at).is_some(), "the newest token is remembered");
    }

    fn bound_token(key: &EncodingKey, cnf: Option<Value>) -> String {
        let now = now().timestamp();
        let mut claims = serde_json::json!({"iss": "https://idp", "aud": "gw", "sub": "cw-1", "unit": "kk.jobcenter",
            "roles": "jobcenter-caseworker", "exp": now + 60});
        if let Some(cnf) = cnf {
            claims["cnf"] = cnf;
        }
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("k1".into());
        jsonwebtoken::encode(&h, &claims, key).unwrap()
    }

    /// RFC 8705: a token bound to one certificate is refused with another, every time (also
    /// once it is remembered); unbound tokens pass unless binding is required.
    #[tokio::test]
    async fn a_certificate_bound_token_is_accepted_only_with_its_certificate() {
        let (jwk1, key1) = es256("k1");
        let served = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [jwk1]})));
        let (cfg, _) = jwks_server(served).await;
        let v = TokenVerifier::new(cfg.clone()).await.unwrap();
        let (mine, other) = (hex::encode([7u8; 32]), hex::encode([8u8; 32]));
        let bound = bound_token(&key1, Some(serde_json::json!({"x5t#S256": x5t_s256(&mine).unwrap()})));
        assert_eq!(v.verify_presented(&bound, &mine, now()).await.unwrap().id, "cw-1");
        assert_eq!(v.verify_presented(&bound, &other, now()).await.unwrap_err(), TokenError::WrongCertificate);
        assert_eq!(v.verify_presented(&bound, &mine, now()).await.unwrap().id, "cw-1");
        let malformed = bound_token(&key1, Some(serde_json::json!({"jkt": "x"})));
        assert!(matches!(v.verify_presented(&malformed, &mine, now()).await, Err(TokenError::Claim(_))));
        let unbound = bound_token(&key1, None);
        assert!(v.verify_presented(&unbound, &other, now()).await.is_ok());
        let strict = TokenVerifier::new(IssuerSettings { require_certificate_binding: true, ..cfg }).await.unwrap();
        assert_eq!(strict.verify_presented(&unbound, &other, now()).await.unwrap_err(), TokenError::Unbound);
        assert!(strict.verify_presented(&bound, &mine, now()).await.is_ok());
    }

    /// A token whose own JSON holds a CPR number is refused without quoting it.
    #[tokio::test]
    async fn a_refusal_does_not_quote_the_token() {
        let (jwk1, _) = es256("k1");
        let served = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [jwk1]})));
        let (cfg, _) = jwks_server(served).await;
        let v = TokenVerifier::new(cfg).await.unwrap();
        for header in [
            r#"{"alg":"0104609903"}"#,
            r#"{"alg":"ES256","kid":0104609903}"#,
            r#"{"alg":"ES256","kid":"k1","x":[0104609903]}"#,
        ] {
            let token = format!("{}.{}.{}", B64.encode(header), B64.encode("{}"), B64.encode("sig"));
            let e = v.verify_presented(&token, &hex::encode([7u8; 32]), now()).await.unwrap_err();
            assert!(!e.to_string().contains("4609903"), "{e}");
        }
    }

    #[test]
    fn hmac_and_encryption_keys_are_ignored() {
        let jwks = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"h"},
            {"kty":"EC","crv":"P-256","kid":"e","use":"enc",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"EC","crv":"P-256","kid":"s",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}"#;
        let keys = parse_jwks(jwks).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("s"));
        assert_eq!(keys[0].alg, Algorithm::ES256);
    }
}
