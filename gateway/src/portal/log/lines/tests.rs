use chrono::{TimeZone, Utc};
use consent::audit::{AuditDecision, AuditKind, AuditRecord};
use consent::{Category, Cpr, Purpose, Rules, UnitId};

use super::*;

/// The rules of the built-in configuration (names of units, purposes and categories).
fn rules() -> Rules {
    crate::settings::Settings::load(None, None).unwrap().domain.into_rules().unwrap()
}

/// A record of request `req` by Anna in the rehabilitation team, 30 Nov 2026 22:05 UTC.
fn rec(req: &str, kind: AuditKind, category: &str) -> AuditRecord {
    let mut r = AuditRecord::new(Utc.with_ymd_and_hms(2026, 11, 30, 22, 5, 0).unwrap(), req, kind);
    r.system = Some("kk-sag".into());
    r.caseworker = Some("anna.jensen".into());
    r.unit = Some(UnitId::parse("kk.jobcenter.rehab").unwrap());
    r.citizen = Some(Cpr::parse("0101709901").unwrap());
    r.purpose = Some(Purpose::parse("rehabilitation-team").unwrap());
    r.category = Some(Category::parse(category).unwrap());
    r
}

fn decision(req: &str, category: &str, permit: bool, basis: Option<&str>) -> AuditRecord {
    let mut r = rec(req, AuditKind::Decision, category);
    r.decision = Some(if permit { AuditDecision::Permit } else { AuditDecision::Deny });
    r.basis = basis.map(String::from);
    r.outcome = if permit { "permit" } else { "deny" }.into();
    r
}

fn release(req: &str, category: &str, outcome: &str, basis: &str) -> AuditRecord {
    let mut r = rec(req, AuditKind::Release, category);
    r.basis = Some(basis.into());
    r.outcome = outcome.into();
    r
}

/// Newest first, as Min log reads them.
fn newest_first(mut v: Vec<AuditRecord>) -> Vec<AuditRecord> {
    v.reverse();
    v
}

fn one(records: &[AuditRecord]) -> LogLine {
    let refs: Vec<&AuditRecord> = records.iter().collect();
    let mut l = lines(&refs, &rules());
    assert_eq!(l.len(), 1, "{l:?}");
    l.remove(0)
}

#[test]
fn a_case_file_on_consent_is_one_sentence() {
    let rs = newest_first(vec![
        decision("r1", "health.lae265", true, Some("consent:c1")),
        decision("r1", "jobnet.cv", true, Some("consent:c1")),
        release("r1", "health.lae265", "included", "consent:c1"),
        release("r1", "jobnet.cv", "included", "consent:c1"),
    ]);
    let l = one(&rs);
    assert_eq!(
        l.headline,
        "Rehabiliteringsteamet, Jobcenter København hentede lægens erklæring til rehabiliteringsteamet (LÆ 265) \
         og dit CV på Jobnet"
    );
    assert_eq!(l.why.as_deref(), Some("fordi du gav samtykke"));
    // Copenhagen time (UTC+1 in November).
    assert_eq!(l.time, "30.11.2026 kl. 23:05");
    assert_eq!(l.tone, Tone::Released);
    assert!(l.details.contains(&("Sagsbehandler".into(), "anna.jensen".into())));
    assert!(l.details.iter().any(|(k, v)| k == "Formål" && v.starts_with("Forberede rehabiliteringsplanens")));
}

#[test]
fn fetched_refused_and_failed_in_one_request() {
    let rs = newest_first(vec![
        decision("r2", "jobcenter.case", true, Some("statute:retssikkerhedsloven § 11 a, stk. 2")),
        decision("r2", "social.case", false, None),
        decision("r2", "jobnet.cv", true, Some("consent:c9")),
        release("r2", "jobcenter.case", "included", "statute:retssikkerhedsloven § 11 a, stk. 2"),
        release("r2", "jobnet.cv", "unavailable", "consent:c9"),
    ]);
    let l = one(&rs);
    assert_eq!(
        l.headline,
        "Rehabiliteringsteamet, Jobcenter København hentede din sag i jobcentret: visitation, status, samtaler og plan"
    );
    assert_eq!(
        l.rest.as_deref(),
        Some("men fik ikke adgang til dine sociale foranstaltninger, dit CV på Jobnet kunne ikke hentes")
    );
    assert_eq!(l.why.as_deref(), Some("fordi loven tillader det (retssikkerhedsloven § 11 a, stk. 2)"));
    assert_eq!(l.tone, Tone::Released);
}

