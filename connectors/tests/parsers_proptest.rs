//! Every parser survives arbitrary and mutated bytes without panicking, and oversized or
//! pathological documents are refused by the limit meant for them. (No wall-clock bounds:
//! the machine is shared, and a hang would hit the test harness's timeout anyway.)

use connectors::http::Reply;
use connectors::jobcenter::CaseResponse;
use connectors::jobnet_cv::Cv;
use connectors::medcom::{self, Xdis91};
use connectors::social::{self, GetMeasuresResponse, Measure};
use connectors::xml::{Limits, XmlError};
use connectors::{json, soap, xml};
use proptest::prelude::*;

const XDIS91: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/samples/medcom/Flow1-XDIS91_Ex_to_FHIR.xml");

fn seeds() -> Vec<Vec<u8>> {
    let letter = std::fs::read(XDIS91).expect("MedCom sample beside the checkout");
    let parsed = Xdis91::parse(&letter, Limits::default()).unwrap();
    let soap_response = GetMeasuresResponse {
        cpr: "0101609900".into(),
        measures: vec![Measure {
            id: "F1".into(),
            title: "Støtte".into(),
            legal_paragraph: "serviceloven § 85".into(),
            start: "2024-01-01".parse().unwrap(),
            end: None,
            responsible_unit: "Socialforvaltningen".into(),
        }],
    }
    .to_xml()
    .into_bytes();
    let case = br#"{"civilRegistrationIdentifier":"0101609900","jobcenter":"J","visitation":{"id":"V","date":"2025-01-01","targetGroup":"x","status":"y"},"contacts":[],"plan":null}"#.to_vec();
    vec![letter, parsed.to_xml(), soap_response, soap::fault("Client", "x", Some("UnknownCitizen")).into_bytes(), case]
}

/// Runs every parser on the bytes; none may panic.
fn all_parsers(bytes: &[u8]) {
    let limits = Limits::with_max_bytes(64 * 1024);
    let _ = xml::parse(bytes, limits);
    let _ = medcom::parse_message(bytes, limits);
    let _ = soap::parse(bytes, limits);
    for status in [200, 500] {
        let reply = Reply { status, content_type: Some("text/xml".into()), body: bytes.to_vec().into() };
        let _ = social::parse_reply(&reply, limits);
    }
    let _ = json::parse::<CaseResponse>(bytes, 64 * 1024);
    let _ = json::parse::<Cv>(bytes, 64 * 1024);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let markup = prop_oneof![
        Just(b"<".to_vec()),
        Just(b"</a>".to_vec()),
        Just(b"&".to_vec()),
        Just(b"&lol;".to_vec()),
        Just(b"<!DOCTYPE x [<!ENTITY a \"b\">]>".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"{[".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), markup).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..256).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    let at = |i: usize, len: usize| i % (len + 1);
    match m {
        Mutation::Flip(i, b) => {
            let i = i % bytes.len();
            bytes[i] ^= b | 1;
        }
        Mutation::Insert(i, v) => {
            let i = at(*i, bytes.len());
            bytes.splice(i..i, v.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let i = i % bytes.len();
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Truncate(i) => bytes.truncate(at(*i, bytes.len())),
        Mutation::Duplicate(i, n) => {
            let i = i % bytes.len();
            let end = (i + n).min(bytes.len());
            let copy = bytes[i..end].to_vec();
            bytes.splice(i..i, copy);
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all_parsers(&bytes);
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,512}") {
        all_parsers(text.as_bytes());
        all_parsers(format!("<a xmlns=\"urn:x\">{text}</a>").as_bytes());
    }

    #[test]
    fn mutated_messages(seed in 0usize..5, mutations in proptest::collection::vec(mutation(), 1..6)) {
        let original = seeds().swap_remove(seed);
        let mutated = mutations.iter().fold(original, apply);
        all_parsers(&mutated);
    }
}

#[test]
fn deep_and_wide_documents_are_refused_by_their_limits() {
    let deep = "<a>".repeat(100_000);
    let wide = format!("<a>{}</a>", "<b/>".repeat(300_000));
    let deep_err = xml::parse(deep.as_bytes(), Limits::default()).unwrap_err();
    assert!(matches!(deep_err, XmlError::TooDeep(_)), "{deep_err}");
    let wide_err = xml::parse(wide.as_bytes(), Limits::default()).unwrap_err();
    assert!(matches!(wide_err, XmlError::TooManyNodes(_) | XmlError::TooLarge { .. }), "{wide_err}");
    // 100,000 open arrays, at the top and inside an unknown field: refused, and without
    // the stack overflow a recursive descent would hit (that aborts the whole test binary).
    for deep_json in ["[".repeat(100_000), format!(r#"{{"extension":{}"#, "[".repeat(100_000))] {
        assert!(json::parse::<CaseResponse>(deep_json.as_bytes(), 1 << 20).is_err());
    }
}
