//! `[health]`: sending messages to citizens' GPs through the health hub (`core::send`).
//! Off when absent: the health endpoints then answer 503.
//!
//! ```toml
//! [health]
//! source = "mediconnect"            # the [connectors.sources.*] entry that is the hub
//! our_ean = "5790000121441"         # our location number (EAN/GLN), the sender
//! our_name = "Københavns Kommune, Jobcenter"
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSettings {
    /// The id of the connector whose base URL, CA and client certificate reach the hub.
    #[serde(default = "default_source")]
    pub source: String,
    /// Our location number, the messages' sender (13 digits, GS1 check digit).
    pub our_ean: String,
    /// Our name as the GP sees it.
    pub our_name: String,
    /// How long a sender holds a claimed message before another may take it (a sender
    /// that died mid-send is replaced after at most this long).
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// Attempts before a message is `failed`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The pause after the first failed attempt; doubled after each further one, at most
    /// five minutes.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// How often the sender looks for due messages when nothing wakes it.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
}

impl HealthSettings {
    /// Sending from `our_ean`/`our_name` through the `mediconnect` connector, the rest default.
    pub fn new(our_ean: &str, our_name: &str) -> Self {
        HealthSettings {
            source: default_source(),
            our_ean: our_ean.into(),
            our_name: our_name.into(),
            lease_ms: default_lease_ms(),
            max_attempts: default_max_attempts(),
            backoff_ms: default_backoff_ms(),
            poll_ms: default_poll_ms(),
        }
    }
}

fn default_source() -> String {
    "mediconnect".into()
}
fn default_lease_ms() -> u64 {
    30_000
}
fn default_max_attempts() -> u32 {
    8
}
fn default_backoff_ms() -> u64 {
    1_000
}
fn default_poll_ms() -> u64 {
    1_000
}
