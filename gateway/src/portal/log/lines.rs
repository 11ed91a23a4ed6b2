//! Min log in sentences: the audit records of one request become one line a person would
//! say ("Rehabiliteringsteamet, Jobcenter København hentede dit CV på Jobnet og lægens
//! erklæring …, fordi du gav samtykke"). Pure functions over records and the rules, so
//! every wording is unit-tested here; the page only lays the lines out.

use consent::Rules;
use consent::audit::{AuditDecision, AuditKind, AuditRecord};

use crate::portal::pages::{LogLine, Tone, time};

/// "a", "a og b", "a, b og c".
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} og {last}", init.join(", ")),
    }
}

/// A name used inside a sentence: the first letter small ("Dit CV på Jobnet" → "dit CV på
/// Jobnet"), unless the name starts with an abbreviation ("LÆ 265", "CV").
fn in_sentence(name: &str) -> String {
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            first.to_lowercase().chain(name.chars().skip(1)).collect()
        }
        _ => name.to_string(),
    }
}

fn unit_name(r: &AuditRecord, rules: &Rules) -> Option<String> {
    r.unit.as_ref().map(|u| rules.directory.unit(u).map_or_else(|| u.to_string(), |x| x.name.clone()))
}

fn category_name(r: &AuditRecord, rules: &Rules) -> Option<String> {
    r.category
        .as_ref()
        .map(|c| in_sentence(&rules.vocabulary.categories.get(c).map_or_else(|| c.to_string(), |d| d.da.clone())))
}

fn purpose_name(r: &AuditRecord, rules: &Rules) -> Option<String> {
    r.purpose.as_ref().map(|p| rules.vocabulary.purposes.get(p).map_or_else(|| p.to_string(), |d| d.da.clone()))
}

/// Why something was permitted, from the bases of its permits.
fn why_permitted(bases: &[&str]) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if bases.iter().any(|b| b.starts_with("own-access:")) {
        parts.push("fordi du har ret til at se dine egne oplysninger".into());
    }
    if bases.iter().any(|b| b.starts_with("consent:")) {
        parts.push("fordi du gav samtykke".into());
    }
    let mut laws: Vec<String> = bases.iter().filter_map(|b| b.strip_prefix("statute:")).map(String::from).collect();
    laws.sort();
    laws.dedup();
    if !laws.is_empty() {
        parts.push(format!("fordi loven tillader det ({})", laws.join("; ")));
    }
    (!parts.is_empty()).then(|| and_list(&parts))
}

fn details(r: &AuditRecord, rules: &Rules) -> Vec<(String, String)> {
    let mut d = Vec::new();
    if let Some(c) = &r.caseworker {
        d.push(("Sagsbehandler".into(), c.clone()));
    }
    if let Some(s) = r.system.as_deref().filter(|s| *s != "portal") {
        d.push(("Fagsystem".into(), s.to_string()));
    }
    if let Some(p) = purpose_name(r, rules) {
        d.push(("Formål".into(), p));
    }
    d
}

/// The records of Min log (newest first, as read) as lines: consecutive records of one
/// request about data (decisions and releases) become one line; every other record is a
/// line of its own.
pub fn lines(records: &[&AuditRecord], rules: &Rules) -> Vec<LogLine> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let r = records[i];
        if matches!(r.kind, AuditKind::Decision | AuditKind::Release) {
            let mut j = i + 1;
            while j < records.len()
                && records[j].request_id == r.request_id
                && matches!(records[j].kind, AuditKind::Decision | AuditKind::Release)
            {
                j += 1;
            }
            out.push(access_line(&records[i..j], rules));
            i = j;
        } else if is_write(r.kind) {
            let mut j = i + 1;
            while j < records.len() && records[j].request_id == r.request_id && is_write(records[j].kind) {
                j += 1;
            }
            out.push(write_line(&records[i..j], rules));
            i = j;
        } else {
            out.push(single_line(r, rules));
            i += 1;
        }
    }
    out
}

fn is_write(k: AuditKind) -> bool {
    matches!(k, AuditKind::WriteDecision | AuditKind::Write | AuditKind::WriteResult)
}

