//! A run-time change to a synthetic power of attorney (a module of its own so the sandbox's
//! shared state can keep the changes without depending on the registry service).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A change to a power of attorney at run time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PowerChange {
    /// Revoke (or reinstate) the power.
    pub revoked: Option<bool>,
    /// End the power at this time.
    pub valid_to: Option<DateTime<Utc>>,
}
