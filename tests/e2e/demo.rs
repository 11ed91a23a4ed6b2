//! `sammen demo --once`: the README's main command, run as a new user would (from the
//! repository's root), on a free port. It must assemble a real case file through the API.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::procs::sammen;

#[test]
fn the_demo_assembles_a_case_file_and_prints_working_commands() {
    let data = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut child = sammen()
        .current_dir(root)
        .arg("--data-dir")
        .arg(data.path())
        .args(["demo", "--once", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the demo did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "the demo failed:\n{stdout}\n{stderr}");

    // The seeded consent covers four categories; social.case is denied.
    let section = |cat: &str| stdout.lines().find(|l| l.trim_start().starts_with(cat)).unwrap_or_default().to_string();
    for cat in ["health.lae265", "health.correspondence", "jobcenter.case", "jobnet.cv"] {
        let line = section(cat);
        assert!(line.contains("included") && line.contains("consent:"), "{cat}: {line:?}\n{stdout}");
    }
    assert!(section("social.case").contains("denied"), "{stdout}");

    // The printed commands point at files that exist, and the output shows no CPR number.
    let dir = data.path().canonicalize().unwrap().join("demo");
    for f in ["pki/ca.pem", "pki/client.pem", "pki/client-key.pem", "token", "case-file-request.json"] {
        assert!(dir.join(f).exists(), "{f} is missing");
        assert!(stdout.contains(&dir.join(f).display().to_string()), "{f} is not in the printed commands");
    }
    let seeded = sandbox::citizens::cpr_of(0);
    for text in [&stdout, &stderr] {
        let hyphenated = format!("{}-{}", &seeded.expose()[..6], &seeded.expose()[6..]);
        assert!(!text.contains(seeded.expose()) && !text.contains(&hyphenated), "a CPR number was printed");
    }
    assert!(stdout.contains(&seeded.masked()));
}
