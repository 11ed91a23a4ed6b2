//! Acting for someone else: a holder of a power of attorney (Digital Fuldmagt style) acts
//! for the person who gave it, within its privileges, while it is valid; a parent with
//! custody (the person register's custody relations) acts for their child while the age
//! rules in the policies (`60-custody.cedar`) permit it.
//!
//! The registry is asked at every action, not once at login: a power revoked or ended
//! meanwhile stops the very next action. A registry that cannot be reached means the holder
//! cannot act (fail closed). A [`Mandate`] is made only here, from the registry's answer
//! for the logged-in holder, so a crafted reference names nobody (the portal answers
//! "not found").
//!
//! The holder is named in the ledger and the audit log by a pseudonymous id: the
//! HMAC-SHA256, under `[representation] pseudonym_key`, of their CPR number (the first 16
//! bytes, hex). The same holder always gets the same id under one key, so an auditor with
//! the key and the CPR number can confirm who acted; nobody without the key can tell.

use std::collections::BTreeSet;

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use connectors::FetchError;
use connectors::person::PersonRegister;
use connectors::power_of_attorney::{PowerOfAttorney, PowerOfAttorneyRegistry};
use consent::audit::{AuditKind, AuditRecord, OnBehalf};
use consent::record::Privilege;
use consent::{Actor, Channel, Cpr, Grantor};
use hmac::{Hmac, Mac};
use policies::PolicyEngine;
use sha2::Sha256;

/// The service name powers of attorney must cover to count here.
pub const SERVICE: &str = "sammen";

/// Why a holder cannot act now. Nothing here names a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepresentationError {
    /// `[representation]` is not configured.
    #[error("acting for someone else is not offered")]
    NotOffered,
    /// The registry did not answer usefully: the holder cannot act now.
    #[error("the power-of-attorney registry is unavailable: {0}")]
    Unavailable(String),
    /// The holder holds no power of attorney with this reference.
    #[error("no such power of attorney for this holder")]
    NotFound,
    /// The power of attorney was revoked, has ended, or has not begun.
    #[error("the power of attorney is not valid now")]
    NoLongerValid,
    /// The power of attorney does not give the privilege the action needs.
    #[error("the power of attorney does not give this privilege")]
    BeyondPrivilege,
    /// The child has reached the age at which they decide themselves (the policies' reason,
    /// in Danish).
    #[error("the child decides for themselves now")]
    ChildDecides(String),
}

/// How the holder may act for the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// A power of attorney in the registry.
    PowerOfAttorney,
    /// Custody of a child, by the person register.
    Custody,
}

/// One person the holder may act for, as the list of powers shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Represented {
    /// The registry's reference (or the custody relation's keyed id): the opaque id in the
    /// portal's URLs and forms.
    pub reference: uuid::Uuid,
    pub relation: Relation,
    pub name: String,
    pub privileges: BTreeSet<Privilege>,
    pub valid: bool,
    pub valid_to: Option<DateTime<Utc>>,
}

/// A checked authority to act for one person now: made only by [`Representation::check`].
#[derive(Debug, Clone)]
pub struct Mandate {
    represented: Cpr,
    represented_name: String,
    reference: uuid::Uuid,
    privilege: Privilege,
    holder: String,
    relation: Relation,
}

impl Mandate {
    /// The person the holder acts for.
    pub fn represented(&self) -> &Cpr {
        &self.represented
    }

    pub fn represented_name(&self) -> &str {
        &self.represented_name
    }

    pub fn reference(&self) -> uuid::Uuid {
        self.reference
    }

    /// The highest privilege held.
    pub fn privilege(&self) -> Privilege {
        self.privilege
    }

    /// The grantor the ledger records: the holder's pseudonymous id and name, the reference
    /// and the privilege.
    pub fn grantor(&self, holder_name: &str) -> Grantor {
        match self.relation {
            Relation::PowerOfAttorney => Grantor::PowerOfAttorney {
                holder: self.holder.clone(),
                holder_name: holder_name.to_string(),
                represented_name: self.represented_name.clone(),
                reference: self.reference.to_string(),
                privilege: self.privilege,
            },
            Relation::Custody => Grantor::Custody {
                holder: self.holder.clone(),
                holder_name: holder_name.to_string(),
                represented_name: self.represented_name.clone(),
                reference: self.reference.to_string(),
            },
        }
    }

    pub fn relation(&self) -> Relation {
        self.relation
    }

    /// Who acts, as the ledger and the audit record name them.
    pub fn actor(&self, channel: Channel, holder_name: &str) -> Actor {
        Actor::representative(channel, self.grantor(holder_name))
    }

    /// The audit record of the holder seeing the represented person's consents: about the
    /// represented person (so it is in their Min log), naming the holder only by pseudonym,
    /// the reference and the privilege (the name stays out of the log).
    pub fn view_record(&self, request_id: &str, now: DateTime<Utc>) -> AuditRecord {
        let mut r = AuditRecord::new(now, request_id, AuditKind::ConsentsRead);
        r.citizen = Some(self.represented);
        r.on_behalf = OnBehalf::of(&self.grantor(""));
        r
    }
}

