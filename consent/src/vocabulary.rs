//! Purposes and categories of data, and the configured vocabulary of known ones.
//!
//! [`Purpose`] and [`Category`] are syntactically valid names; whether a name is *known*
//! is a question for the [`Vocabulary`], which comes from configuration (DESIGN.md §4
//! lists the defaults, and `config/default.toml` holds them).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabularyError {
    #[error("{kind} names are 1 to 64 characters of a-z, 0-9, '.', '-', '_', starting with a letter; got {name:?}")]
    Syntax { kind: &'static str, name: String },
    #[error("unknown purpose {0:?}; known purposes: {1}")]
    UnknownPurpose(String, String),
    #[error("unknown category {0:?}; known categories: {1}")]
    UnknownCategory(String, String),
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
}

macro_rules! name_type {
    ($(#[$m:meta])* $name:ident, $kind:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, VocabularyError> {
                if valid_name(s) {
                    Ok(Self(s.to_string()))
                } else {
                    Err(VocabularyError::Syntax { kind: $kind, name: s.to_string() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $name::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = VocabularyError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

name_type!(
    /// Why data is requested, e.g. `rehabilitation-team`.
    Purpose,
    "purpose"
);
name_type!(
    /// A category of data, e.g. `health.lae265`. The part before the first dot is its domain.
    Category,
    "category"
);

impl Category {
    /// The domain: `health` for `health.lae265`.
    pub fn domain(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }

    /// Health data: disclosed to a municipality only with consent (sundhedsloven § 43).
    pub fn is_health(&self) -> bool {
        self.domain() == "health"
    }
}

/// How a purpose or category is explained to people, in Danish and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// Plain Danish, for the citizen.
    pub da: String,
    pub en: String,
}

/// The known purposes and categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vocabulary {
    pub purposes: BTreeMap<Purpose, Description>,
    pub categories: BTreeMap<Category, Description>,
}

impl Vocabulary {
    /// A known purpose, or an error listing the known ones.
    pub fn purpose(&self, s: &str) -> Result<Purpose, VocabularyError> {
        let p = Purpose::parse(s)?;
        if self.purposes.contains_key(&p) {
            Ok(p)
        } else {
            Err(VocabularyError::UnknownPurpose(s.to_string(), join(self.purposes.keys())))
        }
    }

    /// A known category, or an error listing the known ones.
    pub fn category(&self, s: &str) -> Result<Category, VocabularyError> {
        let c = Category::parse(s)?;
        self.check_category(&c)?;
        Ok(c)
    }

    pub fn check_purpose(&self, p: &Purpose) -> Result<(), VocabularyError> {
        self.purpose(p.as_str()).map(drop)
    }

    pub fn check_category(&self, c: &Category) -> Result<(), VocabularyError> {
        if self.categories.contains_key(c) {
            Ok(())
        } else {
            Err(VocabularyError::UnknownCategory(c.0.clone(), join(self.categories.keys())))
        }
    }
}

fn join<T: fmt::Display>(it: impl Iterator<Item = T>) -> String {
    it.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        let d = || Description { da: "x".into(), en: "x".into() };
        Vocabulary {
            purposes: [(Purpose::parse("rehabilitation-team").unwrap(), d())].into(),
            categories: [(Category::parse("health.lae265").unwrap(), d())].into(),
        }
    }

    #[test]
    fn known_and_unknown() {
        let v = vocab();
        assert!(v.purpose("rehabilitation-team").is_ok());
        let e = v.purpose("marketing").unwrap_err();
        assert!(e.to_string().contains("rehabilitation-team"), "{e}");
        assert!(v.category("health.lae265").unwrap().is_health());
        assert!(matches!(v.category("jobnet.cv"), Err(VocabularyError::UnknownCategory(..))));
        assert!(matches!(v.category("Health"), Err(VocabularyError::Syntax { .. })));
        assert!(matches!(v.category(""), Err(VocabularyError::Syntax { .. })));
    }

    #[test]
    fn domain() {
        assert_eq!(Category::parse("jobcenter.benefits").unwrap().domain(), "jobcenter");
        assert!(!Category::parse("healthcare.x").unwrap().is_health());
    }
}
