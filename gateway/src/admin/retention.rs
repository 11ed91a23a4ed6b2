//! Retention: `[audit] retention_days` (default 730). At start and then daily, the payload
//! of every audit record older than that is removed while its leaf hash stays
//! (`consent::audit::AuditLog::prune_older_than`); `sammen audit prune` does the same once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use consent::Store;
use consent::audit::{AuditError, AuditLog, PruneReport};
use tokio::sync::watch;

use crate::core::clock::Clock;

/// How often the pruning step runs while the gateway serves.
pub const EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// Prunes the payloads of records older than `days` days before `now`, once.
pub async fn prune_once<S: Store>(
    audit: &AuditLog<S>,
    days: u32,
    now: DateTime<Utc>,
) -> Result<PruneReport, AuditError> {
    let cutoff = now - chrono::Duration::days(i64::from(days));
    audit.prune_older_than(cutoff).await
}

/// Prunes now and then every [`EVERY`] until `stopped`.
pub(crate) async fn run<S: Store>(
    audit: AuditLog<S>,
    days: u32,
    clock: Arc<dyn Clock>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        match prune_once(&audit, days, clock.now()).await {
            Ok(r) if r.pruned > 0 => {
                tracing::info!(pruned = r.pruned, pruned_below = r.pruned_below, days, "audit payloads pruned")
            }
            Ok(_) => tracing::debug!(days, "no audit payloads old enough to prune"),
            Err(e) => tracing::error!(error = %e, "pruning the audit log failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}
