//! Messages sammen sends through the hub: the LÆ 261 request for the GP's statement (a Den
//! Dynamiske Blanket form) and XDIS91 letters. Everything a sent message carries is
//! checked here, by type: identifiers within MedCom's length limit, sender and receiver by
//! a valid EAN/GLN location number, texts without control characters and within a size.

use chrono::NaiveDate;
use consent::organisation::Gln;
use serde::{Deserialize, Serialize};

use super::{BinReference, DdbForm, Envelope, FormHeader, Letter, Party, Patient, Stamp, UserField, Xdis91};

/// MedCom's envelope and letter identifiers are at most 14 characters (`an..14`, the
/// EDIFACT message reference they carry over; the published sample uses all 14).
pub const MAX_IDENTIFIER: usize = 14;
/// A letter's or request's text, in characters. Our limit, not MedCom's: a letter to a GP
/// is a page or two.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// A letter's subject (`AdditionalInformation/Subject`), in characters.
pub const MAX_SUBJECT_CHARS: usize = 70;

/// Why a message could not be built. Never quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutgoingError {
    #[error("a MedCom identifier must be 1 to {MAX_IDENTIFIER} letters or digits")]
    Identifier,
    #[error("the {0} is empty")]
    Empty(&'static str),
    #[error("the {field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("the {0} holds a control character")]
    ControlCharacter(&'static str),
    #[error("the {0} is not a valid EAN/GLN location number")]
    Ean(&'static str),
}

/// An envelope, letter or form identifier: 1 to 14 ASCII letters or digits. Assigned once
/// per message and reused on every retry: the hub deduplicates on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MedcomId(String);

impl MedcomId {
    pub fn parse(s: &str) -> Result<Self, OutgoingError> {
        let ok = !s.is_empty() && s.len() <= MAX_IDENTIFIER && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok { Ok(MedcomId(s.to_string())) } else { Err(OutgoingError::Identifier) }
    }

    /// A fresh random identifier of 14 characters (upper-case letters and digits, about
    /// 72 bits of randomness).
    pub fn random() -> Self {
        const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut n = u128::from_be_bytes(*uuid::Uuid::new_v4().as_bytes());
        let mut s = String::with_capacity(MAX_IDENTIFIER);
        for _ in 0..MAX_IDENTIFIER {
            s.push(char::from(ALPHABET[(n % 36) as usize]));
            n /= 36;
        }
        MedcomId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MedcomId {
    type Error = OutgoingError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        MedcomId::parse(&s)
    }
}

impl From<MedcomId> for String {
    fn from(id: MedcomId) -> String {
        id.0
    }
}

impl std::fmt::Display for MedcomId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checked text: not blank, at most `max` characters, no control characters except line
/// breaks (`\r\n` and `\r` become `\n`) and tabs. XML 1.0 cannot carry most control
/// characters at all, and a text that needs one is not a letter.
fn checked_text(field: &'static str, s: &str, max: usize, multiline: bool) -> Result<String, OutgoingError> {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    if s.trim().is_empty() {
        return Err(OutgoingError::Empty(field));
    }
    if s.chars().count() > max {
        return Err(OutgoingError::TooLong { field, max });
    }
    let allowed = |c: char| if multiline { c == '\n' || c == '\t' } else { false };
    if s.chars().any(|c| (c.is_control() && !allowed(c)) || matches!(c, '\u{FFFE}' | '\u{FFFF}')) {
        return Err(OutgoingError::ControlCharacter(field));
    }
    Ok(s)
}

/// A letter's or request's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(s: &str) -> Result<Self, OutgoingError> {
        checked_text("text", s, MAX_TEXT_CHARS, true).map(MessageText)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageText {
    type Error = OutgoingError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        MessageText::parse(&s)
    }
}

impl From<MessageText> for String {
    fn from(t: MessageText) -> String {
        t.0
    }
}

/// A letter's subject: one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subject(String);

impl Subject {
    pub fn parse(s: &str) -> Result<Self, OutgoingError> {
        checked_text("subject", s, MAX_SUBJECT_CHARS, false).map(Subject)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Subject {
    type Error = OutgoingError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Subject::parse(&s)
    }
}

impl From<Subject> for String {
    fn from(t: Subject) -> String {
        t.0
    }
}

/// A sender or receiver of a message we send: a valid location number and a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addressee {
    pub ean: Gln,
    /// The SOR code, when known (written as `Identifier` with code `sorkode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sor: Option<consent::organisation::SorCode>,
    pub organisation_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_name: Option<String>,
}

impl Addressee {
    pub fn new(ean: &str, organisation_name: &str) -> Result<Self, OutgoingError> {
        let ean = Gln::parse(ean).map_err(|_| OutgoingError::Ean("location number"))?;
        let organisation_name = checked_text("organisation name", organisation_name, 100, false)?;
        Ok(Addressee { ean, sor: None, organisation_name, department_name: None })
    }

    fn party(&self) -> Party {
        let (identifier, identifier_code) = match &self.sor {
            Some(sor) => (Some(sor.to_string()), Some("sorkode".to_string())),
            None => (Some(self.ean.to_string()), Some("lokationsnummer".to_string())),
        };
        Party {
            ean: self.ean.to_string(),
            identifier,
            identifier_code,
            organisation_name: Some(self.organisation_name.clone()),
            department_name: self.department_name.clone(),
            ..Party::default()
        }
    }
}

/// What every message we send has: its identifiers (assigned once, reused on retry), when
/// it was written, who sends, who receives and whom it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing<'a> {
    pub envelope_id: &'a MedcomId,
    pub letter_id: &'a MedcomId,
    pub sent: Stamp,
    pub sender: &'a Addressee,
    pub receiver: &'a Addressee,
    pub patient: Patient,
}

