//! The audit log's part of the PostgreSQL store: one log shared by every instance.
//!
//! A batch and a prune lock the one-row `audit_head` (`SELECT … FOR UPDATE`) first: the lock
//! queues the writers of all instances, and the size it reads is the fence (a batch built
//! from a stale size is refused whole). The leaves, nodes, citizen index, checkpoint and the
//! outbox rows the batch drains are written in the same transaction; the outbox rows are
//! deleted with `DELETE … RETURNING`, and a batch that finds one of them gone (another
//! instance drained it first) is refused whole, so a record reaches the log once.

use super::{Tx, big, db_error, unbig};
use crate::store::{AuditBatch, AuditPrune, OutboxId, PendingAudit, StoreError};

/// The stored (size, prune watermark), without a lock.
pub(super) async fn head(c: &tokio_postgres::Client) -> Result<(u64, u64), StoreError> {
    let row = c.query_one("SELECT size, pruned_below FROM audit_head", &[]).await.map_err(db_error)?;
    Ok((unbig(row.get(0), "audit size")?, unbig(row.get(1), "prune watermark")?))
}

/// The head, locked until the transaction ends.
async fn lock_head(tx: &Tx<'_>) -> Result<(u64, u64), StoreError> {
    let row = tx.query_one("SELECT size, pruned_below FROM audit_head FOR UPDATE", &[]).await.map_err(db_error)?;
    Ok((unbig(row.get(0), "audit size")?, unbig(row.get(1), "prune watermark")?))
}

pub(super) async fn append(tx: &Tx<'_>, batch: AuditBatch<'_>) -> Result<(), StoreError> {
    let count = batch.leaves.len() as u64;
    let new_size = batch.first_index.checked_add(count).ok_or_else(|| StoreError::Io("audit size overflow".into()))?;
    let (stored, _) = lock_head(tx).await?;
    if stored != batch.first_index {
        return Err(StoreError::AuditMoved { stored, first: batch.first_index });
    }
    if !batch.outbox.is_empty() {
        let mut ids: Vec<uuid::Uuid> = batch.outbox.iter().map(|o| o.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let gone =
            tx.query("DELETE FROM audit_outbox WHERE id = ANY($1) RETURNING id", &[&ids]).await.map_err(db_error)?;
        if gone.len() != ids.len() {
            // Another writer drained one of them; the transaction rolls back on drop.
            return Err(StoreError::Conflict { expected: 0 });
        }
    }
    if !batch.leaves.is_empty() {
        let idx: Vec<i64> = (0..count).map(|i| big(batch.first_index + i)).collect();
        let leaves: Vec<&[u8]> = batch.leaves.iter().map(|l| l.as_slice()).collect();
        tx.execute(
            "INSERT INTO audit_leaves (idx, leaf) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            &[&idx, &leaves],
        )
        .await
        .map_err(db_error)?;
    }
    if !batch.nodes.is_empty() {
        let levels: Vec<i16> = batch.nodes.iter().map(|n| i16::from(n.level)).collect();
        let idx: Vec<i64> = batch.nodes.iter().map(|n| big(n.index)).collect();
        let hashes: Vec<&[u8]> = batch.nodes.iter().map(|n| &n.hash[..]).collect();
        tx.execute(
            "INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) \
             ON CONFLICT (level, idx) DO UPDATE SET hash = excluded.hash",
            &[&levels, &idx, &hashes],
        )
        .await
        .map_err(db_error)?;
    }
    if !batch.citizens.is_empty() {
        let keys: Vec<&[u8]> = batch.citizens.iter().map(|(c, _)| &c[..]).collect();
        let idx: Vec<i64> = batch.citizens.iter().map(|(_, i)| big(*i)).collect();
        tx.execute(
            "INSERT INTO audit_citizens (citizen, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[]) \
             ON CONFLICT DO NOTHING",
            &[&keys, &idx],
        )
        .await
        .map_err(db_error)?;
    }
    tx.execute(
        "INSERT INTO audit_checkpoints (tree_size, checkpoint) VALUES ($1, $2)",
        &[&big(new_size), &batch.checkpoint],
    )
    .await
    .map_err(db_error)?;
    tx.execute("UPDATE audit_head SET size = $1", &[&big(new_size)]).await.map_err(db_error)?;
    Ok(())
}

pub(super) async fn prune(tx: &Tx<'_>, prune: AuditPrune<'_>) -> Result<(), StoreError> {
    let (size, pruned) = lock_head(tx).await?;
    if pruned != prune.start {
        return Err(StoreError::Io(format!("pruning from {}, but the log is pruned below {pruned}", prune.start)));
    }
    if prune.end > size || prune.end < prune.start {
        return Err(StoreError::Io(format!("cannot prune [{}, {}) of {size} records", prune.start, prune.end)));
    }
    tx.execute(
        "UPDATE audit_leaves SET leaf = ''::bytea WHERE idx >= $1 AND idx < $2",
        &[&big(prune.start), &big(prune.end)],
    )
    .await
    .map_err(db_error)?;
    if !prune.citizens.is_empty() {
        let keys: Vec<&[u8]> = prune.citizens.iter().map(|(c, _)| &c[..]).collect();
        let idx: Vec<i64> = prune.citizens.iter().map(|(_, i)| big(*i)).collect();
        tx.execute(
            "DELETE FROM audit_citizens a USING unnest($1::bytea[], $2::bigint[]) AS p(citizen, idx) \
             WHERE a.citizen = p.citizen AND a.idx = p.idx",
            &[&keys, &idx],
        )
        .await
        .map_err(db_error)?;
    }
    tx.execute("UPDATE audit_head SET pruned_below = $1", &[&big(prune.end)]).await.map_err(db_error)?;
    Ok(())
}

pub(super) async fn outbox(c: &tokio_postgres::Client, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c
        .query("SELECT id, citizen, leaf FROM audit_outbox ORDER BY id LIMIT $1", &[&limit])
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            let citizen: Option<&[u8]> = r.get(1);
            let citizen = citizen
                .map(|c| {
                    c.try_into().map_err(|_| StoreError::Corrupt("an audit outbox citizen key is not 32 bytes".into()))
                })
                .transpose()?;
            Ok(PendingAudit { id: OutboxId(r.get(0)), leaf: r.get::<_, Vec<u8>>(2), citizen })
        })
        .collect()
}

