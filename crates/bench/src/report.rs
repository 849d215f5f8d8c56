//! Run summaries: one line of JSON with stable field names (documented in
//! docs/BENCHMARKS.md), or a short text report.

use std::fmt::Write as _;

use serde::Serialize;

use crate::latency::LatencySummary;
use crate::procstat::BrokerUsage;

/// Version of the JSON schema; bumped when a field changes meaning or is removed.
pub const SCHEMA: u32 = 1;

/// The broker's resource use, or nulls when `--broker-pid` was not given.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BrokerFields {
    /// CPU seconds over the measured interval.
    pub broker_cpu_s: Option<f64>,
    /// CPU percent of one core over the measured interval.
    pub broker_cpu_pct: Option<f64>,
    /// RSS at the start of the interval, KiB.
    pub broker_rss_start_kib: Option<u64>,
    /// RSS at the end of the interval, KiB.
    pub broker_rss_end_kib: Option<u64>,
    /// Peak RSS in the interval, KiB.
    pub broker_rss_peak_kib: Option<u64>,
    /// "vmhwm" or "sampled".
    pub broker_rss_peak_source: Option<&'static str>,
}

impl From<Option<BrokerUsage>> for BrokerFields {
    fn from(usage: Option<BrokerUsage>) -> Self {
        let Some(u) = usage else {
            return Self::default();
        };
        Self {
            broker_cpu_s: Some(u.broker_cpu_s),
            broker_cpu_pct: Some(u.broker_cpu_pct),
            broker_rss_start_kib: Some(u.broker_rss_start_kib),
            broker_rss_end_kib: Some(u.broker_rss_end_kib),
            broker_rss_peak_kib: Some(u.broker_rss_peak_kib),
            broker_rss_peak_source: Some(u.broker_rss_peak_source),
        }
    }
}

/// Latency fields with their JSON names.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct LatencyFields {
    /// Messages whose latency was measured.
    pub latency_samples: u64,
    /// Median, microseconds.
    pub latency_p50_us: f64,
    /// 90th percentile, microseconds.
    pub latency_p90_us: f64,
    /// 99th percentile, microseconds.
    pub latency_p99_us: f64,
    /// 99.9th percentile, microseconds.
    pub latency_p999_us: f64,
    /// Maximum, microseconds.
    pub latency_max_us: f64,
    /// Mean, microseconds.
    pub latency_mean_us: f64,
}

impl From<LatencySummary> for LatencyFields {
    fn from(s: LatencySummary) -> Self {
        Self {
            latency_samples: s.samples,
            latency_p50_us: s.p50_us,
            latency_p90_us: s.p90_us,
            latency_p99_us: s.p99_us,
            latency_p999_us: s.p999_us,
            latency_max_us: s.max_us,
            latency_mean_us: s.mean_us,
        }
    }
}

/// The outcome of a fan-in, fan-out, pairs or shared run.
#[derive(Debug, Clone, Serialize)]
pub struct MessageSummary {
    /// Always "gridmq-bench".
    pub tool: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// Scenario name.
    pub scenario: &'static str,
    /// "3.1.1" or "5.0".
    pub mqtt: String,
    /// QoS of publishes and subscriptions.
    pub qos: u8,
    /// Payload bytes per message.
    pub payload_bytes: usize,
    /// Publishing clients.
    pub publishers: u32,
    /// Subscribing clients.
    pub subscribers: u32,
    /// Requested total msg/s; null for as fast as possible.
    pub rate_target: Option<u64>,
    /// Unacknowledged QoS 1/2 messages allowed per publisher.
    pub inflight: u16,
    /// Whether TLS was used.
    pub tls: bool,
    /// Warm-up seconds before the window.
    pub warmup_s: f64,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// Messages sent in the window: acknowledged for QoS 1/2, encoded for writing for QoS 0.
    pub sent: u64,
    /// Messages written over the whole run, warm-up included.
    pub written: u64,
    /// Messages still unacknowledged when publishers stopped.
    pub unacked: u64,
    /// `sent` times the subscribers each message is meant for.
    pub expected: u64,
    /// Distinct deliveries of window messages (counted through the drain).
    pub received: u64,
    /// `expected - received` (never negative); must be 0 for QoS 1 and 2.
    pub lost: u64,
    /// Extra copies of messages already received.
    pub duplicates: u64,
    /// Deliveries without a valid stamp of this run.
    pub foreign: u64,
    /// `sent / duration_s`.
    pub send_rate_msgs_per_s: f64,
    /// Deliveries that arrived while the window was open, per second.
    pub throughput_msgs_per_s: f64,
    /// End-to-end latency of window messages.
    #[serde(flatten)]
    pub latency: LatencyFields,
    /// `http-publish` only: time from sending a request to its 204, of window requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_response: Option<LatencyFields>,
    /// The broker's resource use in the window.
    #[serde(flatten)]
    pub broker: BrokerFields,
    /// CPU seconds this tool used in the window.
    pub tool_cpu_s: f64,
    /// Seconds from the end of the window until the last delivery was waited for.
    pub drain_s: f64,
    /// This tool's peak RSS over the whole run, KiB.
    pub tool_rss_peak_kib: u64,
    /// Errors that ended clients early.
    pub errors: Vec<String>,
    /// No errors, and no loss at QoS 1/2.
    pub ok: bool,
}

