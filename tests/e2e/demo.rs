//! `sammen demo --once`: the README's main command, run as a new user would, on a free
//! port: from the repository's root, and from an empty directory elsewhere (the binary
//! carries its policy set, configuration defaults, templates and stylesheet). It must
//! assemble a real case file through the API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::procs::sammen;

/// What one `sammen demo --once` run printed, after it succeeded.
struct Run {
    stdout: String,
    stderr: String,
}

/// Runs `sammen ARGS demo --once` in `cwd`, at most 120 s; returns whether it succeeded.
fn try_demo(cwd: &Path, args: &[&std::ffi::OsStr]) -> (bool, Run) {
    let mut child = sammen()
        .current_dir(cwd)
        .env_remove("SAMMEN_POLICIES__DIR")
        .args(args)
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
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (status.success(), Run { stdout, stderr })
}

/// The printed case file: the seeded consent covers four categories; social.case is denied.
fn assert_case_file(stdout: &str) {
    assert!(stdout.contains("A case file, assembled just now through the API"), "{stdout}");
    assert!(stdout.contains("GP was stored for sending just now"), "{stdout}");
    for path in ["/api/v1/health/statement-requests", "/api/v1/health/letters", "/api/v1/health/messages/"] {
        assert!(stdout.contains(path), "no command for {path}: {stdout}");
    }
    let section = |cat: &str| stdout.lines().find(|l| l.trim_start().starts_with(cat)).unwrap_or_default().to_string();
    for cat in ["health.lae265", "health.correspondence", "jobcenter.case", "jobnet.cv"] {
        let line = section(cat);
        assert!(line.contains("included") && line.contains("consent:"), "{cat}: {line:?}\n{stdout}");
    }
    assert!(section("social.case").contains("denied"), "{stdout}");
    // The coordinated effort: the overview of three departments and a plan update.
    for cat in ["jobcenter.summary", "social.summary", "health.summary"] {
        assert!(section(cat).contains("included"), "{cat}: {stdout}");
    }
    assert!(stdout.contains("effort e-2 written, version 2"), "{stdout}");
    for path in ["/api/v1/overviews", "/api/v1/plans/read", "/api/v1/plans/efforts"] {
        assert!(stdout.contains(path), "no command for {path}: {stdout}");
    }
}

/// The printed commands point at files that exist in `dir`, and the output shows no CPR number.
fn assert_files_and_no_cpr(run: &Run, dir: &Path) {
    for f in [
        "pki/ca.pem",
        "pki/client.pem",
        "pki/client-key.pem",
        "token",
        "case-file-request.json",
        "jobcenter-token",
        "statement-request.json",
        "letter.json",
    ] {
        assert!(dir.join(f).exists(), "{f} is missing");
        assert!(run.stdout.contains(&dir.join(f).display().to_string()), "{f} is not in the printed commands");
    }
    let seeded = sandbox::citizens::cpr_of(0);
    for text in [&run.stdout, &run.stderr] {
        let hyphenated = format!("{}-{}", &seeded.expose()[..6], &seeded.expose()[6..]);
        assert!(!text.contains(seeded.expose()) && !text.contains(&hyphenated), "a CPR number was printed");
    }
    assert!(run.stdout.contains(&seeded.masked()));
}

#[test]
fn the_demo_assembles_a_case_file_and_prints_working_commands() {
    let data = tempfile::tempdir().unwrap();
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    // The repository's policy directory, given instead of the compiled-in copy of it.
    let args = ["--data-dir".as_ref(), data.path().as_os_str(), "--policies".as_ref(), "policies".as_ref()];
    let (ok, run) = try_demo(&root, &args);
    assert!(ok, "the demo failed:\n{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("policy set                policies\n"), "{}", run.stdout);
    assert_case_file(&run.stdout);
    assert_files_and_no_cpr(&run, &data.path().canonicalize().unwrap().join("demo"));
}

#[test]
fn the_demo_runs_from_an_empty_directory_outside_the_repository() {
    let cwd = tempfile::tempdir().unwrap();
    let cwd = cwd.path().canonicalize().unwrap();
    let repo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).canonicalize().unwrap();
    assert!(!cwd.starts_with(&repo), "{} is inside the repository", cwd.display());
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
    // No --data-dir either: the default data directory is ./data, under the empty directory.
    let (ok, run) = try_demo(&cwd, &[]);
    assert!(ok, "the demo failed:\n{}\n{}", run.stdout, run.stderr);
    assert_case_file(&run.stdout);
    assert_files_and_no_cpr(&run, &cwd.join("data/demo"));
    // The compiled-in policy set was in force, and nothing else appeared beside ./data.
    assert!(run.stdout.contains("policy set                the compiled-in policy set"), "{}", run.stdout);
    let made: Vec<_> = std::fs::read_dir(&cwd).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(made, ["data"], "{made:?}");
}

#[test]
fn a_policy_directory_that_does_not_exist_is_named() {
    let cwd = tempfile::tempdir().unwrap();
    let (ok, run) = try_demo(cwd.path(), &["--policies".as_ref(), "no-such-policies".as_ref()]);
    assert!(!ok, "{}", run.stdout);
    assert!(run.stderr.contains("the policy directory no-such-policies does not exist"), "{}", run.stderr);
}
