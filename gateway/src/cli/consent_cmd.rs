//! `sammen consent grant|revoke|list`: exercise the ledger from a shell.
//!
//! A grant or revoke goes through the [`ConsentService`] like every other change: it is
//! committed with its audit record (`consent_granted`, `consent_revoked`) and the command
//! returns once the record is in the audit log. So it needs the audit signing key, like
//! `sammen serve`, and must not run while the gateway holds the same store.
//!
//! The CPR number comes from `--cpr` or, when that is absent, from the first line of
//! standard input (so it need not appear in the process list or shell history). Output
//! shows it masked only.

use std::collections::BTreeSet;
use std::io::BufRead;

use anyhow::Context;
use chrono::Months;
use clap::Subcommand;
use consent::audit::{AuditConfig, AuditLog};
use consent::clock::{Clock, SystemClock};
use consent::{Actor, Category, Channel, ConsentId, ConsentService, Cpr, Ledger, Period, Purpose, TermsInput, UnitId};

use super::Cli;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record a consent the citizen grants directly.
    Grant {
        #[arg(long)]
        cpr: Option<String>,
        /// The unit that may receive the data, e.g. kk.jobcenter.
        #[arg(long)]
        unit: String,
        /// Also cover the units below `--unit`.
        #[arg(long)]
        include_subunits: bool,
        #[arg(long)]
        purpose: String,
        /// A category of data; repeat for more.
        #[arg(long = "category", required = true)]
        categories: Vec<String>,
        /// How many months the consent lasts (at most the configured cap).
        #[arg(long, default_value_t = 12)]
        months: u32,
    },
    /// Revoke an active consent.
    Revoke {
        #[arg(long)]
        cpr: Option<String>,
        #[arg(long)]
        id: ConsentId,
    },
    /// List a citizen's consents.
    List {
        #[arg(long)]
        cpr: Option<String>,
    },
}

/// The text a consent recorded from the command line carries.
const CLI_TEXT: &str = "Samtykke registreret af en medarbejder efter borgerens udtrykkelige ønske.";

fn read_cpr(flag: &Option<String>) -> anyhow::Result<Cpr> {
    let raw = match flag {
        Some(s) => s.clone(),
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the CPR number from standard input")?;
            line
        }
    };
    Cpr::parse(&raw).context("the CPR number")
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<()> {
    let settings = cli.settings()?;
    let rules = settings.domain.into_rules()?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating the data directory {}", settings.data_dir.display()))?;
    let store = consent::store::open(&settings.store.engine()?, &settings.data_dir)?;
    let ledger = Ledger::new(store.clone(), rules);
    let service = || async {
        let key =
            gateway::app::signing_key(&settings.audit.key_file(&settings.data_dir), settings.audit.may_create_key())?;
        let audit = AuditLog::open(store.clone(), key, AuditConfig::default()).await?;
        anyhow::Ok(ConsentService::new(ledger.clone(), audit))
    };
    let now = SystemClock.now();
    match cmd {
        Command::Grant { cpr, unit, include_subunits, purpose, categories, months } => {
            let citizen = read_cpr(cpr)?;
            let categories = categories.iter().map(|c| Category::parse(c)).collect::<Result<BTreeSet<_>, _>>()?;
            let until = now.checked_add_months(Months::new(*months)).context("the period is too long")?;
            let input = TermsInput {
                citizen,
                grantee: UnitId::parse(unit)?,
                include_subunits: *include_subunits,
                purpose: Purpose::parse(purpose)?,
                categories,
                period: Period { from: now, until },
                data_period: None,
                text_version: "cli-1".into(),
                text_body: CLI_TEXT.into(),
            };
            let c = service().await?.grant(input, &citizen, &Actor::citizen(Channel::Cli), now).await?;
            println!("granted {} for {} until {}", c.id, c.terms.citizen, c.terms.period.until.format("%Y-%m-%d"));
        }
        Command::Revoke { cpr, id } => {
            let citizen = read_cpr(cpr)?;
            let c = service().await?.revoke(*id, &citizen, &Actor::citizen(Channel::Cli), now).await?;
            println!("revoked {} for {}", c.id, c.terms.citizen);
        }
        Command::List { cpr } => {
            let citizen = read_cpr(cpr)?;
            let consents = ledger.consents_of(&citizen).await?;
            println!("{} consents for {}", consents.len(), citizen);
            for c in consents {
                let cats: Vec<_> = c.terms.categories.iter().map(Category::as_str).collect();
                println!(
                    "{}  {:<9}  {:<22}  {:<22}  until {}  {}",
                    c.id,
                    c.status_at(now).to_string(),
                    c.terms.grantee.as_str(),
                    c.terms.purpose.as_str(),
                    c.terms.period.until.format("%Y-%m-%d"),
                    cats.join(",")
                );
            }
        }
    }
    Ok(())
}
