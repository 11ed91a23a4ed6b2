-- sammen's schema, version 1. Released migrations are never edited: a change is a new file.
-- Every integer key that holds a u64 of the store API is a bigint (the API's indexes stay far
-- below 2^63). Record bytes (events, states, audit leaves, checkpoints) are stored exactly
-- as the domain encoded them.

-- Consents: the state by id, its events by (id, version), the citizen index (a column with an
-- index), the requested index (a partial index) and the active index (a primary key, so a
-- lookup is one index-only scan).
CREATE TABLE consents (
    id uuid PRIMARY KEY,
    citizen text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    requested boolean NOT NULL,
    state bytea NOT NULL
);
CREATE INDEX consents_by_citizen ON consents (citizen);
CREATE INDEX consents_requested ON consents (citizen) WHERE requested;

CREATE TABLE consent_events (
    consent_id uuid NOT NULL REFERENCES consents (id),
    version integer NOT NULL,
    event bytea NOT NULL,
    PRIMARY KEY (consent_id, version)
);

CREATE TABLE active_index (
    citizen text NOT NULL,
    grantee text NOT NULL,
    purpose text NOT NULL,
    category text NOT NULL,
    consent_id uuid NOT NULL REFERENCES consents (id),
    PRIMARY KEY (citizen, grantee, purpose, category, consent_id)
);
CREATE INDEX active_index_by_consent ON active_index (consent_id);

CREATE TABLE texts (
    sha256 text PRIMARY KEY,
    body text NOT NULL
);

-- Blocks (spærringer): state, events, and the active ones by citizen (a partial index).
CREATE TABLE blocks (
    id uuid PRIMARY KEY,
    citizen text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    active boolean NOT NULL,
    state bytea NOT NULL
);
CREATE INDEX blocks_active_by_citizen ON blocks (citizen) WHERE active;

CREATE TABLE block_events (
    block_id uuid NOT NULL REFERENCES blocks (id),
    version integer NOT NULL,
    event bytea NOT NULL,
    PRIMARY KEY (block_id, version)
);

-- The audit log, shared by every instance. The one-row head is what a batch locks
-- (SELECT … FOR UPDATE): it holds the tree size, the prune watermark and the time of the
-- last checkpoint, and the lock is the election and the fence of the writers.
CREATE TABLE audit_head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    size bigint NOT NULL CHECK (size >= 0),
    pruned_below bigint NOT NULL CHECK (pruned_below >= 0 AND pruned_below <= size)
);
INSERT INTO audit_head (one, size, pruned_below) VALUES (true, 0, 0);

CREATE TABLE audit_leaves (
    idx bigint PRIMARY KEY,
    leaf bytea NOT NULL
);

-- Hashes of complete subtrees: level 0 holds the leaf hashes.
CREATE TABLE audit_nodes (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

CREATE TABLE audit_checkpoints (
    tree_size bigint PRIMARY KEY,
    checkpoint bytea NOT NULL
);

-- The per-citizen index: a keyed hash of the CPR number, never the number.
CREATE TABLE audit_citizens (
    citizen bytea NOT NULL CHECK (length(citizen) = 32),
    idx bigint NOT NULL,
    PRIMARY KEY (citizen, idx)
);

-- Audit records written with their change, waiting for a writer (ids are UUID v7: they sort
-- by creation).
CREATE TABLE audit_outbox (
    id uuid PRIMARY KEY,
    citizen bytea CHECK (citizen IS NULL OR length(citizen) = 32),
    leaf bytea NOT NULL CHECK (length(leaf) > 0)
);

-- Web sessions and one-use login states: expiry in milliseconds since the epoch.
CREATE TABLE sessions (
    key text PRIMARY KEY,
    expires_ms bigint NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_ms);

-- What a readiness probe writes: proof that a durable (replicated) commit goes through.
CREATE TABLE store_heartbeat (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    beats bigint NOT NULL
);
INSERT INTO store_heartbeat (one, beats) VALUES (true, 0);
