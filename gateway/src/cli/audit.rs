//! `sammen audit verify|checkpoint|export|prune`.
//!
//! - `verify` offline (the default): reads the data directory (the gateway stopped, or a
//!   copy), recomputes every leaf, every stored subtree hash and the root at every
//!   checkpoint, checks every checkpoint's signature, and names the first bad index. Online
//!   (`--url` of a running admin listener, an operator certificate and `--checkpoint FILE`
//!   saved earlier): fetches the latest checkpoint and a consistency proof from the saved
//!   one, and detects truncation or rewriting. Exits non-zero on any mismatch.
//!   `--checkpoint FILE` may also be a C2SP signed note (`checkpoint --note`, or
//!   `GET /admin/v1/audit/checkpoint/note`), verified with the audit key (`--public-key`,
//!   or offline the configured key) under the log's origin (`--origin`, default
//!   `[audit] origin` or the key's default); offline, the log must have had the note's root
//!   at the note's size; online, the running log must extend it (consistency proof).
//! - `verify --citizen-log FILE --public-key HEX`: checks a citizen's download from the
//!   portal ("Hent min log") with nothing but the public key: the checkpoint's signature
//!   and every record's inclusion proof (`consent::audit::verify_citizen_log`).
//! - `checkpoint --out FILE`: saves the latest signed checkpoint with its public key
//!   (from `--url`, or from the data directory); with `--note`, as a signed note, and
//!   prints the verifier key in the standard `<name>+<hash>+<key>` encoding.
//! - `export`: every record as JSON Lines (`{"index":…,"record":…}`; `{"index":…,"pruned":true}`
//!   for a pruned one) from the data directory, or with `--url` through the audited query API.
//! - `prune`: removes the payloads older than `[audit] retention_days` (or `--retention-days`) now.
//!
//! Nothing here prints a CPR number except the records that `export` writes where asked.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use consent::audit::{
    AuditConfig, AuditLog, CheckpointNote, CitizenLog, NoteVerifier, Origin, SignedCheckpoint, verify_citizen_log,
    verify_store,
};
use consent::clock::{Clock, SystemClock};
use consent::{SharedStore, Store};
use ed25519_dalek::VerifyingKey;
use gateway::admin::audit_api::{ConsistencyProof, NDJSON, NEXT_BEFORE_HEADER};
use gateway::admin::checkpoint::{CheckpointView, check_extension, check_grown};
use gateway::settings::Settings;

use super::Cli;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify the whole log offline (data directory), or online against a saved checkpoint.
    Verify(VerifyArgs),
    /// Save the latest signed checkpoint (with its public key) to a file.
    Checkpoint(CheckpointArgs),
    /// Write every record as JSON Lines.
    Export(ExportArgs),
    /// Remove the payloads of records older than the retention period now.
    Prune(PruneArgs),
}

/// A running admin listener and the operator credentials to call it.
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The admin listener, e.g. `https://localhost:9443`.
    #[arg(long)]
    url: Option<String>,
    /// PEM: the operator's client certificate.
    #[arg(long, requires = "url")]
    cert: Option<PathBuf>,
    /// PEM: the operator's private key.
    #[arg(long, requires = "url")]
    key: Option<PathBuf>,
    /// PEM: the CA that issued the admin listener's certificate (default: the system's roots).
    #[arg(long, requires = "url")]
    ca: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    remote: Remote,
    /// The checkpoint saved earlier by `sammen audit checkpoint` (online only), or a
    /// signed note (`sammen audit checkpoint --note`; online or offline).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Online: after a successful check, save the new checkpoint to the same file.
    #[arg(long, requires = "checkpoint")]
    save: bool,
    /// The checkpoint signing public key (64 hex digits): offline, and for a signed note;
    /// default (offline only): derived from the signing key file of the configuration.
    #[arg(long)]
    public_key: Option<String>,
    /// The origin a signed note must name; default `[audit] origin`, or the key's default.
    #[arg(long)]
    origin: Option<String>,
    /// A citizen's log downloaded from the portal (`min-log.json`): check its proofs against
    /// `--public-key`, without a data directory.
    #[arg(long, requires = "public_key", conflicts_with_all = ["url", "checkpoint"])]
    citizen_log: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    remote: Remote,
    #[arg(long)]
    out: PathBuf,
    /// Save a C2SP signed note (text) instead of the JSON checkpoint.
    #[arg(long)]
    note: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    remote: Remote,
    /// Where to write (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Override `[audit] retention_days`.
    #[arg(long)]
    retention_days: Option<u32>,
}

