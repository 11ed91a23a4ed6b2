//! The Danish personal identity number (CPR-nummer).
//!
//! A [`Cpr`] is valid by construction: ten digits `DDMMYYSSSS` whose first six are a
//! real date, with the century taken from the seventh digit (CPR-kontoret's rule).
//! Modulus 11 is deliberately *not* required: numbers issued since 2007 need not pass it.
//!
//! `Debug` and `Display` show only the birth date (`010190-****`); the full number is
//! reachable only through [`Cpr::expose`], so it cannot slip into a log line by accident.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid CPR number. Stored as its ten ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpr([u8; 10]);

/// Why a string is not a CPR number. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CprError {
    #[error("a CPR number has 10 digits (DDMMYYSSSS or DDMMYY-SSSS); this has {0}")]
    Length(usize),
    #[error("a CPR number holds only digits, with an optional hyphen after the sixth")]
    NotDigits,
    #[error(
        "the first six digits of a CPR number must be a real date (DDMMYY); day {day} of month {month} in {year} does not exist"
    )]
    NoSuchDate { day: u32, month: u32, year: i32 },
}

impl Cpr {
    /// Parses `DDMMYYSSSS` or `DDMMYY-SSSS` (surrounding white space is ignored).
    pub fn parse(input: &str) -> Result<Cpr, CprError> {
        let s = input.trim();
        let bytes = s.as_bytes();
        let mut digits = [0u8; 10];
        let mut n = 0usize;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'-' && i == 6 && n == 6 {
                continue;
            }
            if !b.is_ascii_digit() {
                return Err(CprError::NotDigits);
            }
            if n == 10 {
                return Err(CprError::Length(count_digits(bytes)));
            }
            digits[n] = b;
            n += 1;
        }
        if n != 10 {
            return Err(CprError::Length(n));
        }
        let cpr = Cpr(digits);
        cpr.date_parts()?;
        Ok(cpr)
    }

    /// The full ten digits. Call this only where the number must leave the process
    /// in a protected channel (the store, a request body, a header to a source system).
    pub fn expose(&self) -> &str {
        // Constructed from ASCII digits only.
        std::str::from_utf8(&self.0).expect("ASCII digits")
    }

    /// The ten digits as bytes (for store keys).
    pub fn as_bytes(&self) -> &[u8; 10] {
        &self.0
    }

    /// The citizen's date of birth.
    pub fn birth_date(&self) -> NaiveDate {
        self.date_parts().expect("validated at construction")
    }

    /// Masked form `DDMMYY-****`, safe for logs and pages.
    pub fn masked(&self) -> String {
        format!("{}-****", std::str::from_utf8(&self.0[..6]).expect("ASCII"))
    }

    fn date_parts(&self) -> Result<NaiveDate, CprError> {
        let d = |i: usize| u32::from(self.0[i] - b'0');
        let day = d(0) * 10 + d(1);
        let month = d(2) * 10 + d(3);
        let yy = (d(4) * 10 + d(5)) as i32;
        let year = century(d(6), yy) + yy;
        NaiveDate::from_ymd_opt(year, month, day).ok_or(CprError::NoSuchDate { day, month, year })
    }
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| b.is_ascii_digit()).count()
}

/// CPR-kontoret's century rule: the seventh digit and the two-digit year give the century.
fn century(seventh: u32, yy: i32) -> i32 {
    match seventh {
        0..=3 => 1900,
        4 | 9 => {
            if yy <= 36 {
                2000
            } else {
                1900
            }
        }
        _ => {
            // 5, 6, 7, 8
            if yy <= 57 { 2000 } else { 1800 }
        }
    }
}

impl fmt::Debug for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cpr({})", self.masked())
    }
}

impl fmt::Display for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl FromStr for Cpr {
    type Err = CprError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cpr::parse(s)
    }
}

impl TryFrom<&[u8]> for Cpr {
    type Error = CprError;
    fn try_from(b: &[u8]) -> Result<Self, Self::Error> {
        Cpr::parse(std::str::from_utf8(b).map_err(|_| CprError::NotDigits)?)
    }
}

