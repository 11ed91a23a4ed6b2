//! The command line: `sammen <command>`. Each command lives in its own module under `cli/`.

mod consent_cmd;
mod demo;
mod policy;
mod sandbox;
mod serve;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
}

impl Cli {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings::load(self.config.as_deref(), self.data_dir.as_deref())?)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SAMMEN_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
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
            Command::Consent(cmd) => consent_cmd::run(&cli, cmd).await,
            Command::Policy(args) => policy::run(&cli, args).await,
            Command::Sandbox(args) => sandbox::run(&cli, args).await,
            Command::Serve(args) => serve::run(&cli, args).await,
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