pub async fn run(cli: &Cli, cmd: &Command) -> anyhow::Result<()> {
    // A citizen's download needs no configuration: only the file and the public key.
    if let Command::Verify(VerifyArgs { citizen_log: Some(file), public_key: Some(key), .. }) = cmd {
        return verify_citizen_log_file(file, key);
    }
    let settings = cli.settings()?;
    match cmd {
        Command::Verify(a) => match (&a.remote.url, &a.checkpoint) {
            (_, Some(saved)) if is_note(saved)? => verify_note(&settings, a, saved).await,
            (Some(_), Some(saved)) => verify_online(&a.remote, saved, a.save).await,
            (None, Some(_)) => {
                bail!("a saved JSON checkpoint is checked online: give --url (or save a signed note with --note)")
            }
            (Some(_), None) => {
                bail!("online verification needs --checkpoint FILE (saved by `sammen audit checkpoint`)")
            }
            (None, _) => verify_offline(&settings, a.public_key.as_deref()).await,
        },
        Command::Checkpoint(a) if a.note => save_note(&settings, a).await,
        Command::Checkpoint(a) => {
            let view = match &a.remote.url {
                Some(_) => {
                    let client = a.remote.client()?;
                    let view: CheckpointView =
                        get_json(&client, &a.remote.endpoint("/admin/v1/audit/checkpoint")?).await?;
                    view.verify(None).map_err(anyhow::Error::msg).context("the served checkpoint")?;
                    view
                }
                None => {
                    let store = open_store(&settings)?;
                    let key = verifying_key(&settings, None)?;
                    let (_, bytes) =
                        store.audit_latest_checkpoint().await?.context("the audit log is empty: no checkpoint yet")?;
                    let cp = SignedCheckpoint::from_bytes(&bytes)?;
                    cp.verify(&key)?;
                    CheckpointView::new(&cp, &key)
                }
            };
            write_checkpoint(&a.out, &view)?;
            println!("saved the checkpoint of {} records ({}) to {}", view.tree_size, view.time, a.out.display());
            Ok(())
        }
        Command::Export(a) => {
            let mut out: Box<dyn Write> = match &a.out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let n = match &a.remote.url {
                Some(_) => export_online(&a.remote, &mut out).await?,
                None => export_offline(&settings, &mut out).await?,
            };
            out.flush()?;
            drop(out);
            eprintln!("exported {n} records");
            Ok(())
        }
        Command::Prune(a) => {
            let days = a.retention_days.unwrap_or(settings.audit.retention_days());
            let store = open_store(&settings)?;
            let key = gateway::app::signing_key(&settings.audit.key_file(&settings.data_dir), false)?;
            let log = AuditLog::open(store, key, AuditConfig::default()).await?;
            let r = gateway::admin::retention::prune_once(&log, days, SystemClock.now()).await?;
            println!(
                "pruned the payloads of {} records older than {days} days; records below index {} have none",
                r.pruned, r.pruned_below
            );
            Ok(())
        }
    }
}

/// Opens `<data_dir>/store`, which must exist (opening would create an empty one).
fn open_store(settings: &Settings) -> anyhow::Result<SharedStore> {
    let engine = settings.store.engine()?;
    if matches!(engine, consent::Engine::Sled(_)) {
        let path = settings.data_dir.join("store");
        if !path.is_dir() {
            bail!("no store in {}: is --data-dir right?", settings.data_dir.display());
        }
    }
    consent::store::open(&engine, &settings.data_dir).with_context(|| {
        format!("opening the store in {} (is the gateway running?)", settings.store.describe(&settings.data_dir))
    })
}

