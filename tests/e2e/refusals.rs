//! Every bad input and every bad credential: an RFC 9457 problem with a stable type (or a
//! refused TLS handshake), an `x-request-id`, nothing released, and an audit record for
//! each refusal of an authenticated caller.

use consent::audit::AuditKind;
use gateway::dev::DevIssuer;
use rustls::AlertDescription;
use serde_json::{Value, json};

use crate::support::{self, CATEGORIES, Env, PURPOSE, REHAB_UNIT, case_file_body, token_ttl, tokens};

async fn problem(resp: reqwest::Response) -> (u16, String, Value) {
    let status = resp.status().as_u16();
    assert!(resp.headers().contains_key("x-request-id"), "no x-request-id");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(ct, "application/problem+json", "status {status}");
    let body: Value = resp.json().await.unwrap();
    let ty = body["type"].as_str().unwrap().strip_prefix("https://sammen.dk/problems/").unwrap().to_string();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    (status, ty, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_and_credentials_are_refused() {
    let env = Env::new(5_000);
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let mut gw = env.start_gateway();
    let kk = env.kk();
    let token = env.rehab_token();
    let url = gw.url("/api/v1/case-files");
    let send =
        |client: &reqwest::Client, token: &str, body: Value| client.post(&url).bearer_auth(token).json(&body).send();

    // Bad input from an authenticated caller.
    let mut body = case_file_body(&citizen, &CATEGORIES);
    body["citizen"] = json!("3102901234");
    assert_eq!(problem(send(&kk, &token, body).await.unwrap()).await.1, "invalid-cpr");
    let mut body = case_file_body(&citizen, &CATEGORIES);
    body["citizen"] = json!("12345");
    let (s, ty, b) = problem(send(&kk, &token, body).await.unwrap()).await;
    assert_eq!((s, ty.as_str()), (422, "invalid-cpr"));
    assert!(!b.to_string().contains(citizen.expose()));
    let mut body = case_file_body(&citizen, &CATEGORIES);
    body["purpose"] = json!("marketing");
    assert_eq!(problem(send(&kk, &token, body).await.unwrap()).await.1, "unknown-purpose");
    let body = case_file_body(&citizen, &["health.lae265", "tax.returns"]);
    assert_eq!(problem(send(&kk, &token, body).await.unwrap()).await.1, "unknown-category");
    let body = case_file_body(&citizen, &[]);
    assert_eq!(problem(send(&kk, &token, body).await.unwrap()).await.1, "invalid-request");
    let mut body = case_file_body(&citizen, &CATEGORIES);
    body["purpose"] = json!("flexjob-assessment");
    let (s, ty, _) = problem(send(&kk, &token, body).await.unwrap()).await;
    assert_eq!((s, ty.as_str()), (403, "purpose-not-allowed"));
    let malformed = kk
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"citizen\": \"{}\", \"purpose\": ", citizen.expose()))
        .send()
        .await
        .unwrap();
    let (s, ty, _) = problem(malformed).await;
    assert_eq!((s, ty.as_str()), (400, "malformed-json"));
    let mut body = case_file_body(&citizen, &CATEGORIES);
    body["unexpected"] = json!(true);
    assert_eq!(problem(send(&kk, &token, body).await.unwrap()).await.1, "malformed-json");
    let mut big = case_file_body(&citizen, &CATEGORIES);
    big["case_reference"] = json!("x".repeat(70 * 1024));
    let (s, ty, _) = problem(send(&kk, &token, big).await.unwrap()).await;
    assert_eq!((s, ty.as_str()), (413, "body-too-large"));
    let text = kk.post(&url).bearer_auth(&token).body("citizen=1").send().await.unwrap();
    assert_eq!(problem(text).await.1, "unsupported-media-type");

    // A caseworker outside the system's organisation (the Aarhus system, a København unit).
    let aarhus = env.client(Some(&env.pki.aarhus_system));
    let mut body = case_file_body(&citizen, &CATEGORIES);
    body["purpose"] = json!("flexjob-assessment");
    let (s, ty, _) = problem(send(&aarhus, &token, body).await.unwrap()).await;
    assert_eq!((s, ty.as_str()), (403, "unit-outside-organisation"));

    // Certificates.
    let unregistered = env.client(Some(&env.pki.unregistered));
    let (s, ty, _) = problem(send(&unregistered, &token, case_file_body(&citizen, &CATEGORIES)).await.unwrap()).await;
    assert_eq!((s, ty.as_str()), (403, "unknown-client-certificate"));
    let none = env.client(None);
    assert!(send(&none, &token, case_file_body(&citizen, &CATEGORIES)).await.is_err(), "no client certificate");
    let rogue = env.client(Some(&env.pki.rogue));
    assert!(send(&rogue, &token, case_file_body(&citizen, &CATEGORIES)).await.is_err(), "untrusted client CA");
    // Refused for the right reason: the handshake's alert says which. (Every development CA
    // has the same name, so a foreign certificate's chain leads to the trusted CA by name and
    // its signature does not verify: decrypt_error, RFC 8446 §6.2.)
    let ca = &env.pki.dev.ca_cert;
    assert_eq!(support::tls::alert(gw.addr, ca, None).await, AlertDescription::CertificateRequired);
    assert_eq!(support::tls::alert(gw.addr, ca, Some(&env.pki.rogue)).await, AlertDescription::DecryptError);

    // Tokens.
    let claims = env.issuer.claims(tokens::AUDIENCE, "cw-anna", REHAB_UNIT, &["rehab-team-member"], token_ttl());
    let untrusted = DevIssuer::with_kid(support::ISSUER, Some("kk-idp-1")).unwrap(); // same name and kid, another key
    let other_issuer = DevIssuer::with_kid("https://idp.evil.test", Some("evil-1")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 3600);
    expired["nbf"] = json!(now - 7200);
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("another-service");
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!("https://idp.evil.test");
    let mut no_unit = claims.clone();
    no_unit.as_object_mut().unwrap().remove("unit");
    let mut future = claims.clone();
    future["nbf"] = json!(now + 3600);
    let bad_tokens = [
        ("untrusted key", untrusted.mint_claims(&claims)),
        (
            "untrusted issuer",
            other_issuer.mint(tokens::AUDIENCE, "cw-anna", REHAB_UNIT, &["rehab-team-member"], token_ttl()),
        ),
        ("expired", env.issuer.mint_claims(&expired)),
        ("wrong audience", env.issuer.mint_claims(&wrong_aud)),
        ("wrong issuer", env.issuer.mint_claims(&wrong_iss)),
        ("not yet valid", env.issuer.mint_claims(&future)),
        ("no unit claim", env.issuer.mint_claims(&no_unit)),
        ("alg none", tokens::unsigned(&claims)),
        (
            "HS256 with the JWKS as secret",
            tokens::hmac_confusion(&claims, env.issuer.jwks().to_string().as_bytes(), "kk-idp-1"),
        ),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, t) in &bad_tokens {
        let resp = send(&kk, t, case_file_body(&citizen, &CATEGORIES)).await.unwrap();
        assert_eq!(resp.headers()["www-authenticate"], "Bearer error=\"invalid_token\"", "{what}");
        let (s, ty, _) = problem(resp).await;
        assert_eq!((s, ty.as_str()), (401, "invalid-token"), "{what}");
    }
    let no_token = kk.post(&url).json(&case_file_body(&citizen, &CATEGORIES)).send().await.unwrap();
    assert_eq!(problem(no_token).await.1, "invalid-token");

    // Other routes and methods.
    let (s, ty, _) = problem(kk.get(gw.url("/api/v1/citizens/0101901234")).send().await.unwrap()).await;
    assert_eq!((s, ty.as_str()), (404, "not-found"));
    let (s, ty, _) = problem(kk.get(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, ty.as_str()), (405, "method-not-allowed"));
    let consent_req = json!({
        "citizen": citizen.expose(), "purpose": PURPOSE, "categories": ["health.lae265"],
        "period": {"until": "2000-01-01T00:00:00Z"}, "explanation": "x"
    });
    let resp = kk.post(gw.url("/api/v1/consent-requests")).bearer_auth(&token).json(&consent_req).send().await.unwrap();
    assert_eq!(problem(resp).await.1, "invalid-request");

    // The OpenAPI document lists every route.
    let doc: Value = kk.get(gw.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/api/v1/case-files", "post"),
        ("/api/v1/consent-requests", "post"),
        ("/api/v1/consent-requests/{id}", "get"),
        ("/api/v1/consents/search", "post"),
        ("/api/v1/openapi.json", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from the OpenAPI document");
    }

    // A connection that never starts its TLS handshake is dropped after the handshake
    // timeout (3 s in this configuration), without holding anything else up.
    let mut idle = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        use tokio::io::AsyncReadExt;
        idle.read(&mut buf).await
    })
    .await
    .expect("the server closes a connection whose handshake does not finish");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // A valid request still works after all that.
    let ok = send(&kk, &token, case_file_body(&citizen, &CATEGORIES)).await.unwrap();
    assert_eq!(ok.status(), 200);

    gw.terminate();
    let log = std::fs::read_to_string(&gw.log).unwrap();
    assert!(!log.contains(citizen.expose()), "a CPR number in the log");
    assert!(!log.contains("0101901234"), "a CPR-like path in the log");
    let view = support::audit::read_after_graceful_stop(&env.data_dir).await;
    let refused: Vec<&str> = view
        .records
        .iter()
        .filter(|r| r.kind == AuditKind::RequestRefused)
        .filter_map(|r| r.detail.as_deref())
        .collect();
    for ty in [
        "invalid-cpr",
        "unknown-purpose",
        "unknown-category",
        "invalid-request",
        "purpose-not-allowed",
        "malformed-json",
        "body-too-large",
        "unsupported-media-type",
        "unit-outside-organisation",
    ] {
        assert!(refused.contains(&ty), "no refusal record for {ty}: {refused:?}");
    }
    // Only the one valid request released anything.
    let releases: Vec<_> = view.records.iter().filter(|r| r.kind == AuditKind::Release).collect();
    assert_eq!(releases.len(), CATEGORIES.len());
}