#[test]
fn a_refusal_says_nothing_was_shown() {
    let rs = newest_first(vec![decision("r3", "social.case", false, None)]);
    let l = one(&rs);
    assert_eq!(
        l.headline,
        "Rehabiliteringsteamet, Jobcenter København fik ikke adgang til dine sociale foranstaltninger"
    );
    assert!(l.why.unwrap().contains("intet blev vist"));
    assert_eq!(l.tone, Tone::Refused);
}

#[test]
fn a_consent_withdrawn_during_the_fetch_reads_as_refused() {
    let rs = newest_first(vec![
        decision("r4", "jobnet.cv", true, Some("consent:c1")),
        release("r4", "jobnet.cv", "denied", "consent:c1"),
    ]);
    let l = one(&rs);
    assert!(l.headline.contains("fik ikke adgang til dit CV på Jobnet"), "{}", l.headline);
    assert_eq!(l.rest, None);
    assert!(!l.headline.contains("hentede"));
}

#[test]
fn two_requests_are_two_lines_and_consent_changes_their_own() {
    let mut revoked = rec("portal-1", AuditKind::ConsentRevoked, "jobnet.cv");
    revoked.caseworker = None;
    revoked.system = Some("portal".into());
    let rs = newest_first(vec![
        decision("a", "jobnet.cv", true, Some("consent:c1")),
        release("a", "jobnet.cv", "included", "consent:c1"),
        revoked,
        decision("b", "jobnet.cv", false, None),
    ]);
    let refs: Vec<&AuditRecord> = rs.iter().collect();
    let l = lines(&refs, &rules());
    assert_eq!(l.len(), 3);
    assert!(l[0].headline.contains("fik ikke adgang"));
    assert_eq!(l[1].headline, "Du tilbagekaldte dit samtykke til Rehabiliteringsteamet, Jobcenter København");
    assert_eq!(l[1].tone, Tone::Info);
    // The portal is not named as a case system.
    assert!(!l[1].details.iter().any(|(k, _)| k == "Fagsystem"));
    assert!(l[2].headline.contains("hentede dit CV"));
}

#[test]
fn words_and_lists() {
    assert_eq!(and_list(&[]), "");
    assert_eq!(and_list(&["a".into()]), "a");
    assert_eq!(and_list(&["a".into(), "b".into()]), "a og b");
    assert_eq!(and_list(&["a".into(), "b".into(), "c".into()]), "a, b og c");
    assert_eq!(in_sentence("Dit CV på Jobnet"), "dit CV på Jobnet");
    assert_eq!(in_sentence("LÆ 265"), "LÆ 265");
    assert_eq!(in_sentence("CV"), "CV");
    assert_eq!(capitalise("æble"), "Æble");
}

#[test]
fn a_category_block_names_the_category() {
    let mut r = rec("p", AuditKind::BlockPlaced, "social.case");
    r.unit = None;
    assert_eq!(one(&[r]).headline, "Du spærrede for dine sociale foranstaltninger");
}

