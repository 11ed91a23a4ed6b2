//! The one clock. Everything that needs the time asks an injected [`Clock`] (or takes `now`
//! from its caller); [`SystemClock::now`] is the only place that reads the system time
//! (clippy's `disallowed_methods` refuses `Utc::now` everywhere else).

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Where "now" comes from.
pub trait Clock: std::fmt::Debug + Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one reading of the wall clock; everything else is given this clock or `now`.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is set or advanced (for tests).
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        TestClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("the test clock's lock") = at;
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().expect("the test clock's lock");
        *t += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("the test clock's lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_clock_moves_only_when_told() {
        let t: DateTime<Utc> = "2025-03-01T10:00:00Z".parse().unwrap();
        let c = TestClock::new(t);
        assert_eq!(c.now(), t);
        assert_eq!(c.now(), t);
        c.advance(Duration::seconds(5));
        assert_eq!(c.now(), t + Duration::seconds(5));
        c.set(t);
        assert_eq!(c.now(), t);
        let sys = SystemClock.now();
        assert!(SystemClock.now() >= sys);
    }
}
