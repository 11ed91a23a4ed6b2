//! The MedCom OIOXML codec: XDIS91 correspondence letters, XCTL03 positive receipts and
//! the LÆ 265 form as a "Den Dynamiske Blanket" document, parsed (through the hardened
//! [`crate::xml`] reader) into typed structs and written back with quick-xml as iso-8859-1
//! XML (`writer.rs`). What sammen sends (the LÆ 261 request and letters) is built, checked,
//! in `outgoing.rs`; negative receipts (XCTL01/XCTL02) are in `negative.rs`.

mod negative;
pub mod outgoing;
mod writer;

use chrono::NaiveDate;
use consent::Cpr;
use serde::{Deserialize, Serialize};

pub use negative::{NegativeKind, NegativeReceipt, Receipt};

use crate::xml::{self, Element, Limits, Node, XmlError};
use writer::Out;

/// XDIS91 correspondence (2006/07/01).
pub const NS_XDIS91: &str = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2006/07/01/";
/// XCTL03 receipts (2005/08/07).
pub const NS_XCTL03: &str = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/";
/// Den Dynamiske Blanket (2017/12/13), carrying LÆ 265.
pub const NS_DDB: &str = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2017/12/13/";

/// Why a MedCom message was rejected. Never quotes the message's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MedcomError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a MedCom message this codec knows: root {name:?} in namespace {ns:?}")]
    UnknownMessage { name: String, ns: Option<String> },
    #[error("MedCom message lacks {0}")]
    Missing(&'static str),
    #[error("MedCom message has an invalid {0}")]
    Invalid(&'static str),
}

/// `Sent`/`Authorisation`: a date and a time of day (`HH:MM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub date: NaiveDate,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub sent: Stamp,
    pub identifier: String,
    pub acknowledgement_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letter {
    pub identifier: String,
    pub version_code: String,
    pub statistical_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorisation: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
}

/// A sender or receiver: a health or municipal organisation by location number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub ean: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medical_speciality_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_code: Option<String>,
}

impl Party {
    /// "Organisation, department" for a document's source.
    pub fn display_name(&self) -> Option<String> {
        match (&self.organisation_name, &self.department_name) {
            (Some(o), Some(d)) => Some(format!("{o}, {d}")),
            (Some(o), None) => Some(o.clone()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    pub cpr: Cpr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode_of_care_status: Option<String>,
}

/// A binary object referenced by a letter (`Reference/BIN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinReference {
    pub object_identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_size: Option<u64>,
}

/// An XDIS91 correspondence letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xdis91 {
    pub envelope: Envelope,
    pub letter: Letter,
    pub sender: Party,
    pub receiver: Party,
    pub patient: Patient,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `ClinicalInformation/Text01`, with `<br/>` as line breaks and layout white space
    /// collapsed.
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<BinReference>,
}

/// The message an XCTL03 receipt acknowledges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalEmessage {
    pub envelope_identifier: String,
    pub sender_ean: String,
    pub receiver_ean: String,
    pub letter_identifier: String,
    pub version_code: String,
}

/// An XCTL03 positive receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xctl03 {
    pub envelope: Envelope,
    pub letter: Letter,
    pub sender_ean: String,
    pub receiver_ean: String,
    pub original: OriginalEmessage,
}

/// One filled-in field of a form (`Data/UserFields/UserField`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserField {
    pub name: String,
    pub value: String,
}

/// The header of a Den Dynamiske Blanket form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormHeader {
    pub identifier: String,
    pub sent: Stamp,
    /// `LÆ265` for the GP's statement to the rehabilitation team.
    pub type_code: String,
    pub version_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A Den Dynamiske Blanket form; LÆ 265 when `form.type_code` is `LÆ265`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdbForm {
    pub form: FormHeader,
    pub sender: Party,
    pub receiver: Party,
    pub patient: Patient,
    pub fields: Vec<UserField>,
}

