//! A throw-away PostgreSQL cluster for tests (cargo feature `scratch-postgres`): Debian's
//! server binaries (`/usr/lib/postgresql/15/bin`, or `SAMMEN_PG_BIN`), `initdb` into a
//! temporary directory, `pg_ctl` on a free port on 127.0.0.1 with the unix socket inside
//! that directory, trust authentication for the `postgres` user. `initdb` refuses to run as
//! root, so as root every server command runs as the `postgres` user (`runuser`), and the
//! directory is theirs. Dropping the cluster stops it with `-m immediate` and removes the
//! directory. Every command is bounded in time.
//!
//! Synchronous: usable from any test, async or not. Tests that share one cluster make a
//! database each ([`ScratchPostgres::create_database`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where Debian keeps the PostgreSQL 15 server binaries.
pub const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running scratch cluster; stopped (immediately) and removed on drop.
pub struct ScratchPostgres {
    bin: PathBuf,
    root: PathBuf,
    port: u16,
    as_postgres: bool,
    stopped: bool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// A port on 127.0.0.1 that is free now, for a server that binds it a little later.
///
/// Taken from 26000-32767, below the kernel's ephemeral range (32768 up by default), so a
/// parallel test's socket bound to port 0 cannot take it in the meantime; a counter of this
/// process, started at a point drawn from the process id, spreads the clusters.
fn free_port() -> Result<u16, String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const BASE: u32 = 26_000;
    const SPAN: u32 = 32_768 - BASE;
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let port = (BASE + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free port in 26000-32767".into())
}

/// Runs `cmd` to completion within `limit`, killing it past that.
fn run_bounded(mut cmd: Command, what: &str, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().map_err(|e| format!("{what}: {e}"))? {
            Some(_) => break,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: did not finish within {limit:?}"));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().map_err(|e| format!("{what}: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(text) } else { Err(format!("{what} failed ({}): {text}", out.status)) }
}

impl ScratchPostgres {
    /// Whether the server binaries are installed (tests say so instead of failing obscurely).
    pub fn available() -> bool {
        Self::bin_dir().join("initdb").exists()
    }

