//! The default policy set, table-driven: every policy's permit and deny.

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use consent::{BlockTarget, Consent, MunicipalityCode, State};
use policies::{Action, Basis, Caseworker, DecisionError, DecisionRequest, Effect, PolicyEngine};
use support::*;

const NOW: &str = "2025-06-01T12:00:00Z";
const FROM: &str = "2025-01-01T00:00:00Z";
const UNTIL: &str = "2026-01-01T00:00:00Z";

const CONSENT: &str = "consent.matching";
const HEALTH: &str = "guardrail.health-needs-consent";
const STATUTE: &str = "statute.rsl-11a-2.benefits";
const BLOCK_UNIT: &str = "block.unit";
const BLOCK_CAT: &str = "block.category";
const SEND_CONSENT: &str = "send.consent.matching";
const SEND_GUARD: &str = "send.guardrail.needs-consent";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Permitted on the (index of the) consent given.
    Consent(usize),
    Statute,
    Deny,
}

#[derive(Clone)]
struct Case {
    name: &'static str,
    unit: &'static str,
    roles: &'static [&'static str],
    municipality: Option<u16>,
    purpose: &'static str,
    category: &'static str,
    consents: Vec<Consent>,
    blocks: Vec<(BlockTarget, bool)>,
    now: &'static str,
    want: Want,
    /// The determining policies, sorted.
    policies: &'static [&'static str],
    action: Action,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            unit: "kk.jobcenter.rehab",
            roles: &["rehab-team-member"],
            municipality: Some(101),
            purpose: "rehabilitation-team",
            category: "health.lae265",
            consents: vec![],
            blocks: vec![],
            now: NOW,
            want: Want::Deny,
            policies: &[],
            action: Action::Read,
        }
    }
}

/// An active consent of the citizen for `rehabilitation-team` over [FROM, UNTIL).
fn active(grantee: &str, subunits: bool, categories: &[&str]) -> Consent {
    consent(citizen(), grantee, subunits, "rehabilitation-team", categories, t(FROM), t(UNTIL), State::Active)
}

fn with_period(from: DateTime<Utc>, until: DateTime<Utc>) -> Consent {
    consent(
        citizen(),
        "kk.jobcenter.rehab",
        false,
        "rehabilitation-team",
        &["health.lae265"],
        from,
        until,
        State::Active,
    )
}

fn with_state(state: State) -> Consent {
    consent(citizen(), "kk.jobcenter.rehab", false, "rehabilitation-team", &["health.lae265"], t(FROM), t(UNTIL), state)
}

fn lae() -> Consent {
    active("kk.jobcenter.rehab", false, &["health.lae265"])
}

/// [`lae`], given by a holder of a power of attorney.
fn by_representative() -> Consent {
    Consent {
        grantor: Some(consent::Grantor::PowerOfAttorney {
            holder: "poa-holder:00".into(),
            holder_name: "Lars".into(),
            represented_name: "Mette".into(),
            reference: "r-1".into(),
            privilege: consent::record::Privilege::Consent,
        }),
        ..lae()
    }
}

/// [`lae`], signed on paper, to be confirmed by `confirm_by` (or confirmed).
fn on_paper(confirm_by: DateTime<Utc>, confirmed: bool) -> Consent {
    Consent {
        channel: consent::Channel::Paper,
        paper: Some(consent::PaperRecord {
            scan_sha256: "ab".repeat(32),
            scan_reference: "S-1".into(),
            registered_by: consent::Requester { caseworker: "cw".into(), system: "sys".into() },
            confirm_by,
            confirmed_at: confirmed.then(|| t(FROM)),
        }),
        ..lae()
    }
}

