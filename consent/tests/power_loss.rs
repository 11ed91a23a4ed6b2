//! Durable on power loss: every acknowledged write follows a real sync.
//!
//! A SIGKILL test (`crash.rs`) cannot see whether data reached the disk: the kernel keeps
//! a killed process's writes. A power cut loses what is only in the page cache or the
//! disk's write cache, and sled 0.34's own flush (`sync_file_range`) flushes neither the
//! disk cache nor the file's metadata. So this test watches the system calls instead: a
//! child process (this test binary, re-run in "child mode") commits consent changes, an
//! import, blocks, audit batches and prunes, printing `ack <i> <what>` after each
//! acknowledged write; it runs under
//! `strace -f -y` (syncs, writes, and the calls that create, rename or remove files). The
//! parent reads the trace in order and checks that between one acknowledgement and the
//! next the writer completed an `fdatasync`/`fsync` of the log file (`<store>/db`), and
//! that a directory of the store in which a file was created, renamed or removed was
//! `fsync`ed after that and before the acknowledgement (so the files sled created are
//! durable too), each returning 0.
//!
//! `strace` must be installed (`scripts/install-test-deps.sh` installs it): without it the
//! test fails rather than proving nothing.

mod audit_support;
mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use consent::audit::{AuditConfig, AuditLog};
use consent::{Actor, AuditPrune, Channel, ConsentService, Ledger, SledStore, Store};

const CHILD_ENV: &str = "SAMMEN_POWER_LOSS_CHILD_DIR";
/// Rounds of the child's write cycle (six acknowledged writes each).
const ROUNDS: usize = 5;
const KINDS: [&str; 6] = ["grant", "revoke", "import", "block", "audit-append", "audit-prune"];

/// Child mode: runs only when the parent starts this binary with the env var set.
#[test]
#[ignore = "run by every_acknowledgement_follows_a_sync as a traced child process"]
fn power_loss_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(child(Path::new(&dir)));
}

async fn child(dir: &Path) {
    use std::io::Write;
    let store = SledStore::open(dir).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let log = AuditLog::open(store.clone(), key, AuditConfig::default()).await.unwrap();
    let service = ConsentService::new(Ledger::new(store.clone(), rules()), log.clone());
    let api = Actor::citizen(Channel::Api);
    let portal = Actor::citizen(Channel::Portal);
    let cli = Actor::citizen(Channel::Cli);
    let mut out = std::io::stdout().lock();
    let now = t0();
    let mut ack = 0usize;
    let mut say = |what: &str| {
        // The write returned: it is acknowledged. Say so, in one write(2).
        out.write_all(format!("ack {ack} {what}\n").as_bytes()).unwrap();
        out.flush().unwrap();
        ack += 1;
    };
    for round in 0..ROUNDS as u64 {
        let who = cpr(&format!("01{:02}709{:03}", 1 + round % 12, 900 + round));
        let c = service.grant(terms(who, "kk.jobcenter", &["jobnet.cv"], now, 6), &who, &api, now).await.unwrap();
        say(KINDS[0]);
        service.revoke(c.id, &who, &portal, now).await.unwrap();
        say(KINDS[1]);
        let inputs = (0..2).map(|_| terms(who, "kk.jobcenter.rehab", &["health.lae265"], now, 6)).collect();
        service.import_grants(inputs, &cli, now).await.unwrap();
        say(KINDS[2]);
        service.place_block(&who, consent::BlockTarget::Category(category("social.case")), &portal, now).await.unwrap();
        say(KINDS[3]);
        log.append(vec![audit_support::record(round)]).await.unwrap();
        say(KINDS[4]);
        let (start, end) = (store.audit_pruned_below().await.unwrap(), store.audit_size().await.unwrap());
        assert!(start < end, "nothing to prune");
        store.audit_prune(AuditPrune { start, end, citizens: &[] }).await.unwrap();
        say(KINDS[5]);
    }
}

/// What one line of the trace says.
#[derive(Debug, PartialEq)]
enum Seen {
    /// A completed, successful fsync/fdatasync of this path.
    Synced(String),
    /// The start of the write(2) of an acknowledgement line.
    Ack(String),
    /// A call that created, renamed or removed an entry of this directory (it completed;
    /// a failed one changes nothing, but counting it only asks for one sync more).
    Changed(String),
    Other,
}

/// The path strace -y prints for the first argument: `name(7</the/path>...`.
fn fd_path(args: &str) -> Option<&str> {
    let open = args.find('<')?;
    let close = args[open..].find('>')? + open;
    Some(&args[open + 1..close])
}

/// The calls that change a directory's entries (`openat` only with `O_CREAT`).
const CHANGING: [&str; 9] =
    ["openat", "open", "creat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir"];

/// The directories of the quoted paths in a changing call's arguments.
fn changed_dirs(name: &str, args: &str) -> Vec<String> {
    if !CHANGING.contains(&name) || ((name == "openat" || name == "open") && !args.contains("O_CREAT")) {
        return Vec::new();
    }
    args.split('"')
        .skip(1)
        .step_by(2)
        .filter(|p| p.starts_with('/'))
        .filter_map(|p| Path::new(p).parent().and_then(Path::to_str).map(str::to_string))
        .collect()
}

