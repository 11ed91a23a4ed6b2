//! The broker's ES256 signing key and its JWKS entry.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::KeyPair;
use serde_json::{Value, json};

use crate::SandboxError;

pub(crate) struct BrokerKey {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

impl BrokerKey {
    pub(crate) fn generate(kid: &str) -> Result<BrokerKey, SandboxError> {
        let err = |e: &dyn std::fmt::Display| SandboxError::Tls(format!("broker key: {e}"));
        let pair = KeyPair::generate().map_err(|e| err(&e))?;
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).map_err(|e| err(&e))?;
        let raw = pair.public_key_raw();
        if raw.len() != 65 || raw[0] != 4 {
            return Err(SandboxError::Tls("broker key: unexpected P-256 public key encoding".into()));
        }
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
        });
        Ok(BrokerKey { kid: kid.to_string(), key, jwk })
    }

    pub(crate) fn jwk(&self) -> &Value {
        &self.jwk
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("ES256 signing with a generated key")
    }
}
