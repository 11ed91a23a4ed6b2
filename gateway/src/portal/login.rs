//! Logging in and out: `/login` sends the citizen to the broker, `/auth/callback` checks
//! the answer and starts a fresh session, `/logout` ends it (and the broker's session when
//! the broker offers RP-initiated logout).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use serde::Deserialize;

use super::oidc::LoginError;
use super::session::{LOGIN_COOKIE, LOGIN_TTL_SECS, SESSION_COOKIE, set_cookie};
use super::{FormData, PortalState, failure, page, require_form_session};

const LOGIN_AGAIN: (&str, &str) = ("/login", "Log ind med MitID");

fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "MitID er ikke tilgængelig lige nu",
        &[
            "Vi kan ikke få forbindelse til MitID i øjeblikket, så du kan ikke logge ind.",
            "Prøv igen om lidt. Dine samtykker er ikke ændret.",
        ],
        &[("/", "Til forsiden")],
        None,
    )
}

/// `GET /login`: to the broker, with state, nonce and PKCE kept server-side.
pub async fn login(
    State(state): State<PortalState>,
    client: Option<axum::Extension<crate::http::limits::ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    if let Some(axum::Extension(addr)) = client
        && let Err(wait) = state.login_rate.check(addr.0, tokio::time::Instant::now())
    {
        metrics::counter!("sammen_portal_logins_limited_total").increment(1);
        let mut r = page(
            StatusCode::TOO_MANY_REQUESTS,
            "For mange forsøg på at logge ind",
            &["Der er startet mange log ind fra din forbindelse på kort tid. Vent et minut, og prøv igen."],
            &[("/", "Til forsiden")],
            None,
        );
        r.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from(wait.as_secs().max(1)));
        return r;
    }
    let now = state.clock.now();
    if let Ok(Some(_)) = state.sessions.current(&headers, now).await {
        return Redirect::to("/").into_response();
    }
    let (url, login) = match state.oidc.begin().await {
        Ok(x) => x,
        Err(_) => return unavailable(),
    };
    let token = match state.sessions.begin_login(&login, now).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "the session store failed");
            return failure(None);
        }
    };
    let mut r = Redirect::to(&url).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &token, LOGIN_TTL_SECS));
    r
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

fn refused(status: StatusCode, heading: &str, text: &[&str]) -> Response {
    let mut r = page(status, heading, text, &[LOGIN_AGAIN], None);
    r.headers_mut().append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0));
    r
}

/// `GET /auth/callback`: the broker's answer.
pub async fn callback(State(state): State<PortalState>, headers: HeaderMap, Query(q): Query<Callback>) -> Response {
    let now = state.clock.now();
    // The login state is taken (used up) whatever happens next.
    let login = match state.sessions.take_login(&headers, now).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            tracing::info!("login callback without a valid login state (replayed, expired or forged)");
            return refused(
                StatusCode::BAD_REQUEST,
                "Login-forsøget er ikke gyldigt",
                &["Login-forsøget er udløbet eller allerede brugt. Start forfra og log ind igen."],
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "the session store failed");
            return failure(None);
        }
    };
    if let Some(err) = q.error {
        tracing::info!(error = %err, "the provider ended the login with an error");
        return refused(
            StatusCode::BAD_REQUEST,
            "Du blev ikke logget ind",
            &["Login med MitID blev afbrudt eller afvist. Du kan prøve igen."],
        );
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Login-forsøget er ikke gyldigt",
            &["Svaret fra MitID var ufuldstændigt."],
        );
    };
    let identity = match state.oidc.finish(&code, &st, q.iss.as_deref(), login).await {
        Ok(i) => i,
        Err(e) => {
            tracing::info!(refusal = %e, "login refused");
            return match e {
                LoginError::Unavailable(_) => unavailable(),
                LoginError::LowAssurance(_) => refused(
                    StatusCode::FORBIDDEN,
                    "Du skal bruge et højere sikringsniveau",
                    &[
                        "Du loggede ind med MitID på sikringsniveau lavt. For at se og ændre samtykker skal du \
                         logge ind på sikringsniveau betydeligt eller højt.",
                        "Det betyder for eksempel, at du skal bruge MitID-appen eller en kodeviser i stedet for kun \
                         brugernavn.",
                    ],
                ),
                LoginError::NotPrivate(_) => refused(
                    StatusCode::FORBIDDEN,
                    "Log ind med dit private MitID",
                    &["Du loggede ind med et MitID til erhverv. Her skal du bruge dit private MitID."],
                ),
                LoginError::NoCpr => refused(
                    StatusCode::FORBIDDEN,
                    "Vi kunne ikke se, hvem du er",
                    &["MitID sendte ikke dit CPR-nummer, så vi kan ikke vise dine samtykker."],
                ),
                LoginError::StateMismatch
                | LoginError::NoLoginState
                | LoginError::Provider(_)
                | LoginError::CodeExchange(_)
                | LoginError::IdToken(_) => refused(
                    StatusCode::BAD_REQUEST,
                    "Vi kunne ikke bekræfte dit login",
                    &["Svaret fra MitID kunne ikke godkendes. Du er ikke logget ind. Start forfra og log ind igen."],
                ),
            };
        }
    };
    // A fresh session id at every login; an earlier session of this browser ends.
    if let Err(e) = state.sessions.destroy(&headers, now).await {
        tracing::error!(error = %e, "the session store failed");
        return failure(None);
    }
    let (token, _) = match state.sessions.create(identity.cpr, identity.name, identity.loa, now).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "the session store failed");
            return failure(None);
        }
    };
    tracing::info!("a citizen logged in to the portal");
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &token, state.sessions.absolute_secs()));
    r.headers_mut().append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0));
    r
}

/// `POST /logout`: ends the session here, then at the broker when it can.
pub async fn logout(State(state): State<PortalState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let form = FormData::parse(&body);
    let session = match require_form_session(&state, &headers, &form, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = state.sessions.destroy(&headers, now).await {
        tracing::error!(error = %e, "the session store failed");
        return failure(Some(&session));
    }
    let target = state.oidc.logout_url(&format!("{}/", state.public_url)).await.unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(&target).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    r
}
