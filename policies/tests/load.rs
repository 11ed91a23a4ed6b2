//! Loading, strict validation with file and line, and reload that keeps the old set.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consent::State;
use policies::{Caseworker, DecisionRequest, Effect, POLICY_DIR, PolicyEngine, PolicyError, SCHEMA_FILE};
use support::*;

/// A copy of the repository's policy directory in a temporary directory.
fn copy_policies() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = policies::repository_dir();
    std::fs::copy(src.join(SCHEMA_FILE), tmp.path().join(SCHEMA_FILE)).unwrap();
    std::fs::create_dir(tmp.path().join(POLICY_DIR)).unwrap();
    for e in std::fs::read_dir(src.join(POLICY_DIR)).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, tmp.path().join(POLICY_DIR).join(p.file_name().unwrap())).unwrap();
    }
    tmp
}

fn policy_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(POLICY_DIR).join(name)
}

fn write_policy(dir: &Path, name: &str, text: &str) {
    std::fs::write(policy_file(dir, name), text).unwrap();
}

fn problems(e: &PolicyError) -> Vec<(String, usize, String)> {
    e.problems()
        .iter()
        .map(|p| (p.file.file_name().unwrap().to_string_lossy().into_owned(), p.line, p.message.clone()))
        .collect()
}

fn permits_lae265(engine: &PolicyEngine) -> bool {
    let who = citizen();
    let cw = Caseworker {
        id: "cw".into(),
        unit: unit("kk.jobcenter.rehab"),
        roles: ["rehab-team-member".to_string()].into(),
    };
    let now = t("2025-06-01T12:00:00Z");
    let k = consent(
        who,
        "kk.jobcenter.rehab",
        false,
        "rehabilitation-team",
        &["health.lae265"],
        t("2025-01-01T00:00:00Z"),
        t("2026-01-01T00:00:00Z"),
        State::Active,
    );
    let cats = [cat("health.lae265")];
    let consents = [(cat("health.lae265"), vec![k])];
    let d = engine
        .decide(&DecisionRequest {
            caseworker: &cw,
            citizen: &who,
            citizen_municipality: None,
            purpose: &purpose("rehabilitation-team"),
            categories: &cats,
            now,
            consents: &consents,
            blocks: &[],
        })
        .unwrap();
    d.sections[0].effect() == Effect::Permit
}

const FORBID_ALL: &str = r#"
@id("test.forbid-all")
@reason_da("Alt er forbudt.")
@reason_en("Everything is forbidden.")
forbid (principal, action, resource);
"#;

#[test]
fn the_repository_set_is_valid() {
    let s = policies::check(&policies::repository_dir()).unwrap();
    assert_eq!(s.digest.len(), 64);
    assert!(s.policies.iter().any(|(id, e, r)| id == "statute.rsl-11a-2.benefits"
        && *e == "permit"
        && r.as_deref() == Some("retssikkerhedsloven § 11 a, stk. 2")));
}

#[test]
fn a_syntax_error_at_start_up_names_file_and_line() {
    let tmp = copy_policies();
    write_policy(
        tmp.path(),
        "50-broken.cedar",
        "// a comment\n\n@id(\"x\")\npermit (principal, action, resource)\nwhen { principal.organisation == };\n",
    );
    let e = PolicyEngine::load(tmp.path(), &rules()).unwrap_err();
    let p = problems(&e);
    assert_eq!(p.len(), 1, "{e}");
    assert_eq!((p[0].0.as_str(), p[0].1), ("50-broken.cedar", 5), "{e}");
    assert!(e.to_string().contains("50-broken.cedar:5:"), "{e}");
}