fn cases() -> Vec<Case> {
    let now = t(NOW);
    let ms = TimeDelta::milliseconds(1);
    let send = Case { action: Action::Send, ..Case::default() };
    let benefits = Case {
        unit: "kk.jobcenter.ydelse",
        roles: &["benefits-officer"],
        purpose: "benefit-administration",
        category: "jobcenter.benefits",
        ..Case::default()
    };
    vec![
        // --- consents given by a representative or on paper ---------------------------
        Case {
            name: "consent given by a holder of a power of attorney",
            consents: vec![by_representative()],
            want: Want::Consent(0),
            policies: &["consent.representative"],
            ..Case::default()
        },
        Case {
            name: "consent given by a parent with custody",
            consents: vec![Consent {
                grantor: Some(consent::Grantor::Custody {
                    holder: "poa-holder:01".into(),
                    holder_name: "Mette".into(),
                    represented_name: "Emil".into(),
                    reference: "c-1".into(),
                }),
                ..lae()
            }],
            want: Want::Consent(0),
            policies: &["consent.custody"],
            ..Case::default()
        },
        Case {
            name: "paper consent within its confirmation period",
            consents: vec![on_paper(now + TimeDelta::days(1), false)],
            want: Want::Consent(0),
            policies: &["consent.paper"],
            ..Case::default()
        },
        Case {
            name: "paper consent past its confirmation deadline",
            consents: vec![on_paper(now - ms, false)],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "paper consent confirmed: the citizen's own, past the deadline",
            consents: vec![on_paper(now - ms, true)],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        // --- consent.matching and the health guardrail -------------------------------
        Case {
            name: "consent to the caseworker's own unit",
            consents: vec![lae()],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "consent to the parent unit, sub-units included",
            consents: vec![active("kk.jobcenter", true, &["health.lae265"])],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "consent to the municipality, sub-units included",
            consents: vec![active("kk", true, &["health.lae265"])],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "consent to the parent unit, sub-units not included",
            consents: vec![active("kk.jobcenter", false, &["health.lae265"])],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "consent to another municipality's unit",
            consents: vec![active("aarhus.jobcenter", true, &["health.lae265"])],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "consent to a sibling unit, sub-units included",
            consents: vec![active("kk.jobcenter.ydelse", true, &["health.lae265"])],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "consent to a sub-unit does not cover the parent",
            unit: "kk.jobcenter",
            roles: &["jobcenter-caseworker"],
            consents: vec![active("kk.jobcenter.rehab", true, &["health.lae265"])],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "consent for another purpose",
            consents: vec![consent(
                citizen(),
                "kk.jobcenter.rehab",
                false,
                "flexjob-assessment",
                &["health.lae265"],
                t(FROM),
                t(UNTIL),
                State::Active,
            )],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "category not in the consent",
            consents: vec![active("kk.jobcenter.rehab", false, &["health.correspondence", "jobcenter.case"])],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "revoked consent",
            consents: vec![with_state(State::Revoked)],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "requested, not yet approved consent",
            consents: vec![with_state(State::Requested)],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "rejected consent",
            consents: vec![with_state(State::Rejected)],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "expired consent",
            consents: vec![with_period(t("2024-01-01T00:00:00Z"), t("2025-01-01T00:00:00Z"))],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "period ends exactly now (half-open)",
            consents: vec![with_period(t(FROM), now)],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "period ends one millisecond after now",
            consents: vec![with_period(t(FROM), now + ms)],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "period ends one microsecond after now (rounded down, so denied)",
            consents: vec![with_period(t(FROM), now + TimeDelta::microseconds(1))],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "period starts exactly now",
            consents: vec![with_period(now, t(UNTIL))],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "period starts one millisecond after now",
            consents: vec![with_period(now + ms, t(UNTIL))],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "period starts one microsecond after now (rounded up, so denied)",
            consents: vec![with_period(now + TimeDelta::microseconds(1), t(UNTIL))],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "another citizen's consent",
            consents: vec![consent(
                other_citizen(),
                "kk.jobcenter.rehab",
                false,
                "rehabilitation-team",
                &["health.lae265"],
                t(FROM),
                t(UNTIL),
                State::Active,
            )],
            policies: &[HEALTH],
            ..Case::default()
        },
        Case { name: "health without any consent", policies: &[HEALTH], ..Case::default() },
        Case {
            name: "the matching one of several consents decides",
            consents: vec![with_state(State::Revoked), active("kk.social", true, &["health.lae265"]), lae()],
            want: Want::Consent(2),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "health correspondence with consent, job centre caseworker",
            unit: "kk.jobcenter",
            roles: &["jobcenter-caseworker"],
            category: "health.correspondence",
            consents: vec![active("kk.jobcenter", false, &["health.correspondence"])],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        // --- role gates ------------------------------------------------------------------
        Case {
            name: "LÆ 265 with consent, social caseworker",
            roles: &["social-caseworker"],
            consents: vec![lae()],
            policies: &["role-gate.health.lae265"],
            ..Case::default()
        },
        Case {
            name: "LÆ 265 with consent, job centre caseworker",
            roles: &["jobcenter-caseworker"],
            consents: vec![lae()],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "LÆ 265 with consent, no roles",
            roles: &[],
            consents: vec![lae()],
            policies: &["role-gate.health.lae265"],
            ..Case::default()
        },
        Case {
            name: "LÆ 265 without consent, wrong role: both guardrails",
            roles: &["benefits-officer"],
            policies: &[HEALTH, "role-gate.health.lae265"],
            ..Case::default()
        },
        Case {
            name: "health correspondence with consent, benefits officer",
            roles: &["benefits-officer"],
            category: "health.correspondence",
            consents: vec![active("kk.jobcenter.rehab", false, &["health.correspondence"])],
            policies: &["role-gate.health.correspondence"],
            ..Case::default()
        },
        Case {
            name: "social case with consent, social caseworker",
            unit: "kk.social.familie",
            roles: &["social-caseworker"],
            purpose: "coordinated-plan",
            category: "social.case",
            consents: vec![consent(
                citizen(),
                "kk.social",
                true,
                "coordinated-plan",
                &["social.case"],
                t(FROM),
                t(UNTIL),
                State::Active,
            )],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "social case with consent, job centre caseworker",
            roles: &["jobcenter-caseworker"],
            category: "social.case",
            consents: vec![active("kk.jobcenter.rehab", false, &["social.case"])],
            policies: &["role-gate.social.case"],
            ..Case::default()
        },
        Case {
            name: "Jobnet CV with consent, social caseworker",
            roles: &["social-caseworker"],
            category: "jobnet.cv",
            consents: vec![active("kk.jobcenter.rehab", false, &["jobnet.cv"])],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "Jobnet CV with consent, benefits officer",
            roles: &["benefits-officer"],
            category: "jobnet.cv",
            consents: vec![active("kk.jobcenter.rehab", false, &["jobnet.cv"])],
            policies: &["role-gate.jobnet.cv"],
            ..Case::default()
        },
        Case {
            name: "job centre case with consent, job centre caseworker",
            unit: "kk.jobcenter",
            roles: &["jobcenter-caseworker"],
            category: "jobcenter.case",
            consents: vec![active("kk.jobcenter", false, &["jobcenter.case"])],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "job centre case with consent, benefits officer",
            roles: &["benefits-officer"],
            category: "jobcenter.case",
            consents: vec![active("kk.jobcenter.rehab", false, &["jobcenter.case"])],
            policies: &["role-gate.jobcenter.case"],
            ..Case::default()
        },
        Case {
            name: "job centre case without consent: no basis",
            roles: &["jobcenter-caseworker"],
            category: "jobcenter.case",
            policies: &[],
            ..Case::default()
        },
        Case {
            name: "job centre case with an expired consent: no basis",
            roles: &["jobcenter-caseworker"],
            category: "jobcenter.case",
            consents: vec![consent(
                citizen(),
                "kk.jobcenter.rehab",
                false,
                "rehabilitation-team",
                &["jobcenter.case"],
                t("2024-01-01T00:00:00Z"),
                t(NOW),
                State::Active,
            )],
            policies: &[],
            ..Case::default()
        },
        // --- the statutory basis for financial information -------------------------------
        Case {
            name: "benefits: benefits officer in the citizen's municipality",
            want: Want::Statute,
            policies: &[STATUTE],
            ..benefits.clone()
        },
        Case {
            name: "benefits: statute applies at the municipality's top unit too",
            unit: "kk",
            want: Want::Statute,
            policies: &[STATUTE],
            ..benefits.clone()
        },
        Case {
            name: "benefits: wrong role (job centre caseworker), no consent",
            roles: &["jobcenter-caseworker"],
            policies: &[],
            ..benefits.clone()
        },
        Case {
            name: "benefits: citizen lives in another municipality",
            municipality: Some(751),
            policies: &[],
            ..benefits.clone()
        },
        Case {
            name: "benefits: citizen's municipality unknown",
            municipality: None,
            policies: &[],
            ..benefits.clone()
        },
        Case { name: "benefits: wrong purpose", purpose: "flexjob-assessment", policies: &[], ..benefits.clone() },
        Case {
            name: "benefits: officer in another municipality",
            unit: "aarhus.jobcenter",
            policies: &[],
            ..benefits.clone()
        },
        Case {
            name: "benefits: officer in Aarhus, citizen in Aarhus",
            unit: "aarhus.jobcenter",
            municipality: Some(751),
            want: Want::Statute,
            policies: &[STATUTE],
            ..benefits.clone()
        },
        Case {
            name: "benefits: unit outside any municipality",
            unit: "region-h.laege-norrebro",
            policies: &[],
            ..benefits.clone()
        },
        Case {
            name: "benefits: statute does not reach other categories",
            category: "jobcenter.case",
            policies: &["role-gate.jobcenter.case"],
            ..benefits.clone()
        },
        Case {
            name: "benefits: by consent, rehabilitation team member",
            unit: "kk.jobcenter.rehab",
            roles: &["rehab-team-member"],
            purpose: "rehabilitation-team",
            consents: vec![active("kk.jobcenter", true, &["jobcenter.benefits"])],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..benefits.clone()
        },
        Case {
            name: "benefits: by consent, social caseworker is gated",
            unit: "kk.social",
            roles: &["social-caseworker"],
            purpose: "coordinated-plan",
            consents: vec![consent(
                citizen(),
                "kk.social",
                false,
                "coordinated-plan",
                &["jobcenter.benefits"],
                t(FROM),
                t(UNTIL),
                State::Active,
            )],
            policies: &["role-gate.jobcenter.benefits"],
            ..benefits.clone()
        },
        Case {
            name: "benefits: consent and statute both apply; the consent is the basis",
            consents: vec![consent(
                citizen(),
                "kk.jobcenter.ydelse",
                false,
                "benefit-administration",
                &["jobcenter.benefits"],
                t(FROM),
                t(UNTIL),
                State::Active,
            )],
            want: Want::Consent(0),
            policies: &[CONSENT, STATUTE],
            ..benefits.clone()
        },
        // --- blocks ---------------------------------------------------------------------
        Case {
            name: "block of the caseworker's own unit beats a consent",
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Unit(unit("kk.jobcenter.rehab")), false)],
            policies: &[BLOCK_UNIT],
            ..Case::default()
        },
        Case {
            name: "block of a unit above covers the units below",
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Unit(unit("kk.jobcenter")), false)],
            policies: &[BLOCK_UNIT],
            ..Case::default()
        },
        Case {
            name: "block of a sibling unit does not apply",
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Unit(unit("kk.social")), false)],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "block of a sub-unit does not apply to the unit above",
            unit: "kk.jobcenter",
            roles: &["jobcenter-caseworker"],
            consents: vec![active("kk.jobcenter", false, &["health.lae265"])],
            blocks: vec![(BlockTarget::Unit(unit("kk.jobcenter.rehab")), false)],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "block of the category beats a consent",
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Category(cat("health.lae265")), false)],
            policies: &[BLOCK_CAT],
            ..Case::default()
        },
        Case {
            name: "block of another category does not apply",
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Category(cat("health.correspondence")), false)],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "a lifted block does not apply",
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Unit(unit("kk.jobcenter.rehab")), true)],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "block of the unit beats the statute",
            blocks: vec![(BlockTarget::Unit(unit("kk")), false)],
            policies: &[BLOCK_UNIT],
            ..benefits.clone()
        },
        Case {
            name: "block of the category beats the statute",
            blocks: vec![(BlockTarget::Category(cat("jobcenter.benefits")), false)],
            policies: &[BLOCK_CAT],
            ..benefits.clone()
        },
        Case {
            name: "unit and category blocks together",
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Category(cat("health.lae265")), false), (BlockTarget::Unit(unit("kk")), false)],
            policies: &[BLOCK_CAT, BLOCK_UNIT],
            ..Case::default()
        },
        // --- send: a message about the citizen to their GP (50-send.cedar) -----------
        Case {
            name: "send: a job centre caseworker orders the GP's statement with consent",
            roles: &["jobcenter-caseworker"],
            consents: vec![lae()],
            want: Want::Consent(0),
            policies: &[SEND_CONSENT],
            ..send.clone()
        },
        Case {
            name: "send: no consent, no statement request",
            roles: &["jobcenter-caseworker"],
            policies: &[SEND_GUARD],
            ..send.clone()
        },
        Case {
            name: "send: a consent for another purpose is no basis",
            roles: &["jobcenter-caseworker"],
            consents: vec![consent(
                citizen(),
                "kk.jobcenter.rehab",
                false,
                "flexjob-assessment",
                &["health.lae265"],
                t(FROM),
                t(UNTIL),
                State::Active,
            )],
            policies: &[SEND_GUARD],
            ..send.clone()
        },
        Case {
            name: "send: a revoked consent is no basis",
            roles: &["jobcenter-caseworker"],
            consents: vec![with_state(State::Revoked)],
            policies: &[SEND_GUARD],
            ..send.clone()
        },
        Case {
            name: "send: an expired consent is no basis",
            roles: &["jobcenter-caseworker"],
            consents: vec![lae()],
            now: UNTIL,
            policies: &[SEND_GUARD],
            ..send.clone()
        },
        Case {
            name: "send: a consent to another unit is no basis",
            roles: &["jobcenter-caseworker"],
            consents: vec![active("kk.jobcenter.ydelse", false, &["health.lae265"])],
            policies: &[SEND_GUARD],
            ..send.clone()
        },
        Case {
            name: "send: a rehabilitation team member may read the statement but not order it",
            roles: &["rehab-team-member"],
            consents: vec![lae()],
            policies: &["send.role-gate.health.lae265"],
            ..send.clone()
        },
        Case {
            name: "send: a team member sends the team's recommendation with consent",
            roles: &["rehab-team-member"],
            category: "health.correspondence",
            consents: vec![active("kk.jobcenter.rehab", false, &["health.correspondence"])],
            want: Want::Consent(0),
            policies: &[SEND_CONSENT],
            ..send.clone()
        },
        Case {
            name: "send: a consent for the statement does not cover letters",
            roles: &["rehab-team-member"],
            category: "health.correspondence",
            consents: vec![lae()],
            policies: &[SEND_GUARD],
            ..send.clone()
        },
        Case {
            name: "send: a benefits officer sends no letter to the GP",
            roles: &["benefits-officer"],
            category: "health.correspondence",
            consents: vec![active("kk.jobcenter.rehab", false, &["health.correspondence"])],
            policies: &["send.role-gate.health.correspondence"],
            ..send.clone()
        },
        Case {
            name: "send: nothing but statement requests and letters is sent",
            roles: &["jobcenter-caseworker"],
            category: "jobcenter.case",
            consents: vec![active("kk.jobcenter.rehab", false, &["jobcenter.case"])],
            policies: &["send.role-gate.unlisted"],
            ..send.clone()
        },
        Case {
            name: "send: a block of the unit stops sending too",
            roles: &["jobcenter-caseworker"],
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Unit(unit("kk.jobcenter")), false)],
            policies: &[BLOCK_UNIT],
            ..send.clone()
        },
        Case {
            name: "send: a block of the category stops sending too",
            roles: &["jobcenter-caseworker"],
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Category(cat("health.lae265")), false)],
            policies: &[BLOCK_CAT],
            ..send.clone()
        },
        Case {
            name: "send: a lifted block does not",
            roles: &["jobcenter-caseworker"],
            consents: vec![lae()],
            blocks: vec![(BlockTarget::Category(cat("health.lae265")), true)],
            want: Want::Consent(0),
            policies: &[SEND_CONSENT],
            ..send.clone()
        },
        Case {
            name: "read: a consent still permits reading what may be sent",
            roles: &["jobcenter-caseworker"],
            consents: vec![lae()],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        // --- the shared overview and the coordinated plan (40-roles, 60-write) -------
        Case {
            name: "overview: a social caseworker reads the job centre's summary on consent",
            unit: "kk.social",
            roles: &["social-caseworker"],
            purpose: "coordinated-plan",
            category: "jobcenter.summary",
            consents: vec![kk_plan(&["jobcenter.summary"])],
            want: Want::Consent(0),
            policies: &[CONSENT],
            ..Case::default()
        },
        Case {
            name: "overview: no summary without a basis",
            unit: "kk.social",
            roles: &["social-caseworker"],
            purpose: "coordinated-plan",
            category: "social.summary",
            ..Case::default()
        },
        Case {
            name: "overview: the health summary needs a consent like all health data",
            purpose: "coordinated-plan",
            category: "health.summary",
            policies: &[HEALTH],
            ..Case::default()
        },
        Case {
            name: "overview: a benefits officer takes no part in the coordinated effort",
            unit: "kk.jobcenter.ydelse",
            roles: &["benefits-officer"],
            purpose: "coordinated-plan",
            category: "jobcenter.summary",
            consents: vec![kk_plan(&["jobcenter.summary"])],
            policies: &["role-gate.jobcenter.summary"],
            ..Case::default()
        },
        Case {
            name: "overview: the social summary's role gate",
            unit: "kk.jobcenter.ydelse",
            roles: &["benefits-officer"],
            purpose: "coordinated-plan",
            category: "social.summary",
            consents: vec![kk_plan(&["social.summary"])],
            policies: &["role-gate.social.summary"],
            ..Case::default()
        },
        Case {
            name: "overview: the health summary's role gate",
            unit: "kk.jobcenter.ydelse",
            roles: &["benefits-officer"],
            purpose: "coordinated-plan",
            category: "health.summary",
            consents: vec![kk_plan(&["health.summary"])],
            policies: &["role-gate.health.summary"],
            ..Case::default()
        },
        Case {
            name: "plan: the plan's role gate for reading",
            unit: "kk.jobcenter.ydelse",
            roles: &["benefits-officer"],
            purpose: "coordinated-plan",
            category: "plan",
            consents: vec![kk_plan(&["plan"])],
            policies: &["role-gate.plan"],
            ..Case::default()
        },
        Case {
            name: "plan: a department writes on the citizen's consent to the coordinated plan",
            unit: "kk.social",
            roles: &["social-caseworker"],
            purpose: "coordinated-plan",
            category: "plan",
            consents: vec![kk_plan(&["plan"])],
            want: Want::Consent(0),
            policies: &["write.consent.matching"],
            action: Action::Write,
            ..Case::default()
        },
        Case {
            name: "plan: no write without a consent",
            unit: "kk.social",
            roles: &["social-caseworker"],
            purpose: "coordinated-plan",
            category: "plan",
            action: Action::Write,
            ..Case::default()
        },
        Case {
            name: "plan: only the plan is written",
            purpose: "coordinated-plan",
            category: "jobcenter.case",
            consents: vec![kk_plan(&["jobcenter.case"])],
            policies: &["write.purpose.coordinated-plan"],
            action: Action::Write,
            ..Case::default()
        },
        Case {
            name: "plan: a benefits officer does not write the plan",
            unit: "kk.jobcenter.ydelse",
            roles: &["benefits-officer"],
            purpose: "coordinated-plan",
            category: "plan",
            consents: vec![kk_plan(&["plan"])],
            policies: &["write.role-gate.plan"],
            action: Action::Write,
            ..Case::default()
        },
        Case {
            name: "plan: a blocked unit does not write",
            unit: "kk.social",
            roles: &["social-caseworker"],
            purpose: "coordinated-plan",
            category: "plan",
            consents: vec![kk_plan(&["plan"])],
            blocks: vec![(BlockTarget::Unit(unit("kk.social")), false)],
            policies: &[BLOCK_UNIT],
            action: Action::Write,
            ..Case::default()
        },
    ]
}

