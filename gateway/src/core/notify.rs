//! Notifications: letters to citizens in their Digital Post mailbox when something about
//! their consents or their data happens (`texts.rs` says what and when).
//!
//! The outbox is the audit log itself: every event a citizen is told about is an audit
//! record, written in the same transaction as the change. The notifier reads the log from
//! a durable cursor, delivers what each new record calls for, and only then moves the
//! cursor, so a crash or a mailbox that is down loses nothing (the next poll starts from
//! the same record), and a retry never delivers twice (each notification's id is derived
//! from its record, and the mailbox deduplicates on it). Several gateway instances may
//! run it at once over a shared store: at worst both deliver the same ids.
//!
//! Consents that end soon or have ended are found by a slower scan of the ledger; a
//! delivered one is remembered (60 days) so the scan does not post it again.
//!
//! The cursor, the citizen's choices ([`Preferences`]) and the remembered ids live in the
//! store's expiring key-value space (the one the portal's sessions use). Nothing here logs
//! or puts a CPR number in a subject.

mod texts;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connectors::digital_post::{DigitalPost, MailboxMessage};
use consent::audit::{AuditKind, AuditLog};
use consent::{ConsentId, Cpr, Ledger, SessionStore, SharedStore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub use texts::{Notification, for_access, for_co_parent, for_expiry, for_record, notification_id};

use super::clock::Clock;
use crate::settings::notifications::NotificationSettings;

/// Where notifications go. The production channel is the Digital Post mailbox.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// Delivers one notification; safe to call again with the same one (deduplicated on
    /// its id). The error never names the recipient.
    async fn deliver(&self, n: &Notification) -> Result<(), String>;
}

/// The Digital Post mailbox as a [`Channel`].
pub struct DigitalPostChannel {
    pub client: DigitalPost,
    pub sender: String,
}

#[async_trait]
impl Channel for DigitalPostChannel {
    async fn deliver(&self, n: &Notification) -> Result<(), String> {
        let m = MailboxMessage {
            message_id: n.id,
            recipient: n.recipient.expose().to_string(),
            sender: self.sender.clone(),
            subject: n.subject.clone(),
            body: n.body.clone(),
        };
        self.client.deliver(&m).await.map(drop).map_err(|e| e.to_string())
    }
}

/// What a citizen chose to be told (the portal's "Beskeder" page). Requests, revocations
/// and ends of consents are always told; every access only when asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// Tell me each time an authority fetches data about me.
    pub access: bool,
}

/// Keys in the store's key-value space are kept for this long.
const FOREVER_DAYS: i64 = 365 * 100;
const CURSOR_KEY: &str = "notify:cursor";

fn preferences_key(citizen: &Cpr) -> String {
    let d = Sha256::digest(format!("sammen notification preferences\n{}", citizen.expose()).as_bytes());
    format!("notify:prefs:{}", hex::encode(d))
}

/// The citizen's choices (the default when none were saved).
pub async fn preferences(store: &SharedStore, citizen: &Cpr, now: DateTime<Utc>) -> Result<Preferences, String> {
    match store.session_get(&preferences_key(citizen), now).await.map_err(|e| e.to_string())? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("stored preferences do not read: {e}")),
        None => Ok(Preferences::default()),
    }
}

pub async fn save_preferences(
    store: &SharedStore,
    citizen: &Cpr,
    p: Preferences,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let bytes = serde_json::to_vec(&p).map_err(|e| e.to_string())?;
    store
        .session_put(&preferences_key(citizen), &bytes, now + chrono::Duration::days(FOREVER_DAYS))
        .await
        .map_err(|e| e.to_string())
}

/// The notifier (see the module docs).
pub struct Notifier {
    pub audit: AuditLog<SharedStore>,
    pub ledger: Ledger<SharedStore>,
    pub channel: Arc<dyn Channel>,
    pub clock: Arc<dyn Clock>,
    pub poll: Duration,
    pub expiry_scan: Duration,
    pub expiry_warning: chrono::Duration,
    /// Parents with joint custody are told of each other's actions (the person register's
    /// custody holders); `None`: not offered.
    pub representation: Option<Arc<super::representation::Representation>>,
}

/// At most this many records per pass.
const BATCH: u64 = 256;