#[test]
fn a_type_error_at_start_up_names_file_line_and_policy() {
    let tmp = copy_policies();
    let text = "@id(\"bad.type\")\n@basis(\"consent\")\n@reason_da(\"x\")\n@reason_en(\"x\")\npermit (principal, action == Sammen::Action::\"read\", resource)\nwhen {\n  principal.organisation.no_such_attribute == 1\n};\n";
    write_policy(tmp.path(), "50-types.cedar", text);
    let e = PolicyEngine::load(tmp.path(), &rules()).unwrap_err();
    let p = &e.problems()[0];
    assert_eq!(p.file.file_name().unwrap(), "50-types.cedar", "{e}");
    assert_eq!(p.line, 7, "{e}");
    assert_eq!(p.policy.as_deref(), Some("bad.type"), "{e}");
    assert!(p.message.contains("no_such_attribute"), "{e}");
}

#[test]
fn an_unknown_entity_type_is_a_validation_error() {
    let tmp = copy_policies();
    write_policy(
        tmp.path(),
        "50-unknown.cedar",
        "@id(\"bad.entity\")\n@reason_da(\"x\")\n@reason_en(\"x\")\nforbid (principal in Sammen::Team::\"x\", action, resource);\n",
    );
    let e = PolicyEngine::load(tmp.path(), &rules()).unwrap_err();
    let p = problems(&e);
    assert_eq!((p[0].0.as_str(), p[0].1), ("50-unknown.cedar", 4), "{e}");
}

#[test]
fn missing_annotations_are_located() {
    let tmp = copy_policies();
    write_policy(
        tmp.path(),
        "50-annotations.cedar",
        "\n\nforbid (principal, action, resource);\n\n@id(\"p\")\n@reason_da(\"x\")\n@reason_en(\"x\")\npermit (principal, action, resource);\n\n@id(\"consent.matching\")\n@reason_da(\"x\")\n@reason_en(\"x\")\nforbid (principal, action, resource);\n",
    );
    let e = PolicyEngine::load(tmp.path(), &rules()).unwrap_err();
    let p = problems(&e);
    assert_eq!(p.len(), 3, "{e}");
    assert_eq!(p[0].1, 3, "{e}");
    assert!(p[0].2.contains("@id"), "{e}");
    assert_eq!(p[1].1, 5, "{e}");
    assert!(p[1].2.contains("@basis"), "{e}");
    assert_eq!(p[2].1, 10, "{e}");
    assert!(p[2].2.contains("used twice"), "{e}");
}

#[test]
fn a_schema_error_names_the_schema_file_and_line() {
    let tmp = copy_policies();
    let schema = std::fs::read_to_string(tmp.path().join(SCHEMA_FILE)).unwrap();
    let broken = schema.replacen("entity Role;", "entity Role;\n  entity Broken in [Nowhere];", 1);
    std::fs::write(tmp.path().join(SCHEMA_FILE), &broken).unwrap();
    let e = PolicyEngine::load(tmp.path(), &rules()).unwrap_err();
    let p = &e.problems()[0];
    assert_eq!(p.file.file_name().unwrap(), SCHEMA_FILE, "{e}");
    assert!(p.message.contains("Nowhere"), "{e}");
    let want = broken.lines().position(|l| l.contains("Broken")).unwrap() + 1;
    assert_eq!(p.line, want, "{e}");
}

#[test]
fn a_broken_file_on_reload_keeps_the_old_set() {
    let tmp = copy_policies();
    let engine = PolicyEngine::load(tmp.path(), &rules()).unwrap();
    let before = engine.digest();
    assert!(permits_lae265(&engine));

    // A new policy with a type error, and a syntax error in an existing file.
    write_policy(
        tmp.path(),
        "60-new.cedar",
        "@id(\"n\")\n@reason_da(\"x\")\n@reason_en(\"x\")\nforbid (principal, action, resource) when { context.nope };\n",
    );
    let e = engine.reload().unwrap_err();
    assert_eq!(problems(&e)[0].0, "60-new.cedar", "{e}");
    assert_eq!(problems(&e)[0].1, 4, "{e}");
    assert_eq!(engine.digest(), before, "the old set stays in force");
    assert!(permits_lae265(&engine), "and still decides");

    // Fixed: the new set is swapped in.
    write_policy(tmp.path(), "60-new.cedar", FORBID_ALL);
    let after = engine.reload().unwrap();
    assert_ne!(after, before);
    assert_eq!(engine.digest(), after);
    assert!(!permits_lae265(&engine));

    // A missing schema is refused too.
    std::fs::remove_file(tmp.path().join(SCHEMA_FILE)).unwrap();
    assert!(matches!(engine.reload(), Err(PolicyError::Io { .. })));
    assert_eq!(engine.digest(), after);
}