impl DdbForm {
    pub const LAE265: &'static str = "LÆ265";
    /// The municipality's request for an LÆ 265.
    pub const LAE261: &'static str = "LÆ261";
    /// The field of an LÆ 265 that names the LÆ 261 request it answers (the request's form
    /// identifier, which is also its envelope identifier).
    pub const ANSWERS: &'static str = "Besvarer anmodning";

    pub fn is_lae265(&self) -> bool {
        self.form.type_code == Self::LAE265
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|f| f.name == name).map(|f| f.value.as_str())
    }

    /// The identifier of the LÆ 261 request an LÆ 265 answers, when it names one.
    pub fn answers(&self) -> Option<&str> {
        if !self.is_lae265() {
            return None;
        }
        self.field(Self::ANSWERS).map(str::trim).filter(|s| !s.is_empty())
    }
}

/// Any message this codec knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Xdis91(Box<Xdis91>),
    Xctl03(Box<Xctl03>),
    NegativeReceipt(Box<NegativeReceipt>),
    Ddb(Box<DdbForm>),
}

impl Message {
    /// The patient a message is about (receipts are about none).
    pub fn patient(&self) -> Option<&Patient> {
        match self {
            Message::Xdis91(m) => Some(&m.patient),
            Message::Ddb(m) => Some(&m.patient),
            Message::Xctl03(_) | Message::NegativeReceipt(_) => None,
        }
    }
}

/// Parses any known MedCom message, by its root element and namespace.
pub fn parse_message(bytes: &[u8], limits: Limits) -> Result<Message, MedcomError> {
    let root = xml::parse(bytes, limits)?;
    match (root.name.as_str(), root.ns.as_deref()) {
        ("Emessage", Some(NS_XDIS91)) => Ok(Message::Xdis91(Box::new(xdis91_from(&root)?))),
        ("Emessage", Some(NS_XCTL03)) if root.child("NegativeReceipt").is_some() => {
            Ok(Message::NegativeReceipt(Box::new(negative::negative_from(&root)?)))
        }
        ("Emessage", Some(NS_XCTL03)) => Ok(Message::Xctl03(Box::new(xctl03_from(&root)?))),
        ("DenDynamiskeBlanket", Some(NS_DDB)) => Ok(Message::Ddb(Box::new(ddb_from(&root)?))),
        _ => Err(MedcomError::UnknownMessage { name: root.name.chars().take(64).collect(), ns: root.ns.clone() }),
    }
}

impl Xdis91 {
    pub fn parse(bytes: &[u8], limits: Limits) -> Result<Self, MedcomError> {
        match parse_message(bytes, limits)? {
            Message::Xdis91(m) => Ok(*m),
            _ => Err(MedcomError::Missing("an XDIS91 Emessage root")),
        }
    }
}

impl Xctl03 {
    pub fn parse(bytes: &[u8], limits: Limits) -> Result<Self, MedcomError> {
        match parse_message(bytes, limits)? {
            Message::Xctl03(m) => Ok(*m),
            _ => Err(MedcomError::Missing("an XCTL03 Emessage root")),
        }
    }

    /// A positive receipt for a received XDIS91 letter, sent by `our_ean`.
    pub fn for_letter(letter: &Xdis91, our_ean: &str, envelope_id: String, sent: Stamp) -> Xctl03 {
        Xctl03::acknowledging(
            OriginalEmessage {
                envelope_identifier: letter.envelope.identifier.clone(),
                sender_ean: letter.sender.ean.clone(),
                receiver_ean: letter.receiver.ean.clone(),
                letter_identifier: letter.letter.identifier.clone(),
                version_code: letter.letter.version_code.clone(),
            },
            our_ean,
            envelope_id,
            sent,
        )
    }

