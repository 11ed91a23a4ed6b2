//! End-to-end tests: the sandbox and the gateway as real processes on 127.0.0.1 over real
//! TLS (mTLS + bearer JWT), except where a test says it runs the gateway in-process.
//!
//! - `case_files`: consent requested through the API, approved and revoked in the shared
//!   ledger (in-process gateway); a full case file after a CLI grant, a denied health
//!   section without consent, and the audit records of every released section.
//! - `audit_down`: the audit log failing before a case-file request, or after its decisions
//!   while a slow source answers (in-process gateway over a faulty store): 503, nothing
//!   released, no release record, the log verifies.
//! - `admin_faults`: the admin listener over a failing store (in-process gateway): an
//!   operator's audit read is durable before the answer and refused when it cannot be;
//!   `/readyz` names the store, the audit writer or the policy set when each fails.
//! - `release_race`: a consent revoked or a block placed while a slow source answers turns
//!   the section into a denial (in-process gateway); the release record says why.
//! - `binding`: a caseworker token bound to one system's certificate (RFC 8705) is refused
//!   when another system of the same organisation presents it.
//! - `residence`: the person register (sandbox process) gives the citizen's municipality:
//!   the statute of retssikkerhedsloven § 11 a, stk. 2 permits benefits in the officer's own
//!   municipality only, flips after a move, fails closed when the register is down or
//!   answers about someone else; address protection shows nowhere.
//! - `sources`: a source down, slow, answering malformed XML, or about the wrong patient;
//!   two slow sources are asked at the same time (by the sandbox's clock); no source is
//!   asked with a CPR number in its URL.
//! - `refusals`: every bad input and credential, as problem+json or a refused handshake.
//! - `kill_loop`: SIGKILL under concurrent load, each kill after a request sent and not yet
//!   answered (some rounds must lose one), and again while the gateway starts; every case
//!   file received has its records and the log verifies; SIGTERM while a case file is being
//!   assembled lets it finish, exit status 0, nothing left in the audit outbox.
//! - `portal`: the citizen portal: login against panva's oidc-provider (Node) and the sandbox
//!   MitID broker, approve, revoke, receipts, Min log, and every bad login and form input;
//!   a whole portal session logged at trace level holds no CPR number.
//! - `representation`: acting for someone else with a power of attorney (the sandbox's
//!   registry process and broker, in-process gateway): approve, grant and revoke for the
//!   person, the ledger, audit records, receipts, Min log and letters naming it; powers
//!   that are view-only, expired, revoked (also between page load and POST), not held, or
//!   a registry that is down refuse the action and change nothing; a parent acts for a
//!   child under 15 (custody from the person register, joint custody seen by both), not
//!   for one of 15 or older.
//! - `paper`: consents signed on paper registered through the API: active at once, told to
//!   the citizen, marked "på papir", confirmed in the portal; a period over the cap, an
//!   unknown unit, a CPR number as scan reference and a system not allowed are refused and
//!   audited.
//! - `portal_csrf`: every POST route of the portal (from its own route table) refuses a
//!   missing, wrong or other session's CSRF token and changes nothing.
//! - `cpr_in_url`: proptest writes CPR numbers in many formattings into every URL position
//!   and parameter of the three listeners: none is answered 2xx, and none is in an answer,
//!   an audit record or a log line.
//! - `demo`: `sammen demo --once`, the README's main command, assembles a real case file,
//!   from the repository's root and from an empty directory elsewhere (nothing read from the
//!   repository).
//! - `browser`: the citizen portal of `sammen demo` in headless chromium (tests/js), axe-core.
//! - `audit_cli`: `sammen audit verify` names the first bad index in tampered copies of a
//!   data directory; prune, export and checkpoint offline.
//! - `consent_cli`: `sammen consent grant|revoke` write `consent_granted`/`consent_revoked`
//!   records with the change, and a refused revoke writes none.
//! - `limits`: 2,000 idle TLS connections and slow-header clients against the portal (in-process
//!   gateway): a normal request is answered within a second, the idle and slow connections
//!   are closed within their timeouts, one address holds at most its share; one HTTP/2
//!   connection opening more streams than the cap gets the extra ones refused
//!   (REFUSED_STREAM) and still serves a normal request.
//! - `checkpoint_note`: the checkpoint as a C2SP signed note from the admin listener, saved
//!   and checked by `sammen audit verify --checkpoint NOTE` online and offline; tampered
//!   notes, a wrong key or origin refused.
//! - `operators`: the admin listener: audited queries, JSON Lines export, proofs against
//!   the checkpoint, online verification, metrics, readiness with a source down and back,
//!   refused certificates; and no CPR number in any JSON debug log line of the run.
//! - `schemathesis`: the caseworker API against its OpenAPI document (schemathesis, Python);
//!   ignored by a plain `cargo test`, run by `scripts/schemathesis.sh`.
//! - `notifications`: letters in the sandbox's Digital Post mailbox: a consent request is
//!   told at once; through a mailbox outage and a SIGKILL of the gateway every letter
//!   arrives exactly once; a revocation is told; no subject holds a CPR number.
//! - `health_send`: messages to the citizen's GP through the sandbox hub: the GP's
//!   statement ordered and its answer in the next case file, a letter once under its
//!   Idempotency-Key, a negative receipt, a send without basis (403, recorded), bad input,
//!   the hub down and back, SIGKILL while a post is at the hub (delivered exactly once).
//! - `health_status`: what a caseworker reads of a sent message: the GP's statement in the
//!   request's state (released through the pipeline, only the answering one, denied by
//!   role), 404 for another unit or system, every read recorded; receipts delivered later
//!   through the hub's inbox (once, twice, after a stray one); a letter's attachment from
//!   the hub's document store; the remaining bad input.
//! - `plan`: the shared overview across departments (one summary per department, a source
//!   down costs only its part, no summary without a basis) and the coordinated plan read
//!   and written by two departments: a stale version (409 naming the newer one), another
//!   department's effort (403), a write without basis (403, recorded, nothing written),
//!   bad elements (422 naming the field), a plan service answering about someone else.
//!   The citizen's own statement ("Mit perspektiv") is in `portal`.
//! - `postgres`: `sammen serve` on a throw-away PostgreSQL cluster: two gateways sharing one
//!   audit log under load, a revocation seen by both at once, SIGKILL or SIGSTOP of one, the
//!   primary killed and its synchronous standby promoted, the standby stopped (503 in time),
//!   connections cut, a database down at start, a bad URL and a newer schema refused.
//! - `store_copy`: an installation on sled made through real use, stopped, moved by `sammen
//!   store copy` into a scratch PostgreSQL and served from there (same consents, same
//!   citizen log, same audit size and root); a non-empty target refused; the database
//!   down mid-copy: an error, and the partial copy refused until emptied.

// The gateway under test is a real process reading the wall clock; the tests compare with
// it, so they read it too (clippy.toml keeps `Utc::now` out of the library code).
#![allow(clippy::disallowed_methods)]

mod admin_faults;
mod audit_cli;
mod audit_down;
mod binding;
mod browser;
mod case_files;
mod checkpoint_note;
mod consent_cli;
mod cpr_in_url;
mod demo;
mod health_send;
mod health_status;
mod kill_loop;
mod limits;
mod notifications;
mod operators;
mod paper;
mod plan;
mod portal;
mod portal_csrf;
mod postgres;
mod refusals;
mod release_race;
mod representation;
mod residence;
mod schemathesis;
mod sources;
mod store_copy;
mod support;
