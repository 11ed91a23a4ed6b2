//! Reloading the policy set on SIGHUP and when its files change.
//!
//! A background thread polls the files' modification times and sizes once a second and
//! checks a SIGHUP flag every 100 ms. Either triggers [`PolicyEngine::reload`]; the result
//! (the new digest, or why the new set was rejected and the old one kept) is logged. The
//! compiled-in set has no files: nothing is watched then.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::PolicyEngine;

/// Stops watching when dropped.
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<AtomicBool>,
    signal: Option<signal_hook::SigId>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(id) = self.signal.take() {
            signal_hook::low_level::unregister(id);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

fn fingerprint(engine: &PolicyEngine) -> Fingerprint {
    let Some(dir) = engine.dir() else { return Vec::new() };
    let mut paths = vec![dir.join(crate::SCHEMA_FILE)];
    if let Ok(rd) = std::fs::read_dir(dir.join(crate::POLICY_DIR)) {
        paths.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let mtime = m.as_ref().and_then(|m| m.modified().ok());
            let len = m.map_or(0, |m| m.len());
            (p, mtime, len)
        })
        .collect()
}

/// Reloads `engine` on SIGHUP and whenever a file in its policy directory changes (see
/// [`watch_every`] for an engine without a directory).
pub fn watch(engine: Arc<PolicyEngine>) -> std::io::Result<Watcher> {
    watch_every(engine, Duration::from_secs(1))
}

/// [`watch`] with another polling interval for file changes.
///
/// An engine with the compiled-in set (no directory) has nothing that can change: no
/// thread runs, and SIGHUP is only caught (so it does not end the process, as it would by
/// default).
pub fn watch_every(engine: Arc<PolicyEngine>, poll: Duration) -> std::io::Result<Watcher> {
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    let signal = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())?;
    if engine.dir().is_none() {
        tracing::debug!("the compiled-in policy set is in force; no policy directory to watch");
        return Ok(Watcher { stop, signal: Some(signal), thread: None });
    }
    let stop2 = stop.clone();
    // Taken before returning, not when the thread first runs: a change made right after
    // `watch` returns must be seen as a change.
    let mut seen = fingerprint(&engine);
    let thread = std::thread::Builder::new().name("policy-watch".into()).spawn(move || {
        let mut last_poll = Instant::now();
        while !stop2.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100).min(poll));
            let signalled = hup.swap(false, Ordering::Relaxed);
            let mut changed = false;
            if last_poll.elapsed() >= poll {
                last_poll = Instant::now();
                let now = fingerprint(&engine);
                changed = now != seen;
                seen = now;
            }
            if signalled || changed {
                let why = if signalled { "SIGHUP" } else { "files changed" };
                let before = engine.digest();
                match engine.reload() {
                    Ok(digest) => {
                        tracing::info!(digest = %digest, previous = %before, trigger = why, "policy set reloaded")
                    }
                    Err(e) => tracing::error!(
                        digest = %before,
                        trigger = why,
                        error = %e,
                        "policy set rejected on reload; the previous set stays in force"
                    ),
                }
            }
        }
    });
    let thread = match thread {
        Ok(t) => t,
        Err(e) => {
            signal_hook::low_level::unregister(signal);
            return Err(e);
        }
    };
    Ok(Watcher { stop, signal: Some(signal), thread: Some(thread) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_set_is_not_watched() {
        let engine = Arc::new(PolicyEngine::builtin(&crate::test_rules()).unwrap());
        assert!(fingerprint(&engine).is_empty());
        let w = watch_every(engine, Duration::from_millis(10)).unwrap();
        assert!(w.thread.is_none());
        assert!(w.signal.is_some(), "SIGHUP is still caught");
    }
}
