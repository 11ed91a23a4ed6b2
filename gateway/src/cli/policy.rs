//! `sammen policy check|explain`: for people writing policies.
//!
//! `check [DIR]` validates a policy directory (`schema.cedarschema` and
//! `policy-set/*.cedar`) strictly, as the gateway does at start-up, and prints each problem
//! with its file and line. Without DIR both commands take `--policies DIR` or `[policies]
//! dir`, and without either the policy set compiled into the binary. `explain` decides a request written as JSON (from a file or
//! standard input; the format is in `policies::explain`) and prints the decision with its
//! basis, the determining policies and the reasons.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use policies::PolicyEngine;

use super::Cli;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a policy directory (or the compiled-in policy set) against its schema.
    Check {
        /// The policy directory; default: the configured one, else the compiled-in set.
        dir: Option<PathBuf>,
    },
    /// Decide a request given as JSON and explain the decision.
    Explain {
        /// The policy directory; default: the configured one, else the compiled-in set.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The request as JSON; standard input when absent or "-".
        file: Option<PathBuf>,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Check { dir } => {
            let dir = match dir {
                Some(dir) => Some(dir.clone()),
                None => cli.settings()?.policies.dir,
            };
            let s = match &dir {
                Some(dir) => policies::check(dir)?,
                None => policies::check_builtin()?,
            };
            let name = dir.as_deref().map_or_else(|| "the compiled-in policy set".into(), |d| d.display().to_string());
            let mut out = std::io::stdout().lock();
            for (id, effect, reference) in &s.policies {
                match reference {
                    Some(r) => writeln!(out, "{effect:6} {id}  ({r})")?,
                    None => writeln!(out, "{effect:6} {id}")?,
                }
            }
            writeln!(out, "{name}: {} policies, valid; digest {}", s.policies.len(), s.digest)?;
            Ok(())
        }
        Command::Explain { dir, file, json } => {
            let input = match file.as_deref() {
                Some(f) if f.as_os_str() != "-" => {
                    std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
                }
                _ => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s).context("reading the request from standard input")?;
                    s
                }
            };
            let settings = cli.settings()?;
            let dir: Option<&Path> = dir.as_deref().or(settings.policies.dir.as_deref());
            let engine = PolicyEngine::load_or_builtin(dir, &settings.domain.clone().into_rules()?)?;
            let decision = policies::explain::explain(&engine, &input)?;
            let text = if *json {
                serde_json::to_string_pretty(&decision)? + "\n"
            } else {
                policies::explain::render(&decision)
            };
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(())
        }
    }
}
