//! The load generator: `concurrency` workers in a closed loop (each sends its next request
//! as soon as the previous one is answered) for a fixed time, recording every latency; or
//! an open loop ([`open_loop`]): requests sent at a fixed arrival rate whatever the answers
//! do, each latency measured from the request's intended send time (no coordinated
//! omission).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde::Serialize;

/// One request: `Ok(())` when the answer is complete and correct.
pub type Op = Arc<dyn Fn(usize) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

pub fn op<F, Fut>(f: F) -> Op
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move |i| Box::pin(f(i)))
}

/// What one phase measured.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub elapsed: Duration,
    /// Latencies of the successful requests.
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Sample {
    pub fn merge(&mut self, other: Sample) {
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn summary(&self) -> Summary {
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let q = |p: f64| -> f64 {
            if v.is_empty() {
                return 0.0;
            }
            let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
            v[i].as_secs_f64() * 1e3
        };
        let secs = self.elapsed.as_secs_f64();
        Summary {
            requests: v.len() as u64,
            errors: self.errors,
            throughput: if secs > 0.0 { v.len() as f64 / secs } else { 0.0 },
            p50_ms: q(0.50),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: v.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        }
    }
}

/// Percentiles (nearest rank) and throughput of a sample.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    /// Successful requests per second.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Runs `op` from `concurrency` workers for `duration`. Request `k` of worker `w` gets the
/// sequence number `w + k * concurrency`, so workers spread over the citizens.
pub async fn run(op: &Op, concurrency: usize, duration: Duration) -> Sample {
    let start = Instant::now();
    let end = start + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut s = Sample::default();
                let mut seq = w;
                while Instant::now() < end {
                    let t0 = Instant::now();
                    match op(seq).await {
                        Ok(()) => s.latencies.push(t0.elapsed()),
                        Err(e) => {
                            s.errors += 1;
                            s.first_error.get_or_insert(e);
                        }
                    }
                    seq += concurrency;
                }
                s
            })
        })
        .collect();
    let mut total = Sample::default();
    for w in workers {
        match w.await {
            Ok(s) => total.merge(s),
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert(format!("worker panicked: {e}"));
            }
        }
    }
    // Until the last request finished (requests started before `end` are counted).
    total.elapsed = start.elapsed();
    total
}

/// Sends request `k` at `start + k / rate` for `duration`, each on its own task whether or
/// not earlier ones were answered, and measures each latency from its intended send time,
/// so a stall shows as the latency of every request that should have been sent during it.
pub async fn open_loop(op: &Op, rate: f64, duration: Duration) -> Sample {
    let start = Instant::now();
    let n = (rate * duration.as_secs_f64()).floor().max(1.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = Vec::with_capacity(n);
    for k in 0..n {
        let intended = start + interval.mul_f64(k as f64);
        tokio::time::sleep_until(intended.into()).await;
        let fut = op(k);
        tasks.push(tokio::spawn(async move {
            let r = fut.await;
            (r, intended.elapsed())
        }));
    }
    let mut total = Sample::default();
    for t in tasks {
        match t.await {
            Ok((Ok(()), latency)) => total.latencies.push(latency),
            Ok((Err(e), _)) => {
                total.errors += 1;
                total.first_error.get_or_insert(e);
            }
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert(format!("request task panicked: {e}"));
            }
        }
    }
    total.elapsed = start.elapsed();
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = Sample {
            elapsed: Duration::from_secs(2),
            latencies: (1..=1000).rev().map(Duration::from_millis).collect(),
            errors: 3,
            first_error: None,
        };
        let m = s.summary();
        assert_eq!(m.requests, 1000);
        assert_eq!(m.errors, 3);
        assert_eq!(m.throughput, 500.0);
        assert_eq!(m.p50_ms, 500.0);
        assert_eq!(m.p99_ms, 990.0);
        assert_eq!(m.p999_ms, 999.0);
        assert_eq!(m.max_ms, 1000.0);
        assert_eq!(Sample::default().summary().p99_ms, 0.0);
    }

    #[tokio::test]
    async fn failures_are_counted_not_timed() {
        let o = op(|i| async move {
            tokio::task::yield_now().await;
            if i % 2 == 0 { Ok(()) } else { Err(format!("odd {i}")) }
        });
        let s = run(&o, 2, Duration::from_millis(20)).await;
        // Worker 0 sees only even numbers, worker 1 only odd ones.
        assert!(s.errors > 0 && !s.latencies.is_empty());
        assert!(s.first_error.unwrap().starts_with("odd"));
    }

    #[tokio::test]
    async fn open_loop_sends_on_schedule_and_times_from_it() {
        // Every request takes 30 ms and they are sent every 5 ms: sent one after another
        // (closed loop) 20 would take 600 ms; on schedule they overlap.
        let o = op(|_| async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(())
        });
        let s = open_loop(&o, 200.0, Duration::from_millis(100)).await;
        assert_eq!(s.latencies.len(), 20);
        assert_eq!(s.errors, 0);
        assert!(s.latencies.iter().all(|l| *l >= Duration::from_millis(30)));
        assert!(s.elapsed < Duration::from_millis(500), "{:?}", s.elapsed);
    }
}
