//! Negative receipts: XCTL01 refuses a whole envelope, XCTL02 one letter (or form) in it.
//!
//! MedCom's published samples (../shared/samples/medcom/) hold only a positive receipt
//! (XCTL03). The negative ones here are written in the same namespace and shape: the
//! `PositiveReceipt` element becomes `NegativeReceipt`, the version codes follow XCTL03's
//! pattern (`XC0130Q`, `XC0230Q`), and the refusal carries an `ErrorCode` and an
//! `ErrorText` after `OriginalEmessage`. That shape is our assumption until a published
//! sample says otherwise; the codec and the sandbox hub agree on it.

use serde::{Deserialize, Serialize};

use super::writer::Out;
use super::{Envelope, Letter, MedcomError, NS_XCTL03, OriginalEmessage, Stamp, envelope, letter, req, req_text};
use crate::xml::Element;

/// What a negative receipt refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NegativeKind {
    /// XCTL01: the envelope could not be received at all.
    Envelope,
    /// XCTL02: a letter or form in the envelope was refused.
    Letter,
}

impl NegativeKind {
    pub fn statistical_code(self) -> &'static str {
        match self {
            NegativeKind::Envelope => "XCTL01",
            NegativeKind::Letter => "XCTL02",
        }
    }

    pub fn version_code(self) -> &'static str {
        match self {
            NegativeKind::Envelope => "XC0130Q",
            NegativeKind::Letter => "XC0230Q",
        }
    }

    fn from_statistical_code(code: &str) -> Option<Self> {
        match code {
            "XCTL01" => Some(NegativeKind::Envelope),
            "XCTL02" => Some(NegativeKind::Letter),
            _ => None,
        }
    }
}

/// An XCTL01/XCTL02 negative receipt: the original message and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegativeReceipt {
    pub envelope: Envelope,
    pub letter: Letter,
    pub kind: NegativeKind,
    pub sender_ean: String,
    pub receiver_ean: String,
    pub original: OriginalEmessage,
    pub error_code: String,
    /// The receiver's reason, as the receiver wrote it (for the caseworker to read).
    pub error_text: String,
}

impl NegativeReceipt {
    /// A refusal of `original`, sent by `our_ean` back to the original sender.
    pub fn refusing(
        original: OriginalEmessage,
        kind: NegativeKind,
        our_ean: &str,
        envelope_id: String,
        sent: Stamp,
        error_code: &str,
        error_text: &str,
    ) -> Self {
        NegativeReceipt {
            envelope: Envelope {
                sent,
                identifier: envelope_id.clone(),
                acknowledgement_code: "minuspositivkvitt".into(),
            },
            letter: Letter {
                identifier: envelope_id,
                version_code: kind.version_code().into(),
                statistical_code: kind.statistical_code().into(),
                authorisation: None,
                type_code: None,
                status_code: None,
            },
            kind,
            sender_ean: our_ean.to_string(),
            receiver_ean: original.sender_ean.clone(),
            original,
            error_code: error_code.to_string(),
            error_text: error_text.to_string(),
        }
    }

    /// The receipt as iso-8859-1 OIOXML.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut o = Out::new();
        o.open_ns("Emessage", NS_XCTL03);
        o.envelope(&self.envelope);
        o.open("NegativeReceipt");
        o.letter(&self.letter);
        o.ean_only("Sender", &self.sender_ean);
        o.ean_only("Receiver", &self.receiver_ean);
        o.original(&self.original);
        o.leaf("ErrorCode", &self.error_code);
        o.leaf("ErrorText", &self.error_text);
        o.close("NegativeReceipt");
        o.close("Emessage");
        o.finish()
    }
}

pub(super) fn original_from(receipt: &Element) -> Result<OriginalEmessage, MedcomError> {
    let orig = req(receipt, "OriginalEmessage")?;
    let orig_letter = req(orig, "OriginalLetter")?;
    Ok(OriginalEmessage {
        envelope_identifier: req_text(orig, "OriginalEnvelopeIdentifier")?,
        sender_ean: req_text(req(orig, "OriginalSender")?, "EANIdentifier")?,
        receiver_ean: req_text(req(orig, "OriginalReceiver")?, "EANIdentifier")?,
        letter_identifier: req_text(orig_letter, "OriginalLetterIdentifier")?,
        version_code: req_text(orig_letter, "OriginalVersionCode")?,
    })
}

