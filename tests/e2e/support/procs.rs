//! The sandbox and the gateway as real processes on 127.0.0.1, with bounded waits for
//! their start-up lines. Dropping a handle kills its process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn sammen() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sammen"));
    c.env("SAMMEN_LOG", std::env::var("SAMMEN_TEST_LOG").unwrap_or_else(|_| "info".into()));
    c.env_remove("SAMMEN_CONFIG");
    c
}

/// Spawns `cmd` with stdout piped and stderr to `log`, and waits (at most `wait`) for a
/// stdout line containing `until`; returns the child and the lines read.
fn spawn_until(mut cmd: Command, log: &Path, until: &'static str, wait: Duration) -> (Child, Vec<String>) {
    let err = std::fs::File::create(log).unwrap();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(err)).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + wait;
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(until);
                lines.push(line);
                if done {
                    return (child, lines);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = std::fs::read_to_string(log).unwrap_or_default();
                panic!("no line {until:?} within {wait:?}; stdout: {lines:?}\nstderr:\n{stderr}");
            }
        }
    }
}

pub struct Sandbox {
    child: Child,
    /// Base URL per source name (`mediconnect`, `jobcenter`, `social`, `jobnet_cv`).
    pub urls: Vec<(String, String)>,
    /// The person register's base URL.
    pub cpr: String,
    /// The Digital Post mailbox's base URL.
    pub mailbox: String,
    /// The power-of-attorney registry's base URL.
    pub fuldmagt: String,
    pub admin: String,
    pub ca_file: PathBuf,
}

impl Sandbox {
    #[allow(dead_code)] // for modules that need no extra environment
    pub fn start(dir: &Path) -> Sandbox {
        Self::start_with_env(dir, &[])
    }

    /// With extra environment variables (e.g. the log format and level).
    pub fn start_with_env(dir: &Path, envs: &[(String, String)]) -> Sandbox {
        let ca_file = dir.join("sandbox-ca.pem");
        let mut cmd = sammen();
        cmd.envs(envs.iter().map(|(k, v)| (k, v)));
        cmd.arg("sandbox").arg("--tls").arg("--ca-out").arg(&ca_file);
        let (child, lines) = spawn_until(cmd, &dir.join("sandbox.log"), "Press ctrl-c", Duration::from_secs(30));
        let mut urls = Vec::new();
        let mut admin = None;
        let mut cpr = None;
        let mut mailbox = None;
        let mut fuldmagt = None;
        for l in &lines {
            let mut parts = l.split_whitespace();
            if let (Some(name), Some(url)) = (parts.next(), parts.next())
                && url.starts_with("http")
            {
                if name == "admin" {
                    admin = Some(url.to_string());
                } else if name == "cpr" {
                    cpr = Some(url.to_string());
                } else if name == "mailbox" {
                    mailbox = Some(url.to_string());
                } else if name == "fuldmagt" {
                    fuldmagt = Some(url.to_string());
                } else {
                    urls.push((name.to_string(), url.to_string()));
                }
            }
        }
        assert_eq!(urls.len(), 5, "the four document sources and the plan service: {lines:?}");
        Sandbox {
            child,
            urls,
            cpr: cpr.expect("person register URL"),
            mailbox: mailbox.expect("mailbox URL"),
            fuldmagt: fuldmagt.expect("power-of-attorney registry URL"),
            admin: admin.expect("admin URL"),
            ca_file,
        }
    }