    /// A positive receipt for a received form.
    pub fn for_form(form: &DdbForm, our_ean: &str, envelope_id: String, sent: Stamp) -> Xctl03 {
        Xctl03::acknowledging(
            OriginalEmessage {
                envelope_identifier: form.form.identifier.clone(),
                sender_ean: form.sender.ean.clone(),
                receiver_ean: form.receiver.ean.clone(),
                letter_identifier: form.form.identifier.clone(),
                version_code: form.form.version_code.clone(),
            },
            our_ean,
            envelope_id,
            sent,
        )
    }

    /// A positive receipt for a message named by `original` (as a receiver records it).
    pub fn for_letter_ids(original: &OriginalEmessage, our_ean: &str, envelope_id: String, sent: Stamp) -> Xctl03 {
        Xctl03::acknowledging(original.clone(), our_ean, envelope_id, sent)
    }

    fn acknowledging(original: OriginalEmessage, our_ean: &str, envelope_id: String, sent: Stamp) -> Xctl03 {
        Xctl03 {
            envelope: Envelope {
                sent,
                identifier: envelope_id.clone(),
                acknowledgement_code: "minuspositivkvitt".into(),
            },
            letter: Letter {
                identifier: envelope_id,
                version_code: "XC0330Q".into(),
                statistical_code: "XCTL03".into(),
                authorisation: None,
                type_code: None,
                status_code: None,
            },
            sender_ean: our_ean.to_string(),
            receiver_ean: original.sender_ean.clone(),
            original,
        }
    }
}

impl DdbForm {
    pub fn parse(bytes: &[u8], limits: Limits) -> Result<Self, MedcomError> {
        match parse_message(bytes, limits)? {
            Message::Ddb(m) => Ok(*m),
            _ => Err(MedcomError::Missing("a DenDynamiskeBlanket root")),
        }
    }
}

// ---- reading ----

pub(super) fn req<'a>(el: &'a Element, name: &'static str) -> Result<&'a Element, MedcomError> {
    el.child(name).ok_or(MedcomError::Missing(name))
}

pub(super) fn req_text(el: &Element, name: &'static str) -> Result<String, MedcomError> {
    el.child_text(name).ok_or(MedcomError::Missing(name))
}

fn stamp(el: &Element) -> Result<Stamp, MedcomError> {
    let date = req_text(el, "Date")?;
    let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| MedcomError::Invalid("Date"))?;
    let time = req_text(el, "Time")?;
    let valid_time = time.len() == 5 && chrono::NaiveTime::parse_from_str(&time, "%H:%M").is_ok();
    if !valid_time {
        return Err(MedcomError::Invalid("Time"));
    }
    Ok(Stamp { date, time })
}

pub(super) fn envelope(root: &Element) -> Result<Envelope, MedcomError> {
    let env = req(root, "Envelope")?;
    Ok(Envelope {
        sent: stamp(req(env, "Sent")?)?,
        identifier: req_text(env, "Identifier")?,
        acknowledgement_code: req_text(env, "AcknowledgementCode")?,
    })
}

pub(super) fn letter(el: &Element) -> Result<Letter, MedcomError> {
    Ok(Letter {
        identifier: req_text(el, "Identifier")?,
        version_code: req_text(el, "VersionCode")?,
        statistical_code: req_text(el, "StatisticalCode")?,
        authorisation: el.child("Authorisation").map(stamp).transpose()?,
        type_code: el.child_text("TypeCode"),
        status_code: el.child_text("StatusCode"),
    })
}

fn party(el: &Element) -> Result<Party, MedcomError> {
    Ok(Party {
        ean: req_text(el, "EANIdentifier")?,
        identifier: el.child_text("Identifier"),
        identifier_code: el.child_text("IdentifierCode"),
        organisation_name: el.child_text("OrganisationName"),
        department_name: el.child_text("DepartmentName"),
        medical_speciality_code: el.child_text("MedicalSpecialityCode"),
        street_name: el.child_text("StreetName"),
        district_name: el.child_text("DistrictName"),
        post_code: el.child_text("PostCodeIdentifier"),
    })
}