#[test]
fn the_citizens_own_view_reads_as_du_saa() {
    let own = |kind, category: &str, outcome: &str| {
        let mut r = rec("own", kind, category);
        r.system = Some("portal".into());
        r.caseworker = None;
        r.unit = None;
        r.purpose = None;
        r.basis = Some("own-access:databeskyttelsesforordningen art. 15".into());
        r.decision = Some(AuditDecision::Permit);
        r.outcome = outcome.into();
        r
    };
    let rs = newest_first(vec![
        own(AuditKind::Decision, "jobcenter.case", "permit"),
        own(AuditKind::Decision, "jobnet.cv", "permit"),
        own(AuditKind::Release, "jobcenter.case", "included"),
        own(AuditKind::Release, "jobnet.cv", "unavailable"),
    ]);
    let l = one(&rs);
    assert_eq!(l.headline, "Du så din sag i jobcentret: visitation, status, samtaler og plan");
    assert_eq!(l.why.as_deref(), Some("fordi du har ret til at se dine egne oplysninger"));
    assert_eq!(l.rest.as_deref(), Some("dit CV på Jobnet kunne ikke hentes"));
    assert!(l.details.is_empty(), "no caseworker, no system, no purpose: {:?}", l.details);
}

#[test]
fn min_log_says_what_was_sent_to_the_gp() {
    let rules = rules();
    let mut letter = rec("s1", AuditKind::MessageSent, "health.correspondence");
    letter.caseworker = Some("anna.jensen".into());
    assert_eq!(one(&[letter]).headline, "Rehabiliteringsteamet, Jobcenter København sendte et brev til din læge");
    let request = rec("s2", AuditKind::MessageSent, "health.lae265");
    assert_eq!(
        one(&[request]).headline,
        "Rehabiliteringsteamet, Jobcenter København bad din læge om en lægeerklæring (LÆ 261)"
    );
    let acknowledged = rec("s3", AuditKind::MessageAcknowledged, "health.correspondence");
    assert_eq!(one(&[acknowledged]).headline, "Din læge modtog brevet");
    let read = rec("s4", AuditKind::MessageRead, "health.lae265");
    assert_eq!(
        one(&[read]).headline,
        "Rehabiliteringsteamet, Jobcenter København så, hvordan det gik med et brev til din læge"
    );
    let _ = rules;
}

#[test]
fn min_log_says_who_saw_the_overview_and_who_wrote_in_the_plan() {
    let basis = "consent:0193a000-0000-7000-8000-000000000001";
    let rs = newest_first(vec![
        decision("o1", "jobcenter.summary", true, Some(basis)),
        decision("o1", "social.summary", true, Some(basis)),
        release("o1", "jobcenter.summary", "included", basis),
        release("o1", "social.summary", "unavailable", basis),
    ]);
    let l = one(&rs);
    assert!(
        l.headline.starts_with("Rehabiliteringsteamet, Jobcenter København så overblikket over din kontakt med kommunen: overblik fra jobcentret"),
        "{}",
        l.headline
    );
    assert_eq!(l.why.as_deref(), Some("fordi du gav samtykke"));

    let write = |kind, outcome: &str, decision: AuditDecision| {
        let mut r = rec("w1", kind, "plan");
        r.decision = Some(decision);
        r.outcome = outcome.into();
        r
    };
    let written = newest_first(vec![
        write(AuditKind::WriteDecision, "permit", AuditDecision::Permit),
        write(AuditKind::Write, "writing", AuditDecision::Permit),
        write(AuditKind::WriteResult, "written", AuditDecision::Permit),
    ]);
    let l = one(&written);
    assert_eq!(l.headline, "Rehabiliteringsteamet, Jobcenter København skrev i din fælles plan");
    let refused = newest_first(vec![write(AuditKind::WriteDecision, "denied", AuditDecision::Deny)]);
    assert_eq!(
        one(&refused).headline,
        "Rehabiliteringsteamet, Jobcenter København ville skrive i din fælles plan, men fik ikke lov"
    );
    let not_owner = newest_first(vec![
        write(AuditKind::WriteDecision, "permit", AuditDecision::Permit),
        write(AuditKind::WriteResult, "not_owner", AuditDecision::Deny),
    ]);
    assert!(one(&not_owner).headline.contains("en anden forvaltnings del"), "{}", one(&not_owner).headline);

    let mut own = write(AuditKind::WriteResult, "written", AuditDecision::Permit);
    own.system = Some("portal".into());
    own.caseworker = None;
    own.unit = None;
    assert_eq!(one(&[own]).headline, "Du skrev dit perspektiv i din fælles plan");
}