fn verifying_key(settings: &Settings, public_key: Option<&str>) -> anyhow::Result<VerifyingKey> {
    match public_key {
        Some(h) => {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h.trim(), &mut b).context("--public-key must be 64 hex digits")?;
            Ok(VerifyingKey::from_bytes(&b)?)
        }
        None => {
            let path = settings.audit.key_file(&settings.data_dir);
            Ok(gateway::app::signing_key(&path, false)?.verifying_key())
        }
    }
}

/// `verify --citizen-log FILE --public-key HEX`.
fn verify_citizen_log_file(file: &Path, public_key: &str) -> anyhow::Result<()> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(public_key.trim(), &mut b).context("--public-key must be 64 hex digits")?;
    let key = VerifyingKey::from_bytes(&b)?;
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let log: CitizenLog = serde_json::from_slice(&text).context("the file is not a citizen log (JSON)")?;
    match verify_citizen_log(&log, &key) {
        Ok(r) => {
            println!(
                "ok: {} record(s), each in the log signed at tree size {} ({}){}",
                r.entries,
                r.tree_size,
                log.checkpoint.time.to_rfc3339(),
                if log.complete { "" } else { "; the file holds only the newest records" }
            );
            Ok(())
        }
        Err(e) => bail!("the citizen log does not verify: {e}"),
    }
}

async fn verify_offline(settings: &Settings, public_key: Option<&str>) -> anyhow::Result<()> {
    let store = open_store(settings)?;
    let key = verifying_key(settings, public_key)?;
    match verify_store(&store, &key).await {
        Ok(r) => {
            let pruned = store.audit_pruned_below().await?;
            println!(
                "audit log OK: {} records, root {}, {} checkpoints and {} subtree hashes verified, payloads pruned below index {pruned}",
                r.tree_size,
                hex::encode(r.root),
                r.checkpoints,
                r.nodes
            );
            Ok(())
        }
        Err(e) => match e.first_bad_index() {
            Some(i) => bail!("the audit log does not verify: {e} (first bad index: {i})"),
            None => bail!("the audit log does not verify: {e}"),
        },
    }
}

async fn verify_online(remote: &Remote, saved_file: &Path, save: bool) -> anyhow::Result<()> {
    let saved = read_checkpoint(saved_file)?;
    let client = remote.client()?;
    let new: CheckpointView = get_json(&client, &remote.endpoint("/admin/v1/audit/checkpoint")?).await?;
    let proof = consistency(&client, remote, saved.tree_size, new.tree_size).await?;
    match check_extension(&saved, &new, &proof) {
        Ok(msg) => {
            println!("audit log OK (online): {msg}");
            if save {
                write_checkpoint(saved_file, &new)?;
                println!("saved the checkpoint of {} records to {}", new.tree_size, saved_file.display());
            }
            Ok(())
        }
        Err(e) => bail!("the audit log does not verify: {e}"),
    }
}

async fn export_offline(settings: &Settings, out: &mut dyn Write) -> anyhow::Result<u64> {
    let store = open_store(settings)?;
    let size = store.audit_size().await?;
    let mut at = 0;
    while at < size {
        let end = (at + 4096).min(size);
        for (index, bytes) in store.audit_leaves(at, end).await? {
            if bytes.is_empty() {
                writeln!(out, "{}", serde_json::json!({ "index": index, "pruned": true }))?;
            } else {
                let record: serde_json::Value =
                    serde_json::from_slice(&bytes).with_context(|| format!("record {index} does not read"))?;
                writeln!(out, "{}", serde_json::json!({ "index": index, "record": record }))?;
            }
        }
        at = end;
    }
    Ok(size)
}