/// The outcome of a connections run.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsSummary {
    /// Always "gridmq-bench".
    pub tool: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// Always "connections".
    pub scenario: &'static str,
    /// "3.1.1" or "5.0".
    pub mqtt: String,
    /// Whether TLS was used.
    pub tls: bool,
    /// Clients to open.
    pub connections_target: u32,
    /// Requested connects per second; null for as fast as possible.
    pub connect_rate_target: Option<u32>,
    /// Loopback source addresses used.
    pub source_ips: u8,
    /// Clients whose CONNACK was a success.
    pub connected: u64,
    /// Attempts that failed (socket, TLS, refusal or timeout).
    pub connect_failures: u64,
    /// Seconds from the first attempt to the last one finishing.
    pub open_s: f64,
    /// `connected / open_s`.
    pub connects_per_s: f64,
    /// Connect-to-CONNACK latency, microseconds.
    pub connect_p50_us: f64,
    /// 99th percentile connect latency, microseconds.
    pub connect_p99_us: f64,
    /// Slowest connect, microseconds.
    pub connect_max_us: f64,
    /// Seconds the clients were held open.
    pub hold_s: f64,
    /// Clients the broker closed while they were held.
    pub dropped_during_hold: u64,
    /// Broker RSS before the first connect, KiB.
    pub broker_rss_before_kib: Option<u64>,
    /// Broker RSS at the end of the hold, KiB.
    pub broker_rss_after_kib: Option<u64>,
    /// `(after - before) * 1024 / connected`.
    pub broker_rss_per_conn_bytes: Option<u64>,
    /// Broker CPU seconds from the first connect to the end of the hold.
    pub broker_cpu_s: Option<f64>,
    /// This tool's peak RSS over the whole run, KiB.
    pub tool_rss_peak_kib: u64,
    /// A few of the errors seen.
    pub errors: Vec<String>,
    /// Every client connected and none was dropped.
    pub ok: bool,
}

impl MessageSummary {
    /// A short human-readable report.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let rate = self
            .rate_target
            .map_or("max".to_owned(), |r| format!("{r} msg/s"));
        let _ = writeln!(
            out,
            "{} | MQTT {} QoS {} | {} B | {} pub -> {} sub | rate {} | {:.1}s (+{:.1}s warm-up)",
            self.scenario,
            self.mqtt,
            self.qos,
            self.payload_bytes,
            self.publishers,
            self.subscribers,
            rate,
            self.duration_s,
            self.warmup_s,
        );
        let _ = writeln!(
            out,
            "sent {} ({:.0} msg/s)  received {} / expected {}  lost {}  duplicates {}  unacked {}",
            self.sent,
            self.send_rate_msgs_per_s,
            self.received,
            self.expected,
            self.lost,
            self.duplicates,
            self.unacked,
        );
        let _ = writeln!(
            out,
            "throughput {:.0} msg/s received",
            self.throughput_msgs_per_s
        );
        let l = &self.latency;
        let _ = writeln!(
            out,
            "latency us: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
            l.latency_p50_us,
            l.latency_p90_us,
            l.latency_p99_us,
            l.latency_p999_us,
            l.latency_max_us,
            l.latency_samples,
        );
        if let Some(h) = &self.http_response {
            let _ = writeln!(
                out,
                "HTTP response us: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} requests)",
                h.latency_p50_us,
                h.latency_p90_us,
                h.latency_p99_us,
                h.latency_p999_us,
                h.latency_max_us,
                h.latency_samples,
            );
        }
        if let (Some(cpu), Some(pct), Some(peak)) = (
            self.broker.broker_cpu_s,
            self.broker.broker_cpu_pct,
            self.broker.broker_rss_peak_kib,
        ) {
            let _ = writeln!(
                out,
                "broker: cpu {cpu:.2}s ({pct:.0}% of a core)  peak rss {} MiB ({})",
                peak / 1024,
                self.broker.broker_rss_peak_source.unwrap_or("?"),
            );
        }
        let _ = writeln!(
            out,
            "tool cpu {:.2}s  drain {:.2}s",
            self.tool_cpu_s, self.drain_s
        );
        for error in &self.errors {
            let _ = writeln!(out, "error: {error}");
        }
        out
    }
}

impl ConnectionsSummary {
    /// A short human-readable report.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "connections | MQTT {} | target {} over {} source ips | rate {}",
            self.mqtt,
            self.connections_target,
            self.source_ips,
            self.connect_rate_target
                .map_or("max".to_owned(), |r| format!("{r}/s")),
        );
        let _ = writeln!(
            out,
            "connected {}  failed {}  in {:.2}s ({:.0}/s)  connect us p50 {} p99 {} max {}",
            self.connected,
            self.connect_failures,
            self.open_s,
            self.connects_per_s,
            self.connect_p50_us,
            self.connect_p99_us,
            self.connect_max_us,
        );
        let _ = writeln!(
            out,
            "held {:.1}s, dropped {}",
            self.hold_s, self.dropped_during_hold
        );
        if let (Some(before), Some(after)) = (self.broker_rss_before_kib, self.broker_rss_after_kib)
        {
            let _ = writeln!(
                out,
                "broker rss {} KiB -> {} KiB ({} B per connection)",
                before,
                after,
                self.broker_rss_per_conn_bytes.unwrap_or(0),
            );
        }
        for error in &self.errors {
            let _ = writeln!(out, "error: {error}");
        }
        out
    }
}
