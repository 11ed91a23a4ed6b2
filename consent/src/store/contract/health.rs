//! The health outbox's part of the contract (`health_outbox.rs`): a message is stored with
//! its audit record or not at all, once per idempotency key and envelope identifier; claims
//! never hand one message to two senders; states change only from the state the caller
//! saw, by the lease holder; everything acknowledged survives a restart.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::Harness;
use crate::store::health_outbox::{
    DeliveryState, Enqueued, HealthMessage, HealthMessageBody, HealthMessageId, HealthMessageKind, HealthTransition,
    IdempotencyKey, StateTag,
};
use crate::store::{OutboxEntry, OutboxId, StoreError};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn message(n: u32, idempotency: Option<(&str, &str, u8)>) -> HealthMessage {
    let payload = format!("<Emessage>synthetic {n}</Emessage>").into_bytes();
    HealthMessage {
        id: HealthMessageId::new(),
        body: HealthMessageBody {
            kind: if n.is_multiple_of(2) { HealthMessageKind::Letter } else { HealthMessageKind::StatementRequest },
            envelope_id: format!("ENV{n:011}"),
            letter_id: format!("LET{n:011}"),
            payload_sha256: [n as u8; 32],
            payload,
            meta: b"{\"contract\":true}".to_vec(),
            idempotency: idempotency.map(|(scope, key, body)| IdempotencyKey {
                scope: scope.into(),
                key: key.into(),
                body_sha256: [body; 32],
            }),
            created_at: t0(),
        },
        state: DeliveryState::Queued,
        attempts: 0,
        next_attempt_at: t0(),
        lease: None,
        updated_at: t0(),
    }
}

fn record(leaf: &'static [u8]) -> OutboxEntry<'static> {
    OutboxEntry { id: OutboxId::new(), leaf, citizen: Some([7; 32]) }
}

fn change<'a>(m: &HealthMessage, from: StateTag, owner: Option<&'a str>, to: DeliveryState) -> HealthTransition<'a> {
    HealthTransition {
        id: m.id,
        from,
        lease_owner: owner,
        to,
        attempts: m.attempts + 1,
        next_attempt_at: m.next_attempt_at,
        at: t0() + Duration::seconds(1),
    }
}

/// Stored once, with its record; the idempotency key and the envelope identifier are unique;
/// what was acknowledged is there after a restart.
pub async fn health_outbox_stores_once<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let a = message(1, Some(("system-a", "key-1", 1)));
    let stored = s.health_enqueue(&a, record(b"decided a")).await.expect("enqueue");
    assert_eq!(stored, Enqueued::New);
    assert_eq!(s.audit_outbox(10).await.expect("audit_outbox").len(), 1, "the decision's record with the message");

    // The same key and body: the stored message, and nothing written.
    let again = message(2, Some(("system-a", "key-1", 1)));
    match s.health_enqueue(&again, record(b"decided again")).await.expect("enqueue again") {
        Enqueued::Existing(m) => assert_eq!(*m, a, "the first message, unchanged"),
        other => panic!("the same key and body stored {other:?}"),
    }
    // The same key with another body: refused, nothing written.
    let other_body = message(3, Some(("system-a", "key-1", 9)));
    let refused = s.health_enqueue(&other_body, record(b"decided other")).await.expect("enqueue other body");
    assert_eq!(refused, Enqueued::KeyReused);
    // The same key of another system is another message.
    let b = message(4, Some(("system-b", "key-1", 9)));
    assert_eq!(s.health_enqueue(&b, record(b"decided b")).await.expect("enqueue b"), Enqueued::New);
    // An envelope identifier is used once.
    let mut dup = message(5, None);
    dup.body.envelope_id = a.body.envelope_id.clone();
    let e = s.health_enqueue(&dup, record(b"decided dup")).await;
    assert!(matches!(e, Err(StoreError::Conflict { .. })), "a second message with one envelope id: {e:?}");
    assert_eq!(s.health_message(dup.id).await.expect("read"), None, "the refused message was stored");
    for m in [&again, &other_body, &dup] {
        assert_eq!(s.health_message(m.id).await.expect("read"), None, "a refused message was stored");
    }
    let pending: Vec<Vec<u8>> = s.audit_outbox(10).await.expect("audit_outbox").into_iter().map(|p| p.leaf).collect();
    assert_eq!(pending, vec![b"decided a".to_vec(), b"decided b".to_vec()], "records of refused messages were written");

    drop(s);
    let s = h.reopen().await;
    assert_eq!(s.health_message(a.id).await.expect("read"), Some(a.clone()), "after a restart");
    assert_eq!(s.health_by_envelope(&a.body.envelope_id).await.expect("by envelope"), Some(a.clone()));
    assert_eq!(s.health_by_envelope("ENVUNKNOWN").await.expect("by envelope"), None);
    match s.health_enqueue(&again, record(b"decided again")).await.expect("enqueue after restart") {
        Enqueued::Existing(m) => assert_eq!(m.id, a.id),
        other => panic!("the key was forgotten in a restart: {other:?}"),
    }
}

