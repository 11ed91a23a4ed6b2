//! The portal's pages: askama templates (`gateway/templates/portal/`) and the views they
//! show, in Danish and plain words. Every page has `lang="da"`, a title, one `<h1>`, a
//! viewport and labelled controls, and works without JavaScript.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use consent::receipt::ConsentReceipt;
use consent::{Consent, ConsentStatus, Rules};

pub use crate::core::danish_time::{date, day_start, time};

/// Renders a template as an HTML answer with `status`.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a portal template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Der skete en fejl.").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "portal/login.html")]
pub struct LoginPage {
    pub title: String,
    pub nav: Option<String>,
}

/// A page with a heading, short paragraphs and links: confirmations and every error.
#[derive(Template)]
#[template(path = "portal/message.html")]
pub struct MessagePage {
    pub title: String,
    pub nav: Option<String>,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub links: Vec<(String, String)>,
}

impl MessagePage {
    pub fn new(heading: &str, paragraphs: &[&str], links: &[(&str, &str)], nav: Option<String>) -> MessagePage {
        MessagePage {
            title: heading.to_string(),
            nav,
            heading: heading.to_string(),
            paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(),
            links: links.iter().map(|(h, t)| (h.to_string(), t.to_string())).collect(),
        }
    }
}

/// A consent as the citizen reads it.
pub struct ConsentView {
    pub id: String,
    pub unit: String,
    pub purpose: String,
    pub categories: String,
    pub category_list: Vec<String>,
    pub period: String,
    pub respond_by: String,
    pub explanation: Option<String>,
    pub status: String,
    pub text: String,
    /// Signed on paper and not yet confirmed: the date by which to confirm it.
    pub paper_until: Option<String>,
}

pub fn status_da(s: ConsentStatus) -> &'static str {
    match s {
        ConsentStatus::Requested => "Venter på dit svar",
        ConsentStatus::Active => "Aktivt",
        ConsentStatus::Expired => "Udløbet",
        ConsentStatus::Revoked => "Tilbagekaldt",
        ConsentStatus::Rejected => "Afvist",
    }
}

impl ConsentView {
    pub fn of(c: &Consent, rules: &Rules, text: Option<String>, now: DateTime<Utc>) -> ConsentView {
        let t = &c.terms;
        let mut unit = rules.directory.unit(&t.grantee).map_or_else(|| t.grantee.to_string(), |u| u.name.clone());
        if t.include_subunits {
            unit.push_str(" og enhederne under den");
        }
        let category_list: Vec<String> = t
            .categories
            .iter()
            .map(|c| rules.vocabulary.categories.get(c).map_or_else(|| c.to_string(), |d| d.da.clone()))
            .collect();
        ConsentView {
            id: c.id.to_string(),
            unit,
            purpose: rules.vocabulary.purposes.get(&t.purpose).map_or_else(|| t.purpose.to_string(), |d| d.da.clone()),
            categories: category_list.join(", "),
            category_list,
            period: format!("Fra {} til {}", date(t.period.from), date(t.period.until)),
            respond_by: c.respond_by.map(date).unwrap_or_default(),
            explanation: c.explanation.clone(),
            status: status_da(c.status_at(now)).to_string(),
            text: text.unwrap_or_default(),
            paper_until: c
                .paper
                .as_ref()
                .filter(|p| p.confirmed_at.is_none() && c.status_at(now) == ConsentStatus::Active)
                .map(|p| date(p.confirm_by)),
        }
    }
}

pub struct Group {
    pub key: &'static str,
    pub heading: &'static str,
    pub empty: &'static str,
    pub items: Vec<ConsentView>,
}

#[derive(Template)]
#[template(path = "portal/overview.html")]
pub struct OverviewPage {
    pub title: String,
    pub nav: Option<String>,
    pub name: Option<String>,
    pub pending: Vec<ConsentView>,
    pub groups: Vec<Group>,
}

#[derive(Template)]
#[template(path = "portal/request.html")]
pub struct RequestPage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    pub c: ConsentView,
}

