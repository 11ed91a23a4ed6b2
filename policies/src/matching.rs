//! Whether a consent matches a request, exactly as the `consent.matching` policy and the
//! `guardrail.health-needs-consent` forbid read it (`policy-set/20-consent.cedar`,
//! `policy-set/10-guardrails.cedar`), on the facts `decide.rs` gives Cedar: the same
//! citizen, state `active`, the request's purpose, the category among the consent's, the
//! caseworker's unit the grantee or below it with sub-units included, and `from <= now <
//! until` in milliseconds rounded as Cedar sees them.
//!
//! Two uses: choosing the one candidate consent Cedar evaluates a category with (so a
//! category costs one evaluation, however many consents the ledger found), and the fast
//! path (`fast_path.rs`). Choosing never makes Cedar permit what it would not: Cedar
//! still judges the chosen consent.

use chrono::{DateTime, Utc};
use consent::{Category, Consent, State, UnitId};

use crate::request::DecisionRequest;

/// Time in the policies: milliseconds since the Unix epoch (a `Long`, which Cedar compares
/// far faster than a `datetime`). `floor` rounds down, else up, so that `from <= now < until`
/// never holds in Cedar when it does not hold exactly (`now` and `until` are rounded down,
/// `from` up).
pub(crate) fn millis(t: DateTime<Utc>, floor: bool) -> i64 {
    let ms = t.timestamp_millis();
    if !floor && !t.timestamp_subsec_nanos().is_multiple_of(1_000_000) { ms + 1 } else { ms }
}

/// Whether `k` meets every condition of `consent.matching` for `category`. `lineage` is
/// the caseworker's unit first, then the units above it; `now` is `millis(req.now, true)`.
pub(crate) fn matches(
    k: &Consent,
    req: &DecisionRequest<'_>,
    lineage: &[UnitId],
    category: &Category,
    now: i64,
) -> bool {
    let t = &k.terms;
    k.state == State::Active
        && t.citizen == *req.citizen
        && t.purpose.as_str() == req.purpose.as_str()
        && t.categories.contains(category)
        && (lineage.first() == Some(&t.grantee) || (t.include_subunits && lineage.contains(&t.grantee)))
        && millis(t.period.from, false) <= now
        && now < millis(k.effective_until(), true)
}

/// The consent Cedar is asked about for a category: the first candidate that matches, else
/// the first candidate (whose facts then show Cedar why it does not match), else none.
pub(crate) fn choose<'k>(
    candidates: impl Iterator<Item = &'k Consent> + Clone,
    req: &DecisionRequest<'_>,
    lineage: &[UnitId],
    category: &Category,
    now: i64,
) -> Option<&'k Consent> {
    candidates.clone().find(|k| matches(k, req, lineage, category, now)).or_else(|| candidates.clone().next())
}

/// Who gave a consent, as the policies name it (`ConsentFacts.given_by`): `paper` for a
/// paper consent not yet confirmed, `power_of_attorney` for one a holder gave, `custody`
/// for one a parent gave for their child, otherwise
/// `citizen`.
pub(crate) fn given_by(k: &Consent) -> &'static str {
    if k.awaits_confirmation() {
        "paper"
    } else if matches!(k.grantor, Some(consent::Grantor::PowerOfAttorney { .. })) {
        "power_of_attorney"
    } else if matches!(k.grantor, Some(consent::Grantor::Custody { .. })) {
        "custody"
    } else {
        "citizen"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_rounding_is_conservative() {
        let t: DateTime<Utc> = "2025-01-01T00:00:00.000500Z".parse().unwrap();
        let whole: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(millis(t, true), whole.timestamp_millis());
        assert_eq!(millis(t, false), whole.timestamp_millis() + 1);
        assert_eq!(millis(whole, false), whole.timestamp_millis());
        let before: DateTime<Utc> = "1969-12-31T23:59:59.999500Z".parse().unwrap();
        assert_eq!(millis(before, true), -1);
        assert_eq!(millis(before, false), 0);
    }
}