/// An active consent of the citizen to all of Københavns Kommune for the coordinated plan.
fn kk_plan(categories: &[&str]) -> Consent {
    consent(citizen(), "kk", true, "coordinated-plan", categories, t(FROM), t(UNTIL), State::Active)
}

fn caseworker(c: &Case) -> Caseworker {
    Caseworker { id: "cw-1".into(), unit: unit(c.unit), roles: c.roles.iter().map(|r| r.to_string()).collect() }
}

fn run(engine: &PolicyEngine, c: &Case) -> Result<policies::Decision, DecisionError> {
    run_by(engine, c, PolicyEngine::decide)
}

fn run_by(
    engine: &PolicyEngine,
    c: &Case,
    decide: fn(&PolicyEngine, &DecisionRequest<'_>) -> Result<policies::Decision, DecisionError>,
) -> Result<policies::Decision, DecisionError> {
    let who = citizen();
    let cw = caseworker(c);
    let p = purpose(c.purpose);
    let cats = [cat(c.category)];
    let consents = [(cat(c.category), c.consents.clone())];
    let blocks: Vec<_> = c.blocks.iter().map(|(t, lifted)| block(who, t.clone(), *lifted)).collect();
    let req = DecisionRequest {
        caseworker: &cw,
        citizen: &who,
        citizen_municipality: c.municipality.map(|m| MunicipalityCode::parse(&m.to_string()).unwrap()),
        purpose: &p,
        categories: &cats,
        now: t(c.now),
        consents: &consents,
        blocks: &blocks,
    };
    match c.action {
        Action::Read => decide(engine, &req),
        action => engine.decide_action(&req, action),
    }
}

#[test]
fn policy_table() {
    let engine = engine();
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let d = match run(&engine, c) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: error {e}", c.name));
                continue;
            }
        };
        assert_eq!(d.sections.len(), 1);
        // The fast path (where it answers) and Cedar alone agree on every row.
        assert_eq!(run_by(&engine, c, PolicyEngine::decide_by_cedar).unwrap(), d, "{}", c.name);
        let s = &d.sections[0];
        let (effect, basis) = match c.want {
            Want::Consent(i) => (Effect::Permit, Some(Basis::Consent(c.consents[i].id))),
            Want::Statute => (Effect::Permit, Some(Basis::Statute("retssikkerhedsloven § 11 a, stk. 2".into()))),
            Want::Deny => (Effect::Deny, None),
        };
        let policies: Vec<&str> = s.policies().iter().map(String::as_str).collect();
        if s.effect() != effect || s.basis().cloned() != basis || policies != c.policies {
            failures.push(format!(
                "{}: got {:?} {:?} {:?}, want {:?} {:?} {:?}",
                c.name,
                s.effect(),
                s.basis(),
                policies,
                effect,
                basis,
                c.policies
            ));
        }
        assert!(!s.reason().da.is_empty() && !s.reason().en.is_empty(), "{}", c.name);
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Decisions share the Cedar entities of earlier requests with the same caseworker, unit,
/// roles, municipality and categories (`entity_cache.rs`): every case decided by an engine
/// that has seen all the others first (a warm cache) decides exactly as a fresh engine.
#[test]
fn a_warm_entity_cache_decides_as_a_cold_one() {
    let warm = engine();
    let cases = cases();
    for c in &cases {
        let _ = run(&warm, c);
    }
    for c in &cases {
        let cold = engine();
        let (w, k) = (run(&warm, c).map_err(|e| e.to_string()), run(&cold, c).map_err(|e| e.to_string()));
        assert_eq!(w, k, "{}", c.name);
    }
}

