//! The broker's CPU time and memory, read from `/proc`.
//!
//! CPU time is `utime + stime` from `/proc/PID/stat` (all threads), in clock ticks of
//! `USER_HZ`, which Linux fixes at 100 for user space. Peak RSS is `VmHWM` from
//! `/proc/PID/status` after resetting it by writing `5` to `/proc/PID/clear_refs` at the
//! start of measurement; where that is not permitted, the peak of `VmRSS` sampled every
//! [`SAMPLE_EVERY`] is reported instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// `USER_HZ`: clock ticks per second in `/proc/PID/stat`.
const TICKS_PER_SECOND: f64 = 100.0;
/// How often `VmRSS` is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// CPU seconds (user + system) a process has used; `pid` "self" means this process.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / TICKS_PER_SECOND)
}

/// `utime + stime` from the text of `/proc/PID/stat`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses; fields after the
    // last ')' start at field 3 (state). utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` field such as `VmRSS` or `VmHWM` from the text of `/proc/PID/status`.
pub fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// One `kB` field of `/proc/PID/status`.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

/// This process's peak RSS (`VmHWM`), KiB; 0 if unreadable.
pub fn own_peak_rss_kib() -> u64 {
    status_kib(std::process::id(), "VmHWM").unwrap_or(0)
}

/// Resets the peak RSS (`VmHWM`) of a process; `false` if not permitted.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The broker's resource use over the measured interval.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct BrokerUsage {
    /// CPU seconds (user + system) used in the interval.
    pub broker_cpu_s: f64,
    /// CPU used as a percentage of one core over the interval.
    pub broker_cpu_pct: f64,
    /// RSS at the start of the interval, KiB.
    pub broker_rss_start_kib: u64,
    /// RSS at the end of the interval, KiB.
    pub broker_rss_end_kib: u64,
    /// Peak RSS during the interval, KiB.
    pub broker_rss_peak_kib: u64,
    /// Where the peak came from: "vmhwm" (reset at the start) or "sampled" (VmRSS every
    /// 100 ms).
    pub broker_rss_peak_source: &'static str,
}

/// Watches the broker from the start of measurement until [`Self::finish`].
pub struct BrokerMonitor {
    pid: u32,
    started: Instant,
    cpu_start: f64,
    rss_start: u64,
    peak_reset: bool,
    sampled_peak: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl BrokerMonitor {
    /// Starts watching `pid`; `None` if it cannot be read.
    pub fn start(pid: u32) -> Option<Self> {
        let cpu_start = cpu_seconds(&pid.to_string())?;
        let rss_start = status_kib(pid, "VmRSS")?;
        let peak_reset = reset_peak_rss(pid);
        let sampled_peak = Arc::new(AtomicU64::new(rss_start));
        let stop = CancellationToken::new();
        tokio::spawn(sample_rss(pid, sampled_peak.clone(), stop.clone()));
        Some(Self {
            pid,
            started: Instant::now(),
            cpu_start,
            rss_start,
            peak_reset,
            sampled_peak,
            stop,
        })
    }

    /// Stops watching and reports the interval's usage.
    pub fn finish(self) -> BrokerUsage {
        self.stop.cancel();
        let elapsed = self.started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(&self.pid.to_string()).unwrap_or(self.cpu_start) - self.cpu_start;
        let rss_end = status_kib(self.pid, "VmRSS").unwrap_or(0);
        let sampled = self.sampled_peak.load(Ordering::Relaxed).max(rss_end);
        let hwm = self
            .peak_reset
            .then(|| status_kib(self.pid, "VmHWM"))
            .flatten();
        let (peak, source) = match hwm {
            Some(hwm) => (hwm, "vmhwm"),
            None => (sampled, "sampled"),
        };
        BrokerUsage {
            broker_cpu_s: round3(cpu),
            broker_cpu_pct: round3(if elapsed > 0.0 {
                cpu / elapsed * 100.0
            } else {
                0.0
            }),
            broker_rss_start_kib: self.rss_start,
            broker_rss_end_kib: rss_end,
            broker_rss_peak_kib: peak,
            broker_rss_peak_source: source,
        }
    }
}

async fn sample_rss(pid: u32, peak: Arc<AtomicU64>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Some(rss) = status_kib(pid, "VmRSS") {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Rounds to three decimal places.
pub fn round3(value: f64) -> f64 {
    (value * 1_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces_and_parens() {
        let stat = "1234 (my (odd) broker) S 1 1234 1234 0 -1 4194560 500 0 0 0 \
                    250 75 0 0 20 0 4 0 12345 100000000 2000 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tmosquitto\nVmHWM:\t   10240 kB\nVmRSS:\t    8192 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(8192));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(10240));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        assert!(cpu_seconds("self").is_some());
        assert!(status_kib(std::process::id(), "VmRSS").unwrap() > 0);
    }
}