#[derive(Template)]
#[template(path = "portal/consent.html")]
pub struct ConsentPage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    pub c: ConsentView,
    pub active: bool,
    /// (receipt id, what it records)
    pub receipts: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "portal/revoke.html")]
pub struct RevokePage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    pub c: ConsentView,
}

#[derive(Template)]
#[template(path = "portal/grant.html")]
pub struct GrantPage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    pub error: Option<String>,
    pub units: Vec<(String, String)>,
    pub purposes: Vec<(String, String)>,
    pub categories: Vec<(String, String)>,
    pub cap: u32,
}

#[derive(Template)]
#[template(path = "portal/blocks.html")]
pub struct BlocksPage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    /// (block id, what it blocks, since)
    pub blocks: Vec<(String, String, String)>,
    /// (value, text)
    pub targets: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "portal/log.html")]
pub struct LogPage {
    pub title: String,
    pub nav: Option<String>,
    pub lines: Vec<LogLine>,
    pub next: Option<u64>,
    pub older_than: Option<u64>,
    /// The filters as a query string to keep in the "older" links (may be empty).
    pub keep: String,
    pub filtered: bool,
    pub chosen: Chosen,
    /// (unit id, name), by name.
    pub units: Vec<(String, String)>,
    /// (value, label) of "Hvad".
    pub what: Vec<(String, String)>,
}

/// How a line reads at a glance (a CSS class and a word for screen readers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Data was shown or sent.
    Released,
    /// Someone asked and was refused.
    Refused,
    /// A change the citizen made, or something that released nothing.
    Info,
}

impl Tone {
    pub fn class(self) -> &'static str {
        match self {
            Tone::Released => "released",
            Tone::Refused => "refused",
            Tone::Info => "info",
        }
    }
}

/// One line of Min log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub time: String,
    /// The sentence: who did what.
    pub headline: String,
    /// Why it was allowed or not, a clause that follows the headline ("fordi du gav samtykke").
    pub why: Option<String>,
    /// What else happened in the same request ("men fik ikke adgang til …").
    pub rest: Option<String>,
    /// Label and value, e.g. ("Sagsbehandler", "anna.jensen").
    pub details: Vec<(String, String)>,
    pub tone: Tone,
}

/// The filters as chosen (for the form and the "older" link) and as an [`AuditFilter`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub unit: String,
    pub what: String,
    pub from: String,
    pub to: String,
}

impl Chosen {
    /// The query string that keeps these filters (`&`-joined, no leading `?`).
    pub fn query(&self) -> String {
        [("unit", &self.unit), ("what", &self.what), ("from", &self.from), ("to", &self.to)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn any(&self) -> bool {
        !(self.unit.is_empty() && self.what.is_empty() && self.from.is_empty() && self.to.is_empty())
    }
}

/// One line of a document: its depth (for indentation), a label and the value (empty for
/// a heading of the lines below it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub depth: usize,
    pub label: String,
    pub value: String,
}

/// One document of Min sag.
#[derive(Debug, Clone)]
pub struct OwnDocument {
    pub title: String,
    /// The document's date (dd.mm.yyyy), or empty.
    pub date: String,
    /// Who wrote or holds it, when the source says.
    pub author: String,
    pub rows: Vec<Row>,
    /// More lines than the page shows.
    pub cut: bool,
}

/// One category of Min sag.
#[derive(Debug, Clone)]
pub struct OwnSection {
    pub heading: String,
    pub source: String,
    /// When it was fetched, or empty.
    pub fetched: String,
    pub ok: bool,
    /// Why there is nothing to show (empty when `ok`).
    pub note: String,
    pub documents: Vec<OwnDocument>,
    /// The coordinated plan, shown with the form for the citizen's own statement.
    pub plan: bool,
}

#[derive(Template)]
#[template(path = "portal/min_sag.html")]
pub struct OwnCasePage {
    pub title: String,
    pub nav: Option<String>,
    /// The session's CSRF token, for the "Mit perspektiv" form.
    pub csrf: String,
    pub assembled: String,
    /// Every source failed: say so plainly at the top.
    pub all_down: bool,
    pub sections: Vec<OwnSection>,
}

#[derive(Template)]
#[template(path = "portal/notifications.html")]
pub struct NotificationsPage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    /// A letter for every access.
    pub access: bool,
    /// Just saved.
    pub saved: bool,
    /// `[notifications]` is configured.
    pub enabled: bool,
}

