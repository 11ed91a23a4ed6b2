//! sammen's domain: citizens, organisations, purposes and categories, consents and
//! blocks, the consent ledger, the audit log, and the storage trait with its embedded sled
//! adapter.
//!
//! Start reading at [`ledger::Ledger`]; the rules it enforces are in [`lifecycle`].

pub mod audit;
pub mod block;
pub mod clock;
pub mod cpr;
pub mod ledger;
pub mod lifecycle;
pub mod organisation;
pub mod receipt;
pub mod record;
pub mod service;
pub mod store;
pub mod vocabulary;

pub use block::{Block, BlockId, BlockTarget};
pub use cpr::{Cpr, CprError};
pub use ledger::{DomainConfig, Ledger, LedgerError, TermsInput};
pub use lifecycle::{RuleError, Rules};
pub use organisation::{Directory, MunicipalityCode, Unit, UnitId, UnitKind};
pub use record::{
    Channel, Consent, ConsentEvent, ConsentId, ConsentStatus, DataPeriod, Grantor, PaperRecord, Period, Requester,
    State,
};
pub use service::{Actor, ConsentService, ServiceError};
pub use store::SessionStore;
pub use store::{
    AuditBatch, AuditNode, AuditPrune, Backend, Engine, OutboxEntry, OutboxId, PendingAudit, PgStore, PostgresOptions,
    SharedStore, SledOptions, SledStore, Store, StoreError,
};
pub use vocabulary::{Category, Description, Purpose, Vocabulary};

/// The default configuration (`config/default.toml`), compiled in so every binary and
/// test starts from the same vocabulary and units.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");
