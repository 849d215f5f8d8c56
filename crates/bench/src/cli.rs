//! The command line: one subcommand per scenario, each with the same connection and load
//! options.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use gridmq_codec::{ProtocolVersion, QoS};

/// End-to-end MQTT load generator for gridmq and its peers (loopback targets only).
#[derive(Debug, Parser)]
#[command(name = "gridmq-bench", version, about)]
pub struct Cli {
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// A load scenario.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// P publishers on distinct topics -> S subscribers of one wildcard filter.
    FanIn(FanInArgs),
    /// One publisher -> S subscribers of its topic.
    FanOut(FanOutArgs),
    /// N one-to-one publisher/subscriber pairs, each on its own topic.
    Pairs(PairsArgs),
    /// Publishers -> a `$share/{group}/...` group of S subscribers (MQTT 5 only).
    Shared(SharedArgs),
    /// R concurrent HTTP Publish requesters (keep-alive HTTP/1.1) -> S MQTT subscribers.
    HttpPublish(HttpPublishArgs),
    /// Open N idle clients at a given rate and hold them.
    Connections(ConnectionsArgs),
}

/// `http-publish` options. Requesters run closed-loop: each sends its next request when
/// the previous one is answered, so `--rate` does not apply.
#[derive(Debug, Args)]
pub struct HttpPublishArgs {
    /// Concurrent requesters, each with its own keep-alive connection and topic.
    #[arg(long, default_value_t = 16)]
    pub requesters: u32,
    /// MQTT subscribers of every requester's topic.
    #[arg(long, default_value_t = 1)]
    pub subscribers: u32,
    /// The broker's HTTP port (`--port` stays the MQTT port of the subscribers).
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Connection and reporting options.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `fan-in` options.
#[derive(Debug, Args)]
pub struct FanInArgs {
    /// Publishers, each on its own topic.
    #[arg(long, default_value_t = 10)]
    pub publishers: u32,
    /// Subscribers of the wildcard filter; each receives every message.
    #[arg(long, default_value_t = 1)]
    pub subscribers: u32,
    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Connection and reporting options.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `fan-out` options.
#[derive(Debug, Args)]
pub struct FanOutArgs {
    /// Subscribers of the one topic.
    #[arg(long, default_value_t = 100)]
    pub subscribers: u32,
    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Connection and reporting options.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `pairs` options.
#[derive(Debug, Args)]
pub struct PairsArgs {
    /// Publisher/subscriber pairs.
    #[arg(long, default_value_t = 100)]
    pub pairs: u32,
    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Connection and reporting options.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `shared` options.
#[derive(Debug, Args)]
pub struct SharedArgs {
    /// Publishers, each on its own topic.
    #[arg(long, default_value_t = 1)]
    pub publishers: u32,
    /// Members of the shared subscription group; each message goes to one of them.
    #[arg(long, default_value_t = 10)]
    pub subscribers: u32,
    /// Share group name.
    #[arg(long, default_value = "bench")]
    pub group: String,
    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Connection and reporting options.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `connections` options.
#[derive(Debug, Clone, Args)]
pub struct ConnectionsArgs {
    /// Idle clients to open.
    #[arg(long, default_value_t = 10_000)]
    pub connections: u32,
    /// Connection attempts per second; as fast as `--concurrency` allows when absent.
    #[arg(long)]
    pub connect_rate: Option<u32>,
    /// Most handshakes in progress at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: u32,
    /// Loopback source addresses to spread sockets over (127.0.0.1 ..= 127.0.0.N); one
    /// gives about 28k ports toward the broker. Default: one per 25,000 connections.
    #[arg(long)]
    pub source_ips: Option<u8>,
    /// How long to hold the clients once all are open.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    pub duration: Duration,
    /// Connection and reporting options.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Load options shared by the message scenarios.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// QoS of every PUBLISH and subscription (0, 1 or 2).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// Payload size in bytes (at least 20: the stamp).
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Total messages per second over all publishers; as fast as possible when absent.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Length of the measured window.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    pub duration: Duration,
    /// Sending before measurement starts.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub warmup: Duration,
    /// Longest wait after the window for acknowledgements and deliveries in flight.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub drain: Duration,
    /// Drain stops early after this long without a new delivery.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub drain_idle: Duration,
    /// Most unacknowledged QoS 1/2 messages per publisher.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: u16,
    /// Most messages encoded into one write.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
}

/// Protocol version on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mqtt {
    /// MQTT 3.1.1
    #[value(name = "3.1.1", alias = "3")]
    V311,
    /// MQTT 5.0
    #[value(name = "5", alias = "5.0")]
    V5,
}

impl Mqtt {
    /// The codec's version.
    pub fn version(self) -> ProtocolVersion {
        match self {
            Self::V311 => ProtocolVersion::V3_1_1,
            Self::V5 => ProtocolVersion::V5,
        }
    }
}

/// What a client authenticates with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// CONNECT User Name.
    pub username: Option<String>,
    /// CONNECT Password.
    pub password: Option<String>,
}

impl ConnArgs {
    /// The credentials of client `i` in `role` (`p`, `s` or `c`).
    pub fn credentials(&self, role: char, i: u32) -> Credentials {
        let fill = |template: &String| {
            template
                .replace("{role}", &role.to_string())
                .replace("{i}", &i.to_string())
        };
        Credentials {
            username: self.username.as_ref().map(fill),
            password: self.password.as_ref().map(fill),
        }
    }
}

/// Connection, TLS and reporting options shared by every scenario.
#[derive(Debug, Args, Clone)]
pub struct ConnArgs {
    /// Broker host; must resolve to a loopback address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker port.
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// MQTT protocol version.
    #[arg(long, value_enum, default_value = "3.1.1")]
    pub mqtt: Mqtt,
    /// Client identifier prefix; ids are PREFIX-RUN-p0, PREFIX-RUN-s0, ...
    #[arg(long, default_value = "gbench")]
    pub client_prefix: String,
    /// Topic prefix; topics are PREFIX/RUN/...
    #[arg(long, default_value = "gbench")]
    pub topic_prefix: String,
    /// User Name every client sends, for brokers that authenticate; `{role}` becomes
    /// `p` (publisher), `s` (subscriber) or `c` (connections scenario) and `{i}` the
    /// client's number, e.g. `device-{role}{i}`.
    #[arg(long, value_name = "TEMPLATE")]
    pub username: Option<String>,
    /// Password every client sends (same placeholders; needs --username).
    #[arg(long, value_name = "TEMPLATE", requires = "username")]
    pub password: Option<String>,
    /// Connect over TLS.
    #[arg(long)]
    pub tls: bool,
    /// PEM CA certificates to verify the broker with.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM client private key (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Skip server certificate verification (self-signed development certificates).
    #[arg(long)]
    pub insecure: bool,
    /// Server name for TLS verification.
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// Broker process id: report its CPU time and peak RSS over the measured interval.
    #[arg(long, value_name = "PID")]
    pub broker_pid: Option<u32>,
    /// Print one line of JSON instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Runtime worker threads of the load tool.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Keep Alive every client announces, in seconds; clients send PINGREQ in time.
    /// 0 turns it off (rumqttd refuses 0).
    #[arg(long, default_value_t = 60)]
    pub keep_alive: u16,
    /// Subscribers keep persistent sessions (3.1.1: Clean Session 0; 5: Clean Start 0
    /// and an hour of Session Expiry), so a broker with durable storage stores every
    /// QoS 1/2 message queued for them before acknowledging it.
    #[arg(long)]
    pub persistent_subscribers: bool,
    /// Longest wait for one client's connect and subscribe.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub connect_timeout: Duration,
}

impl LoadArgs {
    /// The QoS as the codec's type.
    pub fn qos(&self) -> QoS {
        QoS::from_u8(self.qos).unwrap_or_default()
    }
}

impl Scenario {
    /// The scenario's connection options.
    pub fn conn(&self) -> &ConnArgs {
        match self {
            Self::FanIn(a) => &a.conn,
            Self::FanOut(a) => &a.conn,
            Self::Pairs(a) => &a.conn,
            Self::Shared(a) => &a.conn,
            Self::HttpPublish(a) => &a.conn,
            Self::Connections(a) => &a.conn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_fill_role_and_number() {
        let cli = Cli::try_parse_from([
            "gridmq-bench",
            "fan-in",
            "--username",
            "dev-{role}{i}",
            "--password",
            "pw",
        ])
        .unwrap();
        let Scenario::FanIn(args) = cli.scenario else {
            panic!("fan-in expected")
        };
        let c = args.conn.credentials('p', 7);
        assert_eq!(c.username.as_deref(), Some("dev-p7"));
        assert_eq!(c.password.as_deref(), Some("pw"));
        assert!(Cli::try_parse_from(["gridmq-bench", "fan-in", "--password", "pw"]).is_err());
    }

    #[test]
    fn parses_a_full_fan_in_command_line() {
        let cli = Cli::try_parse_from([
            "gridmq-bench",
            "fan-in",
            "--publishers",
            "4",
            "--qos",
            "1",
            "--mqtt",
            "5",
            "--duration",
            "2s",
            "--rate",
            "1000",
            "--inflight",
            "32",
            "--port",
            "1999",
            "--json",
        ])
        .unwrap();
        let Scenario::FanIn(args) = cli.scenario else {
            panic!("not fan-in")
        };
        assert_eq!(args.publishers, 4);
        assert_eq!(args.load.qos(), QoS::AtLeastOnce);
        assert_eq!(args.load.duration, Duration::from_secs(2));
        assert_eq!(args.load.rate, Some(1000));
        assert_eq!(args.conn.mqtt, Mqtt::V5);
        assert!(args.conn.json);
    }

    #[test]
    fn rejects_qos_3_and_zero_inflight() {
        assert!(Cli::try_parse_from(["gridmq-bench", "pairs", "--qos", "3"]).is_err());
        assert!(Cli::try_parse_from(["gridmq-bench", "pairs", "--inflight", "0"]).is_err());
    }

    #[test]
    fn cert_needs_key() {
        assert!(Cli::try_parse_from(["gridmq-bench", "fan-out", "--cert", "c.pem"]).is_err());
    }
}
