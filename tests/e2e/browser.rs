//! The citizen portal in a real browser: `sammen demo` on free ports, then
//! `node tests/js/portal-browser.mjs` drives Debian's headless chromium through login on the
//! sandbox MitID broker (citizen 0, level substantial), approving the seeded request,
//! revoking the consent and "Min log"; then as citizen 1, who holds a power of attorney for
//! citizen 0, acting on their behalf (grant, revoke) at 320, 390 and 1280 px; running
//! axe-core on every page. The screenshots are
//! kept in `<target>/portal-screenshots`. Needs node, `tests/js/node_modules` and
//! `/usr/bin/chromium` (`scripts/install-test-deps.sh` installs them): without them the test
//! fails, it does not skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::procs::sammen;

const INSTALL: &str = "run scripts/install-test-deps.sh (Debian's chromium, node, npm ci --prefix tests/js)";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `<target>/portal-screenshots`, from this test binary's place (`<target>/debug/deps/`).
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).expect("the test binary lives in <target>/<profile>/deps");
    target.join("portal-screenshots")
}

/// The tools the browser test needs, or a failure naming the install command.
fn require_tools(root: &Path) {
    let node = Command::new("node").arg("--version").output();
    assert!(node.as_ref().is_ok_and(|o| o.status.success()), "node is missing ({node:?}): {INSTALL}");
    for needed in ["tests/js/node_modules/playwright-core", "tests/js/node_modules/axe-core"] {
        assert!(root.join(needed).is_dir(), "{needed} is missing: {INSTALL}");
    }
    assert!(Path::new("/usr/bin/chromium").exists(), "/usr/bin/chromium is missing: {INSTALL}");
}

/// A running `sammen demo`; killed on drop.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: PathBuf,
}

impl Demo {
    fn start(data: &Path, root: &Path) -> Demo {
        let stderr = data.join("demo.stderr");
        let mut child = sammen()
            .current_dir(root)
            .arg("--data-dir")
            .arg(data)
            .args(["demo", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap();
        // Drain stdout for the demo's whole life, so it never blocks on a full pipe.
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo { child, lines, seen: Vec::new(), stderr }
    }

    /// Waits (bounded) for `Portal (borgere): <url>` and returns the URL.
    fn portal_url(&mut self, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let url = line.split_once("Portal (borgere): ").map(|(_, url)| url.trim().to_string());
                    let started_without_portal = line.contains("Press ctrl-c");
                    self.seen.push(line);
                    if let Some(url) = url {
                        return url;
                    }
                    assert!(
                        !started_without_portal,
                        "the demo started without a portal line; stdout: {:#?}",
                        self.seen
                    );
                }
                Err(_) => panic!(
                    "no line \"Portal (borgere): \" within {wait:?}; stdout: {:#?}\nstderr:\n{}",
                    self.seen,
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                ),
            }
        }
    }

    /// Everything the demo printed so far (stdout lines, then stderr).
    fn output(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        format!("{}\n{}", self.seen.join("\n"), std::fs::read_to_string(&self.stderr).unwrap_or_default())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to its end, at most `wait`; returns (success, stdout, stderr).
fn run_bounded(mut cmd: Command, dir: &Path, wait: Duration) -> (bool, String, String) {
    let (out, err) = (dir.join("browser.stdout"), dir.join("browser.stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    match status {
        Some(s) => (s.success(), read(&out), read(&err)),
        None => (false, read(&out), format!("{}\n(killed after {wait:?})", read(&err))),
    }
}

fn assert_no_cpr(text: &str, what: &str) {
    for i in [0, 1] {
        let cpr = sandbox::citizens::cpr_of(i);
        let digits = cpr.expose();
        let hyphenated = format!("{}-{}", &digits[..6], &digits[6..]);
        assert!(!text.contains(digits) && !text.contains(&hyphenated), "a CPR number in {what}");
    }
}

#[test]
fn a_citizen_logs_in_approves_and_revokes_in_a_real_browser_and_every_page_passes_axe() {
    let root = repo_root();
    require_tools(&root);
    let data = tempfile::tempdir().unwrap();
    let shots = screenshot_dir();
    let _ = std::fs::remove_dir_all(&shots);

    let mut demo = Demo::start(data.path(), &root);
    let url = demo.portal_url(Duration::from_secs(120));
    assert!(url.starts_with("https://localhost:") && url.ends_with('/'), "portal URL {url:?}");

    let mut node = Command::new("node");
    node.current_dir(&root).arg("tests/js/portal-browser.mjs").arg(&url).arg(&shots);
    let (ok, stdout, stderr) = run_bounded(node, data.path(), Duration::from_secs(300));
    let demo_output = demo.output();
    // Never a CPR number, whatever happened (checked first: a failure message prints outputs).
    for (text, what) in
        [(&stdout, "the browser test's stdout"), (&stderr, "its stderr"), (&demo_output, "the demo's output")]
    {
        assert_no_cpr(text, what);
    }
    assert!(
        ok,
        "the browser test failed (screenshots in {}):\n{stdout}\n{stderr}\n--- demo ---\n{demo_output}",
        shots.display()
    );

    // The summary: every step's page was shot and checked, none had a serious violation.
    let last = stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["violations"], 0, "{summary}");
    let pages = summary["pages"].as_u64().unwrap();
    assert!(pages >= 20, "only {pages} pages checked: {summary}");
    for acting in ["fuldmagter", "on-behalf-overview", "on-behalf-granted", "on-behalf-revoked", "on-behalf-320"] {
        let found = std::fs::read_dir(&shots)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(&format!("-{acting}.png")));
        assert!(found, "no screenshot of {acting} in {}", shots.display());
    }
    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png"))
        .count();
    assert_eq!(pngs as u64, pages, "one screenshot per page in {}", shots.display());
}
