-- sammen's schema, version 2: the health outbox (consent/src/store/health_outbox.rs).
-- Messages to a citizen's GP, stored before they are sent. The row's columns are what
-- claims and lookups need; `record` is the whole message as the store API encodes it
-- (JSON), rewritten with every change of state.
CREATE TABLE health_messages (
    id uuid PRIMARY KEY,
    -- The MedCom envelope identifier, assigned once; the hub deduplicates on it.
    envelope_id text NOT NULL UNIQUE,
    -- The idempotency key, scoped to the calling system: unique when present.
    idem_scope text,
    idem_key text,
    state text NOT NULL CHECK (state IN ('queued', 'sent', 'acknowledged', 'rejected', 'failed')),
    next_attempt_ms bigint NOT NULL,
    lease_owner text,
    lease_until_ms bigint,
    record bytea NOT NULL,
    CHECK ((idem_scope IS NULL) = (idem_key IS NULL)),
    UNIQUE (idem_scope, idem_key)
);
-- What a sender's claim scans: the queued messages by when they are due.
CREATE INDEX health_messages_due ON health_messages (next_attempt_ms) WHERE state = 'queued';
