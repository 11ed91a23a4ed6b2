//! Feeds arbitrary bytes to each MedCom entry point that takes bytes (XDIS91, XCTL03, the
//! Den Dynamiske Blanket form) and to the hardened XML reader and decoder under them
//! (`medcom` fuzzes `parse_message`); what parses is written and read again.
#![no_main]

use connectors::medcom::{DdbForm, Xctl03, Xdis91};
use connectors::xml::{self, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::with_max_bytes(256 * 1024);
    let again = Limits::with_max_bytes(1024 * 1024);
    let _ = xml::decode(data, limits);
    let _ = xml::parse(data, limits);
    if let Ok(m) = Xdis91::parse(data, limits) {
        let _ = Xdis91::parse(&m.to_xml(), again);
    }
    if let Ok(m) = Xctl03::parse(data, limits) {
        let _ = Xctl03::parse(&m.to_xml(), again);
    }
    if let Ok(m) = DdbForm::parse(data, limits) {
        let _ = m.field("Diagnose");
        let _ = m.is_lae265();
        let _ = DdbForm::parse(&m.to_xml(), again);
    }
});
