//! The harness's results as Markdown tables (what BENCHMARKS.md quotes).

use std::fmt::Write;

use crate::harness::Report;

pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Machine: {}", r.machine);
    let _ = writeln!(
        s,
        "Store: {} consents preloaded in {:.1} s, {:.1} MB on disk ({} bytes per consent). Gateway RSS after start: {:.1} MiB.",
        r.preloaded.consents,
        r.preloaded.seconds,
        r.preloaded.bytes_on_disk as f64 / 1e6,
        r.preloaded.bytes_on_disk / r.preloaded.consents.max(1) as u64,
        r.gateway_rss_after_start_mib
    );
    let _ = writeln!(s, "Each row: A/B/A/B, {} s per phase; A = the limit, B = sammen.\n", r.secs_per_phase);
    let _ = writeln!(
        s,
        "| scenario | concurrency | limit req/s | sammen req/s | sammen/limit | limit p50 / p99 / p99.9 ms | sammen p50 / p99 / p99.9 ms | added p50 / p99 ms | gateway CPU s (ms per case file) | gateway peak RSS MiB | errors A / B |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---|---|---|---:|---:|---|");
    for row in &r.rows {
        let (a, b) = (&row.limit.summary, &row.sammen.summary);
        let per = if b.requests > 0 { row.sammen.gateway_cpu_s * 1e3 / b.requests as f64 } else { 0.0 };
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {:+.2} / {:+.2} | {:.1} ({:.2}) | {:.1} | {} / {} |",
            row.scenario,
            row.concurrency,
            a.throughput,
            b.throughput,
            row.ratio(),
            a.p50_ms,
            a.p99_ms,
            a.p999_ms,
            b.p50_ms,
            b.p99_ms,
            b.p999_ms,
            b.p50_ms - a.p50_ms,
            b.p99_ms - a.p99_ms,
            row.sammen.gateway_cpu_s,
            per,
            row.sammen.gateway_peak_rss_mib,
            a.errors,
            b.errors,
        );
    }
    let _ = writeln!(s, "\nCPU seconds over the A phases / B phases: gateway, sandbox, load generator (this process).");
    let _ = writeln!(s, "\n| scenario | concurrency | gateway A / B | sandbox A / B | load generator A / B |");
    let _ = writeln!(s, "|---|---:|---|---|---|");
    for row in &r.rows {
        let (a, b) = (&row.limit, &row.sammen);
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} |",
            row.scenario,
            row.concurrency,
            a.gateway_cpu_s,
            b.gateway_cpu_s,
            a.sandbox_cpu_s,
            b.sandbox_cpu_s,
            a.loadgen_cpu_s,
            b.loadgen_cpu_s
        );
    }
    for row in &r.rows {
        for (who, m) in [("limit", &row.limit), ("sammen", &row.sammen)] {
            if let Some(e) = &m.first_error {
                let _ = writeln!(s, "\nfirst error ({}, c={}, {who}): {e}", row.scenario, row.concurrency);
            }
        }
    }
    s
}
