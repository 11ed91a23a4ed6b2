//! The SIGKILL harness shared by the crash tests.
//!
//! A crash test re-runs its own test binary in "child mode" (an `#[ignore]`d test that
//! writes in a loop and prints `ack <...>` after every acknowledged write), kills it at a
//! random moment, and then checks the store. [`run_round`] is one such round.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The next kill delay: between `min_ms` and `min_ms + spread_ms`, from a xorshift state.
pub fn next_kill_after(state: &mut u64, min_ms: u64, spread_ms: u64) -> Duration {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    Duration::from_millis(min_ms + *state % spread_ms)
}

/// Starts `child_test` of this test binary with `envs`, SIGKILLs it `kill_after` after
/// its first acknowledgement, and returns every acknowledgement it printed before dying
/// (the text after `ack `). Lines without the prefix (the test harness's) are skipped.
pub fn run_round(child_test: &str, envs: &[(&str, &OsStr)], kill_after: Duration, round: usize) -> Vec<String> {
    // The writer's stderr goes to a file, so a writer that dies by itself says why.
    let stderr_path =
        std::env::temp_dir().join(format!("sammen-{child_test}-{}-round{round}.stderr", std::process::id()));
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", child_test, "--ignored", "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("the writer's stderr file"));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the writer");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let ack = |line: String| line.strip_prefix("ack ").map(str::to_string);
    let started = Instant::now();
    let mut first_ack: Option<Instant> = None;
    let mut acks = Vec::new();
    while first_ack.is_none_or(|t| t.elapsed() < kill_after) {
        assert!(started.elapsed() < Duration::from_secs(60), "round {round}: the writer made no progress in 60 s");
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(line) => {
                if let Some(a) = ack(line) {
                    first_ack.get_or_insert_with(Instant::now);
                    acks.push(a);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                let tail: String =
                    stderr.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                panic!(
                    "round {round}: the writer exited by itself ({status}) before being killed; its stderr ends:\n{tail}"
                );
            }
        }
    }
    // SIGKILL: no destructors, no flush.
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&stderr_path);
    // Everything the child printed before dying was acknowledged before dying.
    reader.join().unwrap();
    acks.extend(rx.try_iter().filter_map(ack));
    acks
}
