//! A citizen's own log, with proofs: every record about one citizen, each with its leaf
//! bytes and an RFC 6962 inclusion proof against one signed checkpoint, so the citizen (or
//! anyone they give the file to) can check offline that the records are in the one log
//! the operator signed, unchanged, without seeing anyone else's records.
//!
//! The file is JSON ([`CitizenLog`]); [`verify_citizen_log`] checks it with nothing but the
//! gateway's public audit key: the checkpoint's signature, then for every entry that its
//! leaf bytes hash into the signed root at its index, and that the readable record beside
//! the bytes is exactly what the bytes say. What it cannot show is that the file holds
//! every record about the citizen (the operator chooses which entries to include); the
//! per-citizen index is keyed with a secret for exactly that reason (nobody else can find
//! a citizen's records), and a witness that keeps checkpoints catches a rewritten log.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::merkle::{leaf_hash, verify_inclusion};
use super::{AuditError, AuditFilter, AuditLog, AuditRecord, SignedCheckpoint};
use crate::Cpr;
use crate::store::Store;

/// The value of [`CitizenLog::format`]: names this layout, so a verifier can refuse others.
pub const CITIZEN_LOG_FORMAT: &str = "sammen-citizen-log/1";

/// A citizen's records with proofs against one signed checkpoint (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CitizenLog {
    pub format: String,
    /// Every entry's proof leads to this checkpoint's root.
    pub checkpoint: SignedCheckpoint,
    /// Newest (highest index) first.
    pub entries: Vec<CitizenLogEntry>,
    /// False when older records were left out to keep the file small (`limit`).
    pub complete: bool,
}

/// One record: where it is, its bytes exactly as hashed, the proof, and the record as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CitizenLogEntry {
    pub index: u64,
    /// The leaf's bytes (canonical JSON), base64.
    pub leaf: String,
    /// RFC 6962 `PATH(index, D[0:tree_size])`, leaf side first, each hash in hex.
    pub proof: Vec<String>,
    pub record: AuditRecord,
}

/// What a successful check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CitizenLogReport {
    pub entries: usize,
    pub tree_size: u64,
}

/// Why a citizen log does not verify. Never names a CPR number.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CitizenLogError {
    #[error("this is not a sammen citizen log (format {0:?})")]
    Format(String),
    #[error("the checkpoint's signature does not verify with this key")]
    Checkpoint,
    #[error("entry {index}: {what}")]
    Entry { index: u64, what: String },
    #[error("the entries are not in descending index order at {0}")]
    Order(u64),
    #[error("the entries are about more than one person")]
    MixedCitizens,
}

impl<S: Store> AuditLog<S> {
    /// The newest `limit` records about `citizen`, each with its inclusion proof against the
    /// latest signed checkpoint. `None` when the log has no checkpoint yet.
    pub async fn citizen_log(&self, citizen: &Cpr, limit: usize) -> Result<Option<CitizenLog>, AuditError> {
        let Some(checkpoint) = self.latest_checkpoint().await? else {
            return Ok(None);
        };
        let size = checkpoint.tree_size;
        let filter = AuditFilter { citizen: Some(*citizen), ..Default::default() };
        let page = self.query(&filter, Some(size), limit).await?;
        let mut entries = Vec::with_capacity(page.records.len());
        for (index, record) in page.records {
            let Some((_, bytes)) = self.raw_entries(index, index + 1).await?.pop() else {
                return Err(AuditError::Corrupt(format!("record {index} is missing")));
            };
            let proof = self.inclusion_proof(index, size).await?;
            entries.push(CitizenLogEntry {
                index,
                leaf: B64.encode(&bytes),
                proof: proof.iter().map(hex::encode).collect(),
                record,
            });
        }
        Ok(Some(CitizenLog {
            format: CITIZEN_LOG_FORMAT.into(),
            checkpoint,
            entries,
            complete: page.next_before.is_none(),
        }))
    }
}

/// Checks a [`CitizenLog`] offline with the gateway's public audit key (see the module docs).
pub fn verify_citizen_log(log: &CitizenLog, key: &VerifyingKey) -> Result<CitizenLogReport, CitizenLogError> {
    if log.format != CITIZEN_LOG_FORMAT {
        return Err(CitizenLogError::Format(log.format.chars().take(40).collect()));
    }
    log.checkpoint.verify(key).map_err(|_| CitizenLogError::Checkpoint)?;
    let size = log.checkpoint.tree_size;
    let mut previous: Option<u64> = None;
    let mut citizen = None;
    for e in &log.entries {
        let bad = |what: &str| CitizenLogError::Entry { index: e.index, what: what.into() };
        if previous.is_some_and(|p| e.index >= p) {
            return Err(CitizenLogError::Order(e.index));
        }
        previous = Some(e.index);
        if e.index >= size {
            return Err(bad("its index is beyond the checkpoint's tree size"));
        }
        let bytes = B64.decode(&e.leaf).map_err(|_| bad("the leaf is not base64"))?;
        let proof = e
            .proof
            .iter()
            .map(|h| hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()))
            .collect::<Option<Vec<[u8; 32]>>>()
            .ok_or_else(|| bad("a proof hash is not 64 hex digits"))?;
        if !verify_inclusion(&leaf_hash(&bytes), e.index, size, &proof, &log.checkpoint.root) {
            return Err(bad("the record is not in the signed log at this index (the proof does not lead to the root)"));
        }
        let read = AuditRecord::from_leaf_bytes(&bytes).map_err(|_| bad("the leaf does not read as a record"))?;
        if read != e.record {
            return Err(bad("the readable record differs from the signed bytes"));
        }
        match (&citizen, &read.citizen) {
            (None, Some(c)) => citizen = Some(*c),
            (Some(a), Some(b)) if a != b => return Err(CitizenLogError::MixedCitizens),
            (_, None) => return Err(bad("the record is about no citizen")),
            _ => {}
        }
    }
    Ok(CitizenLogReport { entries: log.entries.len(), tree_size: size })
}
