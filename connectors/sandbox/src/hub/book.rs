//! What the simulated hub keeps between requests: its mode, the receipts it gave, the
//! deliveries per envelope id, and the LÆ 265 answers of its synthetic GP.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::NaiveDate;
use consent::Cpr;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubMode {
    #[default]
    Normal,
    Down,
    Negative,
    UnknownReceipt,
    AnswerLost,
    /// The outbox answers 202 at once; the receipt waits in the inbox.
    AsyncReceipt,
    /// As `async_receipt`, and the receipt is in the inbox twice.
    DuplicateReceipt,
    /// As `async_receipt`, and before the receipt a receipt for a message nobody sent.
    StrayReceipt,
}

impl HubMode {
    /// Whether receipts go to the inbox instead of the outbox's answer.
    pub fn asynchronous(self) -> bool {
        matches!(self, HubMode::AsyncReceipt | HubMode::DuplicateReceipt | HubMode::StrayReceipt)
    }
}

/// `PUT /admin/hub`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubSettings {
    pub mode: HubMode,
    /// How long the synthetic GP takes to answer an LÆ 261 with an LÆ 265.
    pub gp_answer_delay_ms: u64,
    /// How long the outbox waits before it answers (it takes the message at once).
    pub delay_ms: u64,
}

/// Per envelope identifier: how often it was posted and how often delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deliveries {
    pub posts: u32,
    pub delivered: u32,
}

/// An LÆ 265 the synthetic GP wrote, served with the citizen's other messages.
pub(crate) struct Answered {
    pub cpr: Cpr,
    pub date: NaiveDate,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct Hub {
    pub(crate) settings: Mutex<HubSettings>,
    pub(crate) receipts: Mutex<BTreeMap<String, Vec<u8>>>,
    pub(crate) deliveries: Mutex<BTreeMap<String, Deliveries>>,
    pub(crate) answers: Mutex<BTreeMap<String, Answered>>,
    pub(crate) inbox: Mutex<Inbox>,
}

/// Receipts waiting to be fetched, under ids the hub gives them, oldest first.
#[derive(Default)]
pub(crate) struct Inbox {
    next: u64,
    pub(crate) unread: BTreeMap<String, Vec<u8>>,
}

impl Inbox {
    pub(crate) fn push(&mut self, receipt: Vec<u8>) {
        self.next += 1;
        self.unread.insert(format!("K{:08}", self.next), receipt);
    }
}

impl Hub {
    pub(crate) fn settings(&self) -> HubSettings {
        *self.settings.lock().expect("not poisoned")
    }
    pub(crate) fn set(&self, s: HubSettings) {
        *self.settings.lock().expect("not poisoned") = s;
    }
    pub(crate) fn deliveries(&self) -> BTreeMap<String, Deliveries> {
        self.deliveries.lock().expect("not poisoned").clone()
    }
}
