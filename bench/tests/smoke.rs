//! The load harness at tiny size (a few hundred consents, sub-second phases), so it cannot
//! rot. It asserts that the run completes and every request of both sides answered
//! correctly; it asserts nothing about speed (benchmarks measure, tests do not time).

use std::process::Command;

#[test]
fn the_harness_runs_at_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--consents", "300", "--secs", "0.3", "--warmup-secs", "0.2", "--concurrency", "1,4"])
        .args(["--delay-ms", "50", "--delay-concurrency", "2", "--gateway-log", "warn"])
        .args(["--rate", "20", "--fresh-concurrency", "2", "--fresh-tokens", "50"])
        .arg("--dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("| sources at once | c=4 |"), "{stdout}");
    assert!(stdout.contains("| sources at once | open 20/s |"), "{stdout}");
    assert!(stdout.contains("| fresh token per request | c=2 |"), "{stdout}");

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "open loop, two concurrencies, fresh tokens and the delayed scenario");
    for row in rows {
        for side in ["limit", "sammen"] {
            let m = &row[side];
            assert_eq!(m["errors"], 0, "{side} in {row}");
            assert!(m["requests"].as_u64().unwrap() > 0, "{side} in {row}");
        }
        // The gateway did the work of B (its CPU and memory were read from /proc).
        assert!(row["sammen"]["gateway_cpu_s"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["sammen"]["gateway_peak_rss_mib"].as_f64().unwrap() > 1.0, "{row}");
    }
    // With one source delayed by 50 ms, no request of either side can be faster than that.
    let delayed = &rows[4];
    assert_eq!(delayed["scenario"], "mediconnect +50 ms");
    for side in ["limit", "sammen"] {
        assert!(delayed[side]["p50_ms"].as_f64().unwrap() >= 50.0, "{delayed}");
    }
    assert!(report["preloaded"]["consents"].as_u64().unwrap() >= 300);
    // Run as deployed: the metrics recorder counted the case files of the phases before it
    // was read (the pre-run checks, warm-up and four rows).
    let counted = report["case_files_counted_by_metrics"].as_u64().unwrap();
    let sent: u64 = rows[..4].iter().map(|r| r["sammen"]["requests"].as_u64().unwrap()).sum();
    assert!(counted >= sent, "metrics counted {counted}, the load sent {sent}");
    // No CPR number leaks into the harness's output.
    for c in sandbox::citizens() {
        assert!(!stdout.contains(c.cpr.expose()) && !stderr.contains(c.cpr.expose()));
    }
}

/// The same at tiny size on PostgreSQL (a scratch cluster), two gateway instances taking
/// the load in turn: every request of both sides answered correctly; and several instances
/// on sled refused before anything starts.
#[test]
fn the_harness_runs_two_instances_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--consents", "200", "--secs", "0.3", "--warmup-secs", "0.2", "--concurrency", "1,4"])
        .args(["--delay-ms", "0", "--gateway-log", "warn", "--rate", "0", "--fresh-concurrency", "0"])
        .args(["--store", "postgres", "--instances", "2"])
        .arg("--dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("Store: postgres, 2 gateway instances."), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "two concurrencies");
    for row in rows {
        for side in ["limit", "sammen"] {
            assert_eq!(row[side]["errors"], 0, "{side} in {row}");
            assert!(row[side]["requests"].as_u64().unwrap() > 0, "{side} in {row}");
        }
    }
    // Both instances were started (each with its log); the load alternates between them
    // request by request, so with no error on B both answered correctly.
    for log in ["gateway.log", "gateway-1.log"] {
        assert!(dir.path().join("work").join(log).exists(), "{log}");
    }

    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--instances", "2", "--dir"])
        .arg(dir.path().join("sled"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("need --store postgres"));
}
