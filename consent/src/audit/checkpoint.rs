//! Signed checkpoints: "the log had `tree_size` records with root `root` at `time`".
//!
//! The signed message is fixed-width, so it has exactly one reading (all integers big-endian):
//!
//! ```text
//! "sammen audit checkpoint v1\n"   27 bytes, a domain separator
//! tree_size                        u64
//! root                             32 bytes
//! time, seconds since 1970 UTC     i64
//! time, nanoseconds in the second  u32
//! ```
//!
//! The signature is Ed25519 (RFC 8032, verified strictly). `key_id` is the first 8 bytes
//! of SHA-256 of the 32-byte public key, in hex. In JSON the root is hex, the signature is
//! base64 (standard alphabet, padded) and the time is RFC 3339.

use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuditError;

/// The domain separator at the start of every signed checkpoint message.
pub const CHECKPOINT_CONTEXT: &[u8; 27] = b"sammen audit checkpoint v1\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub tree_size: u64,
    #[serde(with = "hex_32")]
    pub root: [u8; 32],
    pub time: DateTime<Utc>,
    #[serde(with = "b64_64")]
    pub signature: [u8; 64],
    pub key_id: String,
}

/// The bytes a checkpoint's signature covers (see the module documentation).
pub fn checkpoint_message(tree_size: u64, root: &[u8; 32], time: DateTime<Utc>) -> Vec<u8> {
    let mut m = Vec::with_capacity(27 + 8 + 32 + 8 + 4);
    m.extend_from_slice(CHECKPOINT_CONTEXT);
    m.extend_from_slice(&tree_size.to_be_bytes());
    m.extend_from_slice(root);
    m.extend_from_slice(&time.timestamp().to_be_bytes());
    m.extend_from_slice(&time.timestamp_subsec_nanos().to_be_bytes());
    m
}

/// The short id of a verifying key: hex of the first 8 bytes of SHA-256 of its 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// A fresh signing key from the operating system's randomness (for the demo; production
/// keys come from configuration).
pub fn generate_signing_key() -> SigningKey {
    use rand::TryRngCore as _;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut seed).expect("the operating system provides randomness");
    SigningKey::from_bytes(&seed)
}

impl SignedCheckpoint {
    /// Signs the checkpoint for `tree_size` and `root` at `time`.
    pub fn sign(key: &SigningKey, tree_size: u64, root: [u8; 32], time: DateTime<Utc>) -> Self {
        let signature = key.sign(&checkpoint_message(tree_size, &root, time)).to_bytes();
        Self { tree_size, root, time, signature, key_id: key_id(&key.verifying_key()) }
    }

    /// The bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        checkpoint_message(self.tree_size, &self.root, self.time)
    }

    /// Checks the signature against `key` (and that `key_id` names `key`).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), AuditError> {
        if self.key_id != key_id(key) {
            return Err(AuditError::BadCheckpoint(format!(
                "signed by key {}, expected key {}",
                self.key_id,
                key_id(key)
            )));
        }
        key.verify_strict(&self.message(), &Signature::from_bytes(&self.signature)).map_err(|_| {
            AuditError::BadCheckpoint(format!("the signature over tree size {} does not verify", self.tree_size))
        })
    }

    /// The stored form (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a checkpoint serializes")
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, AuditError> {
        serde_json::from_slice(b).map_err(|e| AuditError::BadCheckpoint(format!("unreadable checkpoint: {e}")))
    }
}

mod hex_32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.as_ref(), &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

mod b64_64 {
    use super::B64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let v = B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)?;
        v.try_into().map_err(|_| serde::de::Error::custom("a signature is 64 bytes"))
    }
}
