//! Consent receipts: for every grant, approval, rejection and revocation, a record the
//! citizen can keep, signed as a JWS (EdDSA, Ed25519) with the gateway's key.
//!
//! The fields are those of a consent record in ISO/IEC TS 27560 and the Kantara Consent
//! Receipt (v1.1): receipt id, time, principal, controller, purpose, data categories,
//! period, withdrawal method; plus the consent id, the event and the digest of the text the
//! citizen was shown. A receipt is derived from the consent's stored event, so it can be
//! issued again at any time and (Ed25519 being deterministic) is byte for byte the same.
//!
//! The receipt carries the citizen's CPR number (the principal), so it is only ever handed
//! to that citizen and never logged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::audit::key_id;
use crate::cpr::Cpr;
use crate::lifecycle::Rules;
use crate::organisation::UnitId;
use crate::record::{Consent, ConsentEvent, ConsentId, EventKind, Grantor, Period};
use crate::vocabulary::{Category, Purpose};

/// The version of the receipt format.
pub const RECEIPT_VERSION: &str = "sammen-receipt-1";

/// What the receipt records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptAction {
    Granted,
    Approved,
    Rejected,
    Revoked,
    /// A consent signed on paper, registered by a caseworker system.
    RegisteredFromPaper,
    /// The citizen confirmed a paper consent digitally.
    Confirmed,
}

impl ReceiptAction {
    /// The action of an event; a request (by a caseworker) gets no receipt.
    pub fn of(kind: &EventKind) -> Option<ReceiptAction> {
        match kind {
            EventKind::Requested { .. } => None,
            EventKind::Granted { .. } => Some(ReceiptAction::Granted),
            EventKind::Approved { .. } => Some(ReceiptAction::Approved),
            EventKind::Rejected { .. } => Some(ReceiptAction::Rejected),
            EventKind::Revoked { .. } => Some(ReceiptAction::Revoked),
            EventKind::RegisteredFromPaper { .. } => Some(ReceiptAction::RegisteredFromPaper),
            EventKind::Confirmed { .. } => Some(ReceiptAction::Confirmed),
        }
    }

    /// In Danish, for the readable receipt.
    pub fn da(self) -> &'static str {
        match self {
            ReceiptAction::Granted => "Du gav samtykke",
            ReceiptAction::Approved => "Du godkendte en anmodning om samtykke",
            ReceiptAction::Rejected => "Du afviste en anmodning om samtykke",
            ReceiptAction::Revoked => "Du tilbagekaldte dit samtykke",
            ReceiptAction::RegisteredFromPaper => "Dit samtykke på papir blev registreret",
            ReceiptAction::Confirmed => "Du bekræftede dit samtykke på papir digitalt",
        }
    }
}

/// The person the data is about (Kantara `piiPrincipalId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// `dk.cpr`.
    pub id_type: String,
    pub id: Cpr,
}

/// Who receives the data (Kantara `piiControllers`): the grantee unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    pub unit: UnitId,
    pub name: String,
    /// Whether units below it are included.
    pub include_subunits: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptPurpose {
    pub id: Purpose,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptCategory {
    pub id: Category,
    pub description: String,
    /// Health data: a special category (GDPR art. 9; Kantara `sensitive`).
    pub sensitive: bool,
}

/// One consent receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentReceipt {
    pub version: String,
    /// `<consent id>.<event version>`: one receipt per event.
    pub receipt_id: String,
    /// When the event happened (Kantara `consentTimestamp`).
    pub time: DateTime<Utc>,
    pub action: ReceiptAction,
    pub consent_id: ConsentId,
    pub jurisdiction: String,
    pub language: String,
    /// How the consent was given (Kantara `collectionMethod`).
    pub collection_method: String,
    pub principal: Principal,
    pub controller: Controller,
    pub purpose: ReceiptPurpose,
    pub categories: Vec<ReceiptCategory>,
    /// The consent's validity period.
    pub period: Period,
    /// The text the citizen was shown: version and SHA-256.
    pub text_version: String,
    pub text_sha256: String,
    /// How to withdraw the consent.
    pub withdrawal_method: String,
    /// Who issued the receipt (the portal's public URL).
    pub issuer: String,
    /// Someone acted for the principal (a power of attorney): their name and authority.
    /// Absent when the principal acted personally (so older receipts are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<Representative>,
}

/// The person who acted for the principal, and under which authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Representative {
    /// The holder's name (their CPR number is never in a receipt).
    pub name: String,
    /// The name of the person they acted for (the principal).
    pub on_behalf_of: String,
    /// `power_of_attorney` or `custody`.
    pub basis: String,
    /// The power of attorney's reference in the registry.
    pub reference: String,
    /// `view` or `consent`.
    pub privilege: String,
}

