//! A per-client-address rate limit (fixed one-minute windows), for routes anyone can call
//! that write something: the portal's `GET /login` stores a login state per call.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Addresses remembered at most; beyond that, finished windows are dropped, and if none
/// has finished, all (a flood of addresses then resets the counts, never blocks anyone
/// for good).
const CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct RateLimit {
    per_window: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimit {
    /// At most `per_minute` calls per address per minute.
    pub fn per_minute(per_minute: u32) -> RateLimit {
        RateLimit { per_window: per_minute, window: Duration::from_secs(60), seen: Mutex::new(HashMap::new()) }
    }

    /// Counts a call from `addr` at `now`; `Err(wait)` when over the limit.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= CAPACITY && !seen.contains_key(&addr) {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
            if seen.len() >= CAPACITY {
                seen.clear();
            }
        }
        let (start, count) = seen.entry(addr).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_window {
            return Err(self.window.saturating_sub(now.duration_since(*start)));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_per_window() {
        let limit = RateLimit::per_minute(3);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            limit.check(a, t0).unwrap();
        }
        let wait = limit.check(a, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        limit.check(b, t0).unwrap();
        limit.check(a, t0 + Duration::from_secs(60)).unwrap();
    }
}
