use chrono::{TimeDelta, TimeZone, Utc};
use consent::audit::{AuditKind, AuditRecord};
use consent::{Category, Cpr, Purpose, Rules, UnitId};

use super::*;

fn rules() -> Rules {
    crate::settings::Settings::load(None, None).unwrap().domain.into_rules().unwrap()
}

fn citizen() -> Cpr {
    Cpr::parse("0101709901").unwrap()
}

fn rec(kind: AuditKind) -> AuditRecord {
    let mut r = AuditRecord::new(Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap(), "req-1", kind);
    r.unit = Some(UnitId::parse("kk.jobcenter.rehab").unwrap());
    r.citizen = Some(citizen());
    r.purpose = Some(Purpose::parse("rehabilitation-team").unwrap());
    r
}

fn holds_digits(s: &str) -> bool {
    let d: Vec<char> = s.chars().filter(|c| !matches!(c, '-' | ' ' | '.')).collect();
    d.windows(10).any(|w| w.iter().all(char::is_ascii_digit))
}

#[test]
fn a_request_a_revocation_and_nothing_else_about_consents() {
    let rules = rules();
    let n = for_record(7, &rec(AuditKind::ConsentRequested), None, &rules).unwrap();
    assert_eq!(n.subject, "Du er blevet bedt om et samtykke");
    assert!(n.body.starts_with("Rehabiliteringsteamet, Jobcenter København beder om dit samtykke"), "{}", n.body);
    assert!(n.body.contains("Formålet er: Forberede rehabiliteringsplanens"));
    assert_eq!(n.recipient, citizen());
    assert_eq!(n.id, notification_id("audit:7"), "the same record, the same id");
    assert_ne!(n.id, notification_id("audit:8"));
    let n = for_record(8, &rec(AuditKind::ConsentRevoked), None, &rules).unwrap();
    assert_eq!(n.subject, "Dit samtykke er tilbagekaldt");
    // 23:30 UTC on 30 November is 1 December in Denmark.
    assert!(n.body.contains("blev tilbagekaldt 01.12.2026"), "{}", n.body);
    let mut sent = rec(AuditKind::MessageSent);
    sent.category = Some(Category::parse("health.correspondence").unwrap());
    let n = for_record(9, &sent, None, &rules).unwrap();
    assert_eq!(n.subject, "Der er sendt en besked til din læge");
    assert!(n.body.contains("sendte et brev om dig til din læge"), "{}", n.body);
    for kind in [AuditKind::ConsentGranted, AuditKind::ConsentApproved, AuditKind::Decision, AuditKind::Release] {
        assert!(for_record(9, &rec(kind), None, &rules).is_none(), "{kind:?}");
    }
    let mut nobody = rec(AuditKind::ConsentRequested);
    nobody.citizen = None;
    assert!(for_record(9, &nobody, None, &rules).is_none());
}

#[test]
fn one_access_letter_per_request_naming_what_was_fetched() {
    let rules = rules();
    let release = |cat: &str, outcome: &str| {
        let mut r = rec(AuditKind::Release);
        r.caseworker = Some("anna.jensen".into());
        r.category = Some(Category::parse(cat).unwrap());
        r.outcome = outcome.into();
        r
    };
    let (a, b, c) =
        (release("jobnet.cv", "included"), release("social.case", "included"), release("jobcenter.case", "timeout"));
    let n = for_access(40, &[&a, &b, &c], &rules).unwrap();
    assert_eq!(n.subject, "Der er hentet oplysninger om dig");
    assert!(n.body.contains("hentede \"Dit CV på Jobnet\" og \"Dine sociale foranstaltninger\""), "{}", n.body);
    assert!(!n.body.contains("jobcentret: visitation"), "what timed out was not fetched");
    // Nothing released; the citizen's own view: no letter.
    assert!(for_access(40, &[&c], &rules).is_none());
    let mut own = a.clone();
    own.caseworker = None;
    assert!(for_access(40, &[&own], &rules).is_none());
}

