//! `sammen serve`: the HTTPS API for caseworker systems, until ctrl-c or SIGTERM.
//!
//! Prints `sammen serve: listening on https://ADDR` on standard output once it accepts
//! connections (with `listen = "127.0.0.1:0"` that line tells the chosen port), preceded
//! by `sammen serve: admin API on https://ADDR` when `[admin]` is configured.

use std::io::Write;

use anyhow::Context;

use super::Cli;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(cli: &Cli, _args: &Args) -> anyhow::Result<()> {
    let settings = cli.settings()?;
    let running = gateway::app::start(settings).await.context("starting the gateway")?;
    let mut out = std::io::stdout().lock();
    if let Some(p) = running.portal_addr {
        writeln!(out, "sammen serve: citizen portal on https://localhost:{}/", p.port())?;
    }
    if let Some(admin) = running.admin_addr() {
        // Before the listening line, which tells a supervisor that start-up is done.
        writeln!(out, "sammen serve: admin API on https://{admin}")?;
    }
    writeln!(out, "sammen serve: listening on https://{}", running.addr)?;
    out.flush()?;
    drop(out);
    running.run_until_signal().await.context("waiting for a signal")?;
    Ok(())
}
