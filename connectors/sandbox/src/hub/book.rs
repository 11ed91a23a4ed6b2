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
