//! `sammen sandbox`: the four simulated source systems and the person register, until ctrl-c.
//!
//! Its settings are the `[sandbox]` table of the `--config` file (see
//! `sandbox::SandboxConfig`: bind address, ports, TLS, faults per source); without one it
//! binds 127.0.0.1 on free ports.

use std::path::PathBuf;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Format, Toml};

use super::Cli;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve the sources over TLS with a freshly generated CA and certificate.
    #[arg(long)]
    tls: bool,
    /// With --tls: write the CA certificate (PEM) here, for the connectors to trust.
    #[arg(long, requires = "tls")]
    ca_out: Option<PathBuf>,
}

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    let mut cfg = match &cli.config {
        Some(path) => {
            let figment = Figment::from(Toml::file(path));
            if figment.find_value("sandbox").is_ok() {
                figment
                    .extract_inner::<sandbox::SandboxConfig>("sandbox")
                    .with_context(|| format!("reading the [sandbox] table of {}", path.display()))?
            } else {
                sandbox::SandboxConfig::default()
            }
        }
        None => sandbox::SandboxConfig::default(),
    };
    if args.tls && cfg.tls.is_none() {
        cfg.tls = Some(sandbox::tls::generate().context("generating the sandbox's certificates")?);
    }
    if let (Some(path), Some(tls)) = (&args.ca_out, &cfg.tls) {
        std::fs::write(path, &tls.ca_pem).with_context(|| format!("writing {}", path.display()))?;
    }
    let running = sandbox::Sandbox::start(cfg).await.context("starting the sandbox")?;
    println!("sammen sandbox: {} synthetic citizens", sandbox::citizens().len());
    for source in sandbox::Source::EVERY {
        println!("  {:<12} {}", source.name(), running.url(source));
    }
    println!("  {:<12} {}  (PUT /admin/faults/{{source}}, GET /admin/citizens)", "admin", running.admin_url());
    println!("  MitID broker (sandbox) {}  (clients: PUT /admin/broker/clients/{{id}})", running.broker_url());
    if let Some(path) = &args.ca_out {
        println!("  CA certificate written to {}", path.display());
    }
    println!("Press ctrl-c to stop.");
    running.run_until_ctrl_c().await.context("waiting for ctrl-c")?;
    Ok(())
}
