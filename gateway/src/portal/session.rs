//! Server-side sessions: an opaque random cookie names a session kept in the store
//! (`consent::SessionStore`), under the SHA-256 of the cookie value, so the store never
//! holds a usable cookie. Idle and absolute timeouts; a fresh id at every login; one CSRF
//! token per session, checked on every POST. The login state (state, nonce, PKCE
//! verifier) is kept the same way under a pre-login cookie, and taken once.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use consent::{Cpr, SessionStore, SharedStore, StoreError};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::oidc::LoginState;

/// `__Host-`: the browser keeps it only when it is Secure, has `Path=/` and no `Domain`, so a
/// sibling domain cannot plant or overwrite it (RFC 6265bis, cookie prefixes).
pub const SESSION_COOKIE: &str = "__Host-sammen_session";
pub const LOGIN_COOKIE: &str = "__Host-sammen_login";
/// How long a started login may take.
pub const LOGIN_TTL_SECS: i64 = 600;

/// A logged-in citizen's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub cpr: Cpr,
    pub name: Option<String>,
    pub loa: String,
    pub csrf: String,
    pub created: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// A random, URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn key(prefix: &str, token: &str) -> String {
    format!("{prefix}:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// `Set-Cookie` for `name=value` (Secure, HttpOnly, SameSite=Lax, Path=/); `max_age` 0 clears.
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}"))
        .expect("a cookie of URL-safe characters is a header value")
}

/// The sessions, over the store.
#[derive(Clone)]
pub struct Sessions {
    store: SharedStore,
    idle: Duration,
    absolute: Duration,
}

impl Sessions {
    pub fn new(store: SharedStore, idle_secs: u64, absolute_secs: u64) -> Sessions {
        Sessions { store, idle: Duration::seconds(idle_secs as i64), absolute: Duration::seconds(absolute_secs as i64) }
    }

    pub fn absolute_secs(&self) -> i64 {
        self.absolute.num_seconds()
    }

    /// A new session for a citizen who just logged in; returns the cookie value.
    pub async fn create(
        &self,
        cpr: Cpr,
        name: Option<String>,
        loa: String,
        now: DateTime<Utc>,
    ) -> Result<(String, Session), StoreError> {
        let token = random_token();
        let s = Session { cpr, name, loa, csrf: random_token(), created: now, last_seen: now };
        self.save(&token, &s).await?;
        Ok((token, s))
    }

    async fn save(&self, token: &str, s: &Session) -> Result<(), StoreError> {
        let expires = (s.last_seen + self.idle).min(s.created + self.absolute);
        let bytes = serde_json::to_vec(s).expect("a session serializes");
        self.store.session_put(&key("s", token), &bytes, expires).await
    }

    /// The session named by the request's cookie, if it is valid now; its idle time restarts.
    pub async fn current(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Result<Option<Session>, StoreError> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
        let Some(bytes) = self.store.session_get(&key("s", &token), now).await? else { return Ok(None) };
        let Ok(mut s) = serde_json::from_slice::<Session>(&bytes) else { return Ok(None) };
        if now >= s.created + self.absolute || now >= s.last_seen + self.idle {
            self.store.session_take(&key("s", &token), now).await?;
            return Ok(None);
        }
        // Touch at most once a minute: fewer writes, same timeouts to the minute.
        if now - s.last_seen >= Duration::minutes(1) {
            s.last_seen = now;
            self.save(&token, &s).await?;
        }
        Ok(Some(s))
    }

    /// Ends the request's session (if any).
    pub async fn destroy(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Result<Option<Session>, StoreError> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
        let taken = self.store.session_take(&key("s", &token), now).await?;
        Ok(taken.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Keeps a login state under a new pre-login cookie; returns the cookie value.
    pub async fn begin_login(&self, login: &LoginState, now: DateTime<Utc>) -> Result<String, StoreError> {
        let token = random_token();
        let bytes = serde_json::to_vec(login).expect("a login state serializes");
        self.store.session_put(&key("l", &token), &bytes, now + Duration::seconds(LOGIN_TTL_SECS)).await?;
        Ok(token)
    }

    /// Takes (once) the login state named by the request's pre-login cookie.
    pub async fn take_login(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Result<Option<LoginState>, StoreError> {
        let Some(token) = cookie(headers, LOGIN_COOKIE) else { return Ok(None) };
        let taken = self.store.session_take(&key("l", &token), now).await?;
        Ok(taken.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Removes expired sessions and login states.
    pub async fn purge(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.store.session_purge(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[tokio::test]
    async fn sessions_time_out_idle_and_absolute() {
        let s = Sessions::new(consent::store::open_temporary().unwrap(), 900, 8 * 3600);
        let cpr = Cpr::parse("0101909901").unwrap();
        let t0: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let (tok, sess) = s.create(cpr, None, "x".into(), t0).await.unwrap();
        let h = headers(&format!("other=1; {SESSION_COOKIE}={tok}"));
        assert_eq!(s.current(&h, t0).await.unwrap().unwrap().csrf, sess.csrf);
        // Used every 10 minutes it lives on ...
        let mut t = t0;
        for _ in 0..6 {
            t += Duration::minutes(10);
            assert!(s.current(&h, t).await.unwrap().is_some(), "at {t}");
        }
        // ... until 8 hours after login, used or not.
        while t < t0 + Duration::hours(8) - Duration::minutes(10) {
            t += Duration::minutes(10);
            assert!(s.current(&h, t).await.unwrap().is_some());
        }
        assert!(s.current(&h, t0 + Duration::hours(8)).await.unwrap().is_none());
        // Idle for 15 minutes: gone.
        let (tok, _) = s.create(cpr, None, "x".into(), t0).await.unwrap();
        let h = headers(&format!("{SESSION_COOKIE}={tok}"));
        assert!(s.current(&h, t0 + Duration::minutes(15)).await.unwrap().is_none());
        // An unknown or forged cookie: nothing.
        assert!(s.current(&headers(&format!("{SESSION_COOKIE}=forged")), t0).await.unwrap().is_none());
        assert!(s.current(&HeaderMap::new(), t0).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_login_state_is_taken_once() {
        let s = Sessions::new(consent::store::open_temporary().unwrap(), 900, 3600);
        let now: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let login = LoginState { state: "s".into(), nonce: "n".into(), pkce_verifier: "v".into() };
        let tok = s.begin_login(&login, now).await.unwrap();
        let h = headers(&format!("{LOGIN_COOKIE}={tok}"));
        assert_eq!(s.take_login(&h, now).await.unwrap().unwrap().nonce, "n");
        assert!(s.take_login(&h, now).await.unwrap().is_none());
        let tok = s.begin_login(&login, now).await.unwrap();
        let h = headers(&format!("{LOGIN_COOKIE}={tok}"));
        assert!(s.take_login(&h, now + Duration::seconds(LOGIN_TTL_SECS)).await.unwrap().is_none(), "expired");
    }

    #[test]
    fn cookies_are_secure_and_compared_in_constant_time() {
        let c = set_cookie(SESSION_COOKIE, "abc", 60);
        let c = c.to_str().unwrap();
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(c.contains(attr), "{c}");
        }
        // The `__Host-` prefix, and what it requires of the cookie.
        for name in [SESSION_COOKIE, LOGIN_COOKIE] {
            let c = set_cookie(name, "abc", 60);
            let c = c.to_str().unwrap();
            assert!(c.starts_with("__Host-") && c.contains("; Secure") && c.contains("; Path=/;"), "{c}");
            assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
        }
    }
}
