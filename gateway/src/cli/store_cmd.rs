//! `sammen store migrate`: brings the configured store's schema up to date (PostgreSQL: the
//! SQL migrations this binary knows, under an advisory lock; sled has no schema). `sammen
//! serve` does the same on first use; this command lets an operator do it before rolling
//! out new instances, and says which version the database is at.
//!
//! `sammen store copy --from sled:DIR --to postgres:URL`: moves an installation from one
//! store into another, empty one (`consent::store::copy`), then verifies the copy: row by
//! row, and the audit log of both with the signing key (same tree size and root). Progress
//! goes to stderr; nothing printed names a citizen or repeats a URL.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use consent::SharedStore;
use consent::audit::verify_store;
use consent::store::copy::{self, BatchSize, Progress};

use super::Cli;
use gateway::settings::{Settings, StoreKind};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the schema migrations this binary knows (PostgreSQL); refuses a newer schema.
    Migrate,
    /// Copy everything a stopped installation's store holds into an empty store, then
    /// verify the copy. Sessions and login states are not copied (citizens log in again).
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The source: `sled:DIR` (a data directory, holding `store/`) or `postgres:URL`.
    #[arg(long)]
    pub from: String,
    /// The target, which must be empty: `sled:DIR` or `postgres:URL` (the `[store]` settings
    /// give the PostgreSQL timeouts and CA file).
    #[arg(long)]
    pub to: String,
    /// Rows per batch (one read and one target transaction).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

/// Where a copy reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    Sled(PathBuf),
    Postgres(String),
}

impl Location {
    fn parse(s: &str) -> anyhow::Result<Self> {
        if let Some(dir) = s.strip_prefix("sled:") {
            if dir.is_empty() {
                bail!("sled: needs a data directory (sled:DIR)");
            }
            return Ok(Location::Sled(PathBuf::from(dir)));
        }
        if let Some(url) = s.strip_prefix("postgres:") {
            if url.trim().is_empty() {
                bail!("postgres: needs a connection URL (postgres:URL)");
            }
            return Ok(Location::Postgres(url.to_owned()));
        }
        // Never repeat the argument: it may be a URL with a password.
        bail!("a store is named sled:DIR or postgres:URL")
    }

    /// For messages: the directory, or "PostgreSQL" (never the URL).
    fn describe(&self) -> String {
        match self {
            Location::Sled(dir) => format!("sled in {}", dir.join("store").display()),
            Location::Postgres(_) => "PostgreSQL".into(),
        }
    }

    /// Opens the store; `must_exist` refuses a sled directory without a store (opening
    /// would create an empty one).
    fn open(&self, settings: &Settings, must_exist: bool) -> anyhow::Result<SharedStore> {
        match self {
            Location::Sled(dir) => {
                if must_exist && !dir.join("store").is_dir() {
                    bail!("no store in {}: is the directory right?", dir.display());
                }
                consent::store::open(&consent::Engine::sled(), dir)
                    .with_context(|| format!("opening {} (is the gateway still running?)", self.describe()))
            }
            Location::Postgres(url) => {
                let mut store = settings.store.clone();
                store.kind = StoreKind::Postgres;
                store.url = Some(url.clone());
                let engine = store.engine()?;
                consent::store::open(&engine, &settings.data_dir).context("opening PostgreSQL")
            }
        }
    }
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
        Command::Copy(args) => copy_stores(&settings, args).await,
    }
}

async fn copy_stores(settings: &Settings, args: &CopyArgs) -> anyhow::Result<()> {
    let from = Location::parse(&args.from).context("--from")?;
    let to = Location::parse(&args.to).context("--to")?;
    if from == to {
        bail!("--from and --to name the same store");
    }
    // The key that signed the source's checkpoints: in the sled source's data directory,
    // else the configured one.
    let key_dir = match &from {
        Location::Sled(dir) => dir.clone(),
        Location::Postgres(_) => settings.data_dir.clone(),
    };
    let key_file = settings.audit.key_file(&key_dir);
    let key = gateway::app::signing_key(&key_file, false)
        .with_context(|| format!("reading the audit signing key {}", key_file.display()))?
        .verifying_key();
    let source = from.open(settings, true)?;
    let target = to.open(settings, false)?;
    eprintln!("copying {} into {} (batches of {})", from.describe(), to.describe(), args.batch.max(1));
    let mut progress = |p: Progress| {
        eprintln!("  {} {}", p.done, p.kind.as_str());
    };
    let report = copy::copy(&*source, &*target, BatchSize::new(args.batch), &mut progress)
        .await
        .with_context(|| format!("copying {} into {}", from.describe(), to.describe()))?;
    eprintln!("verifying the audit log of both stores with the signing key");
    let a = verify_store(&source, &key).await.context("the source's audit log does not verify")?;
    let b = verify_store(&target, &key).await.context("the copy's audit log does not verify")?;
    if (a.tree_size, a.root) != (b.tree_size, b.root) {
        bail!("the copy's audit log has another size or root than the source's");
    }
    println!(
        "copied and verified: {} consents ({} events), {} blocks ({} events), {} texts, {} audit records \
         (root {}, {} checkpoints, {} subtree hashes, payloads pruned below {}), {} citizen index entries, \
         {} pending audit records, {} messages to GPs; sessions and login states are not copied",
        report.consents,
        report.consent_events,
        report.blocks,
        report.block_events,
        report.texts,
        report.audit_records,
        hex::encode(b.root),
        report.checkpoints,
        report.audit_nodes,
        report.pruned_below,
        report.citizen_entries,
        report.outbox,
        report.health_messages,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_never_repeat_a_url() {
        assert_eq!(Location::parse("sled:/var/lib/sammen").unwrap(), Location::Sled("/var/lib/sammen".into()));
        let url = "postgres:postgresql://sammen:s3cret@db/sammen";
        let pg = Location::parse(url).unwrap();
        assert_eq!(pg, Location::Postgres("postgresql://sammen:s3cret@db/sammen".into()));
        assert_eq!(pg.describe(), "PostgreSQL");
        for bad in ["mysql://sammen:s3cret@db", "sled:", "postgres: "] {
            let e = format!("{:#}", Location::parse(bad).unwrap_err());
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
