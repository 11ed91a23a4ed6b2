//! The one clock. Everything that needs the time asks an injected [`Clock`] (the core's
//! `clock`) or takes `now` from its caller; [`SystemClock::now`] is the only place that
//! reads the system time. The types live in the consent crate, whose audit writer takes the
//! same clock; they are re-exported here.

pub use consent::clock::{Clock, SystemClock, TestClock};
