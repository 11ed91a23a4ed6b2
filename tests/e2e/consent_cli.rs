//! `sammen consent grant|revoke` as real processes: each change is committed with its
//! audit record and the command returns only once the record is in the signed log
//! (DESIGN.md invariant 3). No gateway runs (sled locks the store); no configuration file either,
//! so the compiled-in defaults apply.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use consent::audit::AuditKind;

use crate::support::audit::read_and_verify;
use crate::support::procs::sammen;
use crate::support::{self, PURPOSE, REHAB_UNIT};

/// Runs `sammen consent ARGS --data-dir DATA` with the CPR number on standard input.
fn consent_cmd(data: &Path, citizen: &consent::Cpr, args: &[&str]) -> Output {
    let mut child = sammen()
        .arg("consent")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", citizen.expose()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sammen consent {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_grant_and_revoke_leave_their_audit_records() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let citizen = support::rehab_citizen();
    let out = consent_cmd(
        &data,
        &citizen,
        &["grant", "--unit", REHAB_UNIT, "--purpose", PURPOSE, "--category", "jobnet.cv", "--months", "3"],
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(!printed.contains(citizen.expose()), "the CLI printed a CPR number");
    let id = printed.split_whitespace().nth(1).expect("granted <id> ...").to_string();
    assert!(data.join("audit-signing.key").exists(), "the CLI made the audit signing key, as `serve` would");

    let out = consent_cmd(&data, &citizen, &["revoke", "--id", &id]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("revoked {id}")));

    // A revoke that the rules refuse changes nothing and writes no record.
    let mut refused = sammen()
        .arg("consent")
        .arg("--data-dir")
        .arg(&data)
        .args(["revoke", "--id", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(refused.stdin.take().unwrap(), "{}", citizen.expose()).unwrap();
    assert!(!refused.wait_with_output().unwrap().status.success(), "revoking twice succeeded");

    let view = read_and_verify(&data).await;
    let mine: Vec<_> = view.records.iter().filter(|r| r.basis.as_deref() == Some(&format!("consent:{id}"))).collect();
    let kinds: Vec<_> = mine.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [AuditKind::ConsentGranted, AuditKind::ConsentRevoked]);
    let subjects: Vec<_> = mine.iter().map(|r| r.subject.clone().unwrap()).collect();
    assert_eq!(subjects, [format!("consent:{id}.1"), format!("consent:{id}.2")]);
    assert!(mine.iter().all(|r| r.citizen == Some(citizen) && r.system.as_deref() == Some("cli")));
    assert_eq!(view.records.len(), 2, "{:?}", view.records);
    assert!(view.checkpoint.is_some_and(|cp| cp.tree_size == 2));
}