/// One write to the coordinated plan (its decision, the write and its result) as one line:
/// who wrote, whether it was written, and why not.
fn write_line(group: &[&AuditRecord], rules: &Rules) -> LogLine {
    // Newest first: the last record is the decision, the first the latest outcome.
    let first = group.last().copied().unwrap_or(group[0]);
    let own = first.caseworker.is_none() && first.system.as_deref() == Some(crate::core::release::OWN_ACCESS_SYSTEM);
    let who = if own { "Du".to_string() } else { unit_name(first, rules).unwrap_or_else(|| "En myndighed".into()) };
    let denied = group.iter().any(|r| r.kind == AuditKind::WriteDecision && r.decision == Some(AuditDecision::Deny));
    let result = group.iter().find(|r| r.kind == AuditKind::WriteResult).map(|r| r.outcome.as_str());
    let what = if own { "dit perspektiv i din fælles plan" } else { "i din fælles plan" };
    let (headline, why, tone) = if denied {
        (
            format!("{who} ville skrive i din fælles plan, men fik ikke lov"),
            Some("fordi der ikke var grundlag for det (intet blev skrevet)".to_string()),
            Tone::Refused,
        )
    } else {
        match result {
            Some("written") => {
                (format!("{who} skrev {what}"), (!own).then(|| "fordi du gav samtykke".to_string()), Tone::Released)
            }
            Some("not_owner") => (
                format!("{who} ville ændre en anden forvaltnings del af din fælles plan, men fik ikke lov"),
                Some("fordi hver forvaltning kun må ændre sin egen del (intet blev skrevet)".to_string()),
                Tone::Refused,
            ),
            Some("conflict") => (
                format!("{who} ville skrive {what}, men planen var ændret i mellemtiden"),
                Some("intet blev skrevet".to_string()),
                Tone::Info,
            ),
            _ => (format!("{who} ville skrive {what}, men det lykkedes ikke"), None, Tone::Info),
        }
    };
    LogLine { time: time(first.time), headline, why, rest: None, details: details(first, rules), tone }
}

