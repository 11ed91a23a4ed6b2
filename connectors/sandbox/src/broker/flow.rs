//! The broker's endpoints: discovery, JWKS, authorise (form and login), token, logout.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Broker, BrokerMode, Grant, LOA_HIGH, LOA_LOW, LOA_SUBSTANTIAL, Pending, page, random_token};
use crate::citizens;

/// How long a code may wait before it is exchanged.
const CODE_TTL: Duration = Duration::from_secs(120);

pub(super) async fn discovery(State(b): State<Broker>) -> Json<Value> {
    let iss = b.issuer();
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "end_session_endpoint": format!("{iss}/end_session"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "mitid", "ssn"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "dk.cpr", "loa", "identity_type", "mitid.uuid", "name"],
    }))
}

pub(super) async fn jwks(State(b): State<Broker>) -> Json<Value> {
    Json(json!({ "keys": [b.0.key.jwk()] }))
}

fn bad(status: StatusCode, message: &str) -> Response {
    (status, Html(page::error(message))).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

pub(super) async fn authorize(State(b): State<Broker>, Query(q): Query<AuthorizeQuery>) -> Response {
    let Some(client) = q.client_id.as_deref().and_then(|id| b.client(id)) else {
        return bad(StatusCode::BAD_REQUEST, "Ukendt klient (client_id).");
    };
    let Some(redirect_uri) = q.redirect_uri.filter(|r| client.redirect_uris.contains(r)) else {
        return bad(StatusCode::BAD_REQUEST, "redirect_uri er ikke registreret for klienten.");
    };
    if q.response_type.as_deref() != Some("code") {
        return bad(StatusCode::BAD_REQUEST, "Kun response_type=code understøttes.");
    }
    if !q.scope.as_deref().unwrap_or("").split(' ').any(|s| s == "openid") {
        return bad(StatusCode::BAD_REQUEST, "scope skal indeholde openid.");
    }
    let (Some(challenge), Some("S256")) = (q.code_challenge, q.code_challenge_method.as_deref()) else {
        return bad(StatusCode::BAD_REQUEST, "PKCE med S256 er påkrævet.");
    };
    let auth = random_token();
    let pending = Pending {
        client_id: client.client_id.clone(),
        redirect_uri,
        state: q.state,
        nonce: q.nonce,
        code_challenge: challenge,
    };
    {
        let mut all = b.0.pending.lock().expect("not poisoned");
        if all.len() > 10_000 {
            all.clear();
        }
        all.insert(auth.clone(), pending);
    }
    Html(page::login(&auth, &client.client_id)).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    auth: String,
    citizen: String,
    loa: Option<String>,
}

pub(super) async fn login(State(b): State<Broker>, axum::Form(f): axum::Form<LoginForm>) -> Response {
    let Some(pending) = b.0.pending.lock().expect("not poisoned").remove(&f.auth) else {
        return bad(StatusCode::BAD_REQUEST, "Login-forespørgslen er ukendt eller allerede brugt. Start forfra.");
    };
    let Some(citizen) = f.citizen.parse::<usize>().ok().filter(|i| *i < citizens().len()) else {
        return bad(StatusCode::BAD_REQUEST, "Vælg en borger på listen.");
    };
    let loa = match f.loa.as_deref().unwrap_or("substantial") {
        "low" => LOA_LOW,
        "substantial" => LOA_SUBSTANTIAL,
        "high" => LOA_HIGH,
        _ => return bad(StatusCode::BAD_REQUEST, "Ukendt sikringsniveau."),
    };
    let code = random_token();
    let mut target = match url::Url::parse(&pending.redirect_uri) {
        Ok(u) => u,
        Err(_) => return bad(StatusCode::BAD_REQUEST, "Ugyldig redirect_uri."),
    };
    {
        let mut q = target.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(s) = &pending.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", b.issuer());
    }
    {
        let mut codes = b.0.codes.lock().expect("not poisoned");
        codes.retain(|_, g| g.issued.elapsed() < CODE_TTL);
        codes.insert(code, Grant { pending, citizen, loa, issued: Instant::now() });
    }
    Redirect::to(target.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

/// The client's id and secret from HTTP Basic (form-urlencoded parts) or the form.
fn client_credentials(headers: &HeaderMap, f: &TokenForm) -> Option<(String, String)> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(b64) = v.strip_prefix("Basic ")
    {
        let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let dec =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        return Some((dec(id)?, dec(secret)?));
    }
    Some((f.client_id.clone()?, f.client_secret.clone()?))
}

pub(super) async fn token(
    State(b): State<Broker>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    if f.grant_type != "authorization_code" {
        return token_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only authorization_code");
    }
    let Some((client_id, secret)) = client_credentials(&headers, &f) else {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication is required");
    };
    let Some(client) = b.client(&client_id).filter(|c| c.client_secret == secret) else {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret");
    };
    // One use: the code is removed whatever happens next.
    let Some(grant) = b.0.codes.lock().expect("not poisoned").remove(&f.code) else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown, expired or already used code");
    };
    if grant.issued.elapsed() >= CODE_TTL
        || grant.pending.client_id != client.client_id
        || f.redirect_uri.as_deref() != Some(grant.pending.redirect_uri.as_str())
    {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code was issued for another request");
    }
    let Some(verifier) = &f.code_verifier else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "code_verifier is required (PKCE)");
    };
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.pending.code_challenge {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "code_verifier does not match (PKCE)");
    }
    let id_token = id_token(&b, &client.client_id, &grant);
    Json(json!({
        "access_token": random_token(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

// The broker stands in for an external MitID broker, which reads its own clock.
#[allow(clippy::disallowed_methods)]
fn id_token(b: &Broker, client_id: &str, g: &Grant) -> String {
    let citizen = &citizens()[g.citizen];
    let uuid = format!("00000000-0000-4000-8000-{:012}", g.citizen);
    let now = Utc::now().timestamp();
    let mode = b.mode();
    let mut claims = json!({
        "iss": if mode == BrokerMode::WrongIssuer { "https://another-broker.invalid".to_string() } else { b.issuer().to_string() },
        "aud": if mode == BrokerMode::WrongAudience { "another-client" } else { client_id },
        "sub": uuid,
        "iat": now,
        "auth_time": now,
        "exp": if mode == BrokerMode::Expired { now - 3600 } else { now + 300 },
        "idp": "mitid",
        "dk.cpr": citizen.cpr.expose(),
        "loa": g.loa,
        "identity_type": if mode == BrokerMode::Professional { "professional" } else { "private" },
        "mitid.uuid": uuid,
        "name": citizen.name(),
    });
    match (mode, &g.pending.nonce) {
        (BrokerMode::MissingNonce, _) | (_, None) => {}
        (BrokerMode::WrongNonce, Some(_)) => claims["nonce"] = json!(random_token()),
        (_, Some(n)) => claims["nonce"] = json!(n),
    }
    if mode == BrokerMode::BadSignature { b.0.rogue_key.sign(&claims) } else { b.0.key.sign(&claims) }
}

#[derive(Debug, Deserialize)]
pub(super) struct EndSessionQuery {
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

pub(super) async fn end_session(State(b): State<Broker>, Query(q): Query<EndSessionQuery>) -> Response {
    let allowed = |uri: &str| {
        let clients = b.0.clients.read().expect("not poisoned");
        match q.client_id.as_deref() {
            Some(id) => clients.get(id).is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri)),
            None => clients.values().any(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri)),
        }
    };
    match q.post_logout_redirect_uri.as_deref() {
        Some(uri) if allowed(uri) => {
            let mut target = match url::Url::parse(uri) {
                Ok(u) => u,
                Err(_) => return Html(page::logged_out()).into_response(),
            };
            if let Some(s) = &q.state {
                target.query_pairs_mut().append_pair("state", s);
            }
            Redirect::to(target.as_str()).into_response()
        }
        _ => Html(page::logged_out()).into_response(),
    }
}
