//! Facts about the citizen that the policy engine needs and the request does not carry:
//! today, the municipality of residence (the statutory basis of retssikkerhedsloven § 11 a,
//! stk. 2, applies only to the citizen's own municipality).

use async_trait::async_trait;
use consent::{Cpr, MunicipalityCode};

/// Why a fact could not be looked up. Never names the citizen.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the residence lookup failed: {0}")]
pub struct FactsError(pub String);

/// Where the citizen lives.
#[async_trait]
pub trait ResidenceLookup: Send + Sync + 'static {
    /// The citizen's municipality of residence; `None` when unknown (a statute that needs
    /// it then cannot apply: fail closed).
    async fn municipality(&self, citizen: &Cpr) -> Result<Option<MunicipalityCode>, FactsError>;
}

/// The lookup configured today: the municipality is never known, so no statute that
/// depends on it applies. A person register source replaces it.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnknownResidence;

#[async_trait]
impl ResidenceLookup for UnknownResidence {
    async fn municipality(&self, _citizen: &Cpr) -> Result<Option<MunicipalityCode>, FactsError> {
        Ok(None)
    }
}

/// Every citizen lives in one municipality (tests, demos).
#[derive(Debug, Clone, Copy)]
pub struct FixedResidence(pub MunicipalityCode);

#[async_trait]
impl ResidenceLookup for FixedResidence {
    async fn municipality(&self, _citizen: &Cpr) -> Result<Option<MunicipalityCode>, FactsError> {
        Ok(Some(self.0))
    }
}