/// Reads strace -f -y output, pairing `<unfinished ...>` calls with their `resumed` ends.
fn parse(trace: &str) -> Vec<(usize, Seen)> {
    let mut pending: std::collections::HashMap<&str, (&str, String)> = Default::default();
    let mut pending_change: std::collections::HashMap<&str, Vec<String>> = Default::default();
    let mut out = Vec::new();
    for (n, line) in trace.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        if rest.starts_with("<... ")
            && let Some(dirs) = pending_change.remove(pid)
        {
            for d in dirs {
                out.push((n + 1, Seen::Changed(d)));
            }
            continue;
        }
        if let Some((name, args)) = rest.split_once('(') {
            let dirs = changed_dirs(name, args);
            if !dirs.is_empty() {
                if rest.ends_with("<unfinished ...>") {
                    pending_change.insert(pid, dirs);
                } else {
                    out.extend(dirs.into_iter().map(|d| (n + 1, Seen::Changed(d))));
                }
                continue;
            }
        }
        let seen = if let Some(call) = rest.strip_prefix("<... ") {
            // `<... fdatasync resumed>) = 0`
            let name = call.split_whitespace().next().unwrap_or("");
            match pending.remove(pid) {
                Some((started, path)) if started == name && rest.ends_with("= 0") => Seen::Synced(path),
                _ => Seen::Other,
            }
        } else if let Some((name, args)) = rest.split_once('(') {
            let sync = name == "fsync" || name == "fdatasync";
            if name == "write" && args.starts_with('1') && args.contains("\"ack ") {
                let text = args.split('"').nth(1).unwrap_or("").trim_end_matches("\\n").to_string();
                Seen::Ack(text)
            } else if sync && rest.ends_with("<unfinished ...>") {
                if let Some(path) = fd_path(args) {
                    pending.insert(pid, (name, path.to_string()));
                }
                Seen::Other
            } else if sync && rest.ends_with("= 0") {
                fd_path(args).map_or(Seen::Other, |p| Seen::Synced(p.to_string()))
            } else {
                Seen::Other
            }
        } else {
            Seen::Other
        };
        out.push((n + 1, seen));
    }
    out
}

/// Checks that before each acknowledgement, and after the previous one, the log file was
/// synced, and that every directory of the store whose entries changed was synced after
/// the change. Returns the acknowledgements in order.
fn check(trace: &str, store_dir: &Path) -> Result<Vec<String>, String> {
    let dir = store_dir.to_str().unwrap().to_string();
    let log = format!("{dir}/db");
    let blobs = format!("{dir}/blobs");
    let mut log_synced = false;
    // Directories of the store changed and not synced since.
    let mut dirty: std::collections::BTreeSet<String> = Default::default();
    let mut acks = Vec::new();
    for (line, seen) in parse(trace) {
        match seen {
            Seen::Synced(p) if p == log => log_synced = true,
            Seen::Synced(p) if p == dir || p == blobs => {
                dirty.remove(&p);
            }
            Seen::Changed(d) if d == dir || d == blobs => {
                dirty.insert(d);
            }
            Seen::Synced(_) | Seen::Changed(_) | Seen::Other => {}
            Seen::Ack(text) => {
                if !log_synced || !dirty.is_empty() {
                    return Err(format!(
                        "trace line {line}: `{text}` was acknowledged without a completed sync since the previous \
                         acknowledgement (log file {log} synced: {log_synced}; directories changed and not synced: \
                         {dirty:?})"
                    ));
                }
                acks.push(text);
                log_synced = false;
            }
        }
    }
    Ok(acks)
}

#[test]
fn every_acknowledgement_follows_a_sync() {
    let strace = Command::new("strace").arg("-V").output();
    assert!(
        strace.as_ref().is_ok_and(|o| o.status.success()),
        "strace is not installed or does not run ({:?}): this test traces the writer's system calls; \
         scripts/install-test-deps.sh installs it (Debian package strace)",
        strace.err()
    );
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    std::fs::create_dir_all(&store_dir).unwrap();
    let store_dir = store_dir.canonicalize().unwrap();
    let trace_file = tmp.path().join("trace");
    let stderr_file = tmp.path().join("stderr");

    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-y",
        "-qq",
        "-e",
        "trace=fsync,fdatasync,sync_file_range,write,open,openat,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir",
        "-o",
    ])
    .arg(&trace_file)
    .arg("--")
    .arg(std::env::current_exe().unwrap())
    .args(["--exact", "power_loss_child_writer", "--ignored", "--nocapture", "--test-threads=1"])
    .env(CHILD_ENV, &store_dir)
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(&stderr_file).unwrap());
    // Its own process group, so a timeout kills the traced writer with strace.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("start strace");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            panic!("the traced writer did not finish in 180 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = reader.join().unwrap().unwrap();
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    assert!(status.success(), "the traced writer failed ({status}):\n{stdout}\n{stderr}");

    // (The test harness's "test ... " may precede the first acknowledgement on its line.)
    let printed: Vec<_> = stdout.lines().filter_map(|l| l.find("ack ").map(|at| l[at..].to_string())).collect();
    assert_eq!(printed.len(), ROUNDS * KINDS.len(), "the writer's acknowledgements:\n{stdout}");
    let trace = std::fs::read_to_string(&trace_file).unwrap();
    let acks = check(&trace, &store_dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(acks, printed, "the trace's acknowledgements are not the ones the writer printed");
    let sled_own = trace.lines().filter(|l| l.contains("sync_file_range(")).count();
    eprintln!(
        "{} acknowledgements, each after a sync of the log and of every store directory changed before it \
         ({} directory syncs, {sled_own} sync_file_range calls of sled's own)",
        acks.len(),
        trace.lines().filter(|l| l.contains(&format!("<{}>", store_dir.display())) && l.contains("fsync(")).count()
    );
}

