//! The audit log's checkpoint notes against an independent implementation of C2SP signed
//! notes (the `signed_note` crate, Cloudflare's, used only here): a note the log writes
//! verifies with their verifier, and a note their signer writes for our tree (same text,
//! same key) verifies with ours; a note their signer writes with another key does not.

mod audit_support;

use audit_support::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use consent::SledStore;
use consent::audit::{AuditConfig, AuditLog, CheckpointNote, NoteError, NoteVerifier, Origin, note_key_hash};
use ed25519_dalek::SigningKey;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// Their signer for `key` under `name`, from the standard private key encoding
/// `PRIVATE+KEY+<name>+<key hash>+<base64(0x01 ‖ seed)>`.
fn their_signer(name: &Origin, key: &SigningKey) -> StandardSigner {
    let mut typed = vec![1u8];
    typed.extend_from_slice(&key.to_bytes());
    let skey =
        format!("PRIVATE+KEY+{name}+{}+{}", hex::encode(note_key_hash(name, &key.verifying_key())), B64.encode(typed));
    StandardSigner::new(&skey).expect("their signer reads the key")
}

async fn log_with(dir: &std::path::Path, n: u64, origin: Option<Origin>) -> AuditLog<SledStore> {
    let store = SledStore::open(dir).unwrap();
    let config = AuditConfig { origin, ..AuditConfig::default() };
    let log = AuditLog::open(store, key(), config).await.unwrap();
    for i in 0..n {
        log.append(vec![record(i)]).await.unwrap();
    }
    log
}

#[tokio::test]
async fn our_notes_verify_with_their_verifier_and_theirs_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::new("audit.kk.example/sammen").unwrap();
    let log = log_with(dir.path(), 5, Some(origin.clone())).await;
    let note = log.checkpoint_note().await.unwrap().expect("a checkpoint");

    // Ours, read by theirs, through the verifier key in the standard encoding.
    let vkey = log.note_verifier().vkey();
    let verifier = StandardVerifier::new(&vkey).expect("they read our verifier key");
    let parsed = Note::from_bytes(note.as_bytes()).expect("they parse our note");
    let (verified, unverified) =
        parsed.verify(&VerifierList::new(vec![Box::new(verifier.clone())])).expect("they verify our note");
    assert_eq!((verified.len(), unverified.len()), (1, 0));
    let text = String::from_utf8(parsed.text().to_vec()).unwrap();
    let root = log.root(5).await.unwrap();
    assert_eq!(text, format!("audit.kk.example/sammen\n5\n{}\n", B64.encode(root)));

    // Their signature over our tree's checkpoint text, read by ours.
    let ours = CheckpointNote { origin: origin.clone(), tree_size: 5, root };
    let mut theirs = Note::new(ours.text().as_bytes(), &[]).unwrap();
    theirs.add_sigs(&[&their_signer(&origin, &key())]).unwrap();
    let theirs = theirs.to_bytes();
    assert_eq!(log.note_verifier().verify(&theirs).unwrap(), ours);
    // Ed25519 is deterministic: the same text and key give the same bytes either way.
    assert_eq!(theirs, note.as_bytes());

    // Their signer with another key under the same name: our verifier refuses it, and so
    // does theirs with our key.
    let other = their_signer(&origin, &SigningKey::from_bytes(&[8u8; 32]));
    let mut forged = Note::new(ours.text().as_bytes(), &[]).unwrap();
    forged.add_sigs(&[&other]).unwrap();
    let forged = forged.to_bytes();
    assert!(matches!(log.note_verifier().verify(&forged), Err(NoteError::WrongKey { .. })));
    let parsed = Note::from_bytes(&forged).unwrap();
    assert!(parsed.verify(&VerifierList::new(vec![Box::new(verifier.clone())])).is_err());

    // A size changed after signing: both refuse it.
    let tampered = note.replacen("\n5\n", "\n6\n", 1);
    assert!(matches!(log.note_verifier().verify(tampered.as_bytes()), Err(NoteError::BadSignature { .. })));
    let parsed = Note::from_bytes(tampered.as_bytes()).unwrap();
    assert!(parsed.verify(&VerifierList::new(vec![Box::new(verifier)])).is_err());
}

#[tokio::test]
async fn the_note_follows_the_log_and_has_a_default_origin() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 0, None).await;
    assert_eq!(log.checkpoint_note().await.unwrap(), None, "no checkpoint, no note");
    for i in 0..3 {
        log.append(vec![record(i)]).await.unwrap();
    }
    let note = log.checkpoint_note().await.unwrap().unwrap();
    let origin = Origin::for_key(&key().verifying_key());
    let read = NoteVerifier::new(origin.clone(), key().verifying_key()).verify(note.as_bytes()).unwrap();
    assert_eq!((read.origin, read.tree_size, read.root), (origin, 3, log.root(3).await.unwrap()));
}
