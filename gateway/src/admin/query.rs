//! Typed query strings for the admin API: every route declares the parameters it takes and
//! the shape of each; anything else is refused before a handler sees it.
//!
//! - a parameter the route does not take, or one given twice, is a 400 (`invalid-query`);
//! - a parameter named for a citizen (`citizen`, `cpr`, ...), or any key or value that
//!   holds something that could be a CPR number (`http::redact`: separators, percent
//!   encoding, Unicode digits, letters around it), is a 400 (`cpr-in-url`);
//! - each value must have its declared [`Shape`] (ids, unit names, RFC 3339 times, whole
//!   numbers), or it is a 422;
//! - no refusal repeats a key or value the client sent.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};

use super::problem::AdminError;
use crate::http::redact::holds_number;

/// What a query value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An identifier: ASCII letters, digits, `.`, `-`, `_`, `@`, 1 to 128 characters (a
    /// caseworker's id, a system's id, an outcome).
    Id,
    /// A unit id (`kk.jobcenter.rehab`), a purpose or a category: lower-case ASCII letters,
    /// digits, `.`, `-`, 1 to 64 characters.
    Name,
    /// A comma-separated list of [`Shape::Name`]s (with `_`), e.g. record kinds.
    Names,
    /// An RFC 3339 time, at most millisecond precision.
    Time,
    /// A whole number: ASCII digits, no leading zero, at most 18 digits.
    Number,
}

impl Shape {
    fn describe(self) -> &'static str {
        match self {
            Shape::Id => "an identifier (letters, digits, . - _ @; at most 128)",
            Shape::Name => "a name (lower-case letters, digits, . -; at most 64)",
            Shape::Names => "a comma-separated list of names",
            Shape::Time => "an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)",
            Shape::Number => "a whole number",
        }
    }

    fn fits(self, v: &str) -> bool {
        let ascii = |max: usize, ok: &dyn Fn(char) -> bool| !v.is_empty() && v.len() <= max && v.chars().all(ok);
        match self {
            Shape::Id => ascii(128, &|c| c.is_ascii_alphanumeric() || ".-_@".contains(c)),
            Shape::Name => ascii(64, &|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c)),
            Shape::Names => {
                v.len() <= 512
                    && v.split(',').map(str::trim).all(|n| {
                        !n.is_empty()
                            && n.len() <= 64
                            && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                    })
            }
            Shape::Time => {
                let fraction = v.split_once('.').map_or(0, |(_, f)| f.chars().take_while(char::is_ascii_digit).count());
                v.len() <= 32
                    && fraction <= 3
                    && v.chars().all(|c| c.is_ascii_digit() || "-:T.Z+tz".contains(c))
                    && DateTime::parse_from_rfc3339(v).is_ok()
            }
            Shape::Number => {
                ascii(18, &|c| c.is_ascii_digit()) && (v == "0" || !v.starts_with('0')) && !could_be_cpr_number(v)
            }
        }
    }

    /// Whether a value of this shape may hold six digits in a row (times and numbers do;
    /// for them the shape itself is the guard).
    fn holds_digits(self) -> bool {
        matches!(self, Shape::Time | Shape::Number)
    }
}

/// A ten-digit number with a real date in front is refused as a number: it could be a CPR.
fn could_be_cpr_number(v: &str) -> bool {
    v.len() == 10 && consent::Cpr::parse(v).is_ok()
}

/// Names that say "citizen" in a URL: refused whatever their value.
const CITIZEN_NAMES: [&str; 5] = ["citizen", "cpr", "citizen_cpr", "cpr_number", "personnummer"];

/// The parsed query string of one request: each declared parameter at most once.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<&'static str, String>);