#[test]
fn every_policy_is_exercised_by_the_table() {
    let engine = engine();
    let mut seen = std::collections::BTreeSet::new();
    for c in &cases() {
        for s in run(&engine, c).unwrap().sections {
            seen.extend(s.policies().iter().cloned());
        }
    }
    // The citizen's own access (its own table: tests/own_access.rs).
    let categories: Vec<consent::Category> = rules().vocabulary.categories.keys().cloned().collect();
    let own = engine.decide_own(&policies::OwnAccessRequest { categories: &categories, now: t(NOW) }).unwrap();
    for s in own.sections {
        seen.extend(s.policies().iter().cloned());
    }
    let plan = [consent::Category::parse("plan").unwrap()];
    let own = engine.decide_own_write(&policies::OwnAccessRequest { categories: &plan, now: t(NOW) }).unwrap();
    assert_eq!(own.sections[0].effect(), Effect::Permit, "the citizen adds their own statement to the plan");
    for s in own.sections {
        seen.extend(s.policies().iter().cloned());
    }
    let jobnet = [consent::Category::parse("jobnet.cv").unwrap()];
    let own = engine.decide_own_write(&policies::OwnAccessRequest { categories: &jobnet, now: t(NOW) }).unwrap();
    assert_eq!(own.sections[0].effect(), Effect::Deny, "no other category takes the citizen's writing");
    // A parent acting for a child (its own test below).
    for age in [3, 17] {
        seen.extend(engine.decide_custody("custody", age).unwrap().policies);
    }
    let missing: Vec<_> = engine
        .summary()
        .policies
        .into_iter()
        .map(|(id, _, _)| id)
        .filter(|id| !seen.contains(id) && id != "role-gate.unlisted")
        .collect();
    assert!(missing.is_empty(), "policies no case determines: {missing:?}");
}

