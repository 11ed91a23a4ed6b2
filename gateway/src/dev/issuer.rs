//! A development issuer of caseworker tokens: an ES256 key, its JWKS, and `mint`.
//!
//! It stands in for a municipality's identity provider, which is not reachable here.
//! The gateway verifies its tokens exactly as it would a real issuer's: against the
//! published JWKS, with issuer, audience and expiry checked.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::KeyPair;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::DevError;

pub struct DevIssuer {
    pub issuer: String,
    pub kid: String,
    key: EncodingKey,
    jwks: Value,
}

impl DevIssuer {
    /// An issuer with a new key; its `kid` is derived from the public key.
    pub fn generate(issuer: &str) -> Result<DevIssuer, DevError> {
        DevIssuer::with_kid(issuer, None)
    }

    /// An issuer with a new key and this `kid` (`None`: derived from the public key).
    pub fn with_kid(issuer: &str, kid: Option<&str>) -> Result<DevIssuer, DevError> {
        let pair = KeyPair::generate().map_err(|e| DevError::Crypto(e.to_string()))?;
        let key =
            EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).map_err(|e| DevError::Crypto(e.to_string()))?;
        // P-256 public key, uncompressed: 0x04 || x (32) || y (32).
        let raw = pair.public_key_raw();
        if raw.len() != 65 || raw[0] != 4 {
            return Err(DevError::Crypto("unexpected P-256 public key encoding".into()));
        }
        let kid = kid.map_or_else(|| hex::encode(&Sha256::digest(raw)[..8]), str::to_string);
        let jwks = json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
        }]});
        Ok(DevIssuer { issuer: issuer.to_string(), kid, key, jwks })
    }

    /// The issuer's public keys, as a JWKS document.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    pub fn write_jwks(&self, path: &Path) -> Result<(), DevError> {
        std::fs::write(path, serde_json::to_vec_pretty(&self.jwks).expect("JSON"))
            .map_err(|e| DevError::Write { path: path.to_path_buf(), message: e.to_string() })
    }

    /// A token for `caseworker` acting in `unit` with `roles`, valid for `ttl`.
    pub fn mint(&self, audience: &str, caseworker: &str, unit: &str, roles: &[&str], ttl: Duration) -> String {
        self.mint_claims(&self.claims(audience, caseworker, unit, roles, ttl))
    }

    /// A token bound to the client certificate whose SHA-256 (hex) is `cert_sha256` (RFC 8705
    /// `cnf` `x5t#S256`): accepted only on a connection presenting that certificate.
    pub fn mint_bound(
        &self,
        audience: &str,
        caseworker: &str,
        unit: &str,
        roles: &[&str],
        ttl: Duration,
        cert_sha256: &str,
    ) -> String {
        let mut claims = self.claims(audience, caseworker, unit, roles, ttl);
        let thumbprint = crate::api::token::x5t_s256(cert_sha256).expect("a SHA-256 in hex");
        claims["cnf"] = json!({ "x5t#S256": thumbprint });
        self.mint_claims(&claims)
    }

    /// The claims `mint` signs (tests alter them for expired or foreign tokens). The issuer
    /// stands in for an external identity provider, which reads its own clock.
    #[allow(clippy::disallowed_methods)]
    pub fn claims(&self, audience: &str, caseworker: &str, unit: &str, roles: &[&str], ttl: Duration) -> Value {
        json!({
            "iss": self.issuer,
            "aud": audience,
            "sub": caseworker,
            "unit": unit,
            "roles": roles,
            "iat": Utc::now().timestamp(),
            "nbf": Utc::now().timestamp() - 5,
            "exp": (Utc::now() + ttl).timestamp(),
        })
    }

    /// A token with exactly these claims.
    pub fn mint_claims(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("ES256 signing with a generated key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn tokens_verify_against_the_published_jwks_only() {
        let issuer = DevIssuer::generate("https://idp.dev.sammen").unwrap();
        let token = issuer.mint("sammen", "cw-1", "kk.jobcenter.rehab", &["rehab-team-member"], Duration::minutes(5));
        let set: JwkSet = serde_json::from_value(issuer.jwks().clone()).unwrap();
        let key = DecodingKey::from_jwk(&set.keys[0]).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["sammen"]);
        v.set_issuer(&["https://idp.dev.sammen"]);
        let data = jsonwebtoken::decode::<Value>(&token, &key, &v).unwrap();
        assert_eq!(data.claims["unit"], "kk.jobcenter.rehab");
        assert_eq!(data.header.kid.as_deref(), Some(issuer.kid.as_str()));
        // Another issuer's key does not verify it.
        let other = DevIssuer::generate("https://idp.dev.sammen").unwrap();
        let set: JwkSet = serde_json::from_value(other.jwks().clone()).unwrap();
        let key = DecodingKey::from_jwk(&set.keys[0]).unwrap();
        assert!(jsonwebtoken::decode::<Value>(&token, &key, &v).is_err());
        // An explicit kid is published and used.
        let named = DevIssuer::with_kid("https://idp.dev.sammen", Some("idp-1")).unwrap();
        assert_eq!(named.jwks()["keys"][0]["kid"], "idp-1");
        let token = named.mint("sammen", "cw-1", "kk.jobcenter.rehab", &[], Duration::minutes(5));
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some("idp-1"));
    }
}
