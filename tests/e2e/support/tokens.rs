//! A test-only caseworker token issuer: ES256 with a JWKS document (the lead's
//! `gateway::dev` issuer does the same for the demo).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const AUDIENCE: &str = "sammen-gateway";

pub struct Issuer {
    pub issuer: String,
    pub kid: String,
    key: EncodingKey,
    /// The JWKS document (public key only).
    pub jwks: String,
}

impl Issuer {
    pub fn new(issuer: &str, kid: &str) -> Issuer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = pair.public_key_raw(); // 0x04 || x || y
        assert_eq!(raw.len(), 65);
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": B64.encode(&raw[1..33]), "y": B64.encode(&raw[33..]),
        }]})
        .to_string();
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        Issuer { issuer: issuer.into(), kid: kid.into(), key, jwks }
    }

    pub fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Standard claims for a caseworker, valid for 10 minutes.
    pub fn claims(&self, caseworker: &str, unit: &str, roles: &[&str]) -> Value {
        let now = Self::now();
        json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": caseworker, "unit": unit, "roles": roles,
            "iat": now, "nbf": now - 5, "exp": now + 600,
        })
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    pub fn mint(&self, caseworker: &str, unit: &str, roles: &[&str]) -> String {
        self.sign(&self.claims(caseworker, unit, roles))
    }
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", B64.encode(claims.to_string()))
}

/// An HS256 token signed with the issuer's public JWKS as the secret (the classic
/// algorithm-confusion attack).
pub fn hmac_confusion(claims: &Value, secret: &[u8], kid: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}
