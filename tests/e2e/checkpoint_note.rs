//! The audit log's checkpoint as a C2SP signed note, end to end: served by the admin
//! listener as text, verified with the audit key under the configured origin, saved by
//! `sammen audit checkpoint --note`, and checked by `sammen audit verify --checkpoint NOTE`
//! online (the running log extends it: consistency proof) and offline (the stopped log had
//! its root at its size); a tampered note, a wrong key and a wrong origin are refused.

use std::path::Path;
use std::process::Output;

use consent::audit::{CheckpointNote, NoteVerifier, Origin};
use gateway::admin::checkpoint::CheckpointView;

use crate::operators::{add_admin, write_identity};
use crate::support::procs::sammen;
use crate::support::{self, CATEGORIES, Env, case_file_body, post};

const ORIGIN: &str = "audit.kk.example/sammen";

fn run(env: &Env, args: &[&str], extra: &[&Path]) -> (bool, String) {
    let mut cmd = sammen();
    cmd.envs(env.envs.iter().map(|(k, v)| (k, v)));
    cmd.arg("audit").arg("--config").arg(&env.config).arg("--data-dir").arg(&env.data_dir);
    cmd.args(args);
    for p in extra {
        cmd.arg(p);
    }
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    (status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_note_is_served_saved_and_verified_online_and_offline() {
    let env = Env::new(5_000);
    let ops = add_admin(&env);
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(&format!("\n[audit]\norigin = \"{ORIGIN}\"\n"));
    std::fs::write(&env.config, config).unwrap();
    let citizen = support::rehab_citizen();
    env.grant_by_cli(&citizen, &CATEGORIES);
    let mut gw = env.start_gateway();
    let auditor = env.client(Some(&ops.auditor));
    let (s, _, _) =
        post(&env.kk(), &gw.url("/api/v1/case-files"), &env.rehab_token(), &case_file_body(&citizen, &CATEGORIES))
            .await;
    assert_eq!(s, 200);

    // Served: text, signed by the key of the JSON checkpoint, same size and root.
    let r = auditor.get(gw.admin_url("/admin/v1/audit/checkpoint/note")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let note = r.text().await.unwrap();
    let cp: CheckpointView =
        auditor.get(gw.admin_url("/admin/v1/audit/checkpoint")).send().await.unwrap().json().await.unwrap();
    let key = cp.verifying_key().unwrap();
    let read = NoteVerifier::new(Origin::new(ORIGIN).unwrap(), key).verify(note.as_bytes()).unwrap();
    let signed = cp.signed().unwrap();
    assert!(read.tree_size <= signed.tree_size && read.tree_size > CATEGORIES.len() as u64, "{}", read.tree_size);
    if read.tree_size == signed.tree_size {
        assert_eq!(read.root, signed.root);
    }
    assert!(note.starts_with(&format!("{ORIGIN}\n{}\n", read.tree_size)), "{note}");
    // A note of another origin's name is not this log's.
    assert!(NoteVerifier::new(Origin::new("elsewhere").unwrap(), key).verify(note.as_bytes()).is_err());
    // A query string is refused as on every admin route; a stranger is refused.
    let r = auditor.get(gw.admin_url("/admin/v1/audit/checkpoint/note?x=1")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let stranger = env.client(Some(&ops.stranger));
    // (Or refused at the handshake, then there is no answer at all.)
    if let Ok(r) = stranger.get(gw.admin_url("/admin/v1/audit/checkpoint/note")).send().await {
        assert_eq!(r.status(), 403);
    }

    // Saved by the CLI (online), with the verifier key in the standard encoding.
    let dir = env.dir.path();
    let (cert, cert_key) = write_identity(dir, "auditor", &ops.auditor);
    let saved = dir.join("saved.note");
    let remote = |url: &str| {
        vec![
            "--url".to_string(),
            url.to_string(),
            "--cert".into(),
            cert.display().to_string(),
            "--key".into(),
            cert_key.display().to_string(),
            "--ca".into(),
            env.pki.dev.ca_cert.display().to_string(),
        ]
    };
    let admin = gw.admin_url("");
    let mut args: Vec<String> = vec!["checkpoint".into(), "--note".into()];
    args.extend(remote(&admin));
    args.push("--out".into());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = run(&env, &argv, &[&saved]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("verifier key: {ORIGIN}+")), "{out}");
    let saved_note = std::fs::read_to_string(&saved).unwrap();
    let saved_read = NoteVerifier::new(Origin::new(ORIGIN).unwrap(), key).verify(saved_note.as_bytes()).unwrap();

    // The log grows; online verification from the saved note needs a consistency proof.
    let (s, _, _) =
        post(&env.kk(), &gw.url("/api/v1/case-files"), &env.rehab_token(), &case_file_body(&citizen, &CATEGORIES))
            .await;
    assert_eq!(s, 200);
    let public_key = hex::encode(key.as_bytes());
    let verify = |file: &Path, public_key: &str| {
        let mut a: Vec<String> = vec!["verify".into()];
        a.extend(remote(&admin));
        a.extend(["--public-key".to_string(), public_key.to_string(), "--checkpoint".into()]);
        let argv: Vec<String> = a;
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run(&env, &argv, &[file])
    };
    let (ok, out) = verify(&saved, &public_key);
    assert!(ok, "{out}");
    assert!(out.contains("consistency proof verified"), "{out}");

    // Tampered: another size (the signature breaks), another key, bad base64, no signature.
    let bad = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let size_line = format!("\n{}\n", saved_read.tree_size);
    let grown = bad("grown.note", saved_note.replacen(&size_line, &format!("\n{}\n", saved_read.tree_size + 1), 1));
    let (ok, out) = verify(&grown, &public_key);
    assert!(!ok && out.contains("does not verify"), "{out}");
    let (ok, out) = verify(&saved, &hex::encode([1u8; 32]).replace("01", "3b"));
    assert!(!ok, "a wrong public key passed: {out}");
    let unsigned = bad("unsigned.note", saved_note.split("\n\n").next().unwrap().to_string() + "\n\n");
    let (ok, out) = verify(&unsigned, &public_key);
    assert!(!ok && out.contains("does not verify"), "{out}");
    let (head, sig) = saved_note.trim_end().rsplit_once(' ').unwrap();
    let garbled = bad("garbled.note", format!("{head} {}*\n", &sig[1..]));
    let (ok, out) = verify(&garbled, &public_key);
    assert!(!ok && out.contains("base64"), "{out}");
    // Online without a key: refused, a note carries none.
    let mut a: Vec<String> = vec!["verify".into()];
    a.extend(remote(&admin));
    a.push("--checkpoint".into());
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let (ok, out) = run(&env, &argv, &[&saved]);
    assert!(!ok && out.contains("--public-key"), "{out}");

    // Offline, with the gateway stopped: the stored log had the note's root at its size.
    gw.terminate();
    let (ok, out) = run(&env, &["verify", "--checkpoint"], &[&saved]);
    assert!(ok, "{out}");
    assert!(out.contains("unchanged"), "{out}");
    let (ok, out) = run(&env, &["verify", "--origin", "elsewhere", "--checkpoint"], &[&saved]);
    assert!(!ok && out.contains("does not verify"), "{out}");
    // Saved offline, the note of the stopped log is the latest one.
    let (ok, out) = run(&env, &["checkpoint", "--note", "--out"], &[&dir.join("offline.note")]);
    assert!(ok, "{out}");
    let offline = std::fs::read_to_string(dir.join("offline.note")).unwrap();
    let offline_read = NoteVerifier::new(Origin::new(ORIGIN).unwrap(), key).verify(offline.as_bytes()).unwrap();
    assert!(offline_read.tree_size > saved_read.tree_size);
    // A validly signed note of more records than the log has (as if records were cut off
    // the end): the log is truncated.
    let seed = std::fs::read_to_string(env.data_dir.join("audit-signing.key")).unwrap();
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(seed.trim(), &mut bytes).unwrap();
    let longer =
        CheckpointNote { origin: Origin::new(ORIGIN).unwrap(), tree_size: offline_read.tree_size + 3, root: [7; 32] };
    let longer = bad("longer.note", longer.sign(&ed25519_dalek::SigningKey::from_bytes(&bytes)));
    let (ok, out) = run(&env, &["verify", "--checkpoint"], &[&longer]);
    assert!(!ok && out.contains("TRUNCATED"), "{out}");
    // The same size with another root: rewritten.
    let other = CheckpointNote { origin: Origin::new(ORIGIN).unwrap(), tree_size: saved_read.tree_size, root: [7; 32] };
    let other = bad("other.note", other.sign(&ed25519_dalek::SigningKey::from_bytes(&bytes)));
    let (ok, out) = run(&env, &["verify", "--checkpoint"], &[&other]);
    assert!(!ok && out.contains("REWRITTEN"), "{out}");
}