/// Claims lease due messages to one owner at a time; a lease that runs out frees the
/// message; concurrent claimers take disjoint messages.
pub async fn health_outbox_claims_once<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let due = message(10, None);
    let mut later = message(11, None);
    later.next_attempt_at = t0() + Duration::minutes(5);
    for m in [&due, &later] {
        s.health_enqueue(m, record(b"decided")).await.expect("enqueue");
    }
    let now = t0();
    let lease = now + Duration::seconds(30);
    let got = s.health_claim("sender-1", now, lease, 10).await.expect("claim");
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), vec![due.id], "only the due message");
    assert_eq!(got[0].lease.as_ref().map(|l| (l.owner.as_str(), l.until)), Some(("sender-1", lease)));
    assert!(s.health_claim("sender-2", now, lease, 10).await.expect("claim").is_empty(), "claimed twice");
    // The lease is stored: after a restart nobody else takes it before it runs out.
    drop(got);
    drop(s);
    let s = h.reopen().await;
    let early = now + Duration::seconds(29);
    assert!(s.health_claim("sender-2", early, lease, 10).await.expect("claim").is_empty(), "a held lease was taken");
    let after = lease + Duration::seconds(1);
    let taken = s.health_claim("sender-2", after, after + Duration::hours(1), 1).await.expect("claim");
    assert_eq!(taken.len(), 1, "the limit");
    assert_eq!(taken[0].id, due.id, "oldest due first");
    let late = s.health_claim("sender-3", later.next_attempt_at, lease + Duration::hours(1), 10).await.expect("claim");
    assert_eq!(late.iter().map(|m| m.id).collect::<Vec<_>>(), vec![later.id], "the later message when due");

    // Many claimers at once: every message is leased exactly once.
    let s = h.fresh().await;
    let mut ids = BTreeSet::new();
    for n in 0..40 {
        let m = message(100 + n, None);
        ids.insert(m.id);
        s.health_enqueue(&m, record(b"decided")).await.expect("enqueue");
    }
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for k in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("sender-{k}");
            let mut mine = Vec::new();
            for _ in 0..20 {
                let got = s.health_claim(&owner, now, lease, 3).await.expect("concurrent claim");
                mine.extend(got.into_iter().map(|m| m.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("claimer"));
    }
    let unique: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a message was leased to two claimers");
    assert_eq!(unique, ids, "a due message was never claimed");
}

/// A state changes only from the state the caller saw, by the lease holder, with its record.
pub async fn health_outbox_transitions<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let m = message(20, None);
    s.health_enqueue(&m, record(b"decided")).await.expect("enqueue");
    let now = t0();
    let claimed = s.health_claim("sender-1", now, now + Duration::seconds(30), 1).await.expect("claim").remove(0);

    let other = s
        .health_transition(
            change(&claimed, StateTag::Queued, Some("sender-2"), DeliveryState::Sent),
            Some(record(b"x")),
        )
        .await;
    assert!(matches!(other, Err(StoreError::Conflict { .. })), "another owner moved a leased message: {other:?}");
    let wrong_from = s
        .health_transition(change(&claimed, StateTag::Sent, Some("sender-1"), DeliveryState::Acknowledged), None)
        .await;
    assert!(
        matches!(wrong_from, Err(StoreError::Conflict { .. })),
        "a change from a state it is not in: {wrong_from:?}"
    );
    let unknown = HealthMessage { id: HealthMessageId::new(), ..claimed.clone() };
    let none = s.health_transition(change(&unknown, StateTag::Queued, None, DeliveryState::Sent), None).await;
    assert!(matches!(none, Ok(false)), "an unknown message: {none:?}");
    assert_eq!(s.audit_outbox(10).await.expect("audit_outbox").len(), 1, "a refused change wrote a record");

    // A failed attempt queues it again, later, without a record; the holder's lease ends.
    let retry_at = now + Duration::seconds(10);
    let retry = HealthTransition {
        next_attempt_at: retry_at,
        ..change(&claimed, StateTag::Queued, Some("sender-1"), DeliveryState::Queued)
    };
    assert!(s.health_transition(retry, None).await.expect("requeue"));
    let queued = s.health_message(m.id).await.expect("read").expect("stored");
    assert_eq!((queued.attempts, queued.lease.clone(), queued.next_attempt_at), (1, None, retry_at));
    assert!(s.health_claim("sender-2", now + Duration::seconds(9), retry_at, 5).await.expect("claim").is_empty());
    let claimed =
        s.health_claim("sender-2", retry_at, retry_at + Duration::seconds(30), 5).await.expect("claim").remove(0);

    let sent = change(&claimed, StateTag::Queued, Some("sender-2"), DeliveryState::Sent);
    assert!(s.health_transition(sent, Some(record(b"sent"))).await.expect("sent"));
    assert!(
        s.health_claim("sender-3", retry_at + Duration::hours(1), retry_at + Duration::hours(2), 5)
            .await
            .expect("claim")
            .is_empty(),
        "a sent message was claimed"
    );
    let sent = s.health_message(m.id).await.expect("read").expect("stored");
    let rejected = DeliveryState::Rejected { reason: "Patienten kendes ikke".into() };
    assert!(
        s.health_transition(change(&sent, StateTag::Sent, None, rejected.clone()), Some(record(b"rejected")))
            .await
            .expect("rejected")
    );
    let twice = s.health_transition(change(&sent, StateTag::Sent, None, DeliveryState::Acknowledged), None).await;
    assert!(matches!(twice, Err(StoreError::Conflict { .. })), "a second receipt changed a settled message: {twice:?}");

    drop((claimed, sent));
    drop(s);
    let s = h.reopen().await;
    let settled = s.health_message(m.id).await.expect("read").expect("stored");
    assert_eq!((settled.state, settled.attempts, settled.lease), (rejected, 3, None), "after a restart");
    let leaves: Vec<Vec<u8>> = s.audit_outbox(10).await.expect("audit_outbox").into_iter().map(|p| p.leaf).collect();
    assert_eq!(leaves, vec![b"decided".to_vec(), b"sent".to_vec(), b"rejected".to_vec()], "each record once, in order");
}

