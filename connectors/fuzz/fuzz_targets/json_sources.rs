//! Feeds arbitrary bytes to the JSON parsers of the REST sources (jobcenter case and
//! benefits, Jobnet CV, person register), directly and as a source's reply (200, 404, 500),
//! and the person register's municipality code reader.
#![no_main]

use connectors::http::Reply;
use connectors::jobcenter::{BenefitsResponse, CaseResponse};
use connectors::jobnet_cv::Cv;
use connectors::json;
use connectors::person::{self, PersonResponse};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 256 * 1024;

fuzz_target!(|data: &[u8]| {
    let _ = json::parse::<CaseResponse>(data, MAX);
    let _ = json::parse::<BenefitsResponse>(data, MAX);
    let _ = json::parse::<Cv>(data, MAX);
    let _ = json::parse::<PersonResponse>(data, MAX);
    for status in [200, 404, 500] {
        let reply = Reply { status, content_type: Some("application/json".into()), body: data.to_vec().into() };
        let _ = json::citizen_reply::<CaseResponse>(&reply, MAX);
        let _ = json::citizen_reply::<Cv>(&reply, MAX);
        let _ = json::citizen_reply::<PersonResponse>(&reply, MAX);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = person::parse_municipality(text);
    }
});
