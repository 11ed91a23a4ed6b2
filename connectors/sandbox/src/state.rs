//! What the sandbox's handlers share.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use axum::http::HeaderMap;
use connectors::digital_post::MailboxMessage;
use connectors::medcom::Xctl03;
use consent::Cpr;
use serde::{Deserialize, Serialize};

use crate::faults::SourceFaults;
use crate::visits::{Visit, VisitLog};
use crate::{SandboxError, Source};

#[derive(Clone)]
pub(crate) struct AppState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub faults: RwLock<BTreeMap<Source, SourceFaults>>,
    pub receipts: Mutex<Vec<Xctl03>>,
    pub seen_request_ids: Mutex<HashSet<String>>,
    pub oversized_bytes: usize,
    pub broker: crate::broker::Broker,
    /// Every request the sources received (see [`crate::visits`]).
    pub visits: Arc<VisitLog>,
    /// Moves: kommunekoder that replace a citizen's synthetic municipality of residence.
    pub residences: RwLock<BTreeMap<Cpr, String>>,
    /// What the Digital Post mailbox received ([`crate::mailbox`]).
    pub mailbox: Mutex<Vec<Received>>,
    /// The hub's receiving side (`hub.rs`).
    pub hub: crate::hub::book::Hub,
    /// The coordinated plans (`plan.rs`).
    pub plans: crate::plan::plans::Plans,
    /// Run-time changes to the power-of-attorney registry's powers, by reference.
    pub power_changes: RwLock<BTreeMap<uuid::Uuid, crate::fuldmagt::change::PowerChange>>,
}

impl AppState {
    pub(crate) fn new(
        faults: BTreeMap<Source, SourceFaults>,
        oversized_bytes: usize,
        broker: crate::broker::Broker,
    ) -> Self {
        AppState(Arc::new(Inner {
            faults: RwLock::new(faults),
            receipts: Mutex::new(Vec::new()),
            seen_request_ids: Mutex::new(HashSet::new()),
            oversized_bytes,
            broker,
            visits: Arc::new(VisitLog::default()),
            residences: RwLock::new(BTreeMap::new()),
            mailbox: Mutex::new(Vec::new()),
            hub: crate::hub::book::Hub::default(),
            plans: crate::plan::plans::Plans::default(),
            power_changes: RwLock::new(BTreeMap::new()),
        }))
    }

    pub(crate) fn visits(&self) -> Vec<Visit> {
        self.0.visits.all()
    }

    pub(crate) fn forget_visits(&self) {
        self.0.visits.forget();
    }

    pub(crate) fn faults(&self, source: Source) -> SourceFaults {
        self.0.faults.read().expect("not poisoned").get(&source).copied().unwrap_or_default()
    }

    pub(crate) fn set_faults(&self, source: Source, f: SourceFaults) {
        self.0.faults.write().expect("not poisoned").insert(source, f);
    }

    /// The kommunekode a move gave the citizen, if one did.
    pub(crate) fn residence(&self, cpr: &Cpr) -> Option<String> {
        self.0.residences.read().expect("not poisoned").get(cpr).cloned()
    }

    /// Moves the citizen to the municipality `code` (four digits).
    pub(crate) fn move_to(&self, cpr: Cpr, code: String) {
        self.0.residences.write().expect("not poisoned").insert(cpr, code);
    }

    /// The run-time change to power of attorney `reference`, if any.
    pub(crate) fn power_change(&self, reference: uuid::Uuid) -> Option<crate::fuldmagt::change::PowerChange> {
        self.0.power_changes.read().expect("not poisoned").get(&reference).copied()
    }

    /// Revokes or ends power of attorney `reference` (merged with earlier changes).
    pub(crate) fn change_power(&self, reference: uuid::Uuid, change: crate::fuldmagt::change::PowerChange) {
        let mut all = self.0.power_changes.write().expect("not poisoned");
        let e = all.entry(reference).or_default();
        if change.revoked.is_some() {
            e.revoked = change.revoked;
        }
        if change.valid_to.is_some() {
            e.valid_to = change.valid_to;
        }
    }

    /// Remembers a request id; false if it was seen before.
    pub(crate) fn first_use(&self, id: &str) -> bool {
        let mut seen = self.0.seen_request_ids.lock().expect("not poisoned");
        if seen.len() > 100_000 {
            seen.clear();
        }
        seen.insert(id.to_string())
    }
}

/// The citizen named by the CPR header, if the header is a valid CPR number.
pub(crate) fn cpr_header(headers: &HeaderMap) -> Result<Cpr, SandboxError> {
    let v = headers
        .get(connectors::http::CPR_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(SandboxError::Request("missing x-civilRegistrationIdentifier"))?;
    Cpr::parse(v).map_err(|_| SandboxError::Request("invalid x-civilRegistrationIdentifier"))
}

/// A message as the mailbox keeps it (`GET /admin/mailbox`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub message: MailboxMessage,
    /// How many times it was posted (retries of the same message included).
    pub posts: u32,
}
