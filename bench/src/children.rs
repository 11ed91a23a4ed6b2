//! The sandbox and the gateway as child processes, each started from this binary's hidden
//! `serve-sandbox` / `serve-gateway` commands (the same code as `sammen sandbox --tls` and
//! `sammen serve`) or from a real `sammen` binary given with `--sammen`. Start-up waits are
//! bounded; dropping a child kills it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// How to start the children.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// This binary's hidden commands.
    SelfExe(PathBuf),
    /// A `sammen` binary.
    Sammen(PathBuf),
}

impl Launcher {
    pub fn new(sammen: Option<PathBuf>) -> anyhow::Result<Self> {
        Ok(match sammen {
            Some(p) => Launcher::Sammen(p),
            None => Launcher::SelfExe(std::env::current_exe().context("this binary's path")?),
        })
    }

    fn sandbox(&self, ca_out: &Path) -> Command {
        match self {
            Launcher::SelfExe(exe) => {
                let mut c = Command::new(exe);
                c.arg("serve-sandbox").arg("--ca-out").arg(ca_out);
                c
            }
            Launcher::Sammen(exe) => {
                let mut c = Command::new(exe);
                c.arg("sandbox").arg("--tls").arg("--ca-out").arg(ca_out);
                c
            }
        }
    }

    /// The gateway's command, run by `wrapper` (e.g. valgrind and its options) when given.
    fn gateway(&self, config: &Path, data_dir: &Path, wrapper: &[String]) -> Command {
        let (exe, cmd) = match self {
            Launcher::SelfExe(exe) => (exe, "serve-gateway"),
            Launcher::Sammen(exe) => (exe, "serve"),
        };
        let mut c = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        c.arg(cmd).arg("--config").arg(config).arg("--data-dir").arg(data_dir);
        c
    }
}

/// A child process, killed on drop.
pub struct ChildProc {
    pub child: Child,
}

impl ChildProc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then (bounded) wait; SIGKILL if it does not stop.
    pub fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM)
        };
        for _ in 0..200 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Spawns `cmd` (stdout piped, stderr to `log`) and waits at most `wait` for a stdout line
/// containing `until`; returns the child and the lines read up to it.
fn spawn_until(
    mut cmd: Command,
    log: &Path,
    until: &'static str,
    wait: Duration,
) -> anyhow::Result<(ChildProc, Vec<String>)> {
    let err = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let out = child.stdout.take().expect("piped");
    let child = ChildProc { child };
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
                    return Ok((child, lines));
                }
            }
            Err(_) => {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                let tail: String = tail.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                bail!("no line {until:?} within {wait:?}; stdout: {lines:?}; last log lines (newest first):\n{tail}");
            }
        }
    }
}

/// The running sandbox: its four sources (TLS) and its admin port (plain HTTP).
pub struct SandboxProc {
    pub proc: ChildProc,
    /// `(source name, base URL)`.
    pub urls: Vec<(String, String)>,
    pub admin: String,
    pub ca_file: PathBuf,
}

impl SandboxProc {
    pub fn start(launcher: &Launcher, dir: &Path) -> anyhow::Result<SandboxProc> {
        let ca_file = dir.join("sandbox-ca.pem");
        let mut cmd = launcher.sandbox(&ca_file);
        cmd.env("SAMMEN_LOG", "warn");
        let (proc, lines) = spawn_until(cmd, &dir.join("sandbox.log"), "Press ctrl-c", Duration::from_secs(60))?;
        let mut urls = Vec::new();
        let mut admin = None;
        for l in &lines {
            let mut parts = l.split_whitespace();
            if let (Some(name), Some(url)) = (parts.next(), parts.next())
                && url.starts_with("http")
            {
                if name == "admin" {
                    admin = Some(url.to_string());
                } else if name == "cpr" {
                    // The person register: not a connector.
                } else {
                    urls.push((name.to_string(), url.to_string()));
                }
            }
        }
        if urls.len() != 4 {
            bail!("the sandbox named {} sources, not 4: {lines:?}", urls.len());
        }
        let admin = admin.context("the sandbox printed no admin URL")?;
        Ok(SandboxProc { proc, urls, admin, ca_file })
    }
}

/// The running gateway.
pub struct GatewayProc {
    pub proc: ChildProc,
    pub addr: SocketAddr,
    /// The operators' listener, when `[admin]` is configured.
    pub admin: Option<SocketAddr>,
}

impl GatewayProc {
    pub fn start(
        launcher: &Launcher,
        config: &Path,
        data_dir: &Path,
        log: &Path,
        level: &str,
        wrapper: &[String],
    ) -> anyhow::Result<GatewayProc> {
        let mut cmd = launcher.gateway(config, data_dir, wrapper);
        cmd.env("SAMMEN_LOG", level).env_remove("SAMMEN_CONFIG");
        let (proc, lines) = spawn_until(cmd, log, "listening on", Duration::from_secs(600))?;
        let line = lines.last().expect("the line waited for");
        let addr = line
            .rsplit("https://")
            .next()
            .and_then(|a| a.trim().parse().ok())
            .with_context(|| format!("no address in {line:?}"))?;
        let admin = lines
            .iter()
            .find(|l| l.contains("admin API on"))
            .and_then(|l| l.rsplit("https://").next())
            .and_then(|a| a.trim().parse().ok());
        Ok(GatewayProc { proc, addr, admin })
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
}
