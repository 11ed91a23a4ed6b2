//! The power-of-attorney registry, in the style of Digital Fuldmagt: who may act for whom,
//! for which services and privileges, from when to when, revoked or not. REST/JSON:
//! `GET /fuldmagt/v1/fuldmagter` with the holder's CPR number in the
//! `x-civilRegistrationIdentifier` header and a fresh `x-requestId` → [`PowersResponse`],
//! every power of attorney the holder holds (also expired and revoked ones: the registry
//! states facts, the gateway decides); 404: the registry knows no powers for the holder.
//!
//! Like the person register it is not a [`crate::Connector`]: nothing it answers is
//! released; the gateway asks it, at every action a holder takes, whether the holder may
//! act for the person now.

use chrono::{DateTime, Utc};
use consent::Cpr;
use serde::{Deserialize, Serialize};

use crate::http::HttpSource;
use crate::{ConfigError, FetchError, SourceConfig};

pub const POWERS_PATH: &str = "/fuldmagt/v1/fuldmagter";
pub const HEALTH_PATH: &str = "/fuldmagt/v1/health";

/// The registry's answer: the holder and every power of attorney they hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PowersResponse {
    /// The holder asked about (fuldmagtshaver).
    pub holder_civil_registration_identifier: String,
    pub powers: Vec<PowerEntry>,
}

/// One power of attorney as the registry writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PowerEntry {
    /// The registry's reference (a UUID).
    pub reference: String,
    /// The person who gave it (fuldmagtsgiver).
    pub grantor_civil_registration_identifier: String,
    pub grantor_name: String,
    /// The services it covers (`sammen`, ...).
    pub services: Vec<String>,
    /// `se` (see) and/or `samtykke` (give, answer and revoke consents).
    pub privileges: Vec<String>,
    pub valid_from: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked: bool,
}

/// A power of attorney as the gateway keeps it. `Debug` masks the grantor's CPR number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerOfAttorney {
    pub reference: uuid::Uuid,
    pub grantor: Cpr,
    pub grantor_name: String,
    pub services: Vec<String>,
    pub privileges: Vec<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl PowerOfAttorney {
    /// Not revoked, and `now` within `[valid_from, valid_to)`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.valid_from <= now && self.valid_to.is_none_or(|to| now < to)
    }

    fn from_entry(e: PowerEntry) -> Result<Self, FetchError> {
        let reference = uuid::Uuid::try_parse(e.reference.trim())
            .map_err(|_| FetchError::InvalidResponse("a power of attorney's reference is not a UUID".into()))?;
        let grantor = Cpr::parse(e.grantor_civil_registration_identifier.trim())
            .map_err(|_| FetchError::InvalidResponse("a power of attorney names no valid grantor".into()))?;
        Ok(PowerOfAttorney {
            reference,
            grantor,
            grantor_name: e.grantor_name,
            services: e.services,
            privileges: e.privileges,
            valid_from: e.valid_from,
            valid_to: e.valid_to,
            revoked: e.revoked,
        })
    }
}

/// The registry's client.
#[derive(Debug, Clone)]
pub struct PowerOfAttorneyRegistry {
    http: HttpSource,
}

impl PowerOfAttorneyRegistry {
    pub fn from_config(cfg: &SourceConfig) -> Result<Self, ConfigError> {
        Ok(PowerOfAttorneyRegistry { http: HttpSource::from_config("power_of_attorney", cfg)? })
    }

    /// Every power of attorney `holder` holds (none when the registry does not know them).
    /// An answer about another holder is `InvalidResponse`.
    pub async fn powers_of(&self, holder: &Cpr, request_id: &str) -> Result<Vec<PowerOfAttorney>, FetchError> {
        let digits = holder.expose();
        let work = async {
            let Some(p) = crate::json::get_about::<PowersResponse>(&self.http, POWERS_PATH, digits, request_id).await?
            else {
                return Ok(Vec::new());
            };
            if p.holder_civil_registration_identifier.trim() != digits {
                return Err(FetchError::InvalidResponse(
                    "the answer is about another holder than the one requested".into(),
                ));
            }
            p.powers.into_iter().map(PowerOfAttorney::from_entry).collect()
        };
        self.http.bounded(work).await
    }

    /// `GET /fuldmagt/v1/health` answers 2xx within the timeout.
    pub async fn health(&self) -> Result<(), FetchError> {
        crate::health_check(&self.http, HEALTH_PATH).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> PowerEntry {
        PowerEntry {
            reference: "0195e8d0-0000-7000-8000-000000000001".into(),
            grantor_civil_registration_identifier: "0101609900".into(),
            grantor_name: "Mette Nielsen".into(),
            services: vec!["sammen".into()],
            privileges: vec!["se".into(), "samtykke".into()],
            valid_from: "2025-01-01T00:00:00Z".parse().unwrap(),
            valid_to: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            revoked: false,
        }
    }

    #[test]
    fn validity_is_half_open_and_revocation_ends_it() {
        let p = PowerOfAttorney::from_entry(entry()).unwrap();
        assert!(!p.valid_at("2024-12-31T23:59:59Z".parse().unwrap()));
        assert!(p.valid_at("2025-01-01T00:00:00Z".parse().unwrap()));
        assert!(!p.valid_at("2026-01-01T00:00:00Z".parse().unwrap()));
        let revoked = PowerOfAttorney { revoked: true, ..p };
        assert!(!revoked.valid_at("2025-06-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn a_bad_reference_or_grantor_is_an_invalid_answer() {
        let bad = PowerEntry { reference: "0101609900".into(), ..entry() };
        assert!(matches!(PowerOfAttorney::from_entry(bad), Err(FetchError::InvalidResponse(_))));
        let bad = PowerEntry { grantor_civil_registration_identifier: "12".into(), ..entry() };
        assert!(matches!(PowerOfAttorney::from_entry(bad), Err(FetchError::InvalidResponse(_))));
    }

    #[test]
    fn debug_masks_the_grantor() {
        let p = PowerOfAttorney::from_entry(entry()).unwrap();
        assert!(!format!("{p:?}").contains("0101609900"));
    }
}
