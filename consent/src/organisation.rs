//! Organisations and their units, as a hierarchy.
//!
//! A municipality (kommunekode, CVR) has units — jobcenter, socialforvaltning,
//! familieafdeling, rehabiliteringsteam — which may have units of their own. Health
//! organisations are named by SOR code and EAN/GLN location number. The hierarchy comes
//! from configuration and is checked once, when the [`Directory`] is built.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Errors in organisation identifiers and in the unit hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganisationError {
    #[error("a municipality code (kommunekode) is a number from 101 to 860; got {0}")]
    MunicipalityCode(String),
    #[error("a CVR number has 8 digits and passes the modulus-11 check; {0:?} does not")]
    Cvr(String),
    #[error("a SOR code is 1 to 18 digits; got {0:?}")]
    Sor(String),
    #[error("an EAN/GLN location number has 13 digits with a valid GS1 check digit; {0:?} does not")]
    Gln(String),
    #[error("a unit id is 1 to 64 characters of a-z, 0-9, '.', '-', starting with a letter or digit; got {0:?}")]
    UnitId(String),
    #[error("unit {0:?} is defined twice")]
    DuplicateUnit(String),
    #[error("unit {unit:?} names parent {parent:?}, which is not defined")]
    UnknownParent { unit: String, parent: String },
    #[error("the unit hierarchy has a cycle through {0:?}")]
    Cycle(String),
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
}

macro_rules! numeric_id {
    ($(#[$m:meta])* $name:ident($inner:ty)) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(into = "String")]
        pub struct $name($inner);

        impl $name {
            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.to_string()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    S(String),
                    N(u64),
                }
                let s = match Raw::deserialize(d)? {
                    Raw::S(s) => s,
                    Raw::N(n) => n.to_string(),
                };
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

numeric_id!(
    /// Kommunekode: 101 (København) to 860 (Hjørring).
    MunicipalityCode(u16)
);
numeric_id!(
    /// CVR number: 8 digits, modulus 11 with weights 2,7,6,5,4,3,2,1.
    Cvr(u32)
);
numeric_id!(
    /// SOR (Sundhedsvæsenets Organisationsregister) code.
    SorCode(u64)
);
numeric_id!(
    /// EAN/GLN location number: 13 digits, GS1 check digit.
    Gln(u64)
);

fn digits(s: &str, min: usize, max: usize) -> Option<&str> {
    let s = s.trim();
    (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

impl MunicipalityCode {
    pub fn parse(s: &str) -> Result<Self, OrganisationError> {
        let err = || OrganisationError::MunicipalityCode(s.to_string());
        let n: u16 = digits(s, 1, 3).ok_or_else(err)?.parse().map_err(|_| err())?;
        if (101..=860).contains(&n) { Ok(Self(n)) } else { Err(err()) }
    }
}

impl fmt::Display for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

impl Cvr {
    pub fn parse(s: &str) -> Result<Self, OrganisationError> {
        let err = || OrganisationError::Cvr(s.to_string());
        let d = digits(s, 8, 8).ok_or_else(err)?;
        const W: [u32; 8] = [2, 7, 6, 5, 4, 3, 2, 1];
        let sum: u32 = d.bytes().zip(W).map(|(b, w)| u32::from(b - b'0') * w).sum();
        if d.starts_with('0') || !sum.is_multiple_of(11) {
            return Err(err());
        }
        Ok(Self(d.parse().map_err(|_| err())?))
    }
}

impl fmt::Display for Cvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08}", self.0)
    }
}

impl SorCode {
    pub fn parse(s: &str) -> Result<Self, OrganisationError> {
        let err = || OrganisationError::Sor(s.to_string());
        Ok(Self(digits(s, 1, 18).ok_or_else(err)?.parse().map_err(|_| err())?))
    }
}

impl fmt::Display for SorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Gln {
    pub fn parse(s: &str) -> Result<Self, OrganisationError> {
        let err = || OrganisationError::Gln(s.to_string());
        let d = digits(s, 13, 13).ok_or_else(err)?.as_bytes();
        // GS1: from the right, excluding the check digit, weights 3,1,3,1...
        let sum: u32 =
            d[..12].iter().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
        let check = (10 - sum % 10) % 10;
        if check != u32::from(d[12] - b'0') {
            return Err(err());
        }
        Ok(Self(s.trim().parse().map_err(|_| err())?))
    }
}

impl fmt::Display for Gln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:013}", self.0)
    }
}

/// A unit's stable identifier in configuration, e.g. `kk.jobcenter.rehab`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct UnitId(String);

impl UnitId {
    pub fn parse(s: &str) -> Result<Self, OrganisationError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if ok { Ok(Self(s.to_string())) } else { Err(OrganisationError::UnitId(s.to_string())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<UnitId> for String {
    fn from(v: UnitId) -> String {
        v.0
    }
}

impl<'de> Deserialize<'de> for UnitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UnitId::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for UnitId {
    type Err = OrganisationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitId::parse(s)
    }
}

/// What kind of unit this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitKind {
    Municipality,
    Jobcenter,
    Socialforvaltning,
    Familieafdeling,
    Rehabiliteringsteam,
    Region,
    Hospital,
    GeneralPractice,
    Other,
}

/// One unit of an organisation, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub id: UnitId,
    /// The unit's name as citizens know it ("Jobcenter København").
    pub name: String,
    pub kind: UnitKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<UnitId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality_code: Option<MunicipalityCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvr: Option<Cvr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sor: Option<SorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gln: Option<Gln>,
}