/// The registry, the pseudonym key, and for parents the person register (custody) and
/// the policy engine (the age rules).
pub struct Representation {
    registry: PowerOfAttorneyRegistry,
    key: Vec<u8>,
    custody: Option<(PersonRegister, Arc<PolicyEngine>)>,
}

/// Whole years from `born` to `now`.
pub fn age_years(born: chrono::NaiveDate, now: DateTime<Utc>) -> u32 {
    let today = now.date_naive();
    let mut years = today.year() - born.year();
    if (today.month(), today.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

fn privileges(p: &PowerOfAttorney) -> BTreeSet<Privilege> {
    let mut out = BTreeSet::new();
    for name in &p.privileges {
        match name.as_str() {
            "se" => {
                out.insert(Privilege::View);
            }
            // Giving consent includes seeing what one gives.
            "samtykke" => {
                out.insert(Privilege::View);
                out.insert(Privilege::Consent);
            }
            _ => {}
        }
    }
    out
}

impl Representation {
    pub fn new(registry: PowerOfAttorneyRegistry, key: Vec<u8>) -> Self {
        Self { registry, key, custody: None }
    }

    /// Parents may act for their children: custody from `register`, the age rules from
    /// `engine`'s policies.
    pub fn with_custody(mut self, register: PersonRegister, engine: Arc<PolicyEngine>) -> Self {
        self.custody = Some((register, engine));
        self
    }

    fn custody_reference(&self, parent: &Cpr, child: &Cpr) -> uuid::Uuid {
        custody_reference(&self.key, parent, child)
    }

    /// The holder's children in custody: each with its reference and whether the age
    /// rules let the parent act now (with the policies' reason when not).
    async fn children(
        &self,
        parent: &Cpr,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(uuid::Uuid, connectors::person::Child, Result<(), String>)>, RepresentationError> {
        let Some((register, engine)) = &self.custody else { return Ok(Vec::new()) };
        let kids = register.custody_of(parent, request_id).await.map_err(|e| {
            tracing::warn!(error = %e, "the person register failed (custody)");
            RepresentationError::Unavailable(e.to_string())
        })?;
        let mut out = Vec::with_capacity(kids.len());
        for k in kids {
            let age = age_years(k.cpr.birth_date(), now);
            let d = engine.decide_custody("custody", age).map_err(|e| {
                tracing::error!(error = %e, "the custody decision failed");
                RepresentationError::Unavailable(e.to_string())
            })?;
            let allowed = if d.allowed { Ok(()) } else { Err(d.reason.da) };
            out.push((self.custody_reference(parent, &k.cpr), k, allowed));
        }
        Ok(out)
    }

    /// The holder's pseudonymous id (`poa-holder:` and 32 hex digits).
    pub fn pseudonym(&self, holder: &Cpr) -> String {
        pseudonym(&self.key, holder)
    }

    async fn powers(&self, holder: &Cpr, request_id: &str) -> Result<Vec<PowerOfAttorney>, RepresentationError> {
        let all = self.registry.powers_of(holder, request_id).await.map_err(|e: FetchError| {
            tracing::warn!(error = %e, "the power-of-attorney registry failed");
            RepresentationError::Unavailable(e.to_string())
        })?;
        Ok(all.into_iter().filter(|p| p.services.iter().any(|s| s == SERVICE) && p.grantor != *holder).collect())
    }

    /// Everyone `holder` holds a power of attorney for here, valid or not, by name.
    pub async fn list(
        &self,
        holder: &Cpr,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Represented>, RepresentationError> {
        let mut v: Vec<Represented> = self
            .powers(holder, request_id)
            .await?
            .into_iter()
            .map(|p| Represented {
                reference: p.reference,
                relation: Relation::PowerOfAttorney,
                name: p.grantor_name.clone(),
                privileges: privileges(&p),
                valid: p.valid_at(now),
                valid_to: p.valid_to,
            })
            .collect();
        for (reference, child, allowed) in self.children(holder, request_id, now).await? {
            v.push(Represented {
                reference,
                relation: Relation::Custody,
                name: child.name,
                privileges: if allowed.is_ok() {
                    [Privilege::View, Privilege::Consent].into()
                } else {
                    BTreeSet::new()
                },
                valid: allowed.is_ok(),
                valid_to: None,
            });
        }
        v.sort_by(|a, b| b.valid.cmp(&a.valid).then(a.name.cmp(&b.name)));
        Ok(v)
    }

    /// Whether `holder` may now take an action that needs `need` for the person of power
    /// `reference` (as the portal's URL or form names it).
    pub async fn check(
        &self,
        holder: &Cpr,
        reference: &str,
        need: Privilege,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Mandate, RepresentationError> {
        let Ok(reference) = uuid::Uuid::try_parse(reference) else { return Err(RepresentationError::NotFound) };
        // A registry that cannot answer hides no child: the person register is asked next,
        // and the registry's failure is the answer only when the reference is no child's.
        let (power, registry_failed) = match self.powers(holder, request_id).await {
            Ok(powers) => (powers.into_iter().find(|p| p.reference == reference), None),
            Err(e) => (None, Some(e)),
        };
        let Some(p) = power else {
            // A child in the holder's custody, under the age rules now.
            let found = self.children(holder, request_id, now).await?.into_iter().find(|(r, _, _)| *r == reference);
            let Some((reference, child, allowed)) = found else {
                return Err(registry_failed.unwrap_or(RepresentationError::NotFound));
            };
            allowed.map_err(RepresentationError::ChildDecides)?;
            return Ok(Mandate {
                represented: child.cpr,
                represented_name: child.name,
                reference,
                privilege: Privilege::Consent,
                holder: self.pseudonym(holder),
                relation: Relation::Custody,
            });
        };
        if !p.valid_at(now) {
            return Err(RepresentationError::NoLongerValid);
        }
        let held = privileges(&p);
        if !held.contains(&need) {
            return Err(RepresentationError::BeyondPrivilege);
        }
        let privilege = held.iter().next_back().copied().unwrap_or(Privilege::View);
        Ok(Mandate {
            represented: p.grantor,
            represented_name: p.grantor_name,
            reference,
            privilege,
            holder: self.pseudonym(holder),
            relation: Relation::PowerOfAttorney,
        })
    }

    /// Everyone who holds custody of `child`, with their pseudonymous ids (for telling each
    /// parent what the other did). Empty when parents are not offered.
    pub async fn custody_holders(
        &self,
        child: &Cpr,
        request_id: &str,
    ) -> Result<Vec<(Cpr, String)>, RepresentationError> {
        let Some((register, _)) = &self.custody else { return Ok(Vec::new()) };
        let holders = register
            .custody_holders_of(child, request_id)
            .await
            .map_err(|e| RepresentationError::Unavailable(e.to_string()))?;
        Ok(holders.into_iter().map(|h| (h, self.pseudonym(&h))).collect())
    }

    /// The registry's probe (readiness).
    pub async fn health(&self) -> Result<(), FetchError> {
        self.registry.health().await
    }
}

/// The opaque reference of `parent`'s custody of `child` under `key` (a keyed hash: stable,
/// and it names neither).
pub fn custody_reference(key: &[u8], parent: &Cpr, child: &Cpr) -> uuid::Uuid {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"sammen custody\n");
    mac.update(parent.expose().as_bytes());
    mac.update(b"\n");
    mac.update(child.expose().as_bytes());
    let d = mac.finalize().into_bytes();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Uuid::from_bytes(b)
}

fn pseudonym(key: &[u8], holder: &Cpr) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"sammen power-of-attorney holder\n");
    mac.update(holder.expose().as_bytes());
    let d = mac.finalize().into_bytes();
    format!("poa-holder:{}", hex::encode(&d[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pseudonym_is_keyed_stable_and_holds_no_cpr() {
        let cpr = Cpr::parse("0102609901").unwrap();
        let a = pseudonym(&[1; 32], &cpr);
        assert_eq!(a, pseudonym(&[1; 32], &cpr));
        assert_ne!(a, pseudonym(&[2; 32], &cpr), "another key, another id");
        assert_ne!(a, pseudonym(&[1; 32], &Cpr::parse("0101609900").unwrap()));
        assert!(a.starts_with("poa-holder:") && a.len() == "poa-holder:".len() + 32);
        assert!(!a.contains(cpr.expose()));
    }

    #[test]
    fn age_in_whole_years_turns_on_the_birthday() {
        let born = chrono::NaiveDate::from_ymd_opt(2011, 6, 1).unwrap();
        assert_eq!(age_years(born, "2026-05-31T23:59:59Z".parse().unwrap()), 14);
        assert_eq!(age_years(born, "2026-06-01T00:00:00Z".parse().unwrap()), 15);
        assert_eq!(age_years(born, "2010-01-01T00:00:00Z".parse().unwrap()), 0);
    }

    #[test]
    fn samtykke_includes_seeing_and_unknown_privileges_give_nothing() {
        let p = PowerOfAttorney {
            reference: uuid::Uuid::nil(),
            grantor: Cpr::parse("0101609900").unwrap(),
            grantor_name: "M".into(),
            services: vec![SERVICE.into()],
            privileges: vec!["samtykke".into()],
            valid_from: "2020-01-01T00:00:00Z".parse().unwrap(),
            valid_to: None,
            revoked: false,
        };
        assert_eq!(privileges(&p), [Privilege::View, Privilege::Consent].into());
        let q = PowerOfAttorney { privileges: vec!["alt".into()], ..p };
        assert!(privileges(&q).is_empty());
    }
}