#[test]
fn ends_of_consents_are_told_once_each_and_never_for_revoked_ones() {
    let rules = rules();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    let warn = TimeDelta::days(30);
    let consent = |until: chrono::DateTime<Utc>, state: consent::State| consent::Consent {
        id: consent::ConsentId::new(),
        version: 1,
        state,
        terms: consent::record::Terms {
            citizen: citizen(),
            grantee: UnitId::parse("kk.jobcenter.rehab").unwrap(),
            include_subunits: false,
            purpose: Purpose::parse("rehabilitation-team").unwrap(),
            categories: [Category::parse("jobnet.cv").unwrap()].into(),
            period: consent::Period { from: now - TimeDelta::days(300), until },
            data_period: None,
            text: consent::record::ConsentText { version: "t".into(), sha256: "ab".repeat(32) },
        },
        grantor: None,
        requested_by: None,
        explanation: None,
        respond_by: None,
        paper: None,
        channel: consent::Channel::Portal,
        created_at: now - TimeDelta::days(300),
        updated_at: now - TimeDelta::days(300),
    };
    let soon = consent(now + TimeDelta::days(10), consent::State::Active);
    let n = for_expiry(&soon, now, warn, &rules).unwrap();
    assert_eq!(n.subject, "Dit samtykke udløber snart");
    assert!(n.body.contains("udløber 11.12.2026"), "{}", n.body);
    assert_eq!(for_expiry(&soon, now, warn, &rules).unwrap().id, n.id, "the same consent, the same id");
    let ended = consent(now - TimeDelta::days(1), consent::State::Active);
    assert_eq!(for_expiry(&ended, now, warn, &rules).unwrap().subject, "Dit samtykke er udløbet");
    assert!(for_expiry(&consent(now + TimeDelta::days(90), consent::State::Active), now, warn, &rules).is_none());
    assert!(for_expiry(&consent(now - TimeDelta::days(1), consent::State::Revoked), now, warn, &rules).is_none());
    // No subject or body holds a CPR number.
    for n in [n, for_record(1, &rec(AuditKind::ConsentRequested), None, &rules).unwrap()] {
        assert!(!holds_digits(&n.subject) && !holds_digits(&n.body), "{n:?}");
    }
}

#[test]
fn a_representatives_action_is_told_to_the_person_and_a_parents_to_the_other_parent() {
    let rules = rules();
    let mut r = rec(AuditKind::ConsentApproved);
    assert!(for_record(1, &r, None, &rules).is_none(), "the citizen's own approval is not told");
    r.on_behalf = Some(consent::audit::OnBehalf {
        kind: "power_of_attorney".into(),
        holder: "poa-holder:aa".into(),
        reference: "ref-1".into(),
        privilege: "consent".into(),
    });
    let n = for_record(1, &r, None, &rules).unwrap();
    assert_eq!(n.subject, "Der er handlet på dine vegne");
    assert!(n.body.starts_with("En person med fuldmagt fra dig godkendte"), "{}", n.body);
    assert!(!holds_digits(&n.body));
    // A power of attorney: no letter to co-parents.
    let parent = Cpr::parse("0101609900").unwrap();
    assert!(for_co_parent(1, &r, parent, "poa-holder:bb", &rules).is_none());
    r.on_behalf.as_mut().unwrap().kind = "custody".into();
    let n = for_record(1, &r, None, &rules).unwrap();
    assert!(n.body.starts_with("En forælder med forældremyndighed over dig"), "{}", n.body);
    let other = for_co_parent(1, &r, parent, "poa-holder:bb", &rules).unwrap();
    assert_eq!((other.recipient, other.subject.as_str()), (parent, "Der er handlet for jeres barn"));
    assert_ne!(other.id, n.id);
    assert!(for_co_parent(1, &r, parent, "poa-holder:aa", &rules).is_none(), "not to the parent who acted");
}
