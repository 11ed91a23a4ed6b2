//! A signed checkpoint as the admin API serves it and `sammen audit checkpoint` saves it
//! (the checkpoint plus the public key that signs it), and the online check of a running
//! log against a saved checkpoint: the log may only have grown, and the consistency proof
//! must show that its first records are exactly the saved ones.

use chrono::{DateTime, Utc};
use consent::audit::{SignedCheckpoint, key_id, verify_consistency};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A signed checkpoint: "the log had `tree_size` records with root `root` at `time`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckpointView {
    pub tree_size: u64,
    /// RFC 6962 root hash (SHA-256), hex.
    pub root: String,
    pub time: DateTime<Utc>,
    /// Ed25519 signature over the fixed-width message (see `consent::audit::checkpoint_message`), base64.
    pub signature: String,
    /// Hex of the first 8 bytes of SHA-256 of the public key.
    pub key_id: String,
    /// The Ed25519 public key that signs checkpoints, hex (32 bytes). Trust it once, when
    /// the first checkpoint is saved; later checks compare against the saved one.
    pub public_key: String,
}

impl CheckpointView {
    pub fn new(cp: &SignedCheckpoint, key: &VerifyingKey) -> Self {
        let v = serde_json::to_value(cp).expect("a checkpoint serializes");
        CheckpointView {
            tree_size: cp.tree_size,
            root: v["root"].as_str().unwrap_or_default().to_string(),
            time: cp.time,
            signature: v["signature"].as_str().unwrap_or_default().to_string(),
            key_id: cp.key_id.clone(),
            public_key: hex::encode(key.as_bytes()),
        }
    }

    /// The checkpoint this view carries.
    pub fn signed(&self) -> Result<SignedCheckpoint, String> {
        let v = serde_json::json!({
            "tree_size": self.tree_size,
            "root": self.root,
            "time": self.time,
            "signature": self.signature,
            "key_id": self.key_id,
        });
        serde_json::from_value(v).map_err(|e| format!("not a checkpoint: {e}"))
    }

    pub fn verifying_key(&self) -> Result<VerifyingKey, String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(self.public_key.trim(), &mut bytes).map_err(|e| format!("public_key: {e}"))?;
        VerifyingKey::from_bytes(&bytes).map_err(|e| format!("public_key: {e}"))
    }

    /// Checks the signature against the view's own public key (and that it is `trusted`,
    /// when given).
    pub fn verify(&self, trusted: Option<&VerifyingKey>) -> Result<SignedCheckpoint, String> {
        let key = self.verifying_key()?;
        if let Some(t) = trusted
            && t != &key
        {
            return Err(format!(
                "the checkpoint is signed by key {}, not by the trusted key {}",
                key_id(&key),
                key_id(t)
            ));
        }
        let cp = self.signed()?;
        cp.verify(&key).map_err(|e| e.to_string())?;
        Ok(cp)
    }
}

/// Checks that the log behind `new` is the log behind `saved`, extended: both signed by the
/// saved checkpoint's key, no fewer records, and (when it grew) `proof` is a valid RFC 6962
/// consistency proof from `saved` to `new`. Returns a one-line description of what was
/// checked, or what is wrong.
pub fn check_extension(saved: &CheckpointView, new: &CheckpointView, proof: &[[u8; 32]]) -> Result<String, String> {
    let trusted = saved.verifying_key()?;
    let old = saved.verify(Some(&trusted)).map_err(|e| format!("the saved checkpoint: {e}"))?;
    let cur = new.verify(Some(&trusted)).map_err(|e| format!("the log's checkpoint: {e}"))?;
    let what = format!("the saved checkpoint of {}", old.time);
    check_grown(&what, (old.tree_size, &old.root), (cur.tree_size, &cur.root), proof)
}