/// One request about data: what was fetched, what was refused, what could not be fetched.
fn access_line(group: &[&AuditRecord], rules: &Rules) -> LogLine {
    // The group is newest first; the request's time is its first record's.
    let first = group.last().copied().unwrap_or(group[0]);
    // The citizen's own access ("Min sag"): the portal asked, for the citizen themselves.
    let own = first.system.as_deref() == Some(crate::core::release::OWN_ACCESS_SYSTEM) && first.caseworker.is_none();
    let who = if own { "Du".to_string() } else { unit_name(first, rules).unwrap_or_else(|| "En myndighed".into()) };
    let fetched_verb = if own { "så" } else { "hentede" };
    let mut fetched = Vec::new();
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    let mut bases = Vec::new();
    // In record order (oldest first), one outcome per category: a release overrides its
    // decision (a permit whose fetch failed, or a withdrawal during the fetch).
    let mut outcome: Vec<(String, &str)> = Vec::new();
    for r in group.iter().rev() {
        let Some(cat) = category_name(r, rules) else { continue };
        let state = match (r.kind, r.decision) {
            (AuditKind::Decision, Some(AuditDecision::Deny)) => "refused",
            (AuditKind::Decision, _) => "permitted",
            (AuditKind::Release, _) if r.outcome == "included" => "fetched",
            (AuditKind::Release, _) if r.outcome == "denied" => "refused",
            (AuditKind::Release, _) if r.outcome == "no_data" => "no_data",
            _ => "failed",
        };
        if state == "fetched"
            && let Some(b) = r.basis.as_deref()
        {
            bases.push(b);
        }
        match outcome.iter_mut().find(|(c, _)| *c == cat) {
            Some(slot) => slot.1 = state,
            None => outcome.push((cat, state)),
        }
    }
    for (cat, state) in outcome {
        match state {
            "fetched" | "no_data" => fetched.push(cat),
            "refused" => refused.push(cat),
            // A permit without a release record: the fetch did not finish.
            _ => failed.push(cat),
        }
    }
    // The shared overview ("glasplade"): every category a department's summary.
    let overview = !own && group.iter().all(|r| r.category.as_ref().is_some_and(|c| c.as_str().ends_with(".summary")));
    let mut sentence = Vec::new();
    if overview && !fetched.is_empty() {
        sentence.push(format!("{who} så overblikket over din kontakt med kommunen: {}", and_list(&fetched)));
    } else if !fetched.is_empty() {
        sentence.push(format!("{who} {fetched_verb} {}", and_list(&fetched)));
    }
    if !refused.is_empty() {
        let subject = if fetched.is_empty() { who.clone() } else { "men".into() };
        sentence.push(format!("{subject} fik ikke adgang til {}", and_list(&refused)));
    }
    if !failed.is_empty() {
        let lead = if sentence.is_empty() { format!("{who} bad om oplysninger, men ") } else { String::new() };
        sentence.push(format!("{lead}{} kunne ikke hentes", and_list(&failed)));
    }
    // The first clause is the headline; the reason follows it; the other clauses after.
    let headline = capitalise(&sentence.remove(0));
    let rest = (!sentence.is_empty()).then(|| sentence.join(", "));
    let why = if !bases.is_empty() {
        why_permitted(&bases)
    } else if !refused.is_empty() {
        Some("fordi der ikke var grundlag for at se dem (intet blev vist)".into())
    } else {
        None
    };
    LogLine {
        time: time(first.time),
        headline,
        why,
        rest,
        details: details(first, rules),
        tone: if !fetched.is_empty() {
            Tone::Released
        } else if !refused.is_empty() {
            Tone::Refused
        } else {
            Tone::Info
        },
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Every record that is not about data: consent and block changes, refused requests,
/// reads of the citizen's consents or log.
fn single_line(r: &AuditRecord, rules: &Rules) -> LogLine {
    let unit = unit_name(r, rules);
    let headline = match (r.kind, &unit) {
        (AuditKind::RequestRefused, Some(u)) => format!("{u} bad om oplysninger om dig, men forespørgslen blev afvist"),
        (AuditKind::RequestRefused, None) => "En forespørgsel om dig blev afvist".into(),
        (AuditKind::ConsentsRead, Some(u)) => format!("{u} så, hvilke samtykker du har givet"),
        (AuditKind::ConsentRequested, Some(u)) => format!("{u} bad dig om samtykke"),
        (AuditKind::ConsentGranted, Some(u)) => format!("Du gav samtykke til {u}"),
        (AuditKind::ConsentApproved, Some(u)) => format!("Du godkendte en anmodning om samtykke fra {u}"),
        (AuditKind::ConsentRejected, Some(u)) => format!("Du afviste en anmodning om samtykke fra {u}"),
        (AuditKind::ConsentRevoked, Some(u)) => format!("Du tilbagekaldte dit samtykke til {u}"),
        (AuditKind::ConsentRegisteredFromPaper, Some(u)) => {
            format!("{u} registrerede et samtykke, du har skrevet under på papir")
        }
        (AuditKind::ConsentConfirmed, Some(u)) => format!("Du bekræftede dit samtykke på papir til {u}"),
        (AuditKind::BlockPlaced, Some(u)) => format!("Du spærrede for {u}"),
        (AuditKind::BlockLifted, Some(u)) => format!("Du ophævede spærringen for {u}"),
        (AuditKind::AuditRead, _) => "Driften læste loggen om dig".into(),
        (AuditKind::MessageSent, Some(u)) if r.category.as_ref().is_some_and(|c| c.as_str() == "health.lae265") => {
            format!("{u} bad din læge om en lægeerklæring (LÆ 261)")
        }
        (AuditKind::MessageSent, Some(u)) => format!("{u} sendte et brev til din læge"),
        (AuditKind::MessageRead, Some(u)) => format!("{u} så, hvordan det gik med et brev til din læge"),
        _ => super::what_da(r),
    };
    let who = match r.on_behalf.as_ref().map(|o| o.kind.as_str()) {
        Some("custody") => "Din forælder",
        _ => "Din fuldmægtig",
    };
    let headline = match (&r.on_behalf, r.kind, &unit) {
        (Some(_), AuditKind::ConsentGranted, Some(u)) => {
            format!("{who} gav samtykke til {u} på dine vegne")
        }
        (Some(_), AuditKind::ConsentApproved, Some(u)) => {
            format!("{who} godkendte en anmodning om samtykke fra {u} på dine vegne")
        }
        (Some(_), AuditKind::ConsentRejected, Some(u)) => {
            format!("{who} afviste en anmodning om samtykke fra {u} på dine vegne")
        }
        (Some(_), AuditKind::ConsentRevoked, Some(u)) => {
            format!("{who} tilbagekaldte dit samtykke til {u} på dine vegne")
        }
        (Some(_), AuditKind::ConsentsRead, _) => format!("{who} så dine samtykker"),
        _ => headline,
    };
    let headline = match (r.kind, category_name(r, rules)) {
        (AuditKind::BlockPlaced, Some(c)) if unit.is_none() => format!("Du spærrede for {c}"),
        (AuditKind::BlockLifted, Some(c)) if unit.is_none() => format!("Du ophævede spærringen for {c}"),
        _ => headline,
    };
    LogLine {
        time: time(r.time),
        headline,
        why: None,
        rest: None,
        details: details(r, rules),
        tone: match r.kind {
            AuditKind::RequestRefused => Tone::Refused,
            _ => Tone::Info,
        },
    }
}

#[cfg(test)]
mod tests;
