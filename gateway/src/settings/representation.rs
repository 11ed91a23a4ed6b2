//! `[representation]`: acting for someone else. The power-of-attorney registry
//! (`connectors::power_of_attorney`) and the key of the holders' pseudonyms.
//!
//! ```toml
//! [representation]
//! pseudonym_key = "…64 hex digits…"   # better: SAMMEN_REPRESENTATION__PSEUDONYM_KEY
//! [representation.source]
//! base_url = "https://fuldmagt.example"
//! ca_file = "fuldmagt-ca.pem"
//! ```
//!
//! Absent: nobody can act for another person in the portal (the pages say so).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepresentationSettings {
    /// Where the registry is and how it is trusted (as a `[connectors.sources.*]` entry;
    /// `categories` and `options` are not used).
    pub source: connectors::SourceConfig,
    /// The HMAC-SHA256 key (hex, at least 32 bytes) that turns a holder's CPR number into
    /// the pseudonymous id the ledger and the audit log name them by. Keep it secret and
    /// keep it: a new key gives the same holder a new id.
    pub pseudonym_key: String,
}

impl RepresentationSettings {
    /// The key's bytes, or why it cannot be used (the message never repeats the key).
    pub fn key(&self) -> Result<Vec<u8>, String> {
        let bytes = hex::decode(self.pseudonym_key.trim())
            .map_err(|_| "[representation] pseudonym_key must be hex digits".to_string())?;
        if bytes.len() < 32 {
            return Err("[representation] pseudonym_key must be at least 32 bytes (64 hex digits)".into());
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_key(k: &str) -> RepresentationSettings {
        RepresentationSettings {
            source: connectors::SourceConfig::new("https://fuldmagt.example".to_string()),
            pseudonym_key: k.into(),
        }
    }

    #[test]
    fn the_key_is_hex_of_at_least_32_bytes_and_errors_do_not_repeat_it() {
        assert_eq!(with_key(&"ab".repeat(32)).key().unwrap().len(), 32);
        let short = "ab".repeat(31);
        let e = with_key(&short).key().unwrap_err();
        assert!(!e.contains(&short));
        let e = with_key("secret-not-hex").key().unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }
}