#[test]
fn decisions_continue_during_reloads() {
    let tmp = copy_policies();
    let engine = Arc::new(PolicyEngine::load(tmp.path(), &rules()).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert!(permits_lae265(&engine));
                n += 1;
            }
            n
        })
    };
    for _ in 0..20 {
        engine.reload().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(worker.join().unwrap() > 0);
}

fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn the_watcher_reloads_on_change_and_on_sighup() {
    let tmp = copy_policies();
    let engine = Arc::new(PolicyEngine::load(tmp.path(), &rules()).unwrap());
    let watcher = policies::watch::watch_every(engine.clone(), Duration::from_millis(50)).unwrap();
    let first = engine.digest();

    // A broken change is rejected (waiting for the watcher's reload to fail, not for a
    // time): the digest stays, and the engine says why.
    assert_eq!(engine.reload_failure(), None);
    write_policy(tmp.path(), "70-broken.cedar", "forbid (");
    assert!(wait_for(|| engine.reload_failure().is_some()), "the broken change was not tried");
    assert_eq!(engine.digest(), first);
    assert!(engine.reload_failure().unwrap().contains("70-broken.cedar"), "{:?}", engine.reload_failure());
    assert!(permits_lae265(&engine), "the old set is still in force");

    // A valid change is picked up, and the failure is forgotten.
    write_policy(tmp.path(), "70-broken.cedar", FORBID_ALL);
    assert!(wait_for(|| engine.digest() != first), "file change reloaded");
    assert_eq!(engine.reload_failure(), None);
    assert!(!permits_lae265(&engine));

    // SIGHUP reloads too (here after a change the poller has not seen: a long interval).
    drop(watcher);
    let second = engine.digest();
    let _watcher = policies::watch::watch_every(engine.clone(), Duration::from_secs(3600)).unwrap();
    std::fs::remove_file(policy_file(tmp.path(), "70-broken.cedar")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(engine.digest(), second, "no poll yet");
    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    assert!(wait_for(|| engine.digest() == first), "SIGHUP reloaded");
    assert!(permits_lae265(&engine));
}

#[test]
fn a_category_without_a_role_gate_is_denied() {
    #[derive(serde::Deserialize)]
    struct Config {
        domain: consent::DomainConfig,
    }
    let extra =
        format!("{}\n[domain.categories.\"jobcenter.plan\"]\nda = \"Plan\"\nen = \"Plan\"\n", consent::DEFAULT_CONFIG);
    let rules = toml::from_str::<Config>(&extra).unwrap().domain.into_rules().unwrap();
    let engine = PolicyEngine::load(&policies::repository_dir(), &rules).unwrap();
    let who = citizen();
    let cw =
        Caseworker { id: "cw".into(), unit: unit("kk.jobcenter"), roles: ["jobcenter-caseworker".to_string()].into() };
    let k = consent(
        who,
        "kk.jobcenter",
        false,
        "rehabilitation-team",
        &["jobcenter.plan"],
        t("2025-01-01T00:00:00Z"),
        t("2026-01-01T00:00:00Z"),
        State::Active,
    );
    let cats = [cat("jobcenter.plan")];
    let consents = [(cat("jobcenter.plan"), vec![k])];
    let d = engine
        .decide(&DecisionRequest {
            caseworker: &cw,
            citizen: &who,
            citizen_municipality: None,
            purpose: &purpose("rehabilitation-team"),
            categories: &cats,
            now: t("2025-06-01T12:00:00Z"),
            consents: &consents,
            blocks: &[],
        })
        .unwrap();
    assert_eq!(d.sections[0].effect(), Effect::Deny);
    assert_eq!(d.sections[0].policies(), ["role-gate.unlisted"]);
}
