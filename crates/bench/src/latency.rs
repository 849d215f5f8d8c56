//! End-to-end latency: an HDR histogram per subscriber, merged and summarised at the end.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Lowest latency distinguished, in nanoseconds.
const LOWEST_NS: u64 = 100;
/// Highest latency recorded exactly, in nanoseconds (one minute); larger values saturate.
const HIGHEST_NS: u64 = 60_000_000_000;
/// Significant decimal digits kept.
const SIGFIGS: u8 = 3;

/// A latency histogram in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Option<Histogram<u64>>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIGS).ok(),
        }
    }

    /// Records one latency; values past a minute are recorded as a minute.
    pub fn record(&mut self, ns: u64) {
        if let Some(h) = &mut self.histogram {
            h.saturating_record(ns.max(LOWEST_NS));
        }
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &Latency) {
        if let (Some(h), Some(o)) = (&mut self.histogram, &other.histogram) {
            // Both have the same bounds, so adding cannot fail.
            let _ = h.add(o);
        }
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.histogram.as_ref().map_or(0, |h| h.len())
    }

    /// Percentiles and extremes, in microseconds; all zero when there are no samples.
    pub fn summary(&self) -> LatencySummary {
        let Some(h) = self.histogram.as_ref().filter(|h| !h.is_empty()) else {
            return LatencySummary::default();
        };
        let us = |ns: u64| round1(ns as f64 / 1_000.0);
        LatencySummary {
            samples: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: round1(h.mean() / 1_000.0),
        }
    }
}

/// Rounds to one decimal place.
fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Latency percentiles of a run, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of measured messages.
    pub samples: u64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
    /// Arithmetic mean.
    pub mean_us: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.002 + 0.1
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut latency = Latency::new();
        for us in 1..=10_000u64 {
            latency.record(us * 1_000);
        }
        let s = latency.summary();
        assert_eq!(s.samples, 10_000);
        assert!(close(s.p50_us, 5_000.0), "{s:?}");
        assert!(close(s.p90_us, 9_000.0), "{s:?}");
        assert!(close(s.p99_us, 9_900.0), "{s:?}");
        assert!(close(s.p999_us, 9_990.0), "{s:?}");
        assert!(close(s.max_us, 10_000.0), "{s:?}");
        assert!(close(s.mean_us, 5_000.5), "{s:?}");
    }

    #[test]
    fn merging_adds_samples() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        a.record(1_000);
        b.record(3_000_000);
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.samples, 2);
        assert!(close(s.max_us, 3_000.0));
        assert!(close(s.p50_us, 1.0));
    }

    #[test]
    fn empty_histogram_reports_zeros_and_huge_values_saturate() {
        assert_eq!(Latency::new().summary(), LatencySummary::default());
        let mut latency = Latency::new();
        latency.record(u64::MAX);
        latency.record(0);
        let s = latency.summary();
        assert_eq!(s.samples, 2);
        assert!(s.max_us >= 59_000_000.0);
    }
}
