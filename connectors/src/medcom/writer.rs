//! The MedCom layouts written with quick-xml: the writer escapes every text, the layout
//! (two spaces per level, one element per line) is written here, and the document is
//! encoded to iso-8859-1 at the end, as MedCom requires on the wire.
//!
//! Layout white space is written by hand rather than by quick-xml's indenting writer:
//! that one would also indent the `<br/>` line breaks inside a text, which a reader takes
//! as text.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{Envelope, Letter, OriginalEmessage, Party, Patient, Stamp};
use crate::xml;

pub(super) struct Out {
    w: Writer<Vec<u8>>,
    depth: usize,
}

impl Out {
    pub(super) fn new() -> Self {
        let mut o = Out { w: Writer::new(Vec::with_capacity(4096)), depth: 0 };
        o.event(Event::Decl(BytesDecl::new("1.0", Some("iso-8859-1"), None)));
        o.raw_text("\n");
        o
    }

    /// Writing to memory cannot fail; quick-xml's writer is generic over `io::Write`.
    fn event(&mut self, e: Event<'_>) {
        self.w.write_event(e).expect("writing XML to memory does not fail");
    }

    /// Layout white space, never escaped content.
    fn raw_text(&mut self, s: &str) {
        self.event(Event::Text(BytesText::from_escaped(s)));
    }

    fn indent(&mut self) {
        let pad = "  ".repeat(self.depth);
        if !pad.is_empty() {
            self.raw_text(&pad);
        }
    }

    pub(super) fn open(&mut self, name: &str) {
        self.indent();
        self.event(Event::Start(BytesStart::new(name)));
        self.raw_text("\n");
        self.depth += 1;
    }

    pub(super) fn open_ns(&mut self, name: &str, ns: &str) {
        self.event(Event::Start(BytesStart::new(name).with_attributes([("xmlns", ns)])));
        self.raw_text("\n");
        self.depth += 1;
    }

    pub(super) fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.event(Event::End(BytesEnd::new(name)));
        self.raw_text("\n");
    }

    pub(super) fn leaf(&mut self, name: &str, text: &str) {
        self.indent();
        self.event(Event::Start(BytesStart::new(name)));
        self.event(Event::Text(BytesText::new(text)));
        self.event(Event::End(BytesEnd::new(name)));
        self.raw_text("\n");
    }

    pub(super) fn opt(&mut self, name: &str, text: &Option<String>) {
        if let Some(t) = text {
            self.leaf(name, t);
        }
    }

    /// Text whose line breaks become `<br/>`.
    pub(super) fn lines(&mut self, name: &str, text: &str) {
        self.indent();
        self.event(Event::Start(BytesStart::new(name)));
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.event(Event::Empty(BytesStart::new("br")));
            }
            if !line.is_empty() {
                self.event(Event::Text(BytesText::new(line)));
            }
        }
        self.event(Event::End(BytesEnd::new(name)));
        self.raw_text("\n");
    }

    pub(super) fn stamp(&mut self, name: &str, s: &Stamp) {
        self.open(name);
        self.leaf("Date", &s.date.format("%Y-%m-%d").to_string());
        self.leaf("Time", &s.time);
        self.close(name);
    }

    pub(super) fn envelope(&mut self, e: &Envelope) {
        self.open("Envelope");
        self.stamp("Sent", &e.sent);
        self.leaf("Identifier", &e.identifier);
        self.leaf("AcknowledgementCode", &e.acknowledgement_code);
        self.close("Envelope");
    }

    pub(super) fn letter(&mut self, l: &Letter) {
        self.open("Letter");
        self.leaf("Identifier", &l.identifier);
        self.leaf("VersionCode", &l.version_code);
        self.leaf("StatisticalCode", &l.statistical_code);
        if let Some(a) = &l.authorisation {
            self.stamp("Authorisation", a);
        }
        self.opt("TypeCode", &l.type_code);
        self.opt("StatusCode", &l.status_code);
        self.close("Letter");
    }

    pub(super) fn ean_only(&mut self, name: &str, ean: &str) {
        self.open(name);
        self.leaf("EANIdentifier", ean);
        self.close(name);
    }

    pub(super) fn original(&mut self, o: &OriginalEmessage) {
        self.open("OriginalEmessage");
        self.leaf("OriginalEnvelopeIdentifier", &o.envelope_identifier);
        self.ean_only("OriginalSender", &o.sender_ean);
        self.ean_only("OriginalReceiver", &o.receiver_ean);
        self.open("OriginalLetter");
        self.leaf("OriginalLetterIdentifier", &o.letter_identifier);
        self.leaf("OriginalVersionCode", &o.version_code);
        self.close("OriginalLetter");
        self.close("OriginalEmessage");
    }

    pub(super) fn party(&mut self, name: &str, p: &Party) {
        self.open(name);
        self.leaf("EANIdentifier", &p.ean);
        self.opt("Identifier", &p.identifier);
        self.opt("IdentifierCode", &p.identifier_code);
        self.opt("OrganisationName", &p.organisation_name);
        self.opt("DepartmentName", &p.department_name);
        self.opt("MedicalSpecialityCode", &p.medical_speciality_code);
        self.opt("StreetName", &p.street_name);
        self.opt("DistrictName", &p.district_name);
        self.opt("PostCodeIdentifier", &p.post_code);
        self.close(name);
    }

    pub(super) fn patient(&mut self, p: &Patient) {
        self.open("Patient");
        self.leaf("CivilRegistrationNumber", p.cpr.expose());
        self.opt("PersonSurnameName", &p.surname);
        self.opt("PersonGivenName", &p.given_name);
        self.opt("StreetName", &p.street_name);
        self.opt("DistrictName", &p.district_name);
        self.opt("PostCodeIdentifier", &p.post_code);
        self.opt("EpisodeOfCareStatusCode", &p.episode_of_care_status);
        self.close("Patient");
    }

    /// The document in iso-8859-1; characters outside Latin-1 become character references.
    pub(super) fn finish(self) -> Vec<u8> {
        let utf8 = String::from_utf8(self.w.into_inner()).expect("quick-xml writes the UTF-8 it is given");
        xml::to_latin1(&utf8)
    }
}
