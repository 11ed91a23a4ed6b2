//! Fault injection: per source, a fixed latency and at most one fault, set by
//! configuration or by `PUT /admin/faults/{source}`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use consent::Cpr;
use serde::{Deserialize, Serialize};

use crate::serve::Kill;

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer only after `ms` milliseconds.
    Delay { ms: u64 },
    /// HTTP 500 (a SOAP `Server` fault from the social source).
    Http500,
    /// Reset the TCP connection instead of answering.
    ConnectionReset,
    /// A complete answer whose body is cut in half (malformed XML/JSON).
    MalformedBody,
    /// A `Content-Length` promising more than is sent before the connection closes.
    TruncatedBody,
    /// A body larger than any sane maximum (`oversized_bytes` in the configuration).
    OversizedBody,
    /// The right answer about the wrong citizen (another synthetic CPR number).
    WrongPatient,
    /// An XML document with a DTD declaring nested entities ("billion laughs").
    EntityExpansion,
}

impl Fault {
    /// Faults that happen before any answer (applied to every endpoint of a source).
    fn is_transport(self) -> bool {
        matches!(self, Fault::Delay { .. } | Fault::Http500 | Fault::ConnectionReset)
    }
}

/// One source's latency and fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceFaults {
    /// Added to every answer.
    pub latency_ms: u64,
    pub fault: Option<Fault>,
}

impl SourceFaults {
    pub fn fault(fault: Fault) -> Self {
        SourceFaults { latency_ms: 0, fault: Some(fault) }
    }
}

/// A successful answer before faults are applied.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Answer {
    pub(crate) fn new(status: StatusCode, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Answer { status, content_type, body: body.into() }
    }

    pub(crate) fn into_response(self) -> Response {
        Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, self.content_type)
            .body(Body::from(self.body))
            .expect("valid response")
    }
}

/// Applies latency and transport faults. `Some(response)` ends the request there.
pub(crate) async fn before(f: SourceFaults, kill: &Kill, server_error: impl FnOnce() -> Response) -> Option<Response> {
    if f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    match f.fault {
        Some(Fault::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
        Some(Fault::Http500) => Some(server_error()),
        Some(Fault::ConnectionReset) => {
            kill.pull();
            std::future::pending::<()>().await;
            None
        }
        _ => None,
    }
}

/// Applies body faults to an answer about `cpr`.
pub(crate) fn after(f: SourceFaults, answer: Answer, cpr: Option<&Cpr>, oversized_bytes: usize) -> Response {
    let Some(fault) = f.fault.filter(|f| !f.is_transport()) else { return answer.into_response() };
    let ct = answer.content_type;
    match fault {
        Fault::MalformedBody => {
            let half = answer.body.len() / 2;
            Answer { body: answer.body[..half].to_vec(), ..answer }.into_response()
        }
        Fault::TruncatedBody => {
            let full = answer.body.len();
            let half = Bytes::from(answer.body[..full / 2].to_vec());
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                vec![Ok(half), Err(std::io::Error::other("sandbox: truncated body"))];
            // Let the head and the first half go out before the connection is cut.
            let stream = futures_util::StreamExt::then(futures_util::stream::iter(chunks), |chunk| async move {
                if chunk.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                chunk
            });
            Response::builder()
                .status(answer.status)
                .header(header::CONTENT_TYPE, ct)
                .header(header::CONTENT_LENGTH, full)
                .body(Body::from_stream(stream))
                .expect("valid response")
        }
        Fault::OversizedBody => {
            static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
            let n = oversized_bytes.div_ceil(CHUNK.len());
            let stream =
                futures_util::stream::iter((0..n).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&CHUNK))));
            Response::builder()
                .status(answer.status)
                .header(header::CONTENT_TYPE, ct)
                .body(Body::from_stream(stream))
                .expect("valid response")
        }
        Fault::WrongPatient => match cpr {
            Some(cpr) => {
                let other = other_citizen(cpr);
                let body = replace_all(&answer.body, cpr.expose().as_bytes(), other.expose().as_bytes());
                Answer { body, ..answer }.into_response()
            }
            None => answer.into_response(),
        },
        Fault::EntityExpansion => Answer::new(answer.status, ct, BILLION_LAUGHS).into_response(),
        Fault::Delay { .. } | Fault::Http500 | Fault::ConnectionReset => answer.into_response(),
    }
}

/// Another synthetic citizen than `cpr`.
fn other_citizen(cpr: &Cpr) -> Cpr {
    let all = crate::citizens();
    all.iter().rev().map(|c| c.cpr).find(|c| c != cpr).expect("more than one citizen")
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"#;