/// Checks that a log now at `cur` (tree size, root; its signature checked by the caller)
/// extends the log `what` vouched for at `old`: no fewer records, the same root at the same
/// size, or (when it grew) `proof` a valid RFC 6962 consistency proof from `old` to `cur`.
pub fn check_grown(
    what: &str,
    old: (u64, &[u8; 32]),
    cur: (u64, &[u8; 32]),
    proof: &[[u8; 32]],
) -> Result<String, String> {
    let ((old_size, old_root), (cur_size, cur_root)) = (old, cur);
    if cur_size < old_size {
        return Err(format!(
            "TRUNCATED: the log now has {cur_size} records, but {what} saw {old_size}; records from index {cur_size} on are gone"
        ));
    }
    if cur_size == old_size {
        return if cur_root == old_root {
            Ok(format!("the log still has the {old_size} records of {what}, unchanged"))
        } else {
            Err(format!("REWRITTEN: the log has {old_size} records, as {what} saw, but another root"))
        };
    }
    if old_size == 0 {
        return Ok(format!("the log grew from 0 to {cur_size} records"));
    }
    if !verify_consistency(old_size, cur_size, old_root, cur_root, proof) {
        return Err(format!(
            "REWRITTEN: the log of {cur_size} records does not extend the log of {old_size} records of {what} (the consistency proof fails); \
             some record below index {old_size} was altered, removed or reordered"
        ));
    }
    Ok(format!(
        "the log grew from {old_size} to {cur_size} records and its first {old_size} records are unchanged (consistency proof verified)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use consent::audit::MemoryTree;
    use ed25519_dalek::SigningKey;

    fn log(n: u64, tag: &str) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(format!("{tag}-{i}").as_bytes());
        }
        t
    }

    fn view(key: &SigningKey, t: &MemoryTree, size: u64) -> CheckpointView {
        let cp = SignedCheckpoint::sign(key, size, t.root(size), "2025-03-01T10:00:00Z".parse().unwrap());
        CheckpointView::new(&cp, &key.verifying_key())
    }

    #[test]
    fn growth_is_accepted_and_truncation_and_rewriting_are_named() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let t = log(40, "a");
        let saved = view(&key, &t, 17);
        assert_eq!(saved.signed().unwrap().tree_size, 17);
        // Grown, consistent.
        let msg = check_extension(&saved, &view(&key, &t, 40), &t.consistency_proof(17, 40)).unwrap();
        assert!(msg.contains("from 17 to 40"), "{msg}");
        assert!(check_extension(&saved, &view(&key, &t, 17), &[]).is_ok());
        // Truncated.
        let e = check_extension(&saved, &view(&key, &t, 12), &[]).unwrap_err();
        assert!(e.starts_with("TRUNCATED") && e.contains("index 12"), "{e}");
        // Rewritten below the saved size: another log, properly signed.
        let other = {
            let mut o = MemoryTree::new();
            for i in 0..40u64 {
                o.push(if i == 5 { b"altered".to_vec() } else { format!("a-{i}").into_bytes() }.as_slice());
            }
            o
        };
        let e = check_extension(&saved, &view(&key, &other, 40), &other.consistency_proof(17, 40)).unwrap_err();
        assert!(e.starts_with("REWRITTEN"), "{e}");
        let e = check_extension(&saved, &view(&key, &other, 17), &[]).unwrap_err();
        assert!(e.starts_with("REWRITTEN"), "{e}");
        // The honest proof of the honest log does not make a rewritten root pass.
        let e = check_extension(&saved, &view(&key, &other, 40), &t.consistency_proof(17, 40)).unwrap_err();
        assert!(e.starts_with("REWRITTEN"), "{e}");
        // Another key, or a forged signature.
        let rogue = SigningKey::from_bytes(&[4u8; 32]);
        let e = check_extension(&saved, &view(&rogue, &t, 40), &t.consistency_proof(17, 40)).unwrap_err();
        assert!(e.contains("not by the trusted key"), "{e}");
        let mut forged = view(&key, &t, 40);
        forged.tree_size = 41;
        assert!(check_extension(&saved, &forged, &t.consistency_proof(17, 40)).is_err());
    }
}
