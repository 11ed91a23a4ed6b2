//! `sammen audit verify|prune|export|checkpoint` offline, as real processes, on COPIES of a
//! data directory: each copy is tampered with one way (a flipped byte, the last records
//! dropped, two records swapped) and `verify` must fail naming the first bad index, while
//! the untouched original still verifies, also after pruning.

use std::path::{Path, PathBuf};
use std::process::Output;

use consent::audit::{AuditConfig, AuditLog, AuditRecord};
use consent::{Cpr, SledStore};

use crate::support::procs::sammen;

const RECORDS: u64 = 20;

/// A data directory with a signing key and `RECORDS` records, one checkpointed batch each.
/// Built on its own runtime, so every store handle is closed on return.
fn fixture(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let key = gateway::app::signing_key(&data.join("audit-signing.key"), true).unwrap();
        let store = SledStore::open(&data.join("store")).unwrap();
        let log = AuditLog::open(store, key, AuditConfig::default()).await.unwrap();
        let citizen = sandbox::citizens()[3].cpr;
        for i in 0..RECORDS {
            let mut r =
                AuditRecord::new(chrono::Utc::now(), format!("req-{i:04}"), consent::audit::AuditKind::Decision);
            r.citizen = Some(citizen);
            r.caseworker = Some("cw-anna".into());
            r.outcome = "permit".into();
            log.append(vec![r]).await.unwrap();
        }
    });
    drop(rt);
    data
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Runs `sammen audit ARGS --data-dir DATA`. sled releases a directory's lock a moment
/// after this process drops its last handle (its threads finish), so a refusal for the
/// lock is retried, for at most 20 s.
fn audit(data: &Path, args: &[&str]) -> Output {
    for _ in 0..200 {
        let out = sammen().arg("audit").args(args).arg("--data-dir").arg(data).output().unwrap();
        if out.status.success() || !text(&out).contains("could not acquire lock") {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the store in {} stayed locked", data.display());
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A copy of the fixture, tampered with through the audit trees.
fn tampered(fixture: &Path, dir: &Path, name: &str, tamper: impl FnOnce(&SledStore)) -> PathBuf {
    let copy = dir.join(name);
    copy_dir(fixture, &copy);
    let store = SledStore::open(&copy.join("store")).unwrap();
    tamper(&store);
    // Flushes the whole database, not only this tree.
    store.raw_tree("audit_leaves").unwrap().flush().unwrap();
    copy
}

fn assert_fails_at(data: &Path, index: u64) {
    let out = audit(data, &["verify"]);
    let t = text(&out);
    assert!(!out.status.success(), "verify passed a tampered log");
    assert!(t.contains(&format!("first bad index: {index}")), "{t}");
    for c in sandbox::citizens() {
        assert!(!t.contains(c.cpr.expose()), "verify printed a CPR number");
    }
}

#[test]
fn verify_names_the_first_bad_index_in_tampered_copies() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());

    let ok = audit(&data, &["verify"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains(&format!("audit log OK: {RECORDS} records")), "{}", text(&ok));

    // One byte flipped inside record 13's request id: still a canonical record, another hash.
    let flipped = tampered(&data, dir.path(), "flipped", |store| {
        let leaves = store.raw_tree("audit_leaves").unwrap();
        let k = 13u64.to_be_bytes();
        let mut v = leaves.get(k).unwrap().unwrap().to_vec();
        let at = v.windows(8).position(|w| w == b"req-0013").unwrap() + 7;
        v[at] ^= 0x01;
        leaves.insert(k, v).unwrap();
    });
    assert_fails_at(&flipped, 13);

    // The last three records dropped.
    let dropped = tampered(&data, dir.path(), "dropped", |store| {
        let leaves = store.raw_tree("audit_leaves").unwrap();
        for i in RECORDS - 3..RECORDS {
            leaves.remove(i.to_be_bytes()).unwrap();
        }
    });
    assert_fails_at(&dropped, RECORDS - 3);

    // Records 6 and 11 swapped.
    let swapped = tampered(&data, dir.path(), "swapped", |store| {
        let leaves = store.raw_tree("audit_leaves").unwrap();
        let a = leaves.get(6u64.to_be_bytes()).unwrap().unwrap();
        let b = leaves.get(11u64.to_be_bytes()).unwrap().unwrap();
        leaves.insert(6u64.to_be_bytes(), b).unwrap();
        leaves.insert(11u64.to_be_bytes(), a).unwrap();
    });
    assert_fails_at(&swapped, 6);

    // The original is untouched by all of this.
    assert!(audit(&data, &["verify"]).status.success());

    // A wrong public key fails on the first checkpoint, naming no index.
    let wrong = audit(&data, &["verify", "--public-key", &"11".repeat(32)]);
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("checkpoint for tree size 1"), "{}", text(&wrong));
}

#[test]
fn pruning_export_and_checkpoint_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());
    let cp_file = dir.path().join("cp.json");
    let out = audit(&data, &["checkpoint", "--out", cp_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let cp: serde_json::Value = serde_json::from_slice(&std::fs::read(&cp_file).unwrap()).unwrap();
    assert_eq!(cp["tree_size"], RECORDS);
    assert_eq!(cp["public_key"].as_str().unwrap().len(), 64);

    // Export: one JSON line per record, in index order, the records readable.
    let export = dir.path().join("before.jsonl");
    let out = audit(&data, &["export", "--out", export.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&export).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, RECORDS);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["index"], i as u64);
        assert_eq!(l["record"]["request_id"], format!("req-{i:04}"));
        let c: Cpr = serde_json::from_value(l["record"]["citizen"].clone()).unwrap();
        assert_eq!(c, sandbox::citizens()[3].cpr);
    }

    // Retention 0 days: every record signed before now loses its payload; verify still passes.
    let out = audit(&data, &["prune", "--retention-days", "0"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("pruned the payloads of {RECORDS} records")), "{}", text(&out));
    let ok = audit(&data, &["verify"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains(&format!("pruned below index {RECORDS}")), "{}", text(&ok));
    let export = dir.path().join("after.jsonl");
    assert!(audit(&data, &["export", "--out", export.to_str().unwrap()]).status.success());
    let after = std::fs::read_to_string(&export).unwrap();
    assert_eq!(after.lines().count() as u64, RECORDS);
    assert!(after.lines().all(|l| l.contains("\"pruned\":true")));
    assert!(!after.contains(sandbox::citizens()[3].cpr.expose()));
    // The checkpoint saved before pruning is still the log's latest, unchanged.
    let again = dir.path().join("cp2.json");
    assert!(audit(&data, &["checkpoint", "--out", again.to_str().unwrap()]).status.success());
    let cp2: serde_json::Value = serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    assert_eq!(cp2["root"], cp["root"]);

    // A missing data directory is an error, not an empty log.
    let out = audit(&dir.path().join("nowhere"), &["verify"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no store in"), "{}", text(&out));
}