impl Notifier {
    pub fn new(
        s: &NotificationSettings,
        audit: AuditLog<SharedStore>,
        ledger: Ledger<SharedStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, connectors::ConfigError> {
        let client = DigitalPost::from_config(&s.mailbox)?;
        Ok(Notifier {
            audit,
            ledger,
            channel: Arc::new(DigitalPostChannel { client, sender: s.sender.clone() }),
            clock,
            poll: Duration::from_millis(s.poll_ms),
            expiry_scan: Duration::from_millis(s.expiry_scan_ms),
            expiry_warning: chrono::Duration::days(i64::from(s.expiry_warning_days)),
            representation: None,
        })
    }

    fn store(&self) -> &SharedStore {
        self.ledger.store()
    }

    /// The cursor: the first audit index not yet looked at. On the very first start it is
    /// the log's size then (no letters about the past).
    async fn cursor(&self, now: DateTime<Utc>) -> Result<u64, String> {
        match self.store().session_get(CURSOR_KEY, now).await.map_err(|e| e.to_string())? {
            Some(b) => {
                let text = String::from_utf8(b).map_err(|_| "the stored cursor is not text".to_string())?;
                text.parse().map_err(|_| "the stored cursor is not a number".to_string())
            }
            None => {
                let size = self.audit.durable_size().await.map_err(|e| e.to_string())?;
                self.save_cursor(size, now).await?;
                Ok(size)
            }
        }
    }

    async fn save_cursor(&self, at: u64, now: DateTime<Utc>) -> Result<(), String> {
        self.store()
            .session_put(CURSOR_KEY, at.to_string().as_bytes(), now + chrono::Duration::days(FOREVER_DAYS))
            .await
            .map_err(|e| e.to_string())
    }

    /// One pass over new audit records: delivers what they call for and moves the cursor
    /// past what was delivered. Returns how many notifications were delivered; stops at
    /// the first failed delivery (the cursor stays before it).
    pub async fn tail_once(&self) -> Result<usize, String> {
        let now = self.clock.now();
        let start = self.cursor(now).await?;
        let size = self.audit.durable_size().await.map_err(|e| e.to_string())?;
        if start >= size {
            return Ok(0);
        }
        let end = size.min(start + BATCH);
        let records = self.audit.entries(start, end).await.map_err(|e| e.to_string())?;
        let rules = self.ledger.rules();
        let mut delivered = 0;
        let mut done = start;
        let mut i = 0;
        while i < records.len() {
            let (index, r) = &records[i];
            let (index, mut next) = (*index, i + 1);
            let notification = match (r.citizen, r.kind) {
                (None, _) => None,
                (Some(citizen), AuditKind::Release) => {
                    // One letter per request: its release records are consecutive.
                    while next < records.len()
                        && records[next].1.kind == AuditKind::Release
                        && records[next].1.request_id == r.request_id
                    {
                        next += 1;
                    }
                    if preferences(self.store(), &citizen, now).await?.access {
                        let group: Vec<&consent::audit::AuditRecord> =
                            records[i..next].iter().map(|(_, r)| r).collect();
                        for_access(index, &group, rules)
                    } else {
                        None
                    }
                }
                (Some(_), kind) => {
                    let requested = match (kind, r.subject.as_deref().and_then(consent_of)) {
                        (AuditKind::ConsentRequested | AuditKind::ConsentRegisteredFromPaper, Some(id)) => {
                            self.ledger.consent(id).await.ok()
                        }
                        _ => None,
                    };
                    for_record(index, r, requested.as_ref(), rules)
                }
            };
            let mut notifications: Vec<Notification> = notification.into_iter().collect();
            if let (Some(rep), Some(child), Some(_)) = (
                &self.representation,
                r.citizen,
                r.on_behalf.as_ref().filter(|o| o.kind == "custody" && changes(r.kind)),
            ) {
                let holders = match rep.custody_holders(&child, &r.request_id).await {
                    Ok(h) => h,
                    Err(e) => {
                        if done > start {
                            self.save_cursor(done, now).await?;
                        }
                        return Err(format!("the custody holders could not be read (kept for the next try): {e}"));
                    }
                };
                notifications.extend(holders.iter().filter_map(|(p, id)| for_co_parent(index, r, *p, id, rules)));
            }
            for n in notifications {
                if let Err(e) = self.channel.deliver(&n).await {
                    if done > start {
                        self.save_cursor(done, now).await?;
                    }
                    return Err(format!("delivering a notification failed (kept for the next try): {e}"));
                }
                delivered += 1;
            }
            done = records[next - 1].0 + 1;
            i = next;
        }
        self.save_cursor(end.max(done), now).await?;
        Ok(delivered)
    }

    /// One scan of the ledger for consents that end soon or have ended; each is told once.
    pub async fn scan_expiry_once(&self) -> Result<usize, String> {
        let now = self.clock.now();
        let rules = self.ledger.rules();
        let ids = self.store().consent_ids().await.map_err(|e| e.to_string())?;
        let mut delivered = 0;
        for id in ids {
            let Ok(c) = self.ledger.consent(id).await else { continue };
            let Some(n) = for_expiry(&c, now, self.expiry_warning, rules) else { continue };
            let key = format!("notify:sent:{}", n.id);
            if self.store().session_get(&key, now).await.map_err(|e| e.to_string())?.is_some() {
                continue;
            }
            self.channel.deliver(&n).await.map_err(|e| format!("delivering a notification failed: {e}"))?;
            self.store().session_put(&key, b"1", now + chrono::Duration::days(60)).await.map_err(|e| e.to_string())?;
            delivered += 1;
        }
        Ok(delivered)
    }

    /// Runs until `stop` turns true: tails the log every `poll` (twice as long after each
    /// failure, at most a minute) and scans for ends of consents every `expiry_scan`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut pause = self.poll;
        let mut next_scan = tokio::time::Instant::now();
        loop {
            match self.tail_once().await {
                Ok(_) => pause = self.poll,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "notifications wait");
                    pause = (pause * 2).min(Duration::from_secs(60));
                }
            }
            if tokio::time::Instant::now() >= next_scan {
                if let Err(e) = self.scan_expiry_once().await {
                    tracing::warn!(error = %e, "the scan for ending consents failed; it runs again later");
                }
                next_scan = tokio::time::Instant::now() + self.expiry_scan;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

/// The consent an audit record's subject (`consent:<id>.<version>`) names.
fn consent_of(subject: &str) -> Option<ConsentId> {
    subject.strip_prefix("consent:")?.split('.').next()?.parse().ok()
}

/// Whether a record of `kind` is a change of a consent a parent is told of (a view is not).
fn changes(kind: AuditKind) -> bool {
    matches!(
        kind,
        AuditKind::ConsentGranted | AuditKind::ConsentApproved | AuditKind::ConsentRejected | AuditKind::ConsentRevoked
    )
}