fn patient(el: &Element) -> Result<Patient, MedcomError> {
    let cpr = req_text(el, "CivilRegistrationNumber")?;
    Ok(Patient {
        cpr: Cpr::parse(&cpr).map_err(|_| MedcomError::Invalid("CivilRegistrationNumber"))?,
        surname: el.child_text("PersonSurnameName"),
        given_name: el.child_text("PersonGivenName"),
        street_name: el.child_text("StreetName"),
        district_name: el.child_text("DistrictName"),
        post_code: el.child_text("PostCodeIdentifier"),
        episode_of_care_status: el.child_text("EpisodeOfCareStatusCode"),
    })
}

/// Text with `<br/>` (or `<Break/>`) as line breaks; other white space is layout.
fn mixed_text(el: &Element) -> String {
    fn walk(el: &Element, out: &mut String) {
        for n in &el.children {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) if e.name.eq_ignore_ascii_case("br") || e.name == "Break" => out.push('\n'),
                Node::Element(e) => walk(e, out),
            }
        }
    }
    let mut raw = String::new();
    walk(el, &mut raw);
    let lines: Vec<String> =
        raw.split('\n').map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    // Drop the layout lines before the first and after the last line with text.
    let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    let last = lines.iter().rposition(|l| !l.is_empty()).map_or(first, |i| i + 1);
    lines[first..last.max(first)].join("\n")
}

fn xdis91_from(root: &Element) -> Result<Xdis91, MedcomError> {
    let mail = req(root, "ClinicalEmail")?;
    let info = mail.child("AdditionalInformation");
    let text = match mail.path(&["ClinicalInformation", "Text01"]) {
        Some(t) => mixed_text(t),
        None => return Err(MedcomError::Missing("ClinicalInformation/Text01")),
    };
    let references = mail
        .children_named("Reference")
        .filter_map(|r| r.child("BIN"))
        .map(|bin| {
            Ok(BinReference {
                object_identifier: req_text(bin, "ObjectIdentifier")?,
                object_code: bin.child_text("ObjectCode"),
                extension_code: bin.child_text("ObjectExtensionCode"),
                original_size: bin
                    .child_text("OriginalObjectSize")
                    .map(|s| s.parse().map_err(|_| MedcomError::Invalid("OriginalObjectSize")))
                    .transpose()?,
            })
        })
        .collect::<Result<_, MedcomError>>()?;
    Ok(Xdis91 {
        envelope: envelope(root)?,
        letter: letter(req(mail, "Letter")?)?,
        sender: party(req(mail, "Sender")?)?,
        receiver: party(req(mail, "Receiver")?)?,
        patient: patient(req(mail, "Patient")?)?,
        priority: info.and_then(|i| i.child_text("Priority")),
        subject: info.and_then(|i| i.child_text("Subject")),
        text,
        references,
    })
}

fn xctl03_from(root: &Element) -> Result<Xctl03, MedcomError> {
    let receipt = req(root, "PositiveReceipt")?;
    Ok(Xctl03 {
        envelope: envelope(root)?,
        letter: letter(req(receipt, "Letter")?)?,
        sender_ean: req_text(req(receipt, "Sender")?, "EANIdentifier")?,
        receiver_ean: req_text(req(receipt, "Receiver")?, "EANIdentifier")?,
        original: negative::original_from(receipt)?,
    })
}

fn ddb_from(root: &Element) -> Result<DdbForm, MedcomError> {
    let form = req(root, "Form")?;
    let fields = req(req(root, "Data")?, "UserFields")?
        .children_named("UserField")
        .map(|f| {
            Ok(UserField { name: req_text(f, "Name")?, value: f.child("Value").map(mixed_text).unwrap_or_default() })
        })
        .collect::<Result<_, MedcomError>>()?;
    Ok(DdbForm {
        form: FormHeader {
            identifier: req_text(form, "Identifier")?,
            sent: stamp(req(form, "Sent")?)?,
            type_code: req_text(form, "TypeCode")?,
            version_code: req_text(form, "VersionCode")?,
            title: form.child_text("Title"),
        },
        sender: party(req(root, "Sender")?)?,
        receiver: party(req(root, "Receiver")?)?,
        patient: patient(req(root, "Patient")?)?,
        fields,
    })
}

