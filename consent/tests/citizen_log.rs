//! A citizen's own log with inclusion proofs (`AuditLog::citizen_log`) and its offline
//! check (`verify_citizen_log`): a genuine file verifies, and every kind of tampering a
//! citizen, an operator or a man in the middle could try is caught and named.

mod audit_support;

use audit_support::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use consent::audit::{AuditConfig, AuditLog, CitizenLog, CitizenLogError, verify_citizen_log};
use consent::{Cpr, SledStore};
use ed25519_dalek::SigningKey;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[11u8; 32])
}

/// A log of 1,500 records in batches, about 300 citizens (5 records each); the citizen of record 4 and their log.
async fn fixture(dir: &std::path::Path, limit: usize) -> (AuditLog<SledStore>, Cpr, CitizenLog) {
    let store = SledStore::open(dir).unwrap();
    let log = AuditLog::open(store, key(), AuditConfig::default()).await.unwrap();
    for chunk in (0..1500u64).collect::<Vec<_>>().chunks(9) {
        log.append(chunk.iter().map(|&i| record(i)).collect()).await.unwrap();
    }
    let citizen = record(4).citizen.unwrap();
    let file = log.citizen_log(&citizen, limit).await.unwrap().expect("the log has a checkpoint");
    (log, citizen, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_log_holds_exactly_their_records_and_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (log, citizen, file) = fixture(dir.path(), 1000).await;
    let theirs: Vec<u64> = (0..1500u64).rev().filter(|&i| record(i).citizen.as_ref() == Some(&citizen)).collect();
    assert!(theirs.len() >= 5, "the fixture gives the citizen several records");
    assert_eq!(file.entries.iter().map(|e| e.index).collect::<Vec<_>>(), theirs);
    assert!(file.complete);
    assert_eq!(file.checkpoint.tree_size, 1500);
    assert!(file.entries.iter().all(|e| e.record.citizen.as_ref() == Some(&citizen)));
    // Through JSON, as the citizen downloads it.
    let json = serde_json::to_string(&file).unwrap();
    let back: CitizenLog = serde_json::from_str(&json).unwrap();
    let report = verify_citizen_log(&back, &log.verifying_key()).unwrap();
    assert_eq!((report.entries, report.tree_size), (theirs.len(), 1500));

    // A limit keeps the newest and says the file is not complete.
    let short = log.citizen_log(&citizen, 2).await.unwrap().unwrap();
    assert_eq!(short.entries.len(), 2);
    assert!(!short.complete);
    assert_eq!(short.entries[0].index, theirs[0]);
    verify_citizen_log(&short, &log.verifying_key()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _citizen, file) = fixture(dir.path(), 1000).await;
    let key = log.verifying_key();
    let entry_error = |r: Result<_, CitizenLogError>| match r {
        Err(CitizenLogError::Entry { what, .. }) => what,
        other => panic!("expected an entry error, got {other:?}"),
    };

    // The readable record changed (e.g. another caseworker's name), bytes left alone.
    let mut f = file.clone();
    f.entries[0].record.caseworker = Some("someone-else".into());
    assert!(entry_error(verify_citizen_log(&f, &key)).contains("differs from the signed bytes"));

    // The bytes changed too, consistently: the proof no longer leads to the signed root.
    let mut f = file.clone();
    let mut r = f.entries[0].record.clone();
    r.caseworker = Some("someone-else".into());
    f.entries[0].leaf = B64.encode(r.canonical_bytes());
    f.entries[0].record = r;
    assert!(entry_error(verify_citizen_log(&f, &key)).contains("not in the signed log"));

    // A proof hash changed; a proof hash that is not hex; a wrong index.
    let mut f = file.clone();
    let h = &mut f.entries[1].proof[0];
    *h = format!("{}{}", if h.starts_with('0') { '1' } else { '0' }, &h[1..]);
    assert!(entry_error(verify_citizen_log(&f, &key)).contains("not in the signed log"));
    let mut f = file.clone();
    f.entries[1].proof[0] = "zz".into();
    assert!(entry_error(verify_citizen_log(&f, &key)).contains("64 hex digits"));
    let mut f = file.clone();
    f.entries[0].index += 1;
    assert!(verify_citizen_log(&f, &key).is_err());
    let mut f = file.clone();
    f.entries[0].leaf = "not base64!".into();
    assert!(entry_error(verify_citizen_log(&f, &key)).contains("not base64"));

    // An entry beyond the tree, entries out of order or repeated.
    let mut f = file.clone();
    f.entries[0].index = 1500;
    assert!(entry_error(verify_citizen_log(&f, &key)).contains("beyond"));
    let mut f = file.clone();
    f.entries.swap(0, 1);
    assert!(matches!(verify_citizen_log(&f, &key), Err(CitizenLogError::Order(_))));
    let mut f = file.clone();
    let first = f.entries[0].clone();
    f.entries.insert(0, first);
    assert!(matches!(verify_citizen_log(&f, &key), Err(CitizenLogError::Order(_))));

    // Another person's genuine record slipped in: proofs hold, but the file mixes people.
    let other = log
        .citizen_log(&record(3).citizen.unwrap(), 1000)
        .await
        .unwrap()
        .unwrap()
        .entries
        .into_iter()
        .find(|e| e.index < file.entries.last().unwrap().index)
        .expect("record 3 is older than the citizen's oldest, record 4");
    let mut f = file.clone();
    f.entries.push(other);
    assert_eq!(verify_citizen_log(&f, &key), Err(CitizenLogError::MixedCitizens));

    // The checkpoint: another key, a changed root or size, another format.
    let stranger = SigningKey::from_bytes(&[12u8; 32]).verifying_key();
    assert_eq!(verify_citizen_log(&file, &stranger), Err(CitizenLogError::Checkpoint));
    let mut f = file.clone();
    f.checkpoint.root[0] ^= 1;
    assert_eq!(verify_citizen_log(&f, &key), Err(CitizenLogError::Checkpoint));
    let mut f = file.clone();
    f.checkpoint.tree_size += 1;
    assert_eq!(verify_citizen_log(&f, &key), Err(CitizenLogError::Checkpoint));
    let mut f = file.clone();
    f.format = "something/else".into();
    assert!(matches!(verify_citizen_log(&f, &key), Err(CitizenLogError::Format(_))));

    // The genuine file still verifies (nothing above changed it).
    verify_citizen_log(&file, &key).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_log_has_no_checkpoint_and_a_stranger_gets_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let log = AuditLog::open(store, key(), AuditConfig::default()).await.unwrap();
    let someone = Cpr::parse("0101709900").unwrap();
    assert!(log.citizen_log(&someone, 10).await.unwrap().is_none());
    log.append(vec![record(1)]).await.unwrap();
    // Someone with no record (record 1 is about 0102709901): an empty, complete, verifying file.
    let file = log.citizen_log(&someone, 10).await.unwrap().unwrap();
    assert!(file.entries.is_empty() && file.complete);
    assert_eq!(file.checkpoint.tree_size, 1);
    verify_citizen_log(&file, &log.verifying_key()).unwrap();
    let theirs = log.citizen_log(&record(1).citizen.unwrap(), 10).await.unwrap().unwrap();
    assert_eq!(theirs.entries.len(), 1);
}