    fn bin_dir() -> PathBuf {
        std::env::var_os("SAMMEN_PG_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_BIN))
    }

    /// Initialises and starts a new cluster (a few seconds).
    pub fn start() -> Result<Self, String> {
        let bin = Self::bin_dir();
        if !bin.join("initdb").exists() {
            return Err(format!(
                "PostgreSQL's server binaries are not in {} (scripts/install-test-deps.sh installs them)",
                bin.display()
            ));
        }
        let root = std::env::temp_dir().join(format!(
            "sammen-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let as_postgres = is_root();
        let mut cluster = Self { bin, root, port: free_port()?, as_postgres, stopped: true };
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("-R").arg("postgres:postgres").arg(&cluster.root);
            run_bounded(chown, "chown", Duration::from_secs(10))?;
        }
        let mut initdb = cluster.command("initdb");
        initdb.arg("-D").arg(cluster.data()).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run_bounded(initdb, "initdb", Duration::from_secs(60))?;
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nmax_connections = 200\n\
             shared_buffers = 32MB\nfsync = on\nsynchronous_commit = on\nlog_min_messages = warning\n",
            cluster.port,
            cluster.root.display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(cluster.data().join("postgresql.conf"))
            .map_err(|e| format!("postgresql.conf: {e}"))?;
        std::io::Write::write_all(&mut f, conf.as_bytes()).map_err(|e| format!("postgresql.conf: {e}"))?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Starts the (stopped) server again, waiting until it accepts connections.
    pub fn start_server(&mut self) -> Result<(), String> {
        let mut ctl = self.command("pg_ctl");
        ctl.arg("-D").arg(self.data()).arg("-l").arg(self.root.join("server.log")).args(["-w", "-t", "30", "start"]);
        run_bounded(ctl, "pg_ctl start", Duration::from_secs(40)).map_err(|e| format!("{e}\n{}", self.log_tail()))?;
        self.stopped = false;
        Ok(())
    }

    /// Stops the server at once, as a crash would (`-m immediate`).
    pub fn stop_immediate(&mut self) -> Result<(), String> {
        let mut ctl = self.command("pg_ctl");
        ctl.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "-t", "20", "stop"]);
        run_bounded(ctl, "pg_ctl stop", Duration::from_secs(30))?;
        self.stopped = true;
        Ok(())
    }

    /// A synchronous streaming standby of this (running) cluster: `pg_basebackup -R` into a
    /// directory of its own, started on another port, then named in the primary's
    /// `synchronous_standby_names` (with `synchronous_commit = on`, a commit is acknowledged
    /// only once the standby has it). Returns once the standby streams synchronously.
    pub fn start_sync_standby(&self) -> Result<ScratchPostgres, String> {
        let root = std::env::temp_dir().join(format!(
            "sammen-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let mut standby =
            Self { bin: self.bin.clone(), root, port: free_port()?, as_postgres: self.as_postgres, stopped: true };
        if self.as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("-R").arg("postgres:postgres").arg(&standby.root);
            run_bounded(chown, "chown", Duration::from_secs(10))?;
        }
        let mut base = standby.command("pg_basebackup");
        base.args(["-h", "127.0.0.1", "-U", "postgres", "-X", "stream", "-R", "-c", "fast"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-D")
            .arg(standby.data());
        run_bounded(base, "pg_basebackup", Duration::from_secs(60))?;
        let conf = format!(
            "port = {}\nunix_socket_directories = '{}'\ncluster_name = 'standby1'\nhot_standby = on\n",
            standby.port,
            standby.root.display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(standby.data().join("postgresql.conf"))
            .map_err(|e| format!("postgresql.conf: {e}"))?;
        std::io::Write::write_all(&mut f, conf.as_bytes()).map_err(|e| format!("postgresql.conf: {e}"))?;
        standby.start_server()?;
        self.psql("postgres", "ALTER SYSTEM SET synchronous_standby_names = 'standby1'")?;
        self.psql("postgres", "SELECT pg_reload_conf()")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self.psql("postgres", "SELECT sync_state FROM pg_stat_replication")?;
            if state.trim() == "sync" {
                return Ok(standby);
            }
            if Instant::now() >= deadline {
                return Err(format!("the standby is not synchronous within 30 s ({state:?})\n{}", standby.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kill -9` of the server's postmaster: a machine lost, as far as PostgreSQL can tell.
    pub fn kill_9(&mut self) -> Result<(), String> {
        let pid =
            std::fs::read_to_string(self.data().join("postmaster.pid")).map_err(|e| format!("postmaster.pid: {e}"))?;
        let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
        run_bounded(
            {
                let mut k = Command::new("kill");
                k.args(["-9", &pid]);
                k
            },
            "kill -9",
            Duration::from_secs(5),
        )?;
        // Its children go when they notice; give them a moment, then stop what is left.
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.stop_immediate();
        self.stopped = true;
        Ok(())
    }

    /// Promotes this standby to a primary, waiting until it takes writes.
    pub fn promote(&self) -> Result<(), String> {
        let mut ctl = self.command("pg_ctl");
        ctl.arg("-D").arg(self.data()).args(["-w", "-t", "30", "promote"]);
        run_bounded(ctl, "pg_ctl promote", Duration::from_secs(40)).map(|_| ())
    }

    /// Turns TLS on and refuses every connection without it: the server certificate and key
    /// (PEM) go into the data directory, owned by the server's user with mode 0600 (as
    /// PostgreSQL demands of a key), `ssl = on`, and `pg_hba.conf` allows TCP connections
    /// only as `hostssl` with a password (SCRAM), which the `postgres` user is given here;
    /// the unix socket (what [`ScratchPostgres::psql`] uses) stays trusted. Restarts the
    /// server.
    pub fn require_tls(&mut self, cert_pem: &str, key_pem: &str, password: &str) -> Result<(), String> {
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "a plain password");
        self.psql("postgres", &format!("ALTER USER postgres PASSWORD '{password}'"))?;
        let data = self.data();
        let write = |name: &str, text: &str| {
            let path = data.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(|e| format!("{}: {e}", path.display()))
        };
        write("server.crt", cert_pem)?;
        write("server.key", key_pem)?;
        write(
            "pg_hba.conf",
            "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n",
        )?;
        if self.as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(data.join("server.crt")).arg(data.join("server.key"));
            chown.arg(data.join("pg_hba.conf"));
            run_bounded(chown, "chown", Duration::from_secs(10))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(|e| format!("postgresql.conf: {e}"))?;
        std::io::Write::write_all(
            &mut f,
            b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\npassword_encryption = 'scram-sha-256'\n",
        )
        .map_err(|e| format!("postgresql.conf: {e}"))?;
        self.stop_immediate()?;
        self.start_server()
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for database `db` as the `postgres` user.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The directory of the cluster (data in `data/`, the server's log in `server.log`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs one SQL command with `psql` against database `db`; returns its output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut psql = Command::new(self.bin.join("psql"));
        // Through the unix socket in the cluster's directory: trusted, also once TCP needs
        // TLS and a password (`require_tls`).
        psql.args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-U", "postgres"])
            .arg("-h")
            .arg(&self.root)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(db)
            .arg("-c")
            .arg(sql);
        run_bounded(psql, "psql", Duration::from_secs(30))
    }

    /// Creates an empty database named `name` (letters, digits and `_` only).
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "a plain database name");
        self.psql("postgres", &format!("CREATE DATABASE {name}")).map(|_| ())
    }

    /// The last lines of the server's log (for failure messages).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
        let lines: Vec<_> = log.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.stop_immediate();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