impl Representative {
    fn of(kind: &EventKind) -> Option<Representative> {
        let by = match kind {
            EventKind::Requested { .. } | EventKind::RegisteredFromPaper { .. } => return None,
            EventKind::Granted { by, .. }
            | EventKind::Approved { by }
            | EventKind::Rejected { by }
            | EventKind::Revoked { by }
            | EventKind::Confirmed { by } => by,
        };
        match by {
            Grantor::Citizen => None,
            Grantor::PowerOfAttorney { holder_name, represented_name, reference, privilege, .. } => {
                Some(Representative {
                    name: holder_name.clone(),
                    on_behalf_of: represented_name.clone(),
                    basis: "power_of_attorney".into(),
                    reference: reference.clone(),
                    privilege: privilege.as_str().into(),
                })
            }
            Grantor::Custody { holder_name, represented_name, reference, .. } => Some(Representative {
                name: holder_name.clone(),
                on_behalf_of: represented_name.clone(),
                basis: "custody".into(),
                reference: reference.clone(),
                privilege: "consent".into(),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiptError {
    #[error("this event gets no receipt (a request is the caseworker's, not the citizen's)")]
    NoReceipt,
    #[error("not a compact JWS")]
    Malformed,
    #[error("the JWS header is not EdDSA with this key")]
    WrongKey,
    #[error("the signature does not verify")]
    BadSignature,
}

impl ConsentReceipt {
    /// The receipt for `event` of `consent` (whose terms are fixed at creation).
    pub fn for_event(
        consent: &Consent,
        event: &ConsentEvent,
        rules: &Rules,
        issuer: &str,
    ) -> Result<ConsentReceipt, ReceiptError> {
        let action = ReceiptAction::of(&event.kind).ok_or(ReceiptError::NoReceipt)?;
        let t = &consent.terms;
        let unit_name = rules.directory.unit(&t.grantee).map_or_else(|| t.grantee.to_string(), |u| u.name.clone());
        let purpose = rules.vocabulary.purposes.get(&t.purpose).map(|d| d.da.clone()).unwrap_or_default();
        let categories = t
            .categories
            .iter()
            .map(|c| ReceiptCategory {
                id: c.clone(),
                description: rules.vocabulary.categories.get(c).map(|d| d.da.clone()).unwrap_or_default(),
                sensitive: c.is_health(),
            })
            .collect();
        Ok(ConsentReceipt {
            version: RECEIPT_VERSION.into(),
            receipt_id: format!("{}.{}", event.consent_id, event.version),
            time: event.at,
            action,
            consent_id: event.consent_id,
            jurisdiction: "DK".into(),
            language: "da".into(),
            collection_method: format!("{:?}", event.channel).to_lowercase(),
            principal: Principal { id_type: "dk.cpr".into(), id: t.citizen },
            controller: Controller { unit: t.grantee.clone(), name: unit_name, include_subunits: t.include_subunits },
            purpose: ReceiptPurpose { id: t.purpose.clone(), description: purpose },
            categories,
            period: t.period,
            text_version: t.text.version.clone(),
            text_sha256: t.text.sha256.clone(),
            withdrawal_method: format!(
                "Log ind på {issuer} med MitID, vælg samtykket og tryk \"Tilbagekald samtykket\". \
                 Det virker med det samme."
            ),
            issuer: issuer.to_string(),
            representative: Representative::of(&event.kind),
        })
    }

    /// The receipt as a compact JWS (`alg` EdDSA, `kid` the key id, payload this receipt's JSON).
    pub fn sign(&self, key: &SigningKey) -> String {
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": key_id(&key.verifying_key()) });
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a receipt serializes"));
        let input = format!("{h}.{p}");
        let sig = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// Verifies a compact JWS made by [`ConsentReceipt::sign`] and returns its receipt.
    /// Strictly (`verify_strict`): a weak (small-order) key or a non-canonical signature is
    /// refused, as for audit checkpoints.
    pub fn verify(jws: &str, key: &VerifyingKey) -> Result<ConsentReceipt, ReceiptError> {
        let mut parts = jws.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(ReceiptError::Malformed);
        };
        let b64 = |x: &str| URL_SAFE_NO_PAD.decode(x).map_err(|_| ReceiptError::Malformed);
        let header: serde_json::Value = serde_json::from_slice(&b64(h)?).map_err(|_| ReceiptError::Malformed)?;
        if header["alg"] != "EdDSA" || header["kid"] != key_id(key).as_str() {
            return Err(ReceiptError::WrongKey);
        }
        let sig: [u8; 64] = b64(s)?.try_into().map_err(|_| ReceiptError::Malformed)?;
        key.verify_strict(format!("{h}.{p}").as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| ReceiptError::BadSignature)?;
        serde_json::from_slice(&b64(p)?).map_err(|_| ReceiptError::Malformed)
    }
}

/// The public key as a JWKS document (RFC 8037: `kty` OKP, `crv` Ed25519).
pub fn jwks(key: &VerifyingKey) -> serde_json::Value {
    serde_json::json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
        "kid": key_id(key), "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::generate_signing_key;
    use crate::record::{Channel, ConsentText, Privilege, State, Terms};

    fn rules() -> Rules {
        let all: toml::Table = toml::from_str(crate::DEFAULT_CONFIG).unwrap();
        let domain: crate::DomainConfig = all["domain"].clone().try_into().unwrap();
        domain.into_rules().unwrap()
    }

    #[test]
    fn receipts_sign_verify_and_refuse_tampering() {
        let rules = rules();
        let now: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let citizen = Cpr::parse("0101909901").unwrap();
        let terms = Terms {
            citizen,
            grantee: UnitId::parse("kk.jobcenter.rehab").unwrap(),
            include_subunits: false,
            purpose: Purpose::parse("rehabilitation-team").unwrap(),
            categories: [Category::parse("health.lae265").unwrap()].into(),
            period: Period { from: now, until: now + chrono::Duration::days(30) },
            data_period: None,
            text: ConsentText { version: "t-1".into(), sha256: "ab".repeat(32) },
        };
        let event = ConsentEvent {
            consent_id: ConsentId::new(),
            version: 1,
            at: now,
            channel: Channel::Portal,
            kind: EventKind::Granted { terms: Box::new(terms.clone()), by: Grantor::Citizen },
        };
        let consent = crate::lifecycle::apply(None, &event).unwrap();
        assert_eq!(consent.state, State::Active);
        let r = ConsentReceipt::for_event(&consent, &event, &rules, "https://portal.example").unwrap();
        assert_eq!(r.action, ReceiptAction::Granted);
        assert!(r.categories[0].sensitive);
        assert!(!r.controller.name.is_empty());
        let key = generate_signing_key();
        let jws = r.sign(&key);
        assert_eq!(jws, r.sign(&key), "deterministic");
        assert_eq!(ConsentReceipt::verify(&jws, &key.verifying_key()).unwrap(), r);
        // Another key, a changed payload, a cut token: refused.
        let other = generate_signing_key();
        assert_eq!(ConsentReceipt::verify(&jws, &other.verifying_key()), Err(ReceiptError::WrongKey));
        let parts: Vec<&str> = jws.split('.').collect();
        let mut forged = r.clone();
        forged.period.until += chrono::Duration::days(300);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{p}.{}", parts[0], parts[2]);
        assert_eq!(ConsentReceipt::verify(&tampered, &key.verifying_key()), Err(ReceiptError::BadSignature));
        assert_eq!(ConsentReceipt::verify("a.b", &key.verifying_key()), Err(ReceiptError::Malformed));
        // A weak key (the identity point, small order) with the all-identity signature
        // satisfies the plain verification equation for any message; strict verification
        // refuses it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).unwrap();
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": key_id(&weak) });
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let forged_jws = format!("{h}.{}.{}", parts[1], URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(ConsentReceipt::verify(&forged_jws, &weak), Err(ReceiptError::BadSignature));
        // The JWKS names the key.
        let set = jwks(&key.verifying_key());
        assert_eq!(set["keys"][0]["kid"], key_id(&key.verifying_key()));
        // A request gets no receipt.
        let req = ConsentEvent {
            kind: EventKind::Requested {
                terms: Box::new(terms),
                requested_by: crate::Requester { caseworker: "c".into(), system: "s".into() },
                explanation: "x".into(),
                respond_by: now + chrono::Duration::days(1),
            },
            ..event
        };
        assert_eq!(ConsentReceipt::for_event(&consent, &req, &rules, "x").unwrap_err(), ReceiptError::NoReceipt);
        assert!(r.representative.is_none(), "the citizen acted personally");
        assert!(!String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap().contains("representative"));
    }

    #[test]
    fn a_receipt_of_a_representative_names_both_people_and_no_holder_cpr() {
        let now: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let citizen = Cpr::parse("0101609900").unwrap();
        let terms = Terms {
            citizen,
            grantee: UnitId::parse("kk.jobcenter").unwrap(),
            include_subunits: false,
            purpose: Purpose::parse("rehabilitation-team").unwrap(),
            categories: [Category::parse("jobnet.cv").unwrap()].into(),
            period: Period { from: now, until: now + chrono::Duration::days(30) },
            data_period: None,
            text: ConsentText { version: "t-1".into(), sha256: "ab".repeat(32) },
        };
        let by = Grantor::PowerOfAttorney {
            holder: "poa-holder:00ff".into(),
            holder_name: "Lars Jensen".into(),
            represented_name: "Mette Nielsen".into(),
            reference: "0195e8d0-0000-7000-8000-000000000001".into(),
            privilege: Privilege::Consent,
        };
        let event = ConsentEvent {
            consent_id: ConsentId::new(),
            version: 1,
            at: now,
            channel: Channel::Portal,
            kind: EventKind::Granted { terms: Box::new(terms), by },
        };
        let consent = crate::lifecycle::apply(None, &event).unwrap();
        let r = ConsentReceipt::for_event(&consent, &event, &rules(), "https://portal.example").unwrap();
        let rep = r.representative.clone().expect("the representative is named");
        assert_eq!(
            (rep.name.as_str(), rep.on_behalf_of.as_str(), rep.privilege.as_str()),
            ("Lars Jensen", "Mette Nielsen", "consent")
        );
        assert_eq!(r.principal.id, citizen);
    }
}
