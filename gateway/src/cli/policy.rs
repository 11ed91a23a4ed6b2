//! `sammen policy check|explain`: for people writing policies.
//!
//! `check [DIR]` validates a policy directory (`schema.cedarschema` and
//! `policy-set/*.cedar`) strictly, as the gateway does at start-up, and prints each problem
//! with its file and line. `explain` decides a request written as JSON (from a file or
//! standard input; the format is in `policies::explain`) and prints the decision with its
//! basis, the determining policies and the reasons.

use std::io::{Read, Write};
use std::path::PathBuf;

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
    /// Validate a policy directory against its schema.
    Check {
        /// The policy directory.
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
    /// Decide a request given as JSON and explain the decision.
    Explain {
        /// The policy directory.
        #[arg(long, default_value = "policies")]
        dir: PathBuf,
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
            let s = policies::check(dir)?;
            let mut out = std::io::stdout().lock();
            for (id, effect, reference) in &s.policies {
                match reference {
                    Some(r) => writeln!(out, "{effect:6} {id}  ({r})")?,
                    None => writeln!(out, "{effect:6} {id}")?,
                }
            }
            writeln!(out, "{}: {} policies, valid; digest {}", dir.display(), s.policies.len(), s.digest)?;
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
            let rules = cli.settings()?.domain.into_rules()?;
            let engine = PolicyEngine::load(dir, &rules)?;
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