/// Serialized as the full ten digits: serialization feeds the store and protected
/// request bodies, never logs (which use `Display`).
impl Serialize for Cpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Cpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Cpr::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The year of birth is sometimes all a page may show.
impl Cpr {
    pub fn birth_year(&self) -> i32 {
        self.birth_date().year()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_both_forms() {
        let a = Cpr::parse("0101901234").unwrap();
        let b = Cpr::parse("010190-1234").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.expose(), "0101901234");
        assert_eq!(a.birth_date(), NaiveDate::from_ymd_opt(1990, 1, 1).unwrap());
    }

    #[test]
    fn masks_in_debug_and_display() {
        let c = Cpr::parse("0101901234").unwrap();
        assert_eq!(c.to_string(), "010190-****");
        assert_eq!(format!("{c:?}"), "Cpr(010190-****)");
        assert!(!format!("{c:?}{c}").contains("1234"));
    }

    #[test]
    fn century_rule() {
        let year = |s: &str| Cpr::parse(s).unwrap().birth_date().year();
        assert_eq!(year("0101370000"), 1937);
        assert_eq!(year("0101364000"), 2036);
        assert_eq!(year("0101374000"), 1937);
        assert_eq!(year("0101575000"), 2057);
        assert_eq!(year("0101585000"), 1858);
        assert_eq!(year("0101999000"), 1999);
        assert_eq!(year("0101009000"), 2000);
    }

    #[test]
    fn rejects_bad_input_with_clear_errors() {
        assert_eq!(Cpr::parse("123"), Err(CprError::Length(3)));
        assert_eq!(Cpr::parse("01019012345"), Err(CprError::Length(11)));
        assert_eq!(Cpr::parse(""), Err(CprError::Length(0)));
        assert_eq!(Cpr::parse("01019O1234"), Err(CprError::NotDigits));
        assert_eq!(Cpr::parse("0101-901234"), Err(CprError::NotDigits));
        // 31 February
        assert!(matches!(Cpr::parse("3102901234"), Err(CprError::NoSuchDate { .. })));
        // 30 February in a leap year (2000: seventh digit 4, yy 00)
        assert!(matches!(Cpr::parse("3002004000"), Err(CprError::NoSuchDate { .. })));
        // 29 February: 2000 is a leap year, 1900 is not
        assert!(Cpr::parse("2902004000").is_ok());
        assert!(matches!(Cpr::parse("2902000000"), Err(CprError::NoSuchDate { year: 1900, .. })));
        // month 13, day 0
        assert!(matches!(Cpr::parse("0113901234"), Err(CprError::NoSuchDate { .. })));
        assert!(matches!(Cpr::parse("0001901234"), Err(CprError::NoSuchDate { .. })));
        // The message does not echo the number.
        let msg = Cpr::parse("3102901234").unwrap_err().to_string();
        assert!(!msg.contains("3102901234"));
    }

    #[test]
    fn serde_round_trip_validates() {
        let c = Cpr::parse("0101901234").unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"0101901234\"");
        assert_eq!(serde_json::from_str::<Cpr>(&json).unwrap(), c);
        assert!(serde_json::from_str::<Cpr>("\"3102901234\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,16}") {
            let _ = Cpr::parse(&s);
        }

        #[test]
        fn accepts_exactly_real_dates(day in 0u32..=32, month in 0u32..=13, yy in 0u32..100, serial in 0u32..10000) {
            let s = format!("{day:02}{month:02}{yy:02}{serial:04}");
            let seventh = serial / 1000;
            let year = century(seventh, yy as i32) + yy as i32;
            let real = NaiveDate::from_ymd_opt(year, month, day);
            match Cpr::parse(&s) {
                Ok(c) => {
                    prop_assert_eq!(Some(c.birth_date()), real);
                    prop_assert_eq!(c.expose(), s.as_str());
                    prop_assert_eq!(c.to_string(), format!("{}-****", &s[..6]));
                }
                Err(e) => {
                    prop_assert!(real.is_none(), "rejected a real date: {e}");
                }
            }
        }

        #[test]
        fn hyphen_form_equals_plain_form(n in 0u64..10_000_000_000u64) {
            let s = format!("{n:010}");
            let hyphen = format!("{}-{}", &s[..6], &s[6..]);
            prop_assert_eq!(Cpr::parse(&s).ok(), Cpr::parse(&hyphen).ok());
        }
    }
}
