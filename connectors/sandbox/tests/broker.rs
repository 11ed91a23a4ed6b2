//! The sandbox MitID broker over HTTP: discovery, the login form, the token endpoint's
//! checks (client secret, redirect URI, PKCE, one use per code), logout, and the admin
//! endpoint's test modes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sandbox::broker::{BrokerClient, LOA_HIGH};
use serde_json::Value;
use sha2::{Digest, Sha256};

const REDIRECT: &str = "https://localhost:1/auth/callback";

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The authorise form's `auth` field, then the login; returns the code.
async fn code(c: &reqwest::Client, base: &str, challenge: &str, loa: &str) -> String {
    let page = c
        .get(format!("{base}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "portal"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid ssn"),
            ("state", "st"),
            ("nonce", "no"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let auth = page.split("name=\"auth\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = c
        .post(format!("{base}/authorize"))
        .form(&[("auth", auth.as_str()), ("citizen", "3"), ("loa", loa)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let back = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT));
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st");
    assert_eq!(q["iss"], base);
    // The authorise request was one use too.
    let again = c.post(format!("{base}/authorize")).form(&[("auth", auth.as_str()), ("citizen", "3")]).send().await;
    assert_eq!(again.unwrap().status(), 400);
    q["code"].clone()
}

async fn token(c: &reqwest::Client, base: &str, code: &str, verifier: &str, secret: &str) -> (u16, Value) {
    let r = c
        .post(format!("{base}/token"))
        .basic_auth("portal", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn claims(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_broker_checks_clients_pkce_and_codes_and_its_modes_are_set_over_admin() {
    let sb = sandbox::Sandbox::start(sandbox::SandboxConfig::default()).await.unwrap();
    let base = sb.broker_url();
    let c = http();
    let admin = sb.admin_url();
    let client = BrokerClient {
        client_id: "portal".into(),
        client_secret: "s3cret".into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec!["https://localhost:1/".into()],
    };
    let r = c.put(format!("{admin}/admin/broker/clients/portal")).json(&client).send().await.unwrap();
    assert_eq!(r.status(), 204);

    let meta: Value =
        c.get(format!("{base}/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["issuer"], base.as_str());
    assert_eq!(meta["end_session_endpoint"], format!("{base}/end_session"));
    let jwks: Value = c.get(format!("{base}/jwks")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "ES256");

    // The form lists citizens by name: never a CPR number.
    let verifier = "a-verifier-of-enough-length-0123456789-abcdefghij";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let code1 = code(&c, &base, &challenge, "high").await;

    // A wrong secret is refused; a wrong verifier too, and it spends the code.
    assert_eq!(token(&c, &base, &code1, verifier, "wrong").await.0, 401);
    let code2 = code(&c, &base, &challenge, "high").await;
    assert_eq!(token(&c, &base, &code2, "another-verifier", "s3cret").await.0, 400);
    assert_eq!(token(&c, &base, &code2, verifier, "s3cret").await.0, 400, "a code is used once");

    // The right request: an ID token with the broker's claims.
    let code3 = code(&c, &base, &challenge, "high").await;
    let (status, body) = token(&c, &base, &code3, verifier, "s3cret").await;
    assert_eq!(status, 200, "{body}");
    let cl = claims(body["id_token"].as_str().unwrap());
    assert_eq!(cl["iss"], base.as_str());
    assert_eq!(cl["aud"], "portal");
    assert_eq!(cl["nonce"], "no");
    assert_eq!(cl["loa"], LOA_HIGH);
    assert_eq!(cl["identity_type"], "private");
    assert!(cl["dk.cpr"] == sandbox::citizens::cpr_of(3).expose(), "the CPR claim (not printed)");
    assert_eq!(token(&c, &base, &code3, verifier, "s3cret").await.0, 400, "replayed code");

    // A mode set over the admin port changes the next token.
    let r = c.put(format!("{admin}/admin/broker/mode")).json(&serde_json::json!({"mode": "wrong_nonce"})).send().await;
    assert_eq!(r.unwrap().status(), 204);
    let code4 = code(&c, &base, &challenge, "substantial").await;
    let (_, body) = token(&c, &base, &code4, verifier, "s3cret").await;
    assert_ne!(claims(body["id_token"].as_str().unwrap())["nonce"], "no");
    let mode: Value = c.get(format!("{admin}/admin/broker/mode")).send().await.unwrap().json().await.unwrap();
    assert_eq!(mode["mode"], "wrong_nonce");

    // An unregistered redirect URI or no PKCE: the form is not even shown.
    for q in [
        vec![("redirect_uri", "https://evil.invalid/cb"), ("code_challenge", "x"), ("code_challenge_method", "S256")],
        vec![("redirect_uri", REDIRECT)],
    ] {
        let mut all = vec![("response_type", "code"), ("client_id", "portal"), ("scope", "openid")];
        all.extend(q);
        let r = c.get(format!("{base}/authorize")).query(&all).send().await.unwrap();
        assert_eq!(r.status(), 400);
    }

    // Logout: back to a registered address only.
    let r = c
        .get(format!("{base}/end_session"))
        .query(&[("client_id", "portal"), ("post_logout_redirect_uri", "https://localhost:1/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(format!("{base}/end_session"))
        .query(&[("client_id", "portal"), ("post_logout_redirect_uri", "https://evil.invalid/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an unregistered address gets the logged-out page instead");
}
