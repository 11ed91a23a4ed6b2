//! What a citizen is told, and when: pure functions from audit records and consents to
//! notifications, in plain Danish. A subject never holds a CPR number (the mailbox shows
//! subjects in lists and previews); the recipient travels in the message, not the text.

use chrono::{DateTime, Utc};
use consent::audit::{AuditKind, AuditRecord};
use consent::{Consent, Cpr, Rules};
use sha2::{Digest, Sha256};

/// One notification to one citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Stable for the same event: the mailbox deduplicates on it, so a retry (or a second
    /// gateway instance noticing the same event) never delivers twice.
    pub id: uuid::Uuid,
    pub recipient: Cpr,
    pub subject: String,
    pub body: String,
}

/// The id of the notification about `what` (e.g. `audit:1234`, `expiring:<consent>:<until>`):
/// a name-based UUID (version 8) of its SHA-256.
pub fn notification_id(what: &str) -> uuid::Uuid {
    let d = Sha256::digest(format!("sammen notification\n{what}").as_bytes());
    uuid::Builder::from_custom_bytes(d[..16].try_into().expect("16 bytes")).into_uuid()
}

/// A date as Danes write it, in Danish time.
fn day(t: DateTime<Utc>) -> String {
    crate::core::danish_time::date(t)
}

fn unit_name(r: &AuditRecord, rules: &Rules) -> String {
    r.unit
        .as_ref()
        .map(|u| rules.directory.unit(u).map_or_else(|| u.to_string(), |x| x.name.clone()))
        .unwrap_or_else(|| "en myndighed".into())
}

const FOOTER: &str =
    "Log ind på sammen med MitID for at se mere. Du kan vælge, hvilke beskeder du får, under \"Beskeder\".";

/// The notification a new audit record about a consent calls for, if any. `requested` is
/// the consent a `ConsentRequested` record is about (for its answer deadline).
pub fn for_record(index: u64, r: &AuditRecord, requested: Option<&Consent>, rules: &Rules) -> Option<Notification> {
    let recipient = r.citizen?;
    let who = unit_name(r, rules);
    let (subject, body) = match r.kind {
        // Someone with a power of attorney acted for the citizen: always told.
        AuditKind::ConsentGranted
        | AuditKind::ConsentApproved
        | AuditKind::ConsentRejected
        | AuditKind::ConsentRevoked
            if r.on_behalf.is_some() =>
        {
            let what = match r.kind {
                AuditKind::ConsentGranted => format!("gav samtykke til {who}"),
                AuditKind::ConsentApproved => format!("godkendte en anmodning om samtykke fra {who}"),
                AuditKind::ConsentRejected => format!("afviste en anmodning om samtykke fra {who}"),
                _ => format!("tilbagekaldte dit samtykke til {who}"),
            };
            (
                "Der er handlet på dine vegne".to_string(),
                format!(
                    "{} {what} på dine vegne {}. Du kan se det i Min log, og du kan selv ændre det under Mine samtykker.\n\n{FOOTER}",
                    match r.on_behalf.as_ref().map(|o| o.kind.as_str()) {
                        Some("custody") => "En forælder med forældremyndighed over dig",
                        _ => "En person med fuldmagt fra dig",
                    },
                    day(r.time)
                ),
            )
        }
        AuditKind::ConsentRequested => {
            let by =
                requested.and_then(|c| c.respond_by).map(|t| format!(" Svar senest {}.", day(t))).unwrap_or_default();
            let purpose = r
                .purpose
                .as_ref()
                .and_then(|p| rules.vocabulary.purposes.get(p))
                .map(|d| format!(" Formålet er: {}.", d.da))
                .unwrap_or_default();
            (
                "Du er blevet bedt om et samtykke".to_string(),
                format!("{who} beder om dit samtykke til at se oplysninger om dig.{purpose}{by}\n\n{FOOTER}"),
            )
        }
        AuditKind::ConsentRegisteredFromPaper => {
            let by = requested
                .and_then(|c| c.paper.as_ref())
                .map(|p| format!(" Bekræft det senest {}, ellers udløber det.", day(p.confirm_by)))
                .unwrap_or_default();
            (
                "Bekræft dit samtykke på papir".to_string(),
                format!(
                    "{who} har registreret et samtykke, du har skrevet under på papir. Det gælder nu.{by} \
                     Log ind i sammen for at bekræfte det eller tilbagekalde det, hvis det ikke er rigtigt.\n\n{FOOTER}"
                ),
            )
        }
        AuditKind::ConsentRevoked => (
            "Dit samtykke er tilbagekaldt".to_string(),
            format!(
                "Dit samtykke til {who} blev tilbagekaldt {}. {who} kan ikke længere få oplysninger om dig på grundlag af det.\n\n{FOOTER}",
                day(r.time)
            ),
        ),
        AuditKind::MessageSent => {
            let what = match r.category.as_ref().map(|c| c.as_str()) {
                Some("health.lae265") => "bad din læge om en lægeerklæring (LÆ 261)",
                _ => "sendte et brev om dig til din læge",
            };
            (
                "Der er sendt en besked til din læge".to_string(),
                format!("{who} {what} {}. Du kan se det i Min log.\n\n{FOOTER}", day(r.time)),
            )
        }
        _ => return None,
    };
    Some(Notification { id: notification_id(&format!("audit:{index}")), recipient, subject, body })
}

