//! `[notifications]`: letters to citizens in their Digital Post mailbox
//! (`core::notify`). Off when absent.
//!
//! ```toml
//! [notifications]
//! poll_ms = 2000
//! [notifications.mailbox]
//! base_url = "https://digitalpost.example"
//! ca_file = "digitalpost-ca.pem"
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// The mailbox and how it is trusted (as a `[connectors.sources.*]` entry; `categories`
    /// and `options` are not used).
    pub mailbox: connectors::SourceConfig,
    /// How often new audit records are looked at; a failed delivery waits twice as long
    /// each time (at most a minute) and is then tried again.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// How often consents are looked at for "udløber snart" / "er udløbet".
    #[serde(default = "default_expiry_scan_ms")]
    pub expiry_scan_ms: u64,
    /// How long before its end a consent is "udløber snart".
    #[serde(default = "default_warn_days")]
    pub expiry_warning_days: u32,
    /// The sender the citizen sees.
    #[serde(default = "default_sender")]
    pub sender: String,
}

fn default_poll_ms() -> u64 {
    2_000
}

fn default_expiry_scan_ms() -> u64 {
    3_600_000
}

fn default_warn_days() -> u32 {
    30
}

fn default_sender() -> String {
    "sammen".into()
}

impl NotificationSettings {
    pub fn check(&self) -> Result<(), String> {
        if self.poll_ms == 0 || self.expiry_scan_ms == 0 {
            return Err("[notifications] poll_ms and expiry_scan_ms must be above 0".into());
        }
        if self.sender.trim().is_empty() {
            return Err("[notifications] sender must not be empty".into());
        }
        Ok(())
    }
}
