//! The child processes' side: `bench serve-gateway` and `bench serve-sandbox` run exactly
//! what `sammen serve` and `sammen sandbox --tls` run (`gateway::app::start` with the
//! same settings loading; `sandbox::Sandbox::start` with freshly generated TLS material),
//! and print the same start-up lines. They exist so that one `cargo run --release -p bench`
//! needs no second binary that might be stale or built with another profile.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SAMMEN_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
}

/// As `sammen serve --config CONFIG --data-dir DATA`.
pub async fn gateway(config: &Path, data_dir: &Path) -> anyhow::Result<()> {
    init_tracing();
    let settings = gateway::settings::Settings::load(Some(config), Some(data_dir))?;
    let running = gateway::app::start(settings).await.context("starting the gateway")?;
    let mut out = std::io::stdout().lock();
    if let Some(admin) = running.admin_addr() {
        // Before the listening line, as `sammen serve` prints it.
        writeln!(out, "sammen serve: admin API on https://{admin}")?;
    }
    writeln!(out, "sammen serve: listening on https://{}", running.addr)?;
    out.flush()?;
    drop(out);
    running.run_until_signal().await.context("waiting for a signal")?;
    Ok(())
}

/// As `sammen sandbox --tls --ca-out CA`.
pub async fn sandbox(ca_out: &Path) -> anyhow::Result<()> {
    init_tracing();
    let cfg = sandbox::SandboxConfig {
        tls: Some(sandbox::tls::generate().context("generating the sandbox's certificates")?),
        ..Default::default()
    };
    if let Some(tls) = &cfg.tls {
        std::fs::write(ca_out, &tls.ca_pem).with_context(|| format!("writing {}", ca_out.display()))?;
    }
    let running = sandbox::Sandbox::start(cfg).await.context("starting the sandbox")?;
    let mut out = std::io::stdout().lock();
    for source in sandbox::Source::ALL {
        writeln!(out, "  {:<12} {}", source.name(), running.url(source))?;
    }
    writeln!(out, "  {:<12} {}", "admin", running.admin_url())?;
    writeln!(out, "Press ctrl-c to stop.")?;
    out.flush()?;
    drop(out);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    drop(running);
    Ok(())
}
