//! The person register: a CPR-style person lookup over REST/JSON, in the style of the
//! municipal service platform's person lookup. `GET /cpr/v1/person` with the CPR number in
//! the `x-civilRegistrationIdentifier` header and a fresh `x-requestId` → [`PersonResponse`]
//! (the municipality of residence as a four-digit kommunekode, the address protection
//! flag); 404: the register does not know the number.
//!
//! It is not a [`crate::Connector`]: it serves no category and its answer is never
//! released. The gateway asks it for facts the policy engine needs (the municipality of
//! residence, for retssikkerhedsloven § 11 a, stk. 2).

use consent::{Cpr, MunicipalityCode};
use serde::{Deserialize, Serialize};

use crate::http::HttpSource;
use crate::{ConfigError, FetchError, SourceConfig};

pub const PERSON_PATH: &str = "/cpr/v1/person";
pub const HEALTH_PATH: &str = "/cpr/v1/health";

/// The register's answer about one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonResponse {
    pub civil_registration_identifier: String,
    /// The kommunekode of the municipality of residence, four digits as CPR writes it
    /// (`"0101"`); absent for a person without a Danish address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality_code: Option<String>,
    /// Navne- og adressebeskyttelse: the person's name, address and municipality must not
    /// be shown to anyone outside the authorities that need them, nor logged.
    #[serde(default)]
    pub address_protection: bool,
    /// The children the person holds custody of (forældremyndighed), by CPR's custody
    /// relations; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custody: Vec<CustodyEntry>,
    /// For a child: who holds custody of them (CPR numbers); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custody_holders: Vec<String>,
}

/// One child in the person's custody, as the register writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustodyEntry {
    pub child_civil_registration_identifier: String,
    pub child_name: String,
}

/// A child in the person's custody, as the gateway keeps it (`Debug` masks the CPR number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub cpr: Cpr,
    pub name: String,
}

/// What the gateway keeps of an answer. Its `Debug` never shows the municipality.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Person {
    /// `None` when the register names no (valid) municipality.
    pub municipality: Option<MunicipalityCode>,
    pub address_protection: bool,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("municipality", &self.municipality.map(|_| "<known>"))
            .field("address_protection", &self.address_protection)
            .finish()
    }
}

/// Parses a kommunekode as CPR writes it (`"0101"`) or as the organisation directory does
/// (`"101"`).
pub fn parse_municipality(code: &str) -> Option<MunicipalityCode> {
    let code = code.trim();
    if code.is_empty() || code.len() > 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let short = code.trim_start_matches('0');
    MunicipalityCode::parse(short).ok()
}

/// The person register's client.
#[derive(Debug, Clone)]
pub struct PersonRegister {
    http: HttpSource,
}

impl PersonRegister {
    pub fn from_config(cfg: &SourceConfig) -> Result<Self, ConfigError> {
        Ok(PersonRegister { http: HttpSource::from_config("person_register", cfg)? })
    }

    /// The register's record of one person: `None` when it does not know the number; an
    /// answer about another person than the one asked about is `InvalidResponse` (refused,
    /// like a wrong patient). `request_id` correlates the call with the gateway's request.
    async fn record(&self, cpr: &Cpr, request_id: &str) -> Result<Option<PersonResponse>, FetchError> {
        let digits = cpr.expose();
        let work = async {
            let Some(p) = crate::json::get_about::<PersonResponse>(&self.http, PERSON_PATH, digits, request_id).await?
            else {
                return Ok(None);
            };
            if p.civil_registration_identifier.trim() != digits {
                return Err(FetchError::InvalidResponse(
                    "the answer is about another person than the one requested".into(),
                ));
            }
            Ok(Some(p))
        };
        self.http.bounded(work).await
    }

    /// Looks one person up. `Ok(None)`: the register does not know the number; an answer
    /// about someone else is `InvalidResponse`.
    pub async fn lookup(&self, cpr: &Cpr, request_id: &str) -> Result<Option<Person>, FetchError> {
        let Some(p) = self.record(cpr, request_id).await? else { return Ok(None) };
        let municipality = match p.municipality_code.as_deref() {
            None => None,
            Some(code) => Some(
                parse_municipality(code)
                    .ok_or_else(|| FetchError::InvalidResponse("the municipality code is not a kommunekode".into()))?,
            ),
        };
        Ok(Some(Person { municipality, address_protection: p.address_protection }))
    }

    /// The children `parent` holds custody of (none when the register does not know them).
    pub async fn custody_of(&self, parent: &Cpr, request_id: &str) -> Result<Vec<Child>, FetchError> {
        let Some(p) = self.record(parent, request_id).await? else { return Ok(Vec::new()) };
        p.custody
            .into_iter()
            .map(|e| {
                let cpr = Cpr::parse(e.child_civil_registration_identifier.trim())
                    .map_err(|_| FetchError::InvalidResponse("a custody relation names no valid child".into()))?;
                Ok(Child { cpr, name: e.child_name })
            })
            .collect()
    }

    /// Who holds custody of `child` (none when the register does not know the child).
    pub async fn custody_holders_of(&self, child: &Cpr, request_id: &str) -> Result<Vec<Cpr>, FetchError> {
        let Some(p) = self.record(child, request_id).await? else { return Ok(Vec::new()) };
        p.custody_holders
            .iter()
            .map(|h| {
                Cpr::parse(h.trim())
                    .map_err(|_| FetchError::InvalidResponse("a custody holder is not a valid CPR number".into()))
            })
            .collect()
    }

    /// `GET /cpr/v1/health` answers 2xx within the timeout.
    pub async fn health(&self) -> Result<(), FetchError> {
        crate::health_check(&self.http, HEALTH_PATH).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kommunekoder_in_both_spellings() {
        assert_eq!(parse_municipality("0101").map(|m| m.get()), Some(101));
        assert_eq!(parse_municipality("101").map(|m| m.get()), Some(101));
        assert_eq!(parse_municipality("0751").map(|m| m.get()), Some(751));
        for bad in ["", "0000", "0099", "0999", "12345", "01a1", "-101"] {
            assert_eq!(parse_municipality(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_municipality() {
        let p = Person { municipality: parse_municipality("0751"), address_protection: true };
        let s = format!("{p:?}");
        assert!(!s.contains("751"), "{s}");
    }
}