/// The letter to a parent with custody about what another holder of custody did for
/// their child (audit record `r` at `index`, by a parent acting under custody).
pub fn for_co_parent(index: u64, r: &AuditRecord, parent: Cpr, parent_id: &str, rules: &Rules) -> Option<Notification> {
    let o = r.on_behalf.as_ref().filter(|o| o.kind == "custody" && o.holder != parent_id)?;
    let who = unit_name(r, rules);
    let what = match r.kind {
        AuditKind::ConsentGranted => format!("gav samtykke til {who}"),
        AuditKind::ConsentApproved => format!("godkendte en anmodning om samtykke fra {who}"),
        AuditKind::ConsentRejected => format!("afviste en anmodning om samtykke fra {who}"),
        AuditKind::ConsentRevoked => format!("tilbagekaldte et samtykke til {who}"),
        _ => return None,
    };
    Some(Notification {
        id: notification_id(&format!("audit:{index}:co-parent:{parent_id}:{}", o.holder)),
        recipient: parent,
        subject: "Der er handlet for jeres barn".to_string(),
        body: format!(
            "Den anden forælder med forældremyndighed {what} på jeres barns vegne {}. Du kan se det under Fuldmagter i sammen.\n\n{FOOTER}",
            day(r.time)
        ),
    })
}

/// The notification about one caseworker request that released data about the citizen
/// (`releases`: its release records, in order, starting at audit index `first`), for a
/// citizen who asked to be told of every access. `None` when nothing was released.
pub fn for_access(first: u64, releases: &[&AuditRecord], rules: &Rules) -> Option<Notification> {
    let included: Vec<&&AuditRecord> =
        releases.iter().filter(|r| r.kind == AuditKind::Release && r.outcome == "included").collect();
    let r = included.first()?;
    // The citizen's own view ("Min sag") has no caseworker: they know.
    r.caseworker.as_ref()?;
    let recipient = r.citizen?;
    let what: Vec<String> = included
        .iter()
        .map(|r| {
            r.category
                .as_ref()
                .and_then(|c| rules.vocabulary.categories.get(c))
                .map_or_else(|| "oplysninger om dig".to_string(), |d| format!("\"{}\"", d.da))
        })
        .collect();
    let what = match what.as_slice() {
        [one] => one.clone(),
        [init @ .., last] => format!("{} og {last}", init.join(", ")),
        [] => return None,
    };
    Some(Notification {
        id: notification_id(&format!("access:{}:{first}", r.request_id)),
        recipient,
        subject: "Der er hentet oplysninger om dig".to_string(),
        body: format!(
            "{} hentede {what} {}. Du kan se hvem, hvad og hvorfor i Min log.\n\n{FOOTER}",
            unit_name(r, rules),
            day(r.time)
        ),
    })
}

/// The notification about a consent that ends soon or has ended, if any: within `warn`
/// before its end ("udløber snart"), or after it ("er udløbet"). Only consents in force
/// until their period ended (not revoked or rejected ones).
pub fn for_expiry(c: &Consent, now: DateTime<Utc>, warn: chrono::Duration, rules: &Rules) -> Option<Notification> {
    if c.state != consent::State::Active {
        return None;
    }
    let until = c.terms.period.until;
    let who = rules.directory.unit(&c.terms.grantee).map_or_else(|| c.terms.grantee.to_string(), |u| u.name.clone());
    let (kind, subject, body) = if until <= now {
        (
            "expired",
            "Dit samtykke er udløbet",
            format!(
                "Dit samtykke til {who} udløb {}. {who} kan ikke længere få oplysninger om dig på grundlag af det. Har de brug for dem igen, beder de dig om et nyt samtykke.\n\n{FOOTER}",
                day(until)
            ),
        )
    } else if until - now <= warn {
        (
            "expiring",
            "Dit samtykke udløber snart",
            format!(
                "Dit samtykke til {who} udløber {}. Vil du have, at det fortsætter, kan du give et nyt samtykke på sammen.\n\n{FOOTER}",
                day(until)
            ),
        )
    } else {
        return None;
    };
    Some(Notification {
        id: notification_id(&format!("{kind}:{}:{}", c.id, until.timestamp())),
        recipient: c.terms.citizen,
        subject: subject.to_string(),
        body,
    })
}

#[cfg(test)]
mod tests;
