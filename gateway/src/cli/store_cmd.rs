//! `sammen store migrate`: brings the configured store's schema up to date (PostgreSQL: the
//! SQL migrations this binary knows, under an advisory lock; sled has no schema). `sammen
//! serve` does the same on first use; this command lets an operator do it before rolling
//! out new instances, and says which version the database is at.

use anyhow::Context;
use clap::Subcommand;

use super::Cli;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the schema migrations this binary knows (PostgreSQL); refuses a newer schema.
    Migrate,
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<()> {
    let settings = cli.settings()?;
    match cmd {
        Command::Migrate => {
            let engine = settings.store.engine()?;
            let version = consent::store::migrate(&engine)
                .await
                .with_context(|| format!("migrating {}", settings.store.describe(&settings.data_dir)))?;
            match version {
                Some(v) => println!("the schema is at version {v}"),
                None => println!("the embedded store (sled) has no schema to migrate"),
            }
            Ok(())
        }
    }
}