/// An XDIS91 letter to the GP, e.g. the rehabilitation team's recommendation.
pub fn xdis91_letter(
    r: Routing<'_>,
    subject: &Subject,
    text: &MessageText,
    attachment: Option<BinReference>,
) -> Xdis91 {
    Xdis91 {
        envelope: Envelope {
            sent: r.sent.clone(),
            identifier: r.envelope_id.to_string(),
            // We want a positive receipt for every letter.
            acknowledgement_code: "pluspositivkvitt".into(),
        },
        letter: Letter {
            identifier: r.letter_id.to_string(),
            version_code: "XD9134L".into(),
            statistical_code: "XDIS91".into(),
            authorisation: Some(r.sent),
            type_code: Some("XDIS91".into()),
            status_code: Some("nytbrev".into()),
        },
        sender: r.sender.party(),
        receiver: r.receiver.party(),
        patient: r.patient,
        priority: Some("rutine".into()),
        subject: Some(subject.as_str().to_string()),
        text: text.as_str().to_string(),
        references: attachment.into_iter().collect(),
    }
}

/// The LÆ 261 form's field names.
pub mod lae261 {
    pub const QUESTIONS: &str = "Spørgsmål";
    pub const DEADLINE: &str = "Svarfrist";
    pub const ANSWER_FORM: &str = "Svarblanket";
}

/// The LÆ 261 request ("anmodning") for the GP's statement to the rehabilitation team; the
/// GP answers with an LÆ 265 by `deadline`. A form has one identifier: `Form/Identifier` is
/// `envelope_id`, which a receipt names as both its original envelope and letter;
/// `letter_id` is not written.
pub fn lae261_request(r: Routing<'_>, questions: &MessageText, deadline: NaiveDate) -> DdbForm {
    DdbForm {
        form: FormHeader {
            identifier: r.envelope_id.to_string(),
            sent: r.sent,
            type_code: DdbForm::LAE261.into(),
            version_code: "LÆ261-2023".into(),
            title: Some("LÆ 261 Anmodning om lægeattest til rehabiliteringsteamet".into()),
        },
        sender: r.sender.party(),
        receiver: r.receiver.party(),
        patient: r.patient,
        fields: vec![
            UserField { name: lae261::QUESTIONS.into(), value: questions.as_str().to_string() },
            UserField { name: lae261::DEADLINE.into(), value: deadline.format("%Y-%m-%d").to_string() },
            UserField { name: lae261::ANSWER_FORM.into(), value: DdbForm::LAE265.into() },
        ],
    }
}

#[cfg(test)]
mod tests {
    use consent::Cpr;

    use super::*;
    use crate::medcom::{Message, parse_message};
    use crate::xml::Limits;

    fn gp() -> Addressee {
        let mut a = Addressee::new("5790001382445", "Lægerne i Søborg").unwrap();
        a.sor = Some(consent::organisation::SorCode::parse("123456789012").unwrap());
        a
    }

    fn us() -> Addressee {
        Addressee::new("5790000121441", "Jobcenter Odense, Rehabiliteringsteamet").unwrap()
    }

    fn patient() -> Patient {
        Patient {
            cpr: Cpr::parse("2512489996").unwrap(),
            surname: None,
            given_name: None,
            street_name: None,
            district_name: None,
            post_code: None,
            episode_of_care_status: None,
        }
    }

    fn routing<'a>(env: &'a MedcomId, letter: &'a MedcomId, from: &'a Addressee, to: &'a Addressee) -> Routing<'a> {
        Routing {
            envelope_id: env,
            letter_id: letter,
            sent: Stamp { date: "2026-12-01".parse().unwrap(), time: "08:15".into() },
            sender: from,
            receiver: to,
            patient: patient(),
        }
    }