#[test]
fn reasons_and_basis_read_well() {
    let engine = engine();
    let c = Case { consents: vec![lae()], want: Want::Consent(0), ..Case::default() };
    let s = &run(&engine, &c).unwrap().sections[0];
    assert!(s.reason().da.contains("samtykke"), "{}", s.reason().da);
    let c = Case { roles: &["jobcenter-caseworker"], category: "jobcenter.case", ..Case::default() };
    let s = &run(&engine, &c).unwrap().sections[0];
    assert_eq!(s.reason().en, policies::NO_BASIS_EN);
    let s = &run(&engine, &Case::default()).unwrap().sections[0];
    assert!(s.reason().da.contains("sundhedsloven § 43"), "{}", s.reason().da);
    // Whose consent it is, the reason says.
    let c = Case { consents: vec![by_representative()], want: Want::Consent(0), ..Case::default() };
    let s = &run(&engine, &c).unwrap().sections[0];
    assert!(s.reason().da.contains("fuldmagt"), "{}", s.reason().da);
    let c = Case { consents: vec![on_paper(t(NOW) + TimeDelta::days(1), false)], ..Case::default() };
    let s = &run(&engine, &c).unwrap().sections[0];
    assert!(s.reason().da.contains("på papir"), "{}", s.reason().da);
}

