//! Web sessions in the sled store: one tree, `portal_sessions`, key → expiry (i64
//! milliseconds since the epoch, big-endian) · value.
//!
//! Writes are single-key operations outside the write gate (no transaction, no flush, no
//! sync: sled flushes on its own within its flush interval, and the next consent or audit
//! commit syncs the file; a power cut may lose the last sessions, which only means logging
//! in again). `session_take` is sled's atomic
//! `remove`, so a one-use value is handed out once.

use chrono::{DateTime, Utc};

use super::{SessionStore, SledStore, StoreError};

const TREE: &str = "portal_sessions";

fn encode(value: &[u8], expires_at: DateTime<Utc>) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&expires_at.timestamp_millis().to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// The value, unless expired at `now`.
fn decode(stored: &[u8], now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
    let (exp, value) = stored
        .split_at_checked(8)
        .ok_or_else(|| StoreError::Corrupt("a session record is shorter than its expiry".into()))?;
    let exp = i64::from_be_bytes(exp.try_into().expect("8 bytes"));
    Ok((now.timestamp_millis() < exp).then(|| value.to_vec()))
}

impl SledStore {
    fn sessions(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db().open_tree(TREE)?)
    }
}

#[async_trait::async_trait]
impl SessionStore for SledStore {
    async fn session_put(&self, key: &str, value: &[u8], expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.sessions()?.insert(key.as_bytes(), encode(value, expires_at))?;
        Ok(())
    }

    async fn session_get(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        match self.sessions()?.get(key.as_bytes())? {
            None => Ok(None),
            Some(v) => decode(&v, now),
        }
    }

    async fn session_take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, StoreError> {
        match self.sessions()?.remove(key.as_bytes())? {
            None => Ok(None),
            Some(v) => decode(&v, now),
        }
    }

    async fn session_purge(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let tree = self.sessions()?;
        let mut n = 0;
        for kv in tree.iter() {
            let (k, v) = kv?;
            if decode(&v, now)?.is_none() {
                // Only if unchanged since read (a concurrent put may have renewed it).
                if tree.compare_and_swap(&k, Some(&v), None::<&[u8]>)?.is_ok() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[tokio::test]
    async fn values_expire_and_take_is_one_use() {
        let s = SledStore::temporary().unwrap();
        let now: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        s.session_put("a", b"one", now + Duration::minutes(1)).await.unwrap();
        s.session_put("b", b"two", now + Duration::seconds(1)).await.unwrap();
        assert_eq!(s.session_get("a", now).await.unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(s.session_get("b", now + Duration::seconds(2)).await.unwrap(), None);
        assert_eq!(s.session_take("a", now).await.unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(s.session_take("a", now).await.unwrap(), None, "a second take gets nothing");
        assert_eq!(s.session_get("missing", now).await.unwrap(), None);
        s.session_put("c", b"three", now + Duration::minutes(1)).await.unwrap();
        assert_eq!(s.session_purge(now + Duration::seconds(2)).await.unwrap(), 1);
        assert!(s.session_get("c", now).await.unwrap().is_some());
        // An expired value is not handed out by take either.
        s.session_put("d", b"four", now + Duration::seconds(1)).await.unwrap();
        assert_eq!(s.session_take("d", now + Duration::seconds(5)).await.unwrap(), None);
    }
}
