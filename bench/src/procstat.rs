//! What a process has used, from `/proc`: CPU seconds (`/proc/<pid>/stat`, user + system
//! ticks) and peak resident memory (`VmHWM` in `/proc/<pid>/status`), which can be reset
//! between phases by writing `5` to `/proc/<pid>/clear_refs`.

use std::io;

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), usually 100.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    #[allow(unsafe_code)]
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// User + system CPU seconds the process has used so far (its threads included).
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).map(|t| t as f64 / ticks_per_second())
}

/// `utime + stime` from a `/proc/<pid>/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> io::Result<u64> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/<pid>/stat format");
    let rest = &stat[stat.rfind(')').ok_or_else(bad)? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let stime: u64 = fields.get(12).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    Ok(utime + stime)
}

/// Peak resident set size in KiB since start or the last [`reset_peak_rss`].
pub fn peak_rss_kib(pid: u32) -> io::Result<u64> {
    status_kib(pid, "VmHWM:")
}

/// Current resident set size in KiB.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {field} in /proc/{pid}/status")))
}

/// Resets the process's peak RSS to its current RSS (Linux 4.0+), so the next
/// [`peak_rss_kib`] is the peak of one phase.
pub fn reset_peak_rss(pid: u32) -> io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_stat_line_with_an_awkward_name() {
        let line = "4242 (tokio (rt) x) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_cpu_ticks(line).unwrap(), 281);
        assert!(parse_cpu_ticks("4242 (x) S 1 2").is_err());
        assert!(parse_cpu_ticks("no parenthesis").is_err());
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        // Burn a little CPU so the counter is visibly non-negative and readable.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds(me).unwrap() >= 0.0);
        let peak = peak_rss_kib(me).unwrap();
        assert!(peak > 0 && peak >= rss_kib(me).unwrap() / 2);
    }
}
