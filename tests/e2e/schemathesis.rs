//! The caseworker API against its own OpenAPI document, by schemathesis (a property-based
//! API tester, Python, pinned in `scripts/install-test-deps.sh`, installed into
//! `.venv-schemathesis`): the sandbox and the gateway as real processes, every operation of
//! the served document called with generated valid and invalid input, over mTLS with the kk
//! system's certificate and a valid caseworker token; checked: no 5xx, response bodies,
//! content types and status codes as documented.
//!
//! Run by `scripts/schemathesis.sh` (which `scripts/test.sh` calls), not by a plain
//! `cargo test`: it is ignored there, because it takes a minute and needs the Python tool.
//! Bounded: `SAMMEN_SCHEMATHESIS_EXAMPLES` examples per operation (default 100), 10 s per
//! request, 150 s for the whole run, then the child is killed and the test fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::Env;

const CHECKS: &str = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance";
const DEADLINE: Duration = Duration::from_secs(150);

fn st() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-schemathesis/bin/st")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis; run by scripts/schemathesis.sh"]
async fn the_api_conforms_to_its_openapi_document() {
    assert!(st().exists(), "{} is missing: run scripts/install-test-deps.sh", st().display());
    let examples = std::env::var("SAMMEN_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "100".into());
    let env = Env::new(5_000);
    let gw = env.start_gateway();
    let dir = env.dir.path();

    // The document as served; schemathesis reads it from a file and calls the gateway.
    let r = env.kk().get(gw.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let schema = write(dir, "openapi.json", &r.text().await.unwrap());
    let pem = &env.pki.kk_system.identity_pem;
    let split = pem.find("-----BEGIN PRIVATE KEY-----").expect("certificate then key");
    let cert = write(dir, "kk.pem", &pem[..split]);
    let key = write(dir, "kk-key.pem", &pem[split..]);
    // Long enough for the whole run (tokens are checked against the wall clock).
    let token = env.rehab_token();

    let out_file = dir.join("schemathesis.txt");
    let child = tokio::process::Command::new(st())
        // Its cache (.schemathesis/) goes to the test's directory, not the repository.
        .current_dir(dir)
        .arg("run")
        .arg(&schema)
        .args(["--url", &gw.url("")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples])
        .args(["--request-timeout", "10"])
        .args(["--seed", "1"])
        .args(["--workers", "1"])
        .arg("--request-cert")
        .arg(&cert)
        .arg("--request-cert-key")
        .arg(&key)
        .arg("--tls-verify")
        .arg(&env.pki.dev.ca_cert)
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        .stdout(Stdio::from(std::fs::File::create(&out_file).unwrap()))
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {DEADLINE:?}"))
        .unwrap()
        .status;
    let report = std::fs::read_to_string(&out_file).unwrap();
    // Kept where scripts/schemathesis.sh prints it from.
    let _ = std::fs::write(std::env::temp_dir().join("sammen-schemathesis.txt"), &report);
    println!("{report}");
    assert!(status.success(), "schemathesis found failures (see the report above)");
    assert!(report.contains("passed"), "no operation was tested: {report}");
}
