//! compose/compose.yaml: `docker-compose config` accepts it, and every
//! `SAMMEN_<SECTION>__<KEY>` it gives a service names a real setting (loaded through
//! [`Settings::load_with_env`] over compose/gateway.toml, which `sammen serve` must accept).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use figment::Figment;
use figment::providers::Serialized;
use figment::value::Value;

use super::Settings;

/// `SAMMEN_` variables the command line reads (clap), not settings.
const CLI_VARIABLES: &[&str] = &["SAMMEN_CONFIG", "SAMMEN_LOG", "SAMMEN_LOG_FORMAT"];

type Vars = Vec<(String, String)>;

fn compose_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").join("compose")
}

/// `docker-compose -f compose/compose.yaml config`: the resolved file (env files inlined).
fn compose_config() -> String {
    let file = compose_dir().join("compose.yaml");
    let spawned = Command::new("docker-compose")
        .arg("-f")
        .arg(&file)
        .arg("config")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "docker-compose is not installed; scripts/install-test-deps.sh installs Debian's \
             (this test validates compose/compose.yaml with `docker-compose config`)"
        ),
        Err(e) => panic!("running docker-compose: {e}"),
    };
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            pipe.read_to_string(&mut s).map(|_| s)
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for docker-compose") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("docker-compose config did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().expect("reader").expect("docker-compose's output");
    let stderr = stderr.join().expect("reader").unwrap_or_default();
    assert!(status.success(), "docker-compose -f {} config failed ({status}):\n{stderr}", file.display());
    stdout
}

/// A `SAMMEN_` name at the start of `s`, and the value after it (`NAME: value` or
/// `NAME=value`, quotes removed).
fn variable(s: &str) -> Option<(String, String)> {
    if !s.starts_with("SAMMEN_") {
        return None;
    }
    let end = s.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')).unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    let value = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')).unwrap_or(rest).trim();
    let unquoted = [('\'', '\''), ('"', '"')]
        .iter()
        .find_map(|(a, b)| value.strip_prefix(*a).and_then(|v| v.strip_suffix(*b)))
        .unwrap_or(value);
    Some((name.to_owned(), unquoted.to_owned()))
}

/// The `SAMMEN_` variables of each service in `docker-compose config`'s output (normalised
/// YAML: services at two spaces' indent, their environment below).
fn environments(config: &str) -> BTreeMap<String, Vars> {
    let mut out: BTreeMap<String, Vars> = BTreeMap::new();
    let (mut in_services, mut service) = (false, None::<String>);
    for line in config.lines() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if text.is_empty() {
            continue;
        }
        if indent == 0 {
            in_services = text == "services:";
            service = None;
        } else if in_services && indent == 2 {
            service = text.strip_suffix(':').map(str::to_owned);
        } else if let (true, Some(s)) = (in_services, &service)
            && let Some(v) = variable(text.strip_prefix("- ").unwrap_or(text))
        {
            out.entry(s.clone()).or_default().push(v);
        }
    }
    out
}

/// Every `SAMMEN_` name anywhere in `text` (not the bare prefix, as in
/// `SAMMEN_<SECTION>__<KEY>` in a comment).
fn names_in(text: &str) -> BTreeSet<String> {
    text.match_indices("SAMMEN_")
        .filter_map(|(i, _)| variable(&text[i..]).map(|(n, _)| n))
        .filter(|n| n.len() > "SAMMEN_".len())
        .collect()
}

/// The environment variables' layer, as `Env::prefixed("SAMMEN_").split("__")` builds it
/// from the process's environment.
fn env_layer(vars: &[(String, String)]) -> Figment {
    vars.iter().fold(Figment::new(), |fig, (name, value)| {
        let key = name["SAMMEN_".len()..].to_lowercase().replace("__", ".");
        fig.merge(Serialized::default(&key, value.parse::<Value>().expect("infallible")))
    })
}

/// A value of the same kind as `value`, but different.
fn other_value(value: &str) -> String {
    match value {
        "true" => "false".into(),
        "false" => "true".into(),
        v => v.parse::<u64>().map(|n| (n + 1).to_string()).unwrap_or_else(|_| format!("{v}x")),
    }
}