// ---- writing ----

impl Xdis91 {
    /// The letter as iso-8859-1 OIOXML.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut o = Out::new();
        o.open_ns("Emessage", NS_XDIS91);
        o.envelope(&self.envelope);
        o.open("ClinicalEmail");
        o.letter(&self.letter);
        o.party("Sender", &self.sender);
        o.party("Receiver", &self.receiver);
        o.patient(&self.patient);
        if self.priority.is_some() || self.subject.is_some() {
            o.open("AdditionalInformation");
            o.opt("Priority", &self.priority);
            o.opt("Subject", &self.subject);
            o.close("AdditionalInformation");
        }
        o.open("ClinicalInformation");
        o.lines("Text01", &self.text);
        o.close("ClinicalInformation");
        for r in &self.references {
            o.open("Reference");
            o.leaf("RefDescription", "BIN");
            o.open("BIN");
            o.leaf("ObjectIdentifier", &r.object_identifier);
            o.opt("ObjectCode", &r.object_code);
            o.opt("ObjectExtensionCode", &r.extension_code);
            o.opt("OriginalObjectSize", &r.original_size.map(|n| n.to_string()));
            o.close("BIN");
            o.close("Reference");
        }
        o.close("ClinicalEmail");
        o.close("Emessage");
        o.finish()
    }
}

impl Xctl03 {
    /// The receipt as iso-8859-1 OIOXML.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut o = Out::new();
        o.open_ns("Emessage", NS_XCTL03);
        o.envelope(&self.envelope);
        o.open("PositiveReceipt");
        o.letter(&self.letter);
        o.ean_only("Sender", &self.sender_ean);
        o.ean_only("Receiver", &self.receiver_ean);
        o.original(&self.original);
        o.close("PositiveReceipt");
        o.close("Emessage");
        o.finish()
    }
}

impl DdbForm {
    /// The form as iso-8859-1 OIOXML.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut o = Out::new();
        o.open_ns("DenDynamiskeBlanket", NS_DDB);
        o.open("Form");
        o.leaf("Identifier", &self.form.identifier);
        o.stamp("Sent", &self.form.sent);
        o.leaf("TypeCode", &self.form.type_code);
        o.leaf("VersionCode", &self.form.version_code);
        o.opt("Title", &self.form.title);
        o.close("Form");
        o.party("Sender", &self.sender);
        o.party("Receiver", &self.receiver);
        o.patient(&self.patient);
        o.open("Data");
        o.open("UserFields");
        for f in &self.fields {
            o.open("UserField");
            o.leaf("Name", &f.name);
            o.lines("Value", &f.value);
            o.close("UserField");
        }
        o.close("UserFields");
        o.close("Data");
        o.close("DenDynamiskeBlanket");
        o.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_lae265_names_the_request_it_answers() {
        let form = |type_code: &str, fields: Vec<UserField>| DdbForm {
            form: FormHeader {
                identifier: "A1".into(),
                sent: stamp("2026-12-01", "09:00"),
                type_code: type_code.into(),
                version_code: "v".into(),
                title: None,
            },
            sender: Party { ean: "5790000000001".into(), ..Party::default() },
            receiver: Party { ean: "5790000000002".into(), ..Party::default() },
            patient: Patient {
                cpr: Cpr::parse("0101609900").unwrap(),
                surname: None,
                given_name: None,
                street_name: None,
                district_name: None,
                post_code: None,
                episode_of_care_status: None,
            },
            fields,
        };
        let answers = |v: &str| vec![UserField { name: DdbForm::ANSWERS.into(), value: v.into() }];
        assert_eq!(form(DdbForm::LAE265, answers("ENV1")).answers(), Some("ENV1"));
        assert_eq!(form(DdbForm::LAE265, answers("  ")).answers(), None);
        assert_eq!(form(DdbForm::LAE265, Vec::new()).answers(), None);
        assert_eq!(form(DdbForm::LAE261, answers("ENV1")).answers(), None, "a request answers nothing");
    }

