//! MedCom's published samples (../shared/samples/medcom/, beside the checkout) parse into
//! the typed structs, and a true iso-8859-1 copy of the letter reads the same.

use connectors::medcom::{self, Message, Xctl03, Xdis91};
use connectors::xml::Limits;

const XDIS91: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/samples/medcom/Flow1-XDIS91_Ex_to_FHIR.xml");
const XCTL03: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/samples/medcom/Flow2-XCTL03_Ex_from_FHIR_XDIS91.xml");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e} (shared/ must be beside the checkout)"))
}

const TEXT: &str = "Afdeling A har modtaget en henvisning på ovenstående patient.\n\
Forinden der foretages visitation, bedes følgende undersøgelser foretaget:\n\
Røntgen af hofte i to planer.\n\
Blodtryksresultat\n\
Sænkningsresultat\n\
\n\
Resultaterne bedes fremsendt som et \"korrespondancebrev\".\n\
\n\
Venlig hilsen\n\
overlæge K. Petersen\n\
15.01.1999";

#[test]
fn xdis91_letter_parses() {
    let letter = Xdis91::parse(&read(XDIS91), Limits::default()).unwrap();
    assert_eq!(letter.envelope.identifier, "KuvNrerwerwe99");
    assert_eq!(letter.envelope.sent.date.to_string(), "2023-11-20");
    assert_eq!(letter.envelope.sent.time, "17:45");
    assert_eq!(letter.envelope.acknowledgement_code, "pluspositivkvitt");
    assert_eq!(letter.letter.identifier, "Brevt23400929");
    assert_eq!(letter.letter.version_code, "XD9134L");
    assert_eq!(letter.letter.statistical_code, "XDIS91");
    assert_eq!(letter.letter.status_code.as_deref(), Some("nytbrev"));
    assert_eq!(letter.sender.ean, "5790001382445");
    assert_eq!(letter.sender.display_name().as_deref(), Some("Medcom testcenter, Certificering"));
    assert_eq!(letter.receiver.organisation_name.as_deref(), Some("Hjemmeplejen, Odense Kommune"));
    assert_eq!(letter.receiver.street_name.as_deref(), Some("Vandværksvej 99"));
    assert_eq!(letter.patient.cpr.expose(), "2512489996");
    assert_eq!(letter.patient.given_name.as_deref(), Some("Nancy"));
    assert_eq!(letter.patient.surname.as_deref(), Some("Ann Berggren"));
    assert_eq!(letter.priority.as_deref(), Some("høj_prioritet"));
    assert_eq!(letter.subject.as_deref(), Some("Forundersøgelse"));
    assert_eq!(letter.text, TEXT);
    assert_eq!(letter.references.len(), 1);
    assert_eq!(letter.references[0].object_identifier, "c39ea6b2605245e4a207415e0205ab6f");
    assert_eq!(letter.references[0].original_size, Some(4297));
}

#[test]
fn a_true_iso_8859_1_copy_reads_the_same() {
    let utf8 = read(XDIS91);
    let text = String::from_utf8(utf8.clone()).expect("the published sample is UTF-8 despite its declaration");
    let latin1: Vec<u8> = text.chars().map(|c| u8::try_from(u32::from(c)).expect("Latin-1 text")).collect();
    assert_ne!(latin1, utf8, "the copy really differs in its bytes");
    assert!(std::str::from_utf8(&latin1).is_err());
    let a = Xdis91::parse(&utf8, Limits::default()).unwrap();
    let b = Xdis91::parse(&latin1, Limits::default()).unwrap();
    assert_eq!(a, b);
    assert_eq!(b.text, TEXT);
}

#[test]
fn xctl03_receipt_parses() {
    let r = Xctl03::parse(&read(XCTL03), Limits::default()).unwrap();
    assert_eq!(r.envelope.identifier, "KuvertNr1256");
    assert_eq!(r.envelope.acknowledgement_code, "minuspositivkvitt");
    assert_eq!(r.letter.identifier, "BrevNr5698");
    assert_eq!(r.letter.version_code, "XC0330Q");
    assert_eq!(r.letter.statistical_code, "XCTL03");
    assert_eq!(r.sender_ean, "5790000121441");
    assert_eq!(r.receiver_ean, "5790001382445");
    assert_eq!(r.original.envelope_identifier, "KuvNrerwerwe99");
    assert_eq!(r.original.sender_ean, "5790001382445");
    assert_eq!(r.original.receiver_ean, "5790000121441");
    assert_eq!(r.original.letter_identifier, "Brevt23400929");
    assert_eq!(r.original.version_code, "XD9134L");
}