/// Why `vars` (one service's settings variables) are not all real settings, if they are not.
fn check_settings(config_file: &Path, vars: &[(String, String)]) -> Result<Settings, String> {
    for (name, _) in vars {
        let rest = &name["SAMMEN_".len()..];
        let shaped = rest == "DATA_DIR" || (rest.contains("__") && rest.split("__").all(|part| !part.is_empty()));
        if !shaped {
            return Err(format!("{name}: not SAMMEN_<SECTION>__<KEY> (nor SAMMEN_DATA_DIR)"));
        }
    }
    let load = |vars: &[(String, String)]| Settings::load_with_env(Some(config_file), None, env_layer(vars));
    let all = load(vars).map_err(|e| format!("the gateway does not load these settings: {e}"))?;
    all.check_for_serve().map_err(|e| format!("`sammen serve` would refuse these settings: {e}"))?;
    // Sections without deny_unknown_fields (the top level) ignore unknown keys: each
    // variable must change what is loaded.
    let all_debug = format!("{all:?}");
    for i in 0..vars.len() {
        let mut others = vars.to_vec();
        let (name, value) = others.remove(i);
        // Without a required one the settings do not load: it has an effect. A value equal
        // to the default is told apart from an ignored key by a different value.
        let Ok(without) = load(&others) else { continue };
        if format!("{without:?}") == all_debug {
            others.push((name.clone(), other_value(&value)));
            if load(&others).is_ok_and(|s| format!("{s:?}") == all_debug) {
                return Err(format!("{name} has no effect: no such setting (a typo?)"));
            }
        }
    }
    Ok(all)
}

#[test]
fn compose_file_is_valid_and_sets_only_real_settings() {
    let dir = compose_dir();
    let config = compose_config();
    let envs = environments(&config);
    let gateway_toml = dir.join("gateway.toml");

    // Every SAMMEN_ name written in the files was found in some service's environment.
    let mut written = BTreeSet::new();
    for f in ["compose.yaml", "gateway.env"] {
        let text = std::fs::read_to_string(dir.join(f)).expect("compose files");
        written.extend(names_in(&text));
    }
    let found: BTreeSet<String> = envs.values().flatten().map(|(n, _)| n.clone()).collect();
    assert_eq!(written, found, "the SAMMEN_ names in the files vs. those docker-compose gives the services");

    let mut gateways = 0;
    for (service, vars) in &envs {
        let settings: Vars = vars.iter().filter(|(n, _)| !CLI_VARIABLES.contains(&n.as_str())).cloned().collect();
        if settings.is_empty() {
            continue;
        }
        let s = check_settings(&gateway_toml, &settings).unwrap_or_else(|e| panic!("service {service}: {e}"));
        assert_eq!(s.store.kind, super::StoreKind::Postgres, "service {service}");
        assert!(s.admin.is_some(), "service {service}: the health check needs the admin listener");
        gateways += 1;
    }
    assert_eq!(gateways, 2, "two gateway services: {:?}", envs.keys().collect::<Vec<_>>());

    // The check finds typos: an unknown section, and an unknown key of a known one.
    let mut vars = envs["gateway-a"].clone();
    vars.retain(|(n, _)| !CLI_VARIABLES.contains(&n.as_str()));
    for typo in ["SAMMEN_STOR__POOL_SIZE", "SAMMEN_STORE__POOLSIZE", "SAMMEN_SERVER_LISTEN"] {
        let mut with = vars.clone();
        with.push((typo.into(), "7".into()));
        let err = check_settings(&gateway_toml, &with).expect_err(typo);
        assert!(!err.is_empty());
    }
}

#[test]
fn the_gateways_sources_are_the_sandbox_services_ports() {
    use figment::providers::{Format, Toml};
    let dir = compose_dir();
    let sandbox: sandbox::SandboxConfig =
        Figment::from(Toml::file(dir.join("sandbox.toml"))).extract_inner("sandbox").expect("compose/sandbox.toml");
    assert!(sandbox.bind.is_unspecified(), "the other containers must reach the sandbox");
    let s =
        Settings::load_with_env(Some(&dir.join("gateway.toml")), None, Figment::new()).expect("compose/gateway.toml");
    let p = sandbox.ports;
    let url = |port: u16| format!("https://sandbox:{port}");
    let sources = [
        ("mediconnect", p.mediconnect),
        ("jobcenter", p.jobcenter),
        ("social", p.social),
        ("jobnet_cv", p.jobnet_cv),
        ("plan", p.plan),
    ];
    assert_eq!(s.connectors.sources.len(), sources.len());
    for (name, port) in sources {
        assert_eq!(s.connectors.sources[name].base_url, url(port), "[connectors.sources.{name}]");
    }
    assert_eq!(s.residence.expect("[residence]").source.base_url, url(p.cpr));
    let compose = std::fs::read_to_string(dir.join("compose.yaml")).expect("compose/compose.yaml");
    assert!(compose.contains(&format!("http://localhost:{}/admin/", p.admin)), "the sandbox's health check port");
}