async fn export_online(remote: &Remote, out: &mut dyn Write) -> anyhow::Result<u64> {
    let client = remote.client()?;
    let mut before: Option<String> = None;
    let mut n = 0;
    loop {
        let mut path = "/admin/v1/audit?limit=10000".to_string();
        if let Some(b) = &before {
            path.push_str(&format!("&before={b}"));
        }
        let r = client.get(remote.endpoint(&path)?).header("accept", NDJSON).send().await?;
        let r = check_status(r).await?;
        before = r.headers().get(NEXT_BEFORE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = r.bytes().await?;
        n += body.iter().filter(|b| **b == b'\n').count() as u64;
        out.write_all(&body)?;
        if before.is_none() {
            return Ok(n);
        }
    }
}

/// A saved signed note, not JSON: its first byte is not `{`.
fn is_note(path: &Path) -> anyhow::Result<bool> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{'))
}

/// The origin notes are checked against: `--origin`, else `[audit] origin`, else the key's.
fn note_origin(settings: &Settings, given: Option<&str>, key: &VerifyingKey) -> anyhow::Result<Origin> {
    let configured = match given {
        Some(o) => Some(Origin::new(o).context("--origin")?),
        None => settings.audit.origin().context("[audit] origin")?,
    };
    Ok(configured.unwrap_or_else(|| Origin::for_key(key)))
}

/// `checkpoint --note`: online, the served note, verified with the served public key (as the
/// JSON checkpoint is: trust it once, when saved); offline, the latest stored checkpoint,
/// verified and signed as a note with the configured key.
async fn save_note(settings: &Settings, a: &CheckpointArgs) -> anyhow::Result<()> {
    let (note, verifier) = match &a.remote.url {
        Some(_) => {
            let client = a.remote.client()?;
            let view: CheckpointView = get_json(&client, &a.remote.endpoint("/admin/v1/audit/checkpoint")?).await?;
            let key = view.verifying_key().map_err(anyhow::Error::msg)?;
            let url = a.remote.endpoint("/admin/v1/audit/checkpoint/note")?;
            let r = check_status(client.get(&url).send().await.with_context(|| format!("calling {url}"))?).await?;
            let note = r.text().await?;
            let origin = note.split('\n').next().unwrap_or_default();
            let origin = Origin::new(origin).context("the served note's origin")?;
            (note, NoteVerifier::new(origin, key))
        }
        None => {
            let store = open_store(settings)?;
            let signing = gateway::app::signing_key(&settings.audit.key_file(&settings.data_dir), false)?;
            let key = signing.verifying_key();
            let (_, bytes) =
                store.audit_latest_checkpoint().await?.context("the audit log is empty: no checkpoint yet")?;
            let cp = SignedCheckpoint::from_bytes(&bytes)?;
            cp.verify(&key)?;
            let origin = note_origin(settings, None, &key)?;
            let note = CheckpointNote { origin: origin.clone(), tree_size: cp.tree_size, root: cp.root };
            (note.sign(&signing), NoteVerifier::new(origin, key))
        }
    };
    let checked = verifier.verify(note.as_bytes()).context("the checkpoint note")?;
    std::fs::write(&a.out, &note).with_context(|| format!("writing {}", a.out.display()))?;
    println!("saved the signed note of {} records to {}", checked.tree_size, a.out.display());
    println!("verifier key: {}", verifier.vkey());
    Ok(())
}

/// `verify --checkpoint NOTE`: the note's signature, then the log against it.
async fn verify_note(settings: &Settings, a: &VerifyArgs, path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let key = match (&a.public_key, &a.remote.url) {
        (None, Some(_)) => bail!("a signed note carries no key: give --public-key (64 hex digits) to check it online"),
        (given, _) => verifying_key(settings, given.as_deref())?,
    };
    let origin = note_origin(settings, a.origin.as_deref(), &key)?;
    let note =
        NoteVerifier::new(origin, key).verify(&bytes).with_context(|| format!("{} does not verify", path.display()))?;
    let what = format!("the note {}", path.display());
    let result = match &a.remote.url {
        None => {
            verify_offline(settings, a.public_key.as_deref()).await?;
            let store = open_store(settings)?;
            let size = store.audit_size().await?;
            if note.tree_size > size {
                Err(format!(
                    "TRUNCATED: the log now has {size} records, but {what} saw {}; records from index {size} on are gone",
                    note.tree_size
                ))
            } else if note.tree_size == 0 {
                Ok(format!("the log grew from 0 to {size} records"))
            } else {
                // Every stored checkpoint's root was just recomputed from the records
                // (`verify_offline`), so the stored one at the note's size is the log's root there.
                let stored = store.audit_checkpoints(note.tree_size, note.tree_size + 1).await?;
                match stored.first() {
                    None => Err(format!("the log has no checkpoint at the note's tree size {}", note.tree_size)),
                    Some((_, b)) => {
                        let cp = SignedCheckpoint::from_bytes(b)?;
                        check_grown(&what, (note.tree_size, &note.root), (cp.tree_size, &cp.root), &[])
                            .map(|m| format!("{m}; the log now has {size} records"))
                    }
                }
            }
        }
        Some(_) => {
            let client = a.remote.client()?;
            let view: CheckpointView = get_json(&client, &a.remote.endpoint("/admin/v1/audit/checkpoint")?).await?;
            let cur = view.verify(Some(&key)).map_err(|e| anyhow::anyhow!("the log's checkpoint: {e}"))?;
            let proof = consistency(&client, &a.remote, note.tree_size, cur.tree_size).await?;
            check_grown(&what, (note.tree_size, &note.root), (cur.tree_size, &cur.root), &proof)
        }
    };
    match result {
        Ok(msg) => {
            println!("audit log OK against the signed note: {msg}");
            Ok(())
        }
        Err(e) => bail!("the audit log does not verify: {e}"),
    }
}

/// The consistency proof from `first` to `second` (none needed when either is 0 or they are equal).
async fn consistency(
    client: &reqwest::Client,
    remote: &Remote,
    first: u64,
    second: u64,
) -> anyhow::Result<Vec<[u8; 32]>> {
    if second <= first || first == 0 {
        return Ok(Vec::new());
    }
    let path = format!("/admin/v1/audit/proof/consistency?first={first}&second={second}");
    let p: ConsistencyProof = get_json(client, &remote.endpoint(&path)?).await?;
    p.consistency
        .iter()
        .map(|h| {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h, &mut b).map(|()| b)
        })
        .collect::<Result<Vec<_>, _>>()
        .context("the consistency proof is not hex hashes")
}

fn read_checkpoint(path: &Path) -> anyhow::Result<CheckpointView> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a saved checkpoint", path.display()))
}

fn write_checkpoint(path: &Path, view: &CheckpointView) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(view)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

impl Remote {
    fn endpoint(&self, path: &str) -> anyhow::Result<String> {
        let base = self.url.as_deref().context("--url is needed")?;
        Ok(format!("{}{path}", base.trim_end_matches('/')))
    }

    fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut b = reqwest::Client::builder().use_rustls_tls().timeout(std::time::Duration::from_secs(60));
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            b = b.tls_built_in_root_certs(false).add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let mut pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
                pem.push(b'\n');
                pem.extend(std::fs::read(key).with_context(|| format!("reading {}", key.display()))?);
                b = b.identity(reqwest::Identity::from_pem(&pem).context("the operator certificate and key")?);
            }
            (None, None) => {}
            _ => bail!("give both --cert and --key"),
        }
        Ok(b.build()?)
    }
}

async fn check_status(r: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or(text);
    bail!("the admin API answered {status}: {detail}")
}

async fn get_json<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: &str) -> anyhow::Result<T> {
    let r = check_status(client.get(url).send().await.with_context(|| format!("calling {url}"))?).await?;
    Ok(r.json().await?)
}
