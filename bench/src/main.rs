//! `bench`: sammen's load harness (issue 8; BENCHMARKS.md). One command:
//!
//! ```text
//! cargo run --release -p bench                 # the full run, about 3-4 minutes
//! cargo run --release -p bench -- --help       # sizes, phase length, concurrencies
//! ```
//!
//! It starts the sandbox and the gateway as separate processes (this binary's hidden
//! `serve-sandbox` and `serve-gateway` commands, the same code as `sammen sandbox --tls`
//! and `sammen serve`; or a real `sammen` with `--sammen PATH`), preloads the gateway's
//! store, and compares case files through the gateway (B) with the four sources fetched
//! directly (A, "the limit"), interleaved A B B A per load (an open loop at a fixed rate,
//! closed loops per concurrency; long-lived or fresh caseworker tokens), or counts the
//! gateway's instructions per case file under callgrind (`--callgrind N`, [`callgrind`]).
//! Code map: [`harness`] (the run), [`load`] (closed- and open-loop load, percentiles), [`children`] (the child
//! processes), [`serve`] (the children's side), [`preload`] (the synthetic consents),
//! [`procstat`] (CPU and peak RSS from /proc), [`report`] (the Markdown tables).

mod callgrind;
mod children;
mod harness;
mod load;
mod preload;
mod procstat;
mod report;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `--features mimalloc`: the allocator experiment (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "bench", about = "sammen's load harness: case files through the gateway against the limit")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: harness::Options,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// (child process) As `sammen serve`.
    #[command(hide = true)]
    ServeGateway {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// (child process) As `sammen sandbox --tls --ca-out CA`.
    #[command(hide = true)]
    ServeSandbox {
        #[arg(long)]
        ca_out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match &cli.command {
            Some(Command::ServeGateway { config, data_dir }) => serve::gateway(config, data_dir).await,
            Some(Command::ServeSandbox { ca_out }) => serve::sandbox(ca_out).await,
            None => harness::run(&cli.run).await.map(|report| {
                println!("{}", report::markdown(&report));
            }),
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