pub(super) fn negative_from(root: &Element) -> Result<NegativeReceipt, MedcomError> {
    let receipt = req(root, "NegativeReceipt")?;
    let letter = letter(req(receipt, "Letter")?)?;
    let kind = NegativeKind::from_statistical_code(&letter.statistical_code)
        .ok_or(MedcomError::Invalid("NegativeReceipt/Letter/StatisticalCode"))?;
    Ok(NegativeReceipt {
        envelope: envelope(root)?,
        kind,
        letter,
        sender_ean: req_text(req(receipt, "Sender")?, "EANIdentifier")?,
        receiver_ean: req_text(req(receipt, "Receiver")?, "EANIdentifier")?,
        original: original_from(receipt)?,
        error_code: req_text(receipt, "ErrorCode")?,
        error_text: receipt.child_text("ErrorText").unwrap_or_default(),
    })
}

/// A receipt for a message we sent: positive or negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    Positive(Box<super::Xctl03>),
    Negative(Box<NegativeReceipt>),
}

impl Receipt {
    /// Parses a positive or a negative receipt; anything else is an error.
    pub fn parse(bytes: &[u8], limits: crate::xml::Limits) -> Result<Self, MedcomError> {
        match super::parse_message(bytes, limits)? {
            super::Message::Xctl03(r) => Ok(Receipt::Positive(r)),
            super::Message::NegativeReceipt(r) => Ok(Receipt::Negative(r)),
            _ => Err(MedcomError::Missing("a receipt (XCTL01, XCTL02 or XCTL03)")),
        }
    }

    /// The message the receipt answers.
    pub fn original(&self) -> &OriginalEmessage {
        match self {
            Receipt::Positive(r) => &r.original,
            Receipt::Negative(r) => &r.original,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::Limits;

    fn original() -> OriginalEmessage {
        OriginalEmessage {
            envelope_identifier: "KuvNrerwerwe99".into(),
            sender_ean: "5790001382445".into(),
            receiver_ean: "5790000121441".into(),
            letter_identifier: "Brevt23400929".into(),
            version_code: "XD9134L".into(),
        }
    }

    #[test]
    fn both_kinds_round_trip_with_their_reason() {
        for kind in [NegativeKind::Envelope, NegativeKind::Letter] {
            let sent = Stamp { date: "2026-12-01".parse().unwrap(), time: "08:16".into() };
            let r = NegativeReceipt::refusing(
                original(),
                kind,
                "5790000121441",
                "KuvertNr1257".into(),
                sent,
                "E12",
                "Patienten er ikke tilmeldt lægen – ukendt i praksis",
            );
            assert_eq!(r.receiver_ean, "5790001382445", "goes back to the original sender");
            let bytes = r.to_xml();
            match Receipt::parse(&bytes, Limits::default()).unwrap() {
                Receipt::Negative(parsed) => {
                    assert_eq!(*parsed, r);
                    assert_eq!(parsed.kind, kind);
                    assert_eq!(parsed.letter.statistical_code, kind.statistical_code());
                    assert_eq!(parsed.error_text, "Patienten er ikke tilmeldt lægen – ukendt i praksis");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_statistical_code_in_a_negative_receipt_is_invalid() {
        let sent = Stamp { date: "2026-12-01".parse().unwrap(), time: "08:16".into() };
        let r =
            NegativeReceipt::refusing(original(), NegativeKind::Letter, "5790000121441", "K1".into(), sent, "E1", "x");
        let xml = String::from_utf8_lossy(&r.to_xml()).replace("XCTL02", "XCTL09").into_bytes();
        assert_eq!(
            Receipt::parse(&xml, Limits::default()),
            Err(MedcomError::Invalid("NegativeReceipt/Letter/StatisticalCode"))
        );
    }
}