impl Params {
    /// Parses `raw` (the query string, without `?`) against the declared `(name, shape)`s.
    pub fn parse(raw: Option<&str>, declared: &[(&'static str, Shape)]) -> Result<Params, AdminError> {
        let raw = raw.unwrap_or("");
        // Looked at as sent, before anything is decoded: `%0A`, `+`, `%2D` and all.
        if holds_cpr_outside_declared(raw, declared) {
            return Err(AdminError::cpr_in_url());
        }
        let mut out = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            let lower = k.to_ascii_lowercase();
            if CITIZEN_NAMES.iter().any(|n| lower.contains(n)) || holds_number(&k) {
                return Err(AdminError::cpr_in_url());
            }
            let Some((name, shape)) = declared.iter().find(|(n, _)| *n == k) else {
                return Err(invalid_query(format!(
                    "a query parameter is not one this endpoint takes; it takes {}",
                    names(declared)
                )));
            };
            if !shape.holds_digits() && holds_number(&v) {
                return Err(AdminError::cpr_in_url());
            }
            if out.contains_key(name) {
                return Err(invalid_query(format!("the query parameter {name} is given more than once")));
            }
            if !shape.fits(&v) {
                if could_be_cpr_number(&v) {
                    return Err(AdminError::cpr_in_url());
                }
                return Err(AdminError::invalid(format!("{name} must be {}", shape.describe())));
            }
            out.insert(*name, v.into_owned());
        }
        Ok(Params(out))
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    pub fn number(&self, name: &str) -> Option<u64> {
        self.0.get(name).and_then(|v| v.parse().ok())
    }

    /// A declared number that must be there.
    pub fn required_number(&self, name: &'static str) -> Result<u64, AdminError> {
        self.number(name).ok_or_else(|| AdminError::invalid(format!("{name} is required: a whole number")))
    }

    pub fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        self.0.get(name).and_then(|v| DateTime::parse_from_rfc3339(v).ok()).map(|t| t.with_timezone(&Utc))
    }
}

/// Whether the raw query string holds a number that could be a CPR anywhere except in the
/// value of a declared time or number parameter (whose shape guards it).
fn holds_cpr_outside_declared(raw: &str, declared: &[(&'static str, Shape)]) -> bool {
    raw.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let digits_allowed = declared.iter().any(|(n, s)| *n == k && s.holds_digits());
        holds_number(k) || (!digits_allowed && holds_number(v))
    })
}

fn names(declared: &[(&'static str, Shape)]) -> String {
    if declared.is_empty() {
        return "none".into();
    }
    declared.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// A query string this route does not take (400).
pub fn invalid_query(detail: String) -> AdminError {
    AdminError {
        status: StatusCode::BAD_REQUEST,
        slug: "invalid-query",
        title: "The query string is not one this endpoint takes",
        detail,
    }
}

/// Checks a free-text filter (from a query string or a search body) against its shape;
/// the message names the filter, never the value.
pub fn check_shape(name: &str, value: &str, shape: Shape) -> Result<(), AdminError> {
    if !shape.holds_digits() && holds_number(value) {
        return Err(AdminError::invalid(format!(
            "{name} must be {}; a CPR number goes in x-citizen-cpr or the citizen field",
            shape.describe()
        )));
    }
    if shape.fits(value) { Ok(()) } else { Err(AdminError::invalid(format!("{name} must be {}", shape.describe()))) }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::redact::tests::{cpr_digits, formatted, shows};

    const DECLARED: &[(&str, Shape)] = &[
        ("caseworker", Shape::Id),
        ("unit", Shape::Name),
        ("kinds", Shape::Names),
        ("from", Shape::Time),
        ("before", Shape::Number),
    ];

    fn slug(raw: &str) -> &'static str {
        match Params::parse(Some(raw), DECLARED) {
            Ok(_) => "ok",
            Err(e) => e.slug,
        }
    }

    #[test]
    fn typed_parameters() {
        assert_eq!(slug("caseworker=cw-anna&unit=kk.jobcenter&kinds=decision,release&from=2026-01-01T00:00:00Z"), "ok");
        assert_eq!(slug("before=123456789"), "ok");
        assert_eq!(slug("colour=red"), "invalid-query");
        assert_eq!(slug("unit=kk&unit=aarhus"), "invalid-query");
        assert_eq!(slug("unit=Not%20A%20Unit"), "invalid-request");
        assert_eq!(slug("before=-1"), "invalid-request");
        assert_eq!(slug("before=007"), "invalid-request");
        assert_eq!(slug("from=yesterday"), "invalid-request");
        assert_eq!(slug("from=2026-01-01T00:00:00.0104609903Z"), "invalid-request");
        // The bypasses of issue 13.
        for raw in [
            "citizen=x",
            "caseworker=0104609903%0A",
            "caseworker=x0104609903",
            "unit=kk&unit=0104609903",
            "unit=01.04.60.9903",
            "caseworker=010460-9903",
            "caseworker=%EF%BC%90%EF%BC%91%EF%BC%90%EF%BC%94%EF%BC%96%EF%BC%90%EF%BC%99%EF%BC%99%EF%BC%90%EF%BC%93",
            "0104609903=1",
            "before=0104609903",
            "before=1104609903",
        ] {
            assert_eq!(slug(raw), "cpr-in-url", "{raw}");
        }
    }

    #[test]
    fn no_refusal_repeats_what_was_sent() {
        for raw in ["colour=red", "a_secret_name=1", "unit=Not-A-Unit", "unit=kk&unit=kk"] {
            let e = Params::parse(Some(raw), DECLARED).unwrap_err();
            for part in ["colour", "red", "a_secret_name", "Not-A-Unit"] {
                assert!(!e.detail.contains(part), "{raw}: {}", e.detail);
            }
        }
    }

    proptest! {
        /// A CPR number in any formatting, in any parameter (declared or not, key or
        /// value, alone or repeated), is never accepted and never quoted back.
        #[test]
        fn no_cpr_passes(cpr in cpr_digits(), style in 0u8..14, slot in 0usize..7, pre in "[a-z]{0,3}") {
            let f = format!("{pre}{}", formatted(&cpr, style));
            let raw = match slot {
                0 => format!("caseworker={f}"),
                1 => format!("unit={f}"),
                2 => format!("kinds=decision,{f}"),
                3 => format!("unit=kk&unit={f}"),
                4 => format!("{f}=1"),
                5 => format!("before={f}"),
                _ => format!("from={f}"),
            };
            match Params::parse(Some(&raw), DECLARED) {
                Ok(p) => prop_assert!(false, "{} accepted: {:?}", raw, p),
                Err(e) => prop_assert!(!shows(&e.detail, &cpr), "{} -> {}", raw, e.detail),
            }
        }
    }
}
