//! End-to-end tests: the sandbox and the gateway as real processes on 127.0.0.1 over real
//! TLS (mTLS + bearer JWT), except where a test says it runs the gateway in-process.
//!
//! - `case_files`: consent requested through the API, approved and revoked in the shared
//!   ledger (in-process gateway); a full case file after a CLI grant, a denied health
//!   section without consent, and the audit records of every released section.
//! - `audit_down`: the audit log failing before a case-file request, or after its decisions
//!   while a slow source answers (in-process gateway over a faulty store): 503, nothing
//!   released, no release record, the log verifies.
//! - `release_race`: a consent revoked or a block placed while a slow source answers turns
//!   the section into a denial (in-process gateway); the release record says why.
//! - `sources`: a source down, slow, answering malformed XML, or about the wrong patient.
//! - `refusals`: every bad input and credential, as problem+json or a refused handshake.
//! - `kill_loop`: SIGKILL under concurrent load; every case file received has its records.
//! - `portal`: the citizen portal: login against panva's oidc-provider (Node) and the sandbox
//!   MitID broker, approve, revoke, receipts, Min log, and every bad login and form input.
//! - `demo`: `sammen demo --once`, the README's main command, assembles a real case file,
//!   from the repository's root and from an empty directory elsewhere (nothing read from the
//!   repository).
//! - `browser`: the citizen portal of `sammen demo` in headless chromium (tests/js), axe-core.
//! - `audit_cli`: `sammen audit verify` names the first bad index in tampered copies of a
//!   data directory; prune, export and checkpoint offline.
//! - `consent_cli`: `sammen consent grant|revoke` write `consent_granted`/`consent_revoked`
//!   records with the change, and a refused revoke writes none.
//! - `operators`: the admin listener: audited queries, JSON Lines export, proofs against
//!   the checkpoint, online verification, metrics, readiness with a source down and back,
//!   refused certificates; and no CPR number in any JSON debug log line of the run.
//! - `postgres`: `sammen serve` on a throw-away PostgreSQL cluster: two gateways sharing one
//!   audit log under load, a revocation seen by both at once, SIGKILL or SIGSTOP of one, the
//!   primary killed and its synchronous standby promoted, the standby stopped (503 in time),
//!   connections cut, a database down at start, a bad URL and a newer schema refused.

mod audit_cli;
mod audit_down;
mod browser;
mod case_files;
mod consent_cli;
mod demo;
mod kill_loop;
mod operators;
mod portal;
mod postgres;
mod refusals;
mod release_race;
mod sources;
mod support;