#[test]
fn the_trace_check_refuses_an_acknowledgement_without_a_sync() {
    let dir = Path::new("/d/store");
    let ok = "\
10 fdatasync(7</d/store/db> <unfinished ...>
11 write(1<pipe:[9]>, \"running 1 test\\n\", 15) = 15
10 <... fdatasync resumed>) = 0
10 fsync(8</d/store>) = 0
11 write(1<pipe:[9]>, \"ack 0 grant\\n\", 12) = 12
12 fsync(7</d/store/db>) = 0
12 fsync(8</d/store>) = 0
11 write(1<pipe:[9]>, \"ack 1 revoke\\n\", 13) = 13
";
    assert_eq!(check(ok, dir).unwrap(), vec!["ack 0 grant", "ack 1 revoke"]);

    // The second acknowledgement follows only sled's periodic log sync.
    let no_log = ok.replace("12 fsync(7</d/store/db>) = 0\n", "12 sync_file_range(7</d/store/db>, 0, 4096, 7) = 0\n");
    let e = check(&no_log, dir).unwrap_err();
    assert!(e.contains("ack 1 revoke") && e.contains("synced: false"), "{e}");
    // A file created in the store (or its blobs) needs a directory sync after it, before
    // the next acknowledgement; without a change none is needed.
    let created = ok.replace(
        "12 fsync(7</d/store/db>) = 0\n12 fsync(8</d/store>) = 0\n",
        "13 openat(AT_FDCWD</>, \"/d/store/blobs/17\", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 9</d/store/blobs/17>\n\
         12 fsync(7</d/store/db>) = 0\n",
    );
    let e = check(&created, dir).unwrap_err();
    assert!(e.contains("ack 1 revoke") && e.contains("/d/store/blobs"), "{e}");
    let synced = created
        .replace("12 fsync(7</d/store/db>) = 0\n", "12 fsync(7</d/store/db>) = 0\n12 fsync(9</d/store/blobs>) = 0\n");
    assert_eq!(check(&synced, dir).unwrap(), vec!["ack 0 grant", "ack 1 revoke"]);
    let early = created.replace("13 openat(", "12 fsync(9</d/store/blobs>) = 0\n13 openat(");
    assert!(check(&early, dir).unwrap_err().contains("ack 1 revoke"), "a sync before the change does not count");
    let renamed = ok
        .replace("12 fsync(8</d/store>) = 0\n", "14 rename(\"/d/store/snap.1.generating\", \"/d/store/snap.1\") = 0\n");
    assert!(check(&renamed, dir).unwrap_err().contains("/d/store"));
    let unfinished = ok.replace(
        "12 fsync(8</d/store>) = 0\n",
        "14 unlink(\"/d/store/snap.0\" <unfinished ...>\n12 fsync(8</d/store>) = 0\n14 <... unlink resumed>) = 0\n",
    );
    assert!(check(&unfinished, dir).unwrap_err().contains("/d/store"), "the change ends after the sync");
    let outside =
        ok.replace("12 fsync(8</d/store>) = 0\n", "15 openat(AT_FDCWD</>, \"/tmp/x\", O_CREAT) = 3</tmp/x>\n");
    assert_eq!(check(&outside, dir).unwrap().len(), 2, "a file outside the store is not the store's");

    // A sync that failed, or did not finish before the acknowledgement, does not count.
    let failed =
        ok.replace("10 <... fdatasync resumed>) = 0", "10 <... fdatasync resumed>) = -1 EIO (Input/output error)");
    assert!(check(&failed, dir).unwrap_err().contains("ack 0 grant"));
    let late = "\
10 fdatasync(7</d/store/db> <unfinished ...>
12 fsync(8</d/store>) = 0
11 write(1<pipe:[9]>, \"ack 0 grant\\n\", 12) = 12
10 <... fdatasync resumed>) = 0
";
    assert!(check(late, dir).unwrap_err().contains("log file /d/store/db synced: false"));
    // Another file's sync is not the log's.
    let other = ok.replace("12 fsync(7</d/store/db>)", "12 fsync(7</d/store/conf>)");
    assert!(check(&other, dir).unwrap_err().contains("ack 1 revoke"));
}
