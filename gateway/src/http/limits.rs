//! Connection limits shared by every listener (`[limits]`): what one client, or many, may
//! hold open, and for how long, before the accept loop lets go of them.
//!
//! Enforced in [`super::tls::accept_loop`]:
//! - connections per client address are counted at accept, before the TLS handshake, and a
//!   connection over [`ConnectionLimits::max_connections_per_address`] is closed at once;
//! - handshakes run at most [`ConnectionLimits::max_handshakes`] at a time, each (wait
//!   included) under the listener's handshake timeout;
//! - HTTP/1 request headers must arrive within [`ConnectionLimits::header_read_timeout_ms`]
//!   (hyper, with a timer), which ends slow-header clients;
//! - a connection with no request in flight and no bytes read or written for
//!   [`ConnectionLimits::idle_timeout_ms`] is closed (HTTP/1 keep-alive, HTTP/2, and a
//!   client that completed the handshake and then said nothing);
//! - HTTP/2 pings every [`ConnectionLimits::http2_keep_alive_interval_ms`] and allows
//!   [`ConnectionLimits::http2_max_concurrent_streams`] streams per connection;
//! - a request is answered within [`ConnectionLimits::request_timeout_ms`] (503 otherwise)
//!   and at most [`ConnectionLimits::max_concurrent_requests`] are handled at once per
//!   listener (others wait, within the request timeout).

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// `[limits]`: applies to every listener (API, portal, admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Connections one client address may hold open on one listener; more are closed
    /// before their TLS handshake.
    pub max_connections_per_address: usize,
    /// TLS handshakes in progress at once on one listener.
    pub max_handshakes: usize,
    /// HTTP/1: all of a request's headers must arrive within this.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight and no traffic for this long is closed.
    pub idle_timeout_ms: u64,
    /// A request not answered within this gets 503.
    pub request_timeout_ms: u64,
    /// Requests handled at once on one listener; others wait (within the request timeout).
    pub max_concurrent_requests: usize,
    /// HTTP/2: a ping after this much silence ...
    pub http2_keep_alive_interval_ms: u64,
    /// ... which must be answered within this, or the connection is closed.
    pub http2_keep_alive_timeout_ms: u64,
    /// HTTP/2: streams one connection may have open at once.
    pub http2_max_concurrent_streams: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections_per_address: 64,
            max_handshakes: 128,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            request_timeout_ms: 30_000,
            max_concurrent_requests: 512,
            http2_keep_alive_interval_ms: 20_000,
            http2_keep_alive_timeout_ms: 10_000,
            http2_max_concurrent_streams: 32,
        }
    }
}

impl ConnectionLimits {
    /// Every limit must be positive.
    pub fn check(&self) -> Result<(), String> {
        let zero = [
            ("max_connections_per_address", self.max_connections_per_address as u64),
            ("max_handshakes", self.max_handshakes as u64),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("max_concurrent_requests", self.max_concurrent_requests as u64),
            ("http2_keep_alive_interval_ms", self.http2_keep_alive_interval_ms),
            ("http2_keep_alive_timeout_ms", self.http2_keep_alive_timeout_ms),
            ("http2_max_concurrent_streams", u64::from(self.http2_max_concurrent_streams)),
        ]
        .into_iter()
        .filter(|(_, v)| *v == 0)
        .map(|(k, _)| k)
        .collect::<Vec<_>>();
        if zero.is_empty() { Ok(()) } else { Err(format!("[limits] must be positive: {}", zero.join(", "))) }
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// The client's address (the TCP peer), in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Open connections per client address, with a cap.
#[derive(Debug, Default)]
pub(crate) struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; uncounted when dropped.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    table: Arc<PerAddress>,
    addr: IpAddr,
}

impl PerAddress {
    /// A slot for a new connection from `addr`, or `None` when it already holds `max`.
    pub(crate) fn try_open(self: &Arc<Self>, addr: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(addr).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot { table: self.clone(), addr })
    }

    #[cfg(test)]
    fn count(&self, addr: IpAddr) -> usize {
        self.open.lock().unwrap().get(&addr).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

/// What the idle watchdog of one connection looks at: when bytes last moved, and how many
/// requests are being handled.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity { start: Instant::now(), last_ms: AtomicU64::new(0), in_flight: AtomicUsize::new(0) })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the connection has been idle (zero while a request is in flight).
    pub(crate) fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Counts a request as in flight until the guard is dropped.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An IO stream that records when bytes last moved.
pub(crate) struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_caps_and_releases() {
        let t = Arc::new(PerAddress::default());
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let slots: Vec<_> = (0..3).map(|_| t.try_open(a, 3).unwrap()).collect();
        assert!(t.try_open(a, 3).is_none(), "a fourth connection from one address is refused");
        assert!(t.try_open(b, 3).is_some(), "another address is not affected");
        drop(slots);
        assert_eq!(t.count(a), 0);
        assert!(t.try_open(a, 3).is_some());
    }

    #[test]
    fn defaults_are_positive_and_zero_is_refused() {
        ConnectionLimits::default().check().unwrap();
        let bad = ConnectionLimits { idle_timeout_ms: 0, max_handshakes: 0, ..ConnectionLimits::default() };
        let e = bad.check().unwrap_err();
        assert!(e.contains("idle_timeout_ms") && e.contains("max_handshakes"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_counts_from_the_last_byte_and_not_while_a_request_runs() {
        let a = Activity::new();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(a.idle_for() >= Duration::from_secs(5));
        let req = a.request();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(a.idle_for(), Duration::ZERO);
        drop(req);
        assert!(a.idle_for() < Duration::from_secs(1));
    }
}
