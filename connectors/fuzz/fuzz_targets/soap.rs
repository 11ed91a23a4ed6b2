//! Feeds arbitrary bytes to the SOAP 1.1 reader, the social services' reply parser (as a
//! 200 and as a 500 answer) and request parser (the sandbox's side); a reply that parses is
//! written and read again.
#![no_main]

use connectors::http::Reply;
use connectors::soap;
use connectors::social::{self, GetMeasuresRequest};
use connectors::xml::Limits;
use libfuzzer_sys::fuzz_target;

fn reply(status: u16, body: Vec<u8>) -> Reply {
    Reply { status, content_type: Some("text/xml; charset=utf-8".into()), body: body.into() }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::with_max_bytes(256 * 1024);
    let _ = soap::parse(data, limits);
    let _ = GetMeasuresRequest::parse(data, limits);
    let _ = social::parse_reply(&reply(500, data.to_vec()), limits);
    if let Ok(Some(response)) = social::parse_reply(&reply(200, data.to_vec()), limits) {
        let again = reply(200, response.to_xml().into_bytes());
        let _ = social::parse_reply(&again, Limits::with_max_bytes(1024 * 1024));
    }
});
