//! Feeds arbitrary bytes to the MedCom codec (and the hardened XML reader under it).
#![no_main]

use connectors::medcom;
use connectors::xml::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::with_max_bytes(256 * 1024);
    if let Ok(message) = medcom::parse_message(data, limits) {
        // What parses must serialize and parse again to the same message.
        let again = match &message {
            medcom::Message::Xdis91(m) => m.to_xml(),
            medcom::Message::Xctl03(m) => m.to_xml(),
            medcom::Message::NegativeReceipt(m) => m.to_xml(),
            medcom::Message::Ddb(m) => m.to_xml(),
        };
        let _ = medcom::parse_message(&again, Limits::with_max_bytes(1024 * 1024));
    }
});
