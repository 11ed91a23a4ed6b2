//! What one audit record says, and its bytes in the log.
//!
//! A record's leaf data is versioned. Version 1 (every leaf written before versions) is the
//! serde_json encoding of the record struct of that time, fields in declaration order: it
//! can only be checked by re-encoding with that frozen layout (`record/v1.rs`). From
//! version 2 on the bytes are the RFC 8785 canonical JSON of the record's object with a
//! `"v"` member, so their canonical form is a property of the JSON alone and adding a
//! field to [`AuditRecord`] changes no stored leaf's validity. New optional fields take
//! `#[serde(default)]`, so older leaves (which lack them) still read.

mod canonical;
mod v1;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cpr::Cpr;
use crate::organisation::UnitId;
use crate::vocabulary::{Category, Purpose};

/// One audited event: a decision, a release, a refused request, a portal action or an
/// operator's read of the log.
///
/// The record is protected data: it carries the citizen's CPR number in full (serialized
/// into the leaf), so a record is never logged; its `Debug` masks the CPR like [`Cpr`] does.
///
/// Adding a field: make it `#[serde(default)]` (older leaves lack it) and never deny
/// unknown fields (newer leaves may have more); the leaf bytes stay valid either way (see
/// [`AuditRecord::canonical_bytes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time: DateTime<Utc>,
    pub request_id: String,
    /// What happened.
    pub kind: AuditKind,
    /// The caseworker system's id (from its client certificate).
    pub system: Option<String>,
    pub caseworker: Option<String>,
    pub unit: Option<UnitId>,
    pub citizen: Option<Cpr>,
    pub purpose: Option<Purpose>,
    pub category: Option<Category>,
    pub decision: Option<AuditDecision>,
    /// `consent:<id>` or `statute:<reference>`.
    pub basis: Option<String>,
    /// The determining policy ids.
    pub policies: Vec<String>,
    /// The section status (`included`, `denied`, `no_data`, `unavailable`, `timeout`,
    /// `invalid_response`), or `ok` / `refused`.
    pub outcome: String,
    /// SHA-256 (hex) of each released document.
    pub documents: Vec<String>,
    /// A readable reason, error type or cause. Never a CPR number.
    pub detail: Option<String>,
    /// The exact change a consent or block record is about: `consent:<id>.<version>` or
    /// `block:<id>.<version>` (the event's version). Absent in other records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Someone acted for the citizen (a power of attorney): who, under which authority and
    /// privilege. Absent when the citizen acted personally, and in every other record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf: Option<OnBehalf>,
}

/// The representation a consent change was made under, as the audit record names it:
/// never the holder's CPR number, only their pseudonymous id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnBehalf {
    /// `power_of_attorney` or `custody`.
    pub kind: String,
    /// The holder's pseudonymous id.
    pub holder: String,
    /// The power of attorney's reference in the registry.
    pub reference: String,
    /// `view` or `consent`.
    pub privilege: String,
}