/// For `copy_between`: messages in every kind of state in `s` (queued, leased, sent,
/// acknowledged, one under an idempotency key), as stored.
pub(super) async fn fill_for_copy(s: &crate::store::SharedStore) -> Vec<HealthMessage> {
    let mut queued = message(30, Some(("system-a", "copy-key", 3)));
    queued.next_attempt_at = t0() + Duration::hours(1);
    let leased = message(31, None);
    let sent = message(32, None);
    let acknowledged = message(33, None);
    for m in [&queued, &leased, &sent, &acknowledged] {
        s.health_enqueue(m, record(b"decided for the copy")).await.expect("enqueue");
    }
    let now = t0();
    let lease = now + Duration::minutes(10);
    let claimed = s.health_claim("copy-sender", now, lease, 3).await.expect("claim");
    assert_eq!(claimed.len(), 3, "the three due claimed");
    for m in [&sent, &acknowledged] {
        s.health_transition(change(m, StateTag::Queued, Some("copy-sender"), DeliveryState::Sent), None)
            .await
            .expect("sent");
    }
    let stored = s.health_message(acknowledged.id).await.expect("read").expect("stored");
    s.health_transition(change(&stored, StateTag::Sent, None, DeliveryState::Acknowledged), Some(record(b"acked")))
        .await
        .expect("acknowledged");
    let mut all = Vec::new();
    for m in [&queued, &leased, &sent, &acknowledged] {
        all.push(s.health_message(m.id).await.expect("read").expect("stored"));
    }
    all
}

/// For `copy_between`: the copy holds `expected` as they were, by id and envelope, with the
/// idempotency key, leases and queue honoured.
pub(super) async fn assert_copied(t: &crate::store::SharedStore, expected: &[HealthMessage]) {
    for m in expected {
        assert_eq!(t.health_message(m.id).await.expect("read").as_ref(), Some(m), "the copy's message {}", m.id);
        assert_eq!(
            t.health_by_envelope(&m.body.envelope_id).await.expect("read").map(|c| c.id),
            Some(m.id),
            "the copy's envelope index"
        );
    }
    let mut all = t.health_messages_after(None, 100).await.expect("export");
    all.sort_by_key(|m| m.id);
    let mut want = expected.to_vec();
    want.sort_by_key(|m| m.id);
    assert_eq!(all, want, "the copy holds exactly the messages");
    // The idempotency key came along: the same key and body find the message.
    let again = message(34, Some(("system-a", "copy-key", 3)));
    match t.health_enqueue(&again, record(b"again")).await.expect("enqueue") {
        Enqueued::Existing(m) => assert_eq!(m.id, expected[0].id),
        other => panic!("the copy lost an idempotency key: {other:?}"),
    }
    // The lease and the queue came along: nothing is due while the lease holds and the
    // queued message waits; after both, the leased message (due first), then the queued one.
    let early = t0() + Duration::minutes(5);
    assert!(t.health_claim("copy-target", early, early, 10).await.expect("claim").is_empty(), "claimable early");
    let late = t0() + Duration::hours(2);
    let got = t.health_claim("copy-target", late, late + Duration::seconds(30), 10).await.expect("claim");
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), vec![expected[1].id, expected[0].id], "claimable later");
}