/// The checked unit hierarchy: every parent exists, no cycles, ids unique.
#[derive(Debug, Clone)]
pub struct Directory {
    units: HashMap<UnitId, Unit>,
    /// For each unit: itself, then its parent, ... up to the root.
    lineage: HashMap<UnitId, Vec<UnitId>>,
}

impl Directory {
    pub fn new(units: Vec<Unit>) -> Result<Self, OrganisationError> {
        let mut map = HashMap::with_capacity(units.len());
        for u in units {
            if map.contains_key(&u.id) {
                return Err(OrganisationError::DuplicateUnit(u.id.0));
            }
            map.insert(u.id.clone(), u);
        }
        let mut lineage = HashMap::with_capacity(map.len());
        for id in map.keys() {
            let mut chain = vec![id.clone()];
            let mut cur = &map[id];
            while let Some(p) = &cur.parent {
                let parent = map
                    .get(p)
                    .ok_or_else(|| OrganisationError::UnknownParent { unit: cur.id.0.clone(), parent: p.0.clone() })?;
                if chain.contains(p) {
                    return Err(OrganisationError::Cycle(p.0.clone()));
                }
                chain.push(p.clone());
                cur = parent;
            }
            lineage.insert(id.clone(), chain);
        }
        Ok(Self { units: map, lineage })
    }

    pub fn unit(&self, id: &UnitId) -> Option<&Unit> {
        self.units.get(id)
    }

    pub fn get(&self, id: &UnitId) -> Result<&Unit, OrganisationError> {
        self.unit(id).ok_or_else(|| OrganisationError::UnknownUnit(id.0.clone()))
    }

    pub fn contains(&self, id: &UnitId) -> bool {
        self.units.contains_key(id)
    }

    /// The unit itself, then each ancestor up to the root.
    pub fn lineage(&self, id: &UnitId) -> Result<&[UnitId], OrganisationError> {
        self.lineage.get(id).map(Vec::as_slice).ok_or_else(|| OrganisationError::UnknownUnit(id.0.clone()))
    }

    /// Whether `unit` is `ancestor` or lies below it.
    pub fn is_within(&self, unit: &UnitId, ancestor: &UnitId) -> bool {
        self.lineage.get(unit).is_some_and(|l| l.contains(ancestor))
    }

    /// The municipality a unit belongs to: the nearest unit in its lineage with a code.
    pub fn municipality_of(&self, id: &UnitId) -> Option<MunicipalityCode> {
        self.lineage.get(id)?.iter().find_map(|u| self.units[u].municipality_code)
    }

    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, parent: Option<&str>) -> Unit {
        Unit {
            id: UnitId::parse(id).unwrap(),
            name: id.to_string(),
            kind: UnitKind::Other,
            parent: parent.map(|p| UnitId::parse(p).unwrap()),
            municipality_code: None,
            cvr: None,
            sor: None,
            gln: None,
        }
    }

    #[test]
    fn identifiers_validate() {
        assert_eq!(MunicipalityCode::parse("101").unwrap().to_string(), "101");
        assert!(MunicipalityCode::parse("100").is_err());
        assert!(MunicipalityCode::parse("861").is_err());
        assert!(MunicipalityCode::parse("1a1").is_err());
        assert!(Cvr::parse("64942212").is_ok()); // Københavns Kommune
        assert!(Cvr::parse("64942213").is_err());
        assert!(Cvr::parse("6494221").is_err());
        assert!(Gln::parse("4006381333931").is_ok()); // GS1's own example
        assert!(Gln::parse("4006381333932").is_err());
        assert!(SorCode::parse("123456789012345").is_ok());
        assert!(SorCode::parse("").is_err());
        assert!(UnitId::parse("kk.jobcenter").is_ok());
        assert!(UnitId::parse("KK").is_err());
        assert!(UnitId::parse("").is_err());
        assert!(UnitId::parse(".kk").is_err());
    }

    #[test]
    fn hierarchy_lineage_and_municipality() {
        let mut root = unit("kk", None);
        root.municipality_code = Some(MunicipalityCode::parse("101").unwrap());
        let d = Directory::new(vec![
            root,
            unit("kk.jc", Some("kk")),
            unit("kk.jc.rehab", Some("kk.jc")),
            unit("kk.social", Some("kk")),
        ])
        .unwrap();
        let rehab = UnitId::parse("kk.jc.rehab").unwrap();
        let names: Vec<_> = d.lineage(&rehab).unwrap().iter().map(|u| u.as_str()).collect();
        assert_eq!(names, ["kk.jc.rehab", "kk.jc", "kk"]);
        assert!(d.is_within(&rehab, &UnitId::parse("kk.jc").unwrap()));
        assert!(!d.is_within(&rehab, &UnitId::parse("kk.social").unwrap()));
        assert_eq!(d.municipality_of(&rehab).unwrap().get(), 101);
    }

    #[test]
    fn hierarchy_errors() {
        assert!(matches!(
            Directory::new(vec![unit("a", None), unit("a", None)]),
            Err(OrganisationError::DuplicateUnit(_))
        ));
        assert!(matches!(Directory::new(vec![unit("a", Some("b"))]), Err(OrganisationError::UnknownParent { .. })));
        assert!(matches!(
            Directory::new(vec![unit("a", Some("b")), unit("b", Some("a"))]),
            Err(OrganisationError::Cycle(_))
        ));
    }
}
