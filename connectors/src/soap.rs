//! SOAP 1.1 envelopes: wrapping a payload, reading a body or a fault, through the
//! hardened [`crate::xml`] reader.

use crate::xml::{self, Element, Limits, XmlError};

pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A SOAP 1.1 fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The fault code's local part: `Client`, `Server`, `VersionMismatch`, `MustUnderstand`.
    pub code: String,
    pub string: String,
    /// `detail/ErrorCode`, when the service gives one.
    pub detail_code: Option<String>,
}

/// What an envelope's body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Payload(Element),
    Fault(Fault),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a SOAP 1.1 envelope")]
    NotAnEnvelope,
    #[error("SOAP body is empty")]
    EmptyBody,
}

/// Reads an envelope.
pub fn parse(bytes: &[u8], limits: Limits) -> Result<Body, SoapError> {
    let root = xml::parse(bytes, limits)?;
    if root.name != "Envelope" || root.ns.as_deref() != Some(NS_SOAP11) {
        return Err(SoapError::NotAnEnvelope);
    }
    let body = root
        .elements()
        .find(|e| e.name == "Body" && e.ns.as_deref() == Some(NS_SOAP11))
        .ok_or(SoapError::NotAnEnvelope)?;
    let first = body.elements().next().ok_or(SoapError::EmptyBody)?;
    if first.name == "Fault" && first.ns.as_deref() == Some(NS_SOAP11) {
        let code = first.child_text("faultcode").unwrap_or_default();
        let code = code.rsplit(':').next().unwrap_or_default().to_string();
        return Ok(Body::Fault(Fault {
            code,
            string: first.child_text("faultstring").unwrap_or_default(),
            detail_code: first.child("detail").and_then(|d| {
                d.elements()
                    .find_map(|e| e.child_text("ErrorCode").or_else(|| (e.name == "ErrorCode").then(|| e.text())))
            }),
        }));
    }
    Ok(Body::Payload(first.clone()))
}

/// Wraps a payload (XML without declaration) in a UTF-8 SOAP 1.1 envelope.
pub fn envelope(payload: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{NS_SOAP11}\"><soap:Body>{payload}</soap:Body></soap:Envelope>\n"
    )
}

/// A fault envelope; `code` is `Client` or `Server`.
pub fn fault(code: &str, string: &str, detail_code: Option<&str>) -> String {
    let detail = detail_code
        .map(|c| format!("<detail><Error xmlns=\"\"><ErrorCode>{}</ErrorCode></Error></detail>", xml::escape(c)))
        .unwrap_or_default();
    envelope(&format!(
        "<soap:Fault><faultcode>soap:{}</faultcode><faultstring>{}</faultstring>{detail}</soap:Fault>",
        xml::escape(code),
        xml::escape(string)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_and_fault() {
        let env = envelope("<m:Ping xmlns:m=\"urn:x\"><m:A>1</m:A></m:Ping>");
        match parse(env.as_bytes(), Limits::default()).unwrap() {
            Body::Payload(p) => assert_eq!((p.name.as_str(), p.ns.as_deref()), ("Ping", Some("urn:x"))),
            other => panic!("{other:?}"),
        }
        let f = fault("Client", "unknown citizen", Some("UnknownCitizen"));
        assert_eq!(
            parse(f.as_bytes(), Limits::default()).unwrap(),
            Body::Fault(Fault {
                code: "Client".into(),
                string: "unknown citizen".into(),
                detail_code: Some("UnknownCitizen".into())
            })
        );
        assert_eq!(parse(b"<Envelope/>", Limits::default()), Err(SoapError::NotAnEnvelope));
    }
}
