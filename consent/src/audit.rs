//! The durable, tamper-evident audit log.
//!
//! Every decision, release, refused request, portal action and operator read becomes one
//! [`AuditRecord`]. Its canonical bytes ([`AuditRecord::canonical_bytes`]: versioned, RFC 8785
//! canonical JSON with `"v": 2` since version 2) are a leaf of an RFC 6962 Merkle tree (leaf
//! `SHA-256(0x00 || d)`, node `SHA-256(0x01 || l || r)`), stored exactly as hashed.
//!
//! Writing goes through [`AuditLog::append`]: one writer task takes every pending append
//! (group commit, up to [`AuditConfig::max_batch`] records), extends the tree, signs a
//! [`SignedCheckpoint`] (tree size, root, time; Ed25519) and writes leaves, completed
//! subtree hashes and checkpoint in one [`Store::audit_append`] transaction with one flush.
//! Only then is each caller answered, so an `Ok` means "durable and covered by a signed
//! checkpoint". If the write fails every caller of the batch gets an error and the tree is
//! re-read from the store before the next batch.
//!
//! Roots and proofs are read from the stored complete-subtree hashes: O(log n) node reads.
//! [`verify_store`] recomputes everything offline and names the first bad index.
//! [`AuditLog::checkpoint_note`] renders the latest checkpoint as a C2SP signed note
//! (`note.rs`), which other transparency-log tools verify.
//! [`AuditLog::query`] reads records back through a per-citizen index (`query.rs`), and
//! [`AuditLog::prune_older_than`] removes old payloads while leaf hashes stay (`retention.rs`).
//!
//! [`Store::audit_append`]: crate::store::Store::audit_append

mod appender;
mod checkpoint;
mod citizen_log;
pub(crate) mod merkle;
mod note;
mod query;
mod record;
mod retention;
mod verify;

pub use appender::{Appended, AuditConfig, AuditLog, AuditStats, OutboxRecord};
pub use checkpoint::{CHECKPOINT_CONTEXT, SignedCheckpoint, checkpoint_message, generate_signing_key, key_id};
pub use citizen_log::{
    CITIZEN_LOG_FORMAT, CitizenLog, CitizenLogEntry, CitizenLogError, CitizenLogReport, verify_citizen_log,
};
pub use merkle::{Hash, MemoryTree, empty_root, leaf_hash, node_hash, verify_consistency, verify_inclusion};
pub use note::{CheckpointNote, MAX_NOTE_BYTES, NoteError, NoteVerifier, Origin, note_key_hash};
pub use query::{AuditEntry, AuditFilter, AuditPage};
pub use record::{AuditDecision, AuditKind, AuditRecord, OnBehalf, RECORD_VERSION};
pub use retention::PruneReport;
pub use verify::{VerifyError, VerifyReport, verify_store};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit store failed: {0}")]
    Store(#[from] StoreError),
    /// The writer task has stopped (the runtime is shutting down).
    #[error("the audit log writer has stopped")]
    Closed,
    /// An index or tree size beyond the durable log, or an impossible proof request.
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// A stored checkpoint that does not read or does not verify.
    #[error("bad checkpoint: {0}")]
    BadCheckpoint(String),
    /// Stored audit data that is missing or unreadable (run `verify_store`).
    #[error("the stored audit log is inconsistent: {0}")]
    Corrupt(String),
}
