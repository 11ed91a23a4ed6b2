//! The command line: `sammen <command>`. Each command lives in its own module under `cli/`.

mod audit;
mod consent_cmd;
#[cfg(feature = "sandbox")]
mod demo;
#[cfg(not(feature = "sandbox"))]
mod not_built;
mod policy;
#[cfg(feature = "sandbox")]
mod sandbox;
mod serve;
mod store_cmd;

#[cfg(not(feature = "sandbox"))]
use not_built as demo;
#[cfg(not(feature = "sandbox"))]
use not_built as sandbox;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::settings::Settings;

#[derive(Debug, Parser)]
#[command(name = "sammen", version, about = "Data-integration gateway and consent broker")]
pub struct Cli {
    /// A configuration file (TOML) layered over the defaults.
    #[arg(long, global = true, env = "SAMMEN_CONFIG")]
    config: Option<PathBuf>,
    /// Where the embedded store keeps its files (overrides `data_dir` in the configuration).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// A policy directory (`schema.cedarschema`, `policy-set/*.cedar`) instead of the
    /// policy set compiled into this binary (overrides `[policies] dir`).
    #[arg(long, global = true, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// Log lines as `text` (default) or `json` (one JSON object per line, with the
    /// request's span and id). Logs go to standard error; `SAMMEN_LOG` sets the level.
    #[arg(long, global = true, env = "SAMMEN_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify, export, checkpoint or prune the audit log.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Run the whole system on this machine: sandbox sources, gateway, and how to call it.
    Demo(demo::Args),
    /// Work with the consent ledger from a shell.
    #[command(subcommand)]
    Consent(consent_cmd::Command),
    /// Check policy files, or explain a decision for a request given as JSON.
    Policy(policy::Args),
    /// Run the simulated source systems (Mediconnect, jobcenter, social, Jobnet CV) until ctrl-c.
    Sandbox(sandbox::Args),
    /// Serve the HTTPS API for caseworker systems until ctrl-c or SIGTERM.
    Serve(serve::Args),
    /// Maintain the configured store (`migrate`: apply the PostgreSQL schema).
    #[command(subcommand)]
    Store(store_cmd::Command),
}

impl Cli {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref(), self.data_dir.as_deref())?;
        if let Some(dir) = &self.policies {
            settings.policies.dir = Some(dir.clone());
        }
        Ok(settings)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SAMMEN_LOG").unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).with_span_list(true).init(),
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match &cli.command {
            Command::Demo(args) => demo::run(&cli, args).await,
            Command::Audit(cmd) => audit::run(&cli, cmd).await,
            Command::Consent(cmd) => consent_cmd::run(&cli, cmd).await,
            Command::Policy(args) => policy::run(&cli, args).await,
            Command::Sandbox(args) => sandbox::run(&cli, args).await,
            Command::Serve(args) => serve::run(&cli, args).await,
            Command::Store(cmd) => store_cmd::run(&cli, cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    #[test]
    fn the_policies_option_overrides_the_configured_directory() {
        let cli = Cli::try_parse_from(["sammen", "policy", "check"]).unwrap();
        assert_eq!(cli.settings().unwrap().policies.dir, None, "the compiled-in set by default");
        let cli = Cli::try_parse_from(["sammen", "--policies", "/srv/policies", "policy", "check"]).unwrap();
        assert_eq!(cli.settings().unwrap().policies.dir, Some("/srv/policies".into()));
    }
}