    fn stamp(d: &str, t: &str) -> Stamp {
        Stamp { date: d.parse().unwrap(), time: t.into() }
    }

    fn letter() -> Xdis91 {
        Xdis91 {
            envelope: Envelope {
                sent: stamp("2025-03-01", "10:15"),
                identifier: "ENV1".into(),
                acknowledgement_code: "plustypekvitt".into(),
            },
            letter: Letter {
                identifier: "L1".into(),
                version_code: "XD9134L".into(),
                statistical_code: "XDIS91".into(),
                authorisation: Some(stamp("2025-03-01", "10:14")),
                type_code: Some("XDIS91".into()),
                status_code: Some("nytbrev".into()),
            },
            sender: Party {
                ean: "5790000000001".into(),
                organisation_name: Some("Lægerne i Søborg".into()),
                ..Party::default()
            },
            receiver: Party { ean: "5790000000002".into(), ..Party::default() },
            patient: Patient {
                cpr: Cpr::parse("0101609900").unwrap(),
                surname: Some("Ærø".into()),
                given_name: Some("Åse".into()),
                street_name: None,
                district_name: None,
                post_code: None,
                episode_of_care_status: None,
            },
            priority: Some("rutine".into()),
            subject: Some("Status <sygemelding> & plan".into()),
            text: "Første linje.\nAnden linje med \"citat\" og € tegn.\n\nEfter tom linje.".into(),
            references: vec![],
        }
    }

    #[test]
    fn xdis91_round_trips_through_latin1() {
        let l = letter();
        let bytes = l.to_xml();
        assert!(std::str::from_utf8(&bytes).is_err(), "really iso-8859-1");
        assert_eq!(Xdis91::parse(&bytes, Limits::default()).unwrap(), l);
    }

    #[test]
    fn receipt_and_form_round_trip() {
        let l = letter();
        let r = Xctl03::for_letter(&l, "5790000000002", "R1".into(), stamp("2025-03-02", "08:00"));
        assert_eq!(r.receiver_ean, "5790000000001");
        assert_eq!(Xctl03::parse(&r.to_xml(), Limits::default()).unwrap(), r);
        let f = DdbForm {
            form: FormHeader {
                identifier: "F1".into(),
                sent: stamp("2025-02-01", "09:00"),
                type_code: DdbForm::LAE265.into(),
                version_code: "1.0".into(),
                title: Some("Lægeattest til rehabiliteringsteamet".into()),
            },
            sender: l.sender.clone(),
            receiver: l.receiver.clone(),
            patient: l.patient.clone(),
            fields: vec![UserField { name: "Prognose".into(), value: "God.\nForventet raskmelding om 3 mdr.".into() }],
        };
        let parsed = DdbForm::parse(&f.to_xml(), Limits::default()).unwrap();
        assert!(parsed.is_lae265());
        assert_eq!(parsed, f);
    }

    #[test]
    fn wrong_namespace_or_missing_parts_are_errors() {
        let bytes = String::from_utf8_lossy(&letter().to_xml()).replace(NS_XDIS91, "urn:other").into_bytes();
        assert!(matches!(parse_message(&bytes, Limits::default()), Err(MedcomError::UnknownMessage { .. })));
        let no_cpr = String::from_utf8_lossy(&letter().to_xml()).replace("0101609900", "3201609900").into_bytes();
        assert_eq!(parse_message(&no_cpr, Limits::default()), Err(MedcomError::Invalid("CivilRegistrationNumber")));
    }
}
