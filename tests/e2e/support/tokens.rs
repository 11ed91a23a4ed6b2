//! Hostile tokens for the refusal tests (valid ones come from `gateway::dev::DevIssuer`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

pub const AUDIENCE: &str = "sammen-gateway";

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