    #[test]
    fn identifiers_are_within_medcoms_limit() {
        for _ in 0..200 {
            let id = MedcomId::random();
            assert_eq!(id.as_str().len(), MAX_IDENTIFIER);
            assert_eq!(MedcomId::parse(id.as_str()), Ok(id));
        }
        assert_ne!(MedcomId::random(), MedcomId::random());
        assert!(MedcomId::parse("KuvNrerwerwe99").is_ok());
        for bad in ["", "KuvNrerwerwe990", "Kuv-1", "Kuv 1", "Kuvært"] {
            assert_eq!(MedcomId::parse(bad), Err(OutgoingError::Identifier), "{bad:?}");
        }
    }

    #[test]
    fn texts_refuse_control_characters_size_and_blankness() {
        assert_eq!(MessageText::parse("a\r\nb\tc").unwrap().as_str(), "a\nb\tc");
        assert_eq!(MessageText::parse("a\u{7}b"), Err(OutgoingError::ControlCharacter("text")));
        assert_eq!(MessageText::parse("a\u{0}b"), Err(OutgoingError::ControlCharacter("text")));
        assert_eq!(MessageText::parse("a\u{85}b"), Err(OutgoingError::ControlCharacter("text")));
        assert_eq!(MessageText::parse(" \n "), Err(OutgoingError::Empty("text")));
        assert!(MessageText::parse(&"æ".repeat(MAX_TEXT_CHARS)).is_ok());
        assert_eq!(
            MessageText::parse(&"æ".repeat(MAX_TEXT_CHARS + 1)),
            Err(OutgoingError::TooLong { field: "text", max: MAX_TEXT_CHARS })
        );
        assert_eq!(Subject::parse("Indstilling\nfra teamet"), Err(OutgoingError::ControlCharacter("subject")));
        assert!(Subject::parse("Rehabiliteringsteamets indstilling").is_ok());
        assert_eq!(Addressee::new("5790001382446", "x"), Err(OutgoingError::Ean("location number")));
        let e = MessageText::parse("0101609900\u{1}").unwrap_err().to_string();
        assert!(!e.contains("0101609900"), "{e}");
    }

    #[test]
    fn a_letter_round_trips_through_our_parser_in_latin1() {
        let (env, letter_id) = (MedcomId::random(), MedcomId::random());
        let (from, to) = (us(), gp());
        let text = MessageText::parse(
            "Teamet indstiller til ressourceforløb.\nBegrundelse: <se bilag> & \"plan\".\n\nMvh. teamet €",
        )
        .unwrap();
        let att = BinReference {
            object_identifier: "c39ea6b2605245e4a207415e0205ab6f".into(),
            object_code: Some("dokument".into()),
            extension_code: Some("pdf".into()),
            original_size: Some(4297),
        };
        let l = xdis91_letter(
            routing(&env, &letter_id, &from, &to),
            &Subject::parse("Indstilling").unwrap(),
            &text,
            Some(att),
        );
        let bytes = l.to_xml();
        assert!(std::str::from_utf8(&bytes).is_err(), "iso-8859-1 on the wire");
        assert!(bytes.starts_with(b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>"));
        let parsed = crate::medcom::Xdis91::parse(&bytes, Limits::default()).unwrap();
        assert_eq!(parsed, l);
        assert_eq!(parsed.envelope.identifier, env.as_str());
        assert_eq!(parsed.letter.identifier, letter_id.as_str());
        assert_eq!(parsed.sender.ean, "5790000121441");
        assert_eq!(parsed.receiver.ean, "5790001382445");
        assert_eq!(parsed.receiver.identifier.as_deref(), Some("123456789012"));
        assert_eq!(parsed.receiver.identifier_code.as_deref(), Some("sorkode"));
        assert_eq!(parsed.text, text.as_str());
    }

    #[test]
    fn an_lae261_request_round_trips_and_names_its_answer_form() {
        let (env, letter_id) = (MedcomId::random(), MedcomId::random());
        let (from, to) = (us(), gp());
        let q = MessageText::parse("1. Helbredsmæssige forhold?\n2. Funktionsevne og prognose?").unwrap();
        let deadline: NaiveDate = "2026-12-31".parse().unwrap();
        let form = lae261_request(routing(&env, &letter_id, &from, &to), &q, deadline);
        let bytes = form.to_xml();
        assert!(std::str::from_utf8(&bytes).is_err(), "iso-8859-1 on the wire (LÆ)");
        match parse_message(&bytes, Limits::default()).unwrap() {
            Message::Ddb(parsed) => {
                assert_eq!(*parsed, form);
                assert_eq!(parsed.form.type_code, DdbForm::LAE261);
                assert!(!parsed.is_lae265());
                assert_eq!(parsed.form.identifier, env.as_str());
                assert_eq!(parsed.field(lae261::QUESTIONS), Some(q.as_str()));
                assert_eq!(parsed.field(lae261::DEADLINE), Some("2026-12-31"));
                assert_eq!(parsed.field(lae261::ANSWER_FORM), Some("LÆ265"));
                assert_eq!(parsed.patient.cpr.expose(), "2512489996");
            }
            other => panic!("not a form: {other:?}"),
        }
    }
}
