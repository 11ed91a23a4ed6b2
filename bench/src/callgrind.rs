//! Instruction counts of the gateway per case file (`--callgrind N`): the gateway runs under
//! valgrind's callgrind; after the pre-run checks the harness zeroes its counters
//! (`callgrind_control --zero`), sends N case files one after another, and dumps them
//! (`callgrind_control --dump`). The count covers every thread of the gateway process
//! during those N requests (the request path, the audit writer, the store's background
//! flushes while they ran), which is what a case file costs it. Instruction counts do not
//! depend on the machine's load, unlike times.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use serde::Serialize;

use crate::load::Op;

/// valgrind and its options, writing to `out` (dumps go to `out.1`, `out.2`, …).
pub fn wrapper(out: &Path) -> Vec<String> {
    vec!["valgrind".into(), "--tool=callgrind".into(), format!("--callgrind-out-file={}", out.display())]
}

/// One measured series.
#[derive(Debug, Clone, Serialize)]
pub struct Count {
    pub what: String,
    pub requests: usize,
    /// Instructions executed by the gateway process over the series.
    pub instructions: u64,
}

impl Count {
    pub fn per_request(&self) -> u64 {
        self.instructions / self.requests.max(1) as u64
    }
}

fn control(args: &[&str], pid: u32) -> anyhow::Result<()> {
    let out = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .context("running callgrind_control (valgrind's)")?;
    ensure!(out.status.success(), "callgrind_control {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// The `totals:` (or `summary:`) line of a callgrind output file.
fn totals(file: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no totals in {}", file.display()))
}

/// The dump files written so far (`out.1`, `out.2`, …).
fn dumps(out: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (out.parent(), out.file_name().and_then(|n| n.to_str())) else { return Vec::new() };
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().to_str()?.to_string();
            let n: u32 = f.strip_prefix(name)?.strip_prefix('.')?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Zeroes the counters, sends `n` requests of `op` one after another, dumps, and reads the
/// dump's totals.
pub async fn measure(what: &str, op: &Op, n: usize, first_seq: usize, pid: u32, out: &Path) -> anyhow::Result<Count> {
    let before = dumps(out).len();
    control(&["--zero"], pid)?;
    for i in 0..n {
        if let Err(e) = op(first_seq + i).await {
            bail!("a case file failed under callgrind: {e}");
        }
    }
    control(&["--dump"], pid)?;
    // The dump is written asynchronously by the gateway's next scheduling point.
    let mut file = None;
    for _ in 0..600 {
        let all = dumps(out);
        if all.len() > before {
            file = all.last().cloned();
            if let Some(f) = &file
                && totals(f).is_ok()
            {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let file = file.context("callgrind wrote no dump")?;
    Ok(Count { what: what.to_string(), requests: n, instructions: totals(&file)? })
}