#[test]
fn our_receipt_for_the_sample_letter_matches_medcoms() {
    let letter = Xdis91::parse(&read(XDIS91), Limits::default()).unwrap();
    let sample = Xctl03::parse(&read(XCTL03), Limits::default()).unwrap();
    let ours = Xctl03::for_letter(&letter, &sample.sender_ean, "KuvertNr1256".into(), sample.envelope.sent.clone());
    assert_eq!(ours.original, sample.original);
    assert_eq!(ours.receiver_ean, sample.receiver_ean);
    match medcom::parse_message(&ours.to_xml(), Limits::default()).unwrap() {
        Message::Xctl03(parsed) => assert_eq!(*parsed, ours),
        other => panic!("{other:?}"),
    }
}

/// An element as comparable lines in document order: its path, then each child in order,
/// text trimmed (layout white space dropped) and line breaks as `<br/>`.
fn outline(el: &connectors::xml::Element, path: &str, out: &mut Vec<String>) {
    let path = format!("{path}/{}", el.name);
    out.push(format!("{path} ns={:?}", el.ns));
    for node in &el.children {
        match node {
            connectors::xml::Node::Text(t) if t.trim().is_empty() => {}
            connectors::xml::Node::Text(t) => out.push(format!("{path} text={:?}", t.trim())),
            connectors::xml::Node::Element(e) => outline(e, &path, out),
        }
    }
}

fn outline_of(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    outline(&connectors::xml::parse(bytes, Limits::default()).unwrap(), "", &mut out);
    out
}

#[test]
fn our_letter_writer_matches_medcoms_sample_element_by_element() {
    let sample = read(XDIS91);
    let mut letter = Xdis91::parse(&sample, Limits::default()).unwrap();
    // The sample ends its text with a line break, which a reader drops as layout.
    letter.text.push('\n');
    let ours = letter.to_xml();
    assert!(std::str::from_utf8(&ours).is_err(), "ours is iso-8859-1, the sample's bytes are UTF-8");
    let (expected, got) = (outline_of(&sample), outline_of(&ours));
    assert!(expected.len() > 50, "the outline covers the whole letter");
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(e, g, "element {i}");
    }
    assert_eq!(expected.len(), got.len());
}

#[test]
fn our_receipt_writer_matches_medcoms_sample_element_by_element() {
    let sample = read(XCTL03);
    let receipt = Xctl03::parse(&sample, Limits::default()).unwrap();
    assert_eq!(outline_of(&receipt.to_xml()), outline_of(&sample));
}

#[test]
fn a_negative_receipt_for_the_sample_letter_names_it_and_parses_as_a_receipt() {
    let letter = Xdis91::parse(&read(XDIS91), Limits::default()).unwrap();
    let positive = Xctl03::parse(&read(XCTL03), Limits::default()).unwrap();
    let negative = medcom::NegativeReceipt::refusing(
        positive.original.clone(),
        medcom::NegativeKind::Letter,
        &letter.receiver.ean,
        "KuvertNr1257".into(),
        positive.envelope.sent.clone(),
        "ukendtpatient",
        "Patienten kendes ikke i modtagerens system",
    );
    // Same shape as the positive receipt up to the receipt element and its error.
    let pos = outline_of(&positive.to_xml());
    let neg = outline_of(&negative.to_xml());
    let strip = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|l| !l.contains("/Envelope/") && !l.contains("/Letter"))
            .map(|l| l.replace("PositiveReceipt", "Receipt").replace("NegativeReceipt", "Receipt"))
            .filter(|l| !l.contains("/ErrorCode") && !l.contains("/ErrorText"))
            .collect()
    };
    assert_eq!(strip(&neg), strip(&pos));
    match medcom::Receipt::parse(&negative.to_xml(), Limits::default()).unwrap() {
        medcom::Receipt::Negative(r) => {
            assert_eq!(r.original.envelope_identifier, letter.envelope.identifier);
            assert_eq!(r.original.letter_identifier, letter.letter.identifier);
            assert_eq!(r.error_text, "Patienten kendes ikke i modtagerens system");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(medcom::Receipt::parse(&read(XCTL03), Limits::default()).unwrap(), medcom::Receipt::Positive(_)));
}