#[test]
fn a_four_category_request_is_decided_per_category() {
    let engine = engine();
    let who = citizen();
    let cw = Caseworker {
        id: "cw-2".into(),
        unit: unit("kk.jobcenter.rehab"),
        roles: ["rehab-team-member".to_string()].into(),
    };
    let p = purpose("rehabilitation-team");
    let cats = [cat("health.lae265"), cat("jobcenter.case"), cat("jobcenter.benefits"), cat("social.case")];
    let k = active("kk.jobcenter", true, &["health.lae265", "jobcenter.case"]);
    let consents = vec![(cat("health.lae265"), vec![k.clone()]), (cat("jobcenter.case"), vec![k.clone()])];
    let blocks = [block(who, BlockTarget::Category(cat("social.case")), false)];
    let d = engine
        .decide(&DecisionRequest {
            caseworker: &cw,
            citizen: &who,
            citizen_municipality: Some(MunicipalityCode::parse("101").unwrap()),
            purpose: &p,
            categories: &cats,
            now: t(NOW),
            consents: &consents,
            blocks: &blocks,
        })
        .unwrap();
    let effects: Vec<_> = d.sections.iter().map(|s| (s.category().as_str(), s.effect())).collect();
    assert_eq!(
        effects,
        [
            ("health.lae265", Effect::Permit),
            ("jobcenter.case", Effect::Permit),
            ("jobcenter.benefits", Effect::Deny),
            ("social.case", Effect::Deny),
        ]
    );
    assert_eq!(d.sections[3].policies(), ["block.category"]);
    assert_eq!(d.policy_digest, engine.digest());
    assert!(d.permitted(&cat("health.lae265")));
}

