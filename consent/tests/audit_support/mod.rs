//! Shared set-up for the audit log's integration tests: records. (Failing and counting store
//! calls: `consent::store::faulty::FaultyStore`.)
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::{Category, Cpr, Purpose, UnitId};

/// A record for request `i`, about a synthetic citizen.
pub fn record(i: u64) -> AuditRecord {
    let mut r = AuditRecord::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(i as i64),
        format!("req-{i}"),
        if i.is_multiple_of(2) { AuditKind::Decision } else { AuditKind::Release },
    );
    r.system = Some("sys-a".into());
    r.caseworker = Some(format!("cw-{}", i % 7));
    r.unit = Some(UnitId::parse("kk.jobcenter").unwrap());
    r.citizen = Some(Cpr::parse(&format!("01{:02}709{:03}", 1 + i % 12, 900 + i % 50)).unwrap());
    r.purpose = Some(Purpose::parse("rehabilitation-team").unwrap());
    r.category = Some(Category::parse("jobcenter.case").unwrap());
    r.decision = Some(if i.is_multiple_of(3) { AuditDecision::Deny } else { AuditDecision::Permit });
    r.basis = Some(format!("consent:{i}"));
    r.policies = vec!["consent-permits".into()];
    r.outcome = "included".into();
    r.documents = vec![format!("{i:064x}")];
    r
}
