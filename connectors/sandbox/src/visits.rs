//! What the sources were asked: every request a source receives, with when it arrived and
//! when it was answered, by the sandbox's own clock. Tests read it to count a connector's
//! attempts and to see whether two requests were served at the same time
//! (`RunningSandbox::visits`, `GET /admin/visits`; `DELETE /admin/visits` forgets them).
//! Only the path is kept, never the query string or a header; whether the path or the
//! query held a CPR number in any writing is kept as a flag (`url_holds_cpr`): sammen
//! sends the number in headers or bodies, never in a URL, and tests assert it.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::Source;

/// One request a source received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// A running number, from 0 at the sandbox's start.
    pub number: u64,
    /// `mediconnect`, `jobcenter`, `social`, `jobnet_cv` or `cpr` (the person register).
    pub source: String,
    pub path: String,
    /// Microseconds since the sandbox started.
    pub arrived_us: u64,
    /// When the handler produced its answer (microseconds since the sandbox started);
    /// `None` while it has not, or when the connection went first.
    pub answered_us: Option<u64>,
    /// The path or query string held a valid CPR number (percent-decoded, with or without
    /// separators between its digits).
    #[serde(default)]
    pub url_holds_cpr: bool,
}

/// Whether `text` (a path or query string) holds a valid CPR number: percent-decoded, any
/// run of digits and separators (`-`, `.`, `/`, space, `_`, `+`, `:`) is read without its
/// separators, and every ten consecutive digits of it are tried.
pub fn holds_cpr(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            decoded.push((h * 16 + l) as u8);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let mut digits = String::new();
    let check = |digits: &mut String| {
        let found =
            digits.len() >= 10 && (0..=digits.len() - 10).any(|k| consent::Cpr::parse(&digits[k..k + 10]).is_ok());
        digits.clear();
        found
    };
    for c in String::from_utf8_lossy(&decoded).chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !matches!(c, '-' | '.' | '/' | ' ' | '_' | '+' | ':') && check(&mut digits) {
            return true;
        }
    }
    check(&mut digits)
}

/// The visits of one sandbox, by its own clock.
pub(crate) struct VisitLog {
    visits: Mutex<Vec<Visit>>,
    numbers: AtomicU64,
    epoch: Instant,
}

impl Default for VisitLog {
    fn default() -> Self {
        VisitLog { visits: Mutex::new(Vec::new()), numbers: AtomicU64::new(0), epoch: Instant::now() }
    }
}

impl VisitLog {
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Records a request's arrival; returns its number, for [`VisitLog::answered`].
    fn arrive(&self, source: Source, path: &str, url_holds_cpr: bool) -> u64 {
        let at = self.now_us();
        let number = self.numbers.fetch_add(1, Ordering::Relaxed);
        let mut visits = self.visits.lock().expect("not poisoned");
        if visits.len() > 100_000 {
            visits.clear();
        }
        let source = source.name().to_string();
        visits.push(Visit { number, source, path: path.to_string(), arrived_us: at, answered_us: None, url_holds_cpr });
        number
    }

    /// Records that visit `number` was answered (if it is still remembered).
    fn answered(&self, number: u64) {
        let at = self.now_us();
        let mut visits = self.visits.lock().expect("not poisoned");
        if let Some(v) = visits.iter_mut().rev().find(|v| v.number == number) {
            v.answered_us = Some(at);
        }
    }

    pub(crate) fn all(&self) -> Vec<Visit> {
        self.visits.lock().expect("not poisoned").clone()
    }

    pub(crate) fn forget(&self) {
        self.visits.lock().expect("not poisoned").clear();
    }
}

/// `router` with every request recorded in `log` as a visit of `source`.
pub(crate) fn recorded(router: axum::Router, log: Arc<VisitLog>, source: Source) -> axum::Router {
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let state = log.clone();
        async move {
            let holds = holds_cpr(req.uri().path()) || req.uri().query().is_some_and(holds_cpr);
            let number = state.arrive(source, req.uri().path(), holds);
            let response: Response = next.run(req).await;
            state.answered(number);
            response
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::holds_cpr;

    #[test]
    fn a_cpr_number_in_any_writing_is_seen() {
        for url in [
            "/cases/0101709900",
            "/cases/010170-9900",
            "/x?cpr=01.01.70.9900",
            "/x?cpr=010170%2D9900",
            "/x?q=a0101709900b",
            "/x/01%2F01%2F70%209900",
        ] {
            assert!(holds_cpr(url), "{url}");
        }
        for url in ["/cases/12345", "/x?id=7f3e2a10-0000-4000-8000-000000000001", "/x?n=9999999999", "/"] {
            assert!(!holds_cpr(url), "{url}");
        }
    }
}
