//! The harness's results as Markdown tables (what BENCHMARKS.md quotes).

use std::fmt::Write;

use crate::harness::Report;

pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Machine: {}", r.machine);
    let _ = writeln!(s, "Store: {}.", r.store);
    let _ = writeln!(
        s,
        "Store: {} consents preloaded in {:.1} s, {:.1} MB on disk ({} bytes per consent). Gateway RSS after start: {:.1} MiB.",
        r.preloaded.consents,
        r.preloaded.seconds,
        r.preloaded.bytes_on_disk as f64 / 1e6,
        r.preloaded.bytes_on_disk / r.preloaded.consents.max(1) as u64,
        r.gateway_rss_after_start_mib
    );
    if !r.callgrind.is_empty() {
        let _ = writeln!(
            s,
            "\nInstructions executed by the gateway process (callgrind), every thread, requests one after another:\n"
        );
        let _ = writeln!(s, "| what | requests | instructions | per request |");
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for c in &r.callgrind {
            let _ = writeln!(s, "| {} | {} | {} | {} |", c.what, c.requests, c.instructions, c.per_request());
        }
        return s;
    }
    if let Some(n) = r.case_files_counted_by_metrics {
        let _ = writeln!(
            s,
            "Gateway run as deployed: admin listener on; its metrics counted {n} case-file requests before the delayed-source scenario."
        );
    }
    let _ = writeln!(
        s,
        "Each row: A B B A, {} s per phase; A = the limit, B = sammen. Load: c=N closed loop with N workers; open R/s a fixed arrival rate, latency from the intended send time. Added latency only where it is the gateway's (c=1 and open loop); at higher concurrency both sides are saturated and the difference is queueing.\n",
        r.secs_per_phase
    );
    let _ = writeln!(
        s,
        "| scenario | load | limit req/s | sammen req/s | sammen/limit | limit p50 / p99 / p99.9 ms | sammen p50 / p99 / p99.9 ms | added p50 / p99 ms | gateway CPU s (ms per case file) | gateway peak RSS MiB | errors A / B |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---|---|---|---:|---:|---|");
    for row in &r.rows {
        let (a, b) = (&row.limit.summary, &row.sammen.summary);
        let per = if b.requests > 0 { row.sammen.gateway_cpu_s * 1e3 / b.requests as f64 } else { 0.0 };
        let added = if row.load.added_latency_meaningful() {
            format!("{:+.2} / {:+.2}", b.p50_ms - a.p50_ms, b.p99_ms - a.p99_ms)
        } else {
            "(queueing)".to_string()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {} | {:.1} ({:.2}) | {:.1} | {} / {} |",
            row.scenario,
            row.load,
            a.throughput,
            b.throughput,
            row.ratio(),
            a.p50_ms,
            a.p99_ms,
            a.p999_ms,
            b.p50_ms,
            b.p99_ms,
            b.p999_ms,
            added,
            row.sammen.gateway_cpu_s,
            per,
            row.sammen.gateway_peak_rss_mib,
            a.errors,
            b.errors,
        );
    }
    let _ = writeln!(s, "\nCPU seconds over the A phases / B phases: gateway, sandbox, load generator (this process).");
    let _ = writeln!(
        s,
        "\n| scenario | load | gateway A / B | gateway ms per case file ÷ load generator ms per fetch set | sandbox A / B | load generator A / B |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for row in &r.rows {
        let (a, b) = (&row.limit, &row.sammen);
        let per = |cpu: f64, n: u64| if n > 0 { cpu * 1e3 / n as f64 } else { 0.0 };
        let (gw, lg) = (per(b.gateway_cpu_s, b.summary.requests), per(a.loadgen_cpu_s, a.summary.requests));
        let times = if lg > 0.0 { gw / lg } else { 0.0 };
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} / {:.1} | {gw:.2} ÷ {lg:.2} = {times:.1}× | {:.1} / {:.1} | {:.1} / {:.1} |",
            row.scenario,
            row.load,
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
                let _ = writeln!(s, "\nfirst error ({}, {}, {who}): {e}", row.scenario, row.load);
            }
        }
    }
    s
}