// --- bad input is an error, never a deny ----------------------------------------------

fn base_request<'a>(
    cw: &'a Caseworker,
    who: &'a consent::Cpr,
    p: &'a consent::Purpose,
    cats: &'a [consent::Category],
) -> DecisionRequest<'a> {
    DecisionRequest {
        caseworker: cw,
        citizen: who,
        citizen_municipality: None,
        purpose: p,
        categories: cats,
        now: t(NOW),
        consents: &[],
        blocks: &[],
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let engine = engine();
    let who = citizen();
    let cw = caseworker(&Case::default());
    let p = purpose("rehabilitation-team");

    let unknown_cat = [cat("health.dna")];
    let e = engine.decide(&base_request(&cw, &who, &p, &unknown_cat)).unwrap_err();
    assert!(matches!(e, DecisionError::Vocabulary(_)), "{e}");
    assert!(e.to_string().contains("health.lae265"), "lists the known ones: {e}");

    let cats = [cat("health.lae265")];
    let marketing = purpose("marketing");
    let e = engine.decide(&base_request(&cw, &who, &marketing, &cats)).unwrap_err();
    assert!(matches!(e, DecisionError::Vocabulary(_)), "{e}");

    let stranger = Caseworker { unit: unit("odense.jobcenter"), ..cw.clone() };
    let e = engine.decide(&base_request(&stranger, &who, &p, &cats)).unwrap_err();
    assert!(matches!(e, DecisionError::UnknownUnit(_)), "{e}");

    let e = engine.decide(&base_request(&cw, &who, &p, &[])).unwrap_err();
    assert!(matches!(e, DecisionError::NoCategories), "{e}");

    let twice = [cat("health.lae265"), cat("health.lae265")];
    let e = engine.decide(&base_request(&cw, &who, &p, &twice)).unwrap_err();
    assert!(matches!(e, DecisionError::DuplicateCategory(_)), "{e}");

    let foreign = [block(other_citizen(), BlockTarget::Unit(unit("kk")), false)];
    let e = engine.decide(&DecisionRequest { blocks: &foreign, ..base_request(&cw, &who, &p, &cats) }).unwrap_err();
    assert!(matches!(e, DecisionError::ForeignBlock), "{e}");

    let stray = [(cat("jobnet.cv"), vec![lae()])];
    let e = engine.decide(&DecisionRequest { consents: &stray, ..base_request(&cw, &who, &p, &cats) }).unwrap_err();
    assert!(matches!(e, DecisionError::ConsentForUnrequestedCategory(_)), "{e}");

    let blank_role = Caseworker { roles: [" ".to_string()].into(), ..cw.clone() };
    let e = engine.decide(&base_request(&blank_role, &who, &p, &cats)).unwrap_err();
    assert!(matches!(e, DecisionError::BadRole(_)), "{e}");

    // The far future is a time like any other: consents have ended by then.
    let far = DecisionRequest { now: DateTime::<Utc>::MAX_UTC, ..base_request(&cw, &who, &p, &cats) };
    assert_eq!(engine.decide(&far).unwrap().sections[0].effect(), Effect::Deny);
}