    /// Sets a source's fault through the admin port (`None` clears it).
    pub async fn fault(&self, source: &str, fault: Option<serde_json::Value>) {
        let body = serde_json::json!({ "latency_ms": 0, "fault": fault });
        let r = reqwest::Client::new()
            .put(format!("{}/admin/faults/{source}", self.admin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    /// What the sources were asked, by the sandbox's own clock (`GET /admin/visits`).
    pub async fn visits(&self) -> Vec<sandbox::visits::Visit> {
        let r = reqwest::Client::new().get(format!("{}/admin/visits", self.admin)).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap()
    }

    pub async fn forget_visits(&self) {
        let r = reqwest::Client::new().delete(format!("{}/admin/visits", self.admin)).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    pub async fn clear_faults(&self) {
        let r = reqwest::Client::new().delete(format!("{}/admin/faults", self.admin)).send().await.unwrap();
        assert!(r.status().is_success());
    }

    /// What the Digital Post mailbox received (`GET /admin/mailbox`).
    pub async fn mailbox(&self) -> Vec<sandbox::mailbox::Received> {
        let r = reqwest::Client::new().get(format!("{}/admin/mailbox", self.admin)).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap()
    }

    /// The `[notifications]` part of a gateway configuration: the sandbox's mailbox,
    /// polled every 100 ms.
    pub fn notifications_toml(&self) -> String {
        format!(
            "[notifications]\npoll_ms = 100\n\n[notifications.mailbox]\nbase_url = \"{}\"\nca_file = \"{}\"\ntimeout_ms = 2000\nmax_retries = 0\n\n",
            self.mailbox,
            self.ca_file.display()
        )
    }

    /// Moves a citizen in the person register (`PUT /admin/residence`; the CPR number in the body).
    pub async fn move_citizen(&self, cpr: &consent::Cpr, municipality_code: &str) {
        let body = serde_json::json!({ "cpr": cpr.expose(), "municipality_code": municipality_code });
        let r = reqwest::Client::new().put(format!("{}/admin/residence", self.admin)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }

    /// The `[residence]` part of a gateway configuration: the person register, not cached
    /// (a move counts on the next request).
    pub fn residence_toml(&self) -> String {
        format!(
            "[residence]\ncache_ms = 0\n\n[residence.source]\nbase_url = \"{}\"\nca_file = \"{}\"\ntimeout_ms = 3000\nmax_retries = 0\n\n",
            self.cpr,
            self.ca_file.display()
        )
    }

    /// Revokes or ends a synthetic power of attorney (`PUT /admin/fuldmagt/{reference}`).
    pub async fn change_power(&self, reference: uuid::Uuid, change: serde_json::Value) {
        let r = reqwest::Client::new()
            .put(format!("{}/admin/fuldmagt/{reference}", self.admin))
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    /// The `[connectors]` part of a gateway configuration.
    pub fn connectors_toml(&self) -> String {
        let mut s = String::new();
        for (name, url) in &self.urls {
            s.push_str(&format!(
                "[connectors.sources.{name}]\nbase_url = \"{url}\"\nca_file = \"{}\"\ntimeout_ms = 10000\nmax_retries = 0\n\n",
                self.ca_file.display()
            ));
        }
        s
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Gateway {
    pub child: Child,
    pub addr: std::net::SocketAddr,
    /// The admin listener, when `[admin]` is configured.
    pub admin: Option<std::net::SocketAddr>,
    pub log: PathBuf,
}

impl Gateway {
    /// `sammen serve --config CONFIG --data-dir DATA`, waiting for its listening line.
    #[allow(dead_code)] // for modules that need no extra environment
    pub fn start(config: &Path, data_dir: &Path, log: &Path) -> Gateway {
        Self::start_with_env(config, data_dir, log, &[])
    }

    /// With extra environment variables (e.g. the log format and level).
    pub fn start_with_env(config: &Path, data_dir: &Path, log: &Path, envs: &[(String, String)]) -> Gateway {
        let mut cmd = sammen();
        cmd.envs(envs.iter().map(|(k, v)| (k, v)));
        cmd.arg("serve").arg("--config").arg(config).arg("--data-dir").arg(data_dir);
        let (child, lines) = spawn_until(cmd, log, "listening on", Duration::from_secs(60));
        let line = lines.last().unwrap();
        let addr = line.rsplit("https://").next().unwrap().trim().parse().unwrap();
        let admin = lines
            .iter()
            .find(|l| l.contains("admin API on https://"))
            .map(|l| l.rsplit("https://").next().unwrap().trim().parse().unwrap());
        Gateway { child, addr, admin, log: log.to_path_buf() }
    }

    /// `sammen serve` started and left to itself (not waited for): for killing it during
    /// its start. Its stdout is piped (the listening line goes there).
    pub fn spawn_unwaited(config: &Path, data_dir: &Path, log: &Path, envs: &[(String, String)]) -> Child {
        let mut cmd = sammen();
        cmd.envs(envs.iter().map(|(k, v)| (k, v)));
        cmd.arg("serve").arg("--config").arg(config).arg("--data-dir").arg(data_dir);
        let err = std::fs::File::create(log).unwrap();
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(err)).spawn().unwrap()
    }

    /// `https://localhost:PORT{path}` on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.admin.expect("[admin] is configured").port())
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and wait (at most 30 s) for a graceful exit, which must be a success: a
    /// gateway that ignores SIGTERM, hangs in its shutdown or exits with an error fails the
    /// test (it is then killed, not left behind).
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").arg("-TERM").arg(&pid).status().unwrap();
        assert!(sent.success(), "could not send SIGTERM to the gateway");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                assert!(
                    status.success(),
                    "the gateway exited with {status} after SIGTERM; its last log lines: {tail:?}"
                );
                return;
            }
            if std::time::Instant::now() > deadline {
                self.kill();
                panic!("the gateway did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}