/// Rows `(index, bytes)` of `sql` for indexes in `start..end` (the query takes the bounds
/// as `$1` and `$2` and returns the index first).
async fn range_rows(
    c: &tokio_postgres::Client,
    sql: &str,
    start: u64,
    end: u64,
    what: &str,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    if start >= end {
        return Ok(Vec::new());
    }
    let rows = c.query(sql, &[&big(start), &big(end)]).await.map_err(db_error)?;
    rows.iter().map(|r| Ok((unbig(r.get(0), what)?, r.get(1)))).collect()
}

pub(super) async fn leaves(
    c: &tokio_postgres::Client,
    start: u64,
    end: u64,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let sql = "SELECT idx, leaf FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx";
    range_rows(c, sql, start, end, "leaf index").await
}

pub(super) async fn nodes(c: &tokio_postgres::Client, keys: &[(u8, u64)]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let levels: Vec<i16> = keys.iter().map(|(l, _)| i16::from(*l)).collect();
    let idx: Vec<i64> = keys.iter().map(|(_, i)| big(*i)).collect();
    let rows = c
        .query(
            "SELECT k.ord, n.hash FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS k(level, idx, ord) \
             LEFT JOIN audit_nodes n ON n.level = k.level AND n.idx = k.idx ORDER BY k.ord",
            &[&levels, &idx],
        )
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            let h: Option<&[u8]> = r.get(1);
            h.map(|h| h.try_into().map_err(|_| StoreError::Corrupt("an audit node is not 32 bytes".into()))).transpose()
        })
        .collect()
}

pub(super) async fn checkpoints(
    c: &tokio_postgres::Client,
    start: u64,
    end: u64,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let sql = "SELECT tree_size, checkpoint FROM audit_checkpoints WHERE tree_size >= $1 AND tree_size < $2 \
               ORDER BY tree_size";
    range_rows(c, sql, start, end, "checkpoint size").await
}

pub(super) async fn checkpoint_at_or_below(
    c: &tokio_postgres::Client,
    tree_size: u64,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let row = c
        .query_opt(
            "SELECT tree_size, checkpoint FROM audit_checkpoints WHERE tree_size <= $1 ORDER BY tree_size DESC LIMIT 1",
            &[&big(tree_size)],
        )
        .await
        .map_err(db_error)?;
    row.map(|r| Ok((unbig(r.get(0), "checkpoint size")?, r.get(1)))).transpose()
}

pub(super) async fn citizen_leaves(
    c: &tokio_postgres::Client,
    citizen: &[u8; 32],
    before: u64,
    limit: usize,
) -> Result<Vec<u64>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c
        .query(
            "SELECT idx FROM audit_citizens WHERE citizen = $1 AND idx < $2 ORDER BY idx DESC LIMIT $3",
            &[&&citizen[..], &big(before), &limit],
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(|r| unbig(r.get(0), "citizen index")).collect()
}

pub(super) async fn citizens_after(
    c: &tokio_postgres::Client,
    after: Option<([u8; 32], u64)>,
    limit: usize,
) -> Result<Vec<([u8; 32], u64)>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match after {
        None => c.query("SELECT citizen, idx FROM audit_citizens ORDER BY citizen, idx LIMIT $1", &[&limit]).await,
        Some((k, i)) => {
            c.query(
                "SELECT citizen, idx FROM audit_citizens WHERE (citizen, idx) > ($1, $2) ORDER BY citizen, idx LIMIT $3",
                &[&&k[..], &big(i), &limit],
            )
            .await
        }
    }
    .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            let k: &[u8] = r.get(0);
            let k: [u8; 32] =
                k.try_into().map_err(|_| StoreError::Corrupt("an audit citizen key is not 32 bytes".into()))?;
            Ok((k, unbig(r.get(1), "citizen index")?))
        })
        .collect()
}

/// Writes outbox entries as they are (an id already there fails the transaction).
pub(super) async fn import_outbox(tx: &Tx<'_>, rows: &[PendingAudit]) -> Result<(), StoreError> {
    for r in rows {
        let citizen: Option<&[u8]> = r.citizen.as_ref().map(|c| &c[..]);
        tx.execute("INSERT INTO audit_outbox (id, citizen, leaf) VALUES ($1, $2, $3)", &[&r.id.0, &citizen, &r.leaf])
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

pub(super) async fn import_citizens(tx: &Tx<'_>, rows: &[([u8; 32], u64)]) -> Result<(), StoreError> {
    let keys: Vec<&[u8]> = rows.iter().map(|(c, _)| &c[..]).collect();
    let idx: Vec<i64> = rows.iter().map(|(_, i)| big(*i)).collect();
    tx.execute(
        "INSERT INTO audit_citizens (citizen, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[]) ON CONFLICT DO NOTHING",
        &[&keys, &idx],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}