#[test]
fn explain_reads_json_and_refuses_a_missing_field() {
    let engine = engine();
    let json = r#"{
        "caseworker": { "id": "cw-17", "unit": "kk.jobcenter.rehab", "roles": ["rehab-team-member"] },
        "citizen": "0101901234",
        "citizen_municipality": "101",
        "purpose": "rehabilitation-team",
        "categories": ["health.lae265", "jobcenter.benefits"],
        "now": "2025-06-01T12:00:00Z",
        "consents": [
          { "grantee": "kk.jobcenter", "include_subunits": true, "purpose": "rehabilitation-team",
            "categories": ["health.lae265"],
            "period": { "from": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z" } }
        ],
        "blocks": [ { "type": "unit", "id": "kk.social" } ]
    }"#;
    let d = policies::explain::explain(&engine, json).unwrap();
    assert_eq!(d.sections[0].effect(), Effect::Permit);
    assert_eq!(d.sections[1].effect(), Effect::Deny);
    let text = policies::explain::render(&d);
    assert!(text.contains("health.lae265: PERMIT"), "{text}");
    assert!(!text.contains("0101901234"), "no CPR number in the output");

    let missing_now = json.replace(r#""now": "2025-06-01T12:00:00Z","#, "");
    let e = policies::explain::explain(&engine, &missing_now).unwrap_err();
    assert!(e.to_string().contains("now"), "{e}");

    let unknown = json.replace(r#"["health.lae265", "jobcenter.benefits"]"#, r#"["health.dna"]"#);
    let e = policies::explain::explain(&engine, &unknown).unwrap_err();
    assert!(matches!(e, policies::explain::ExplainError::Decision(DecisionError::Vocabulary(_))), "{e}");
}

#[test]
fn a_send_decision_says_why_in_danish_and_names_its_basis() {
    let engine = engine();
    let send = Case { action: Action::Send, roles: &["jobcenter-caseworker"], ..Case::default() };
    let s = &run(&engine, &send).unwrap().sections[0];
    assert_eq!(s.effect(), Effect::Deny);
    assert!(s.reason().da.contains("lægen") && s.reason().da.contains("samtykke"), "{}", s.reason().da);
    let with = Case { consents: vec![lae()], ..send.clone() };
    let d = run(&engine, &with).unwrap();
    let s = &d.sections[0];
    assert_eq!(s.basis(), Some(&Basis::Consent(with.consents[0].id)));
    assert!(s.reason().da.contains("egen læge"), "{}", s.reason().da);
    // The same facts decided as `read` by a caseworker who may read: the read policies.
    let read = Case { action: Action::Read, ..with };
    assert_eq!(run(&engine, &read).unwrap().sections[0].policies(), [CONSENT.to_string()]);
}

/// The age rules for parents acting for their children are policies: under 15 a holder of
/// custody may act, from 15 the child decides; without custody nobody may.
#[test]
fn a_parent_acts_for_a_child_under_15_and_not_after() {
    let engine = engine();
    for age in [0, 9, 14] {
        let d = engine.decide_custody("custody", age).unwrap();
        assert!(d.allowed, "{age}: {d:?}");
        assert_eq!(d.policies, ["custody.parent-for-child"]);
        assert!(d.reason.da.contains("forældremyndigheden"), "{}", d.reason.da);
    }
    for age in [15, 16, 30] {
        let d = engine.decide_custody("custody", age).unwrap();
        assert!(!d.allowed, "{age}: {d:?}");
        assert_eq!(d.policies, ["custody.self-determination"]);
        assert!(d.reason.da.contains("fyldt 15"), "{}", d.reason.da);
    }
    let d = engine.decide_custody("neighbour", 5).unwrap();
    assert!(!d.allowed && d.policies.is_empty(), "{d:?}");
}