#[derive(Template)]
#[template(path = "portal/log_verify.html")]
pub struct LogVerifyPage {
    pub title: String,
    pub nav: Option<String>,
    /// The audit log's Ed25519 public key, 64 hex digits.
    pub public_key: String,
    pub key_id: String,
}

#[derive(Template)]
#[template(path = "portal/receipt.html")]
pub struct ReceiptPage {
    pub title: String,
    pub nav: Option<String>,
    pub r: ConsentReceipt,
    pub action: String,
    pub time: String,
    pub period: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_danish_day_starts_at_local_midnight() {
        use chrono::{NaiveDate, TimeZone};
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let utc = |y, m, day, h| Utc.with_ymd_and_hms(y, m, day, h, 0, 0).unwrap();
        assert_eq!(day_start(d(2026, 11, 30)), utc(2026, 11, 29, 23));
        assert_eq!(day_start(d(2026, 7, 1)), utc(2026, 6, 30, 22));
        // The days of the changes (29 March and 25 October 2026) begin in the old offset.
        assert_eq!(day_start(d(2026, 3, 29)), utc(2026, 3, 28, 23));
        assert_eq!(day_start(d(2026, 3, 30)), utc(2026, 3, 29, 22));
        assert_eq!(day_start(d(2026, 10, 25)), utc(2026, 10, 24, 22));
        assert_eq!(day_start(d(2026, 10, 26)), utc(2026, 10, 25, 23));
        assert_eq!(time(day_start(d(2026, 10, 26))), "26.10.2026 kl. 00:00");
    }

    #[test]
    fn danish_time_follows_summer_time() {
        let winter = DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z").unwrap().to_utc();
        let summer = DateTime::parse_from_rfc3339("2026-07-15T12:00:00Z").unwrap().to_utc();
        assert_eq!(time(winter), "15.01.2026 kl. 13:00");
        assert_eq!(time(summer), "15.07.2026 kl. 14:00");
        // 29 March 2026 is the last Sunday of March: summer time from 01:00 UTC.
        let before = DateTime::parse_from_rfc3339("2026-03-29T00:59:00Z").unwrap().to_utc();
        let after = DateTime::parse_from_rfc3339("2026-03-29T01:00:00Z").unwrap().to_utc();
        assert_eq!(time(before), "29.03.2026 kl. 01:59");
        assert_eq!(time(after), "29.03.2026 kl. 03:00");
    }

    #[test]
    fn pages_are_danish_with_one_h1_and_escape_input() {
        let p = MessagePage::new("Fejl <b>", &["a & b"], &[("/", "Tilbage til oversigten")], Some("tok".into()));
        let html = p.render().unwrap();
        assert!(html.contains("<html lang=\"da\">"));
        assert!(html.contains("name=\"viewport\""));
        assert_eq!(html.matches("<h1>").count(), 1);
        assert!(html.contains("Fejl &#60;b&#62;") || html.contains("Fejl &lt;b&gt;"), "{html}");
        assert!(html.contains("a &#38; b") || html.contains("a &amp; b"));
        for link in ["Mine samtykker", "Min sag", "Min log", "Spærringer", "Giv samtykke", "Beskeder", "Log ud"] {
            assert!(html.contains(link), "{link}");
        }
        let logged_out = LoginPage { title: "Log ind".into(), nav: None }.render().unwrap();
        assert!(logged_out.contains("Log ind med MitID"));
        assert!(!logged_out.contains("Log ud"));
    }
}