impl OnBehalf {
    /// The representation `grantor` names; `None` for the citizen personally.
    pub fn of(grantor: &crate::record::Grantor) -> Option<OnBehalf> {
        match grantor {
            crate::record::Grantor::Citizen => None,
            crate::record::Grantor::PowerOfAttorney { holder, reference, privilege, .. } => Some(OnBehalf {
                kind: "power_of_attorney".into(),
                holder: holder.clone(),
                reference: reference.clone(),
                privilege: privilege.as_str().into(),
            }),
            crate::record::Grantor::Custody { holder, reference, .. } => Some(OnBehalf {
                kind: "custody".into(),
                holder: holder.clone(),
                reference: reference.clone(),
                privilege: "consent".into(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Decision,
    Release,
    RequestRefused,
    ConsentRequested,
    ConsentGranted,
    ConsentApproved,
    ConsentRejected,
    ConsentRevoked,
    /// A caseworker system registered a consent the citizen signed on paper.
    ConsentRegisteredFromPaper,
    /// The citizen confirmed a paper consent digitally.
    ConsentConfirmed,
    BlockPlaced,
    BlockLifted,
    AuditRead,
    /// A caseworker read consents about a citizen (a request's status, or a search).
    ConsentsRead,
    /// The decision whether a message about the citizen may be sent to their GP.
    SendDecision,
    /// The health hub took a message to the citizen's GP (`documents`: its SHA-256).
    MessageSent,
    /// The GP's system acknowledged a message (a positive receipt).
    MessageAcknowledged,
    /// The GP's system refused a message (a negative receipt; `detail`: the reason).
    MessageRejected,
    /// A message could not be delivered, after the last attempt.
    MessageFailed,
    /// A caseworker read the state of a message to the citizen's GP (and, for a statement
    /// request, asked for the GP's answer: its own decision and release records).
    MessageRead,
    /// The decision whether a contribution to a shared record about the citizen (the
    /// coordinated plan) may be written, by a caseworker or by the citizen themselves.
    WriteDecision,
    /// A change about to be written (`documents`: the SHA-256 of the change), durable
    /// before the source is asked.
    Write,
    /// What became of a write (`outcome`: `written`, `conflict`, `refused`, `not_owner`,
    /// `failed`; `documents`: the digest of the record as it now is).
    WriteResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditDecision {
    Permit,
    Deny,
}

impl AuditRecord {
    /// A record of `kind` at `time` for `request_id`, every optional field empty and the
    /// outcome `ok`; set the rest with struct update syntax or field by field.
    pub fn new(time: DateTime<Utc>, request_id: impl Into<String>, kind: AuditKind) -> Self {
        Self {
            time,
            request_id: request_id.into(),
            kind,
            system: None,
            caseworker: None,
            unit: None,
            citizen: None,
            purpose: None,
            category: None,
            decision: None,
            basis: None,
            policies: Vec::new(),
            outcome: "ok".into(),
            documents: Vec::new(),
            detail: None,
            subject: None,
            on_behalf: None,
        }
    }

    /// The canonical bytes of the record, as written now: leaf data `d` of version
    /// [`RECORD_VERSION`] (2), stored exactly as hashed.
    ///
    /// They are the RFC 8785 (JSON Canonicalization Scheme) form of the record's JSON object
    /// with one more member, `"v": 2`: members sorted by the UTF-16 code units of their
    /// names, no whitespace, strings in UTF-8 with only the escapes RFC 8785 requires,
    /// numbers in their shortest ECMAScript form. Every field is a member (an empty
    /// optional one is `null`). The bytes depend only on the JSON value, not on the order
    /// of the struct's fields, so a reader that does not know a field added later can still
    /// check that a leaf is canonical (see [`AuditRecord::check_canonical`]).
    ///
    /// Leaves written before records had a version (version 1) are the serde_json encoding
    /// of the struct as it was then, fields in declaration order; they still read and verify.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut value = serde_json::to_value(self).expect("an audit record serializes");
        let Value::Object(members) = &mut value else { unreachable!("an audit record is a JSON object") };
        members.insert(VERSION_MEMBER.into(), Value::from(RECORD_VERSION));
        canonical::to_vec(&value)
            .unwrap_or_else(|| serde_jcs::to_vec(&value).expect("an audit record has no non-finite number"))
    }

    /// Checks that stored leaf bytes are in the canonical form of their version and returns
    /// that version, without reading them as an [`AuditRecord`] (so fields this build does
    /// not know are no obstacle):
    /// - version 2 (a top-level `"v": 2`): a JSON object whose RFC 8785 re-encoding (of the
    ///   JSON value, not of the struct) is the very same bytes;
    /// - version 1 (no `"v"`): the record as it was before versions, re-encoded by that
    ///   frozen layout to the very same bytes. Version 1 never gains fields.
    ///
    /// Any other version is an error: this build cannot say what its canonical form is.
    pub fn check_canonical(bytes: &[u8]) -> Result<u64, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(members) = &value else { return Err("not a JSON object".into()) };
        match version_of(members)? {
            1 => {
                if v1::RecordV1::canonical(bytes)? != bytes {
                    return Err("not in the canonical form of version 1".into());
                }
                Ok(1)
            }
            2 => {
                let again = serde_jcs::to_vec(&value).map_err(|e| format!("not canonical JSON: {e}"))?;
                if again != bytes {
                    return Err("not in the canonical form of version 2 (RFC 8785)".into());
                }
                Ok(2)
            }
            v => Err(format!("record version {v} is unknown to this build")),
        }
    }

    /// Reads a record from stored leaf bytes of any known version, requiring them to be
    /// canonical ([`AuditRecord::check_canonical`]), so one record has exactly one leaf hash.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, String> {
        Self::check_canonical(bytes)?;
        Self::from_leaf_bytes(bytes)
    }

    /// Reads a record from stored leaf bytes of any version, without checking their form:
    /// members this build does not know (a newer version's fields, and `v`) are ignored,
    /// fields the bytes lack (an older version's) take their defaults.
    pub fn from_leaf_bytes(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not an audit record: {e}"))
    }
}

/// The version of the records this build writes (see [`AuditRecord::canonical_bytes`]).
pub const RECORD_VERSION: u64 = 2;

/// The member that holds a record's version (absent in version 1).
const VERSION_MEMBER: &str = "v";

fn version_of(members: &serde_json::Map<String, Value>) -> Result<u64, String> {
    match members.get(VERSION_MEMBER) {
        None => Ok(1),
        Some(v) => match v.as_u64() {
            Some(v) if v >= 2 => Ok(v),
            _ => Err("the record version is not a whole number above 1".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn jcs(json: &str) -> String {
        let v: Value = serde_json::from_str(json).unwrap();
        serde_jcs::to_string(&v).unwrap()
    }

    fn full() -> AuditRecord {
        let mut r = AuditRecord::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(1),
            "req-1",
            AuditKind::Release,
        );
        r.system = Some("sys-a".into());
        r.caseworker = Some("Søren Ærø".into());
        r.unit = Some(UnitId::parse("kk.jobcenter").unwrap());
        r.citizen = Some(Cpr::parse("0102709901").unwrap());
        r.purpose = Some(Purpose::parse("rehabilitation-team").unwrap());
        r.category = Some(Category::parse("jobcenter.case").unwrap());
        r.decision = Some(AuditDecision::Permit);
        r.basis = Some("consent:1".into());
        r.policies = vec!["consent-permits".into()];
        r.outcome = "included".into();
        r.documents = vec!["ab".repeat(32)];
        r.detail = Some("linje 1\nlinje 2 \"citat\" \\ \u{1f}/å".into());
        r
    }

    #[test]
    fn a_record_is_written_by_the_direct_writer_and_as_serde_jcs_writes_it() {
        let r = full();
        let mut value = serde_json::to_value(&r).unwrap();
        value.as_object_mut().unwrap().insert(VERSION_MEMBER.into(), Value::from(RECORD_VERSION));
        let direct = canonical::to_vec(&value).expect("a record has no number serde_jcs must format");
        assert_eq!(direct, serde_jcs::to_vec(&value).unwrap());
        assert_eq!(r.canonical_bytes(), direct);
    }

    #[test]
    fn version_2_bytes_are_sorted_compact_and_carry_the_version() {
        let r = full();
        let bytes = r.canonical_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"basis":"consent:1","caseworker":"Søren Ærø","category":"jobcenter.case","#,
                r#""citizen":"0102709901","decision":"permit","#,
                r#""detail":"linje 1\nlinje 2 \"citat\" \\ \u001f/å","#,
                r#""documents":["abababababababababababababababababababababababababababababababab"],"#,
                r#""kind":"release","outcome":"included","policies":["consent-permits"],"#,
                r#""purpose":"rehabilitation-team","request_id":"req-1","system":"sys-a","#,
                r#""time":"2026-03-01T12:00:00.001Z","unit":"kk.jobcenter","v":2}"#
            )
        );
        assert_eq!(AuditRecord::check_canonical(&bytes), Ok(2));
        assert_eq!(AuditRecord::from_canonical_bytes(&bytes).unwrap(), r);
        // Empty optional fields are members too, as null.
        let empty = AuditRecord::new(r.time, "req-2", AuditKind::AuditRead).canonical_bytes();
        assert!(std::str::from_utf8(&empty).unwrap().contains(r#""citizen":null,"#));
    }

    #[test]
    fn keys_sort_by_utf16_code_units_not_by_insertion_or_utf8() {
        // RFC 8785 3.2.3: U+20AC (one UTF-16 unit 0x20AC) sorts before U+1F600 (surrogates
        // 0xD83D 0xDE00), although its UTF-8 bytes sort after.
        assert_eq!(
            jcs(r#"{"b":1,"a":2,"\ud83d\ude00":3,"€":4,"æ":5,"A":6}"#),
            r#"{"A":6,"a":2,"b":1,"æ":5,"€":4,"😀":3}"#
        );
        assert_eq!(jcs(r#"{"z":{"y":1,"x":[{"b":0,"a":0}]}}"#), r#"{"z":{"x":[{"a":0,"b":0}],"y":1}}"#);
    }

    #[test]
    fn numbers_take_their_shortest_ecmascript_form() {
        assert_eq!(
            jcs("[2.0, -0.0, 1e0, 100, 1e21, 1e-7, 0.000001, 123.456e2, 4.50]"),
            "[2,0,1,100,1e+21,1e-7,0.000001,12345.6,4.5]"
        );
    }

    #[test]
    fn strings_keep_danish_letters_and_escape_only_what_rfc_8785_requires() {
        assert_eq!(jcs(r#""\u00e6\u00f8\u00e5 \u00c6\u00d8\u00c5""#), r#""æøå ÆØÅ""#);
        assert_eq!(
            jcs(r#""\/ \u0008\u0009\u000a\u000c\u000d \u001f \u007f \" \\""#),
            "\"/ \\b\\t\\n\\f\\r \\u001f \u{7f} \\\" \\\\\""
        );
    }

    #[test]
    fn version_2_bytes_not_in_rfc_8785_form_are_refused() {
        let bytes = full().canonical_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let spaced = text.replacen(r#""basis":"#, r#""basis": "#, 1);
        let reordered = text.replacen(
            r#"{"basis":"consent:1","caseworker":"Søren Ærø","#,
            r#"{"caseworker":"Søren Ærø","basis":"consent:1","#,
            1,
        );
        let escaped = text.replacen("Søren", "S\\u00f8ren", 1);
        for bad in [spaced, reordered, escaped] {
            assert_ne!(bad.as_bytes(), &bytes[..]);
            let e = AuditRecord::check_canonical(bad.as_bytes()).unwrap_err();
            assert!(e.contains("canonical form of version 2"), "{bad}: {e}");
            // ... yet the record still reads, for queries.
            assert_eq!(AuditRecord::from_leaf_bytes(bad.as_bytes()).unwrap().request_id, "req-1");
        }
    }

    #[test]
    fn a_field_this_build_does_not_know_still_verifies_and_reads() {
        let mut value = serde_json::to_value(full()).unwrap();
        value["v"] = 2.into();
        value["retention_class"] = "long".into();
        value["zz_extra"] = serde_json::json!({"nested": [1, "to"]});
        let newer = serde_jcs::to_vec(&value).unwrap();
        assert_eq!(AuditRecord::check_canonical(&newer), Ok(2));
        assert_eq!(AuditRecord::from_canonical_bytes(&newer).unwrap(), full());
    }

    #[test]
    fn unknown_or_malformed_versions_are_refused() {
        let text = String::from_utf8(full().canonical_bytes()).unwrap();
        for (v, why) in [
            ("3", "version 3 is unknown"),
            ("1", "not a whole number above 1"),
            ("2.0", "not a whole number"),
            (r#""2""#, "not a whole number"),
        ] {
            let bad = text.replacen(r#""v":2}"#, &format!(r#""v":{v}}}"#), 1);
            let e = AuditRecord::check_canonical(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{v}: {e}");
        }
        assert!(AuditRecord::check_canonical(b"[1,2]").unwrap_err().contains("not a JSON object"));
        assert!(AuditRecord::check_canonical(b"{\"v\":2").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn version_1_bytes_are_checked_by_their_frozen_layout() {
        // Written by the last build before records had a version.
        let v1 = concat!(
            r#"{"time":"2026-03-01T12:00:00.001Z","request_id":"req-1","kind":"release","system":"sys-a","#,
            r#""caseworker":"cw-1","unit":"kk.jobcenter","citizen":"0102709901","purpose":"rehabilitation-team","#,
            r#""category":"jobcenter.case","decision":"permit","basis":"consent:1","policies":["consent-permits"],"#,
            r#""outcome":"included","documents":["0000000000000000000000000000000000000000000000000000000000000001"],"#,
            r#""detail":null}"#
        );
        assert_eq!(AuditRecord::check_canonical(v1.as_bytes()), Ok(1));
        let r = AuditRecord::from_canonical_bytes(v1.as_bytes()).unwrap();
        assert_eq!(r.caseworker.as_deref(), Some("cw-1"));
        assert_ne!(r.canonical_bytes(), v1.as_bytes(), "new records are written as version 2");
        // Version 1 never gains a member, and its order is fixed.
        let extra = v1.replacen(r#""detail":null}"#, r#""detail":null,"extra":1}"#, 1);
        let moved =
            v1.replacen(r#""request_id":"req-1","kind":"release","#, r#""kind":"release","request_id":"req-1","#, 1);
        let sorted =
            String::from_utf8(serde_jcs::to_vec(&serde_json::from_str::<Value>(v1).unwrap()).unwrap()).unwrap();
        for bad in [extra, moved, sorted] {
            let e = AuditRecord::check_canonical(bad.as_bytes()).unwrap_err();
            assert!(e.contains("canonical form of version 1"), "{bad}: {e}");
        }
    }
}
