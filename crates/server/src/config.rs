//! The configuration file: one typed schema with defaults in code, human durations and
//! sizes, unknown keys rejected, and a checker that reports every error at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use gridmq_access::Limits;
use gridmq_auth::AuthOptions;
use gridmq_codec::QoS;
use gridmq_engine::{EngineConfig, OverflowPolicy, SharedRedelivery};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The embedded default configuration, with comments; `gridmq config print-default`
/// prints it and a test keeps it equal to [`Config::default`].
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Logging.
    pub log: LogConfig,
    /// Process-wide settings.
    pub server: ServerConfig,
    /// The network listeners.
    pub listeners: Vec<ListenerConfig>,
    /// MQTT protocol limits and features.
    pub mqtt: MqttConfig,
    /// Namespace mode, resources and their limits.
    pub namespace: NamespaceConfig,
    /// The HTTP listener (management API, health).
    pub http: HttpConfig,
    /// Durable state.
    pub storage: StorageConfig,
}

/// The top-level sections, for the key-by-key check.
const SECTIONS: &[&str] = &[
    "log",
    "server",
    "listeners",
    "mqtt",
    "namespace",
    "http",
    "storage",
];

impl Default for Config {
    fn default() -> Self {
        Self {
            log: LogConfig::default(),
            server: ServerConfig::default(),
            listeners: vec![ListenerConfig::default()],
            mqtt: MqttConfig::default(),
            namespace: NamespaceConfig::default(),
            http: HttpConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `gridmq_server=debug,info`, ... The `GRIDMQ_LOG`
    /// environment variable and `--log-level` override it.
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Process-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// How long shutdown waits for connections to close and state to flush.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Connections held at most across all listeners.
    pub max_connections: usize,
    /// Runtime worker threads; absent means one per CPU core.
    pub worker_threads: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout: Duration::from_secs(10),
            max_connections: 1_000_000,
            worker_threads: None,
        }
    }
}

pub use gridmq_transport::IpNetwork;
pub use gridmq_transport::ListenerKind;
pub use gridmq_transport::tls::{CertificateConfig, ClientAuth, TlsConfig, UnknownServerName};
pub use gridmq_transport::ws::WebSocketConfig;

/// One network listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerConfig {
    /// What the listener speaks: `mqtt`, `mqtts`, `ws` or `wss`.
    pub kind: ListenerKind,
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Connections this listener holds at most (handshakes in progress included).
    pub max_connections: usize,
    /// Time from accepting a connection to a ready byte stream: PROXY header, TLS
    /// handshake and WebSocket upgrade together.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Whether every connection starts with a PROXY protocol (v1 or v2) header; only
    /// `trusted_proxies` may connect then.
    pub proxy_protocol: bool,
    /// Networks whose PROXY headers, and (with `websocket.forwarded_headers`)
    /// `Forwarded` / `X-Forwarded-For` headers, are believed.
    pub trusted_proxies: Vec<IpNetwork>,
    /// TLS settings; required for `mqtts` and `wss`, refused for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// WebSocket settings for `ws` and `wss`; defaults apply when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WebSocketConfig>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            kind: ListenerKind::Mqtt,
            bind: SocketAddr::from(([127, 0, 0, 1], 1883)),
            max_connections: 1_000_000,
            handshake_timeout: Duration::from_secs(10),
            proxy_protocol: false,
            trusted_proxies: Vec::new(),
            tls: None,
            websocket: None,
        }
    }
}

impl ListenerConfig {
    /// A listener of `kind` on `bind` with default settings.
    pub fn new(kind: ListenerKind, bind: SocketAddr) -> Self {
        Self {
            kind,
            bind,
            ..Self::default()
        }
    }

    fn problems(&self, index: usize) -> Vec<String> {
        let path = format!("listeners[{index}]");
        let kind = self.kind.scheme();
        let mut errors = Vec::new();
        if self.max_connections == 0 {
            errors.push(format!("{path}.max_connections: must be at least 1"));
        }
        if self.handshake_timeout.is_zero() {
            errors.push(format!("{path}.handshake_timeout: must be more than 0s"));
        }
        if self.proxy_protocol && self.trusted_proxies.is_empty() {
            errors.push(format!(
                "{path}.trusted_proxies: proxy_protocol = true needs the proxies' networks"
            ));
        }
        match (&self.tls, self.kind.is_tls()) {
            (Some(tls), true) => errors.extend(tls.problems(&format!("{path}.tls"))),
            (None, true) => errors.push(format!(
                "{path}.tls: a {kind} listener needs [listeners.tls] with certificates"
            )),
            (Some(_), false) => errors.push(format!(
                "{path}.tls: a {kind} listener does not use TLS (use kind = \"{kind}s\")"
            )),
            (None, false) => {}
        }
        match (&self.websocket, self.kind.is_websocket()) {
            (Some(ws), true) => {
                errors.extend(ws.problems(&format!("{path}.websocket")));
                if ws.forwarded_headers && self.trusted_proxies.is_empty() {
                    errors.push(format!(
                        "{path}.trusted_proxies: websocket.forwarded_headers needs the proxies' networks"
                    ));
                }
            }
            (Some(_), false) => errors.push(format!(
                "{path}.websocket: a {kind} listener does not use WebSocket"
            )),
            _ => {}
        }
        errors
    }
}

/// Namespace mode: authenticated clients, authorized publish and subscribe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceConfig {
    /// Whether namespace mode is on (`gridmq serve --namespace`); off is open mode.
    pub enabled: bool,
    /// The JSON file resources changed through the API are kept in; `None` keeps them
    /// in memory.
    pub state_file: Option<PathBuf>,
    /// A resources document (JSON or TOML) applied at every start.
    pub resources_file: Option<PathBuf>,
    /// The same, inline (`[namespace.resources]`).
    pub resources: Option<ResourceDocument>,
    /// Bounds on resources.
    pub limits: Limits,
    /// Bounds and timeouts of authentication.
    pub auth: AuthOptions,
}

/// A resources document as written: `clients`, `caCertificates`, `clientGroups`,
/// `topicSpaces`, `permissionBindings` (arrays of resources, properties flat or under
/// `properties`) and `topicSpacesConfiguration`, with Event Grid's property names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceDocument(pub serde_json::Value);

/// The HTTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port; `None` serves no HTTP (`--http ADDR` sets it).
    pub bind: Option<SocketAddr>,
    /// The management API's bearer token (`GRIDMQ_ADMIN_TOKEN` overrides it); without
    /// one only loopback clients may use the API.
    pub admin_token: Option<AdminToken>,
    /// Largest request body. HTTP Publish bodies are bounded by `mqtt.max_packet_size`.
    pub max_body_size: ByteSize,
    /// Requests per second each caller may make to HTTP Publish and the retained API
    /// (`/mqtt/...`); 0 is no limit. Over it, requests get 429 with `Retry-After`.
    pub rate_limit: u32,
    /// Requests a caller may make at once after a quiet spell.
    pub rate_limit_burst: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: None,
            admin_token: None,
            max_body_size: ByteSize::mib(16),
            rate_limit: 0,
            rate_limit_burst: 100,
        }
    }
}

/// When the store forces committed batches to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FsyncMode {
    /// Sync every batch as soon as the writer takes it.
    Always,
    /// Gather writes for up to `commit_interval`, then sync them together.
    #[default]
    Batch,
    /// Never sync: writes survive a crash of the process, not of the machine.
    Os,
}

/// Where and how durable state is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The data directory, created on first start. A relative path is taken from the
    /// configuration file's directory (from the working directory without one).
    pub data_dir: PathBuf,
    /// Keep everything in memory: nothing survives a restart.
    pub in_memory: bool,
    /// When committed writes are synced to disk.
    pub fsync: FsyncMode,
    /// How long the writer gathers writes into one batch (fsync `batch`).
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Start on a store with corrupt records by skipping (and dropping) them.
    pub salvage: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("gridmq-data"),
            in_memory: false,
            fsync: FsyncMode::Batch,
            commit_interval: Duration::from_millis(1),
            salvage: false,
        }
    }
}

/// A secret that `Debug` does not show.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdminToken(pub String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// What a full session queue does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueOverflow {
    /// Drop the oldest queued message.
    DropOldest,
    /// Drop the new message.
    DropNewest,
    /// Drop the new message and answer QoS 1/2 publishers with 0x97 Quota exceeded.
    Refuse,
}

/// When messages of a shared subscription move to another group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SharedRedeliveryPolicy {
    /// When the member's connection is lost.
    OnDisconnect,
    /// When the member's session ends.
    OnSessionEnd,
}

/// MQTT protocol limits and features; see `default.toml` for each key's meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct MqttConfig {
    pub max_packet_size: ByteSize,
    #[serde(with = "humantime_serde")]
    pub max_keep_alive: Duration,
    pub receive_maximum: u16,
    pub max_inflight: u16,
    pub topic_alias_maximum: u16,
    pub max_queued_messages: usize,
    pub max_queued_bytes: ByteSize,
    pub queue_overflow: QueueOverflow,
    pub queue_qos0_offline: bool,
    pub congestion_threshold: usize,
    #[serde(with = "humantime_serde")]
    pub congestion_timeout: Duration,
    pub max_subscriptions_per_session: usize,
    pub max_topic_length: usize,
    pub max_topic_levels: usize,
    pub max_client_id_length: usize,
    #[serde(with = "humantime_serde")]
    pub max_session_expiry: Duration,
    pub maximum_qos: u8,
    pub retain_available: bool,
    pub max_retained_messages: usize,
    pub max_retained_bytes: ByteSize,
    pub validate_utf8_payloads: bool,
    pub response_information_prefix: String,
    pub assigned_client_id_prefix: String,
    pub shared_redelivery: SharedRedeliveryPolicy,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for MqttConfig {
    fn default() -> Self {
        let engine = EngineConfig::default();
        Self {
            max_packet_size: ByteSize::b(u64::from(engine.max_packet_size)),
            max_keep_alive: Duration::from_secs(u64::from(engine.max_keep_alive)),
            receive_maximum: engine.receive_maximum,
            max_inflight: engine.max_inflight,
            topic_alias_maximum: engine.topic_alias_maximum,
            max_queued_messages: engine.max_queued_messages,
            max_queued_bytes: ByteSize::b(engine.max_queued_bytes),
            queue_overflow: QueueOverflow::DropOldest,
            queue_qos0_offline: engine.queue_qos0_offline,
            congestion_threshold: engine.congestion_threshold,
            congestion_timeout: engine.congestion_timeout,
            max_subscriptions_per_session: engine.max_subscriptions_per_session,
            max_topic_length: engine.max_topic_length,
            max_topic_levels: engine.max_topic_levels,
            max_client_id_length: engine.max_client_id_length,
            max_session_expiry: Duration::from_secs(u64::from(engine.max_session_expiry)),
            maximum_qos: engine.maximum_qos as u8,
            retain_available: engine.retain_available,
            max_retained_messages: engine.max_retained_messages,
            max_retained_bytes: ByteSize::b(engine.max_retained_bytes),
            validate_utf8_payloads: engine.validate_utf8_payloads,
            response_information_prefix: engine.response_information_prefix.unwrap_or_default(),
            assigned_client_id_prefix: engine.assigned_client_id_prefix,
            shared_redelivery: SharedRedeliveryPolicy::OnDisconnect,
            connect_timeout: engine.connect_timeout,
        }
    }
}

impl MqttConfig {
    /// The engine's view of these settings. Call after [`Config::validate`], which
    /// guarantees every value fits.
    pub fn to_engine(&self) -> EngineConfig {
        let clamp_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        EngineConfig {
            max_packet_size: clamp_u32(self.max_packet_size.as_u64()),
            max_keep_alive: u16::try_from(self.max_keep_alive.as_secs()).unwrap_or(u16::MAX),
            receive_maximum: self.receive_maximum,
            max_inflight: self.max_inflight,
            topic_alias_maximum: self.topic_alias_maximum,
            max_queued_messages: self.max_queued_messages,
            max_queued_bytes: self.max_queued_bytes.as_u64(),
            queue_overflow: match self.queue_overflow {
                QueueOverflow::DropOldest => OverflowPolicy::DropOldest,
                QueueOverflow::DropNewest => OverflowPolicy::DropNewest,
                QueueOverflow::Refuse => OverflowPolicy::Refuse,
            },
            queue_qos0_offline: self.queue_qos0_offline,
            congestion_threshold: self.congestion_threshold,
            congestion_timeout: self.congestion_timeout,
            max_subscriptions_per_session: self.max_subscriptions_per_session,
            max_topic_length: self.max_topic_length,
            max_topic_levels: self.max_topic_levels,
            max_client_id_length: self.max_client_id_length,
            max_session_expiry: clamp_u32(self.max_session_expiry.as_secs()),
            max_message_expiry: 0,
            maximum_qos: QoS::from_u8(self.maximum_qos).unwrap_or(QoS::ExactlyOnce),
            retain_available: self.retain_available,
            max_retained_messages: self.max_retained_messages,
            max_retained_bytes: self.max_retained_bytes.as_u64(),
            validate_utf8_payloads: self.validate_utf8_payloads,
            response_information_prefix: (!self.response_information_prefix.is_empty())
                .then(|| self.response_information_prefix.clone()),
            assigned_client_id_prefix: self.assigned_client_id_prefix.clone(),
            shared_redelivery: match self.shared_redelivery {
                SharedRedeliveryPolicy::OnDisconnect => SharedRedelivery::OnDisconnect,
                SharedRedeliveryPolicy::OnSessionEnd => SharedRedelivery::OnSessionEnd,
            },
            connect_timeout: self.connect_timeout,
            authentication_methods: Vec::new(),
            delegate_authentication_methods: false,
        }
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<String>);

impl Config {
    /// Parses and validates a configuration file, reporting every error found: TOML
    /// syntax, unknown keys, wrong types, and out-of-range values.
    pub fn parse(text: &str) -> Result<Self, ConfigErrors> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigErrors(vec![e.to_string()]))?;
        let mut errors = Vec::new();
        for key in table.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
            errors.push(format!(
                "{key}: unknown section (expected one of {})",
                SECTIONS.join(", ")
            ));
        }
        let mut config = Config {
            log: section("log", table.get("log"), &mut errors),
            server: section("server", table.get("server"), &mut errors),
            listeners: Vec::new(),
            mqtt: section("mqtt", table.get("mqtt"), &mut errors),
            namespace: section("namespace", table.get("namespace"), &mut errors),
            http: section("http", table.get("http"), &mut errors),
            storage: section("storage", table.get("storage"), &mut errors),
        };
        match table.get("listeners") {
            None => config.listeners = Config::default().listeners,
            Some(toml::Value::Array(entries)) => {
                for (index, entry) in entries.iter().enumerate() {
                    config.listeners.push(section(
                        &format!("listeners[{index}]"),
                        Some(entry),
                        &mut errors,
                    ));
                }
            }
            Some(_) => {
                errors.push("listeners: expected an array of tables ([[listeners]])".to_owned())
            }
        }
        errors.extend(config.problems());
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Checks values the types alone do not constrain.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(problems))
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, message: &str| {
            if !ok {
                errors.push(message.to_owned());
            }
        };
        let m = &self.mqtt;
        check(
            tracing_subscriber::EnvFilter::try_new(&self.log.level).is_ok(),
            "log.level: not a valid filter (try \"info\" or \"gridmq_server=debug,info\")",
        );
        check(
            self.server.max_connections > 0,
            "server.max_connections: must be at least 1",
        );
        check(
            self.server.worker_threads != Some(0),
            "server.worker_threads: must be at least 1",
        );
        check(
            !self.listeners.is_empty(),
            "listeners: at least one listener is needed",
        );
        for (index, listener) in self.listeners.iter().enumerate() {
            for problem in listener.problems(index) {
                check(false, &problem);
            }
            let duplicate = self.listeners[..index]
                .iter()
                .any(|l| l.bind == listener.bind && listener.bind.port() != 0);
            check(
                !duplicate,
                &format!(
                    "listeners[{index}].bind: {} is used by another listener",
                    listener.bind
                ),
            );
        }
        let packet = m.max_packet_size.as_u64();
        check(
            (16..=268_435_460).contains(&packet),
            "mqtt.max_packet_size: must be between 16 B and 256 MiB (the MQTT maximum)",
        );
        check(
            m.max_keep_alive.as_secs() <= 65_535,
            "mqtt.max_keep_alive: at most 65535s (18h12m15s)",
        );
        check(
            m.receive_maximum > 0,
            "mqtt.receive_maximum: must be at least 1",
        );
        check(m.max_inflight > 0, "mqtt.max_inflight: must be at least 1");
        check(
            m.max_queued_messages > 0,
            "mqtt.max_queued_messages: must be at least 1",
        );
        check(
            m.max_queued_bytes.as_u64() > 0,
            "mqtt.max_queued_bytes: must be at least 1 B",
        );
        check(
            m.max_subscriptions_per_session > 0,
            "mqtt.max_subscriptions_per_session: must be at least 1",
        );
        check(
            (1..=65_535).contains(&m.max_topic_length),
            "mqtt.max_topic_length: must be between 1 and 65535",
        );
        check(
            m.max_topic_levels > 0,
            "mqtt.max_topic_levels: must be at least 1",
        );
        check(
            (1..=65_535).contains(&m.max_client_id_length),
            "mqtt.max_client_id_length: must be between 1 and 65535",
        );
        check(
            m.max_session_expiry.as_secs() <= u64::from(u32::MAX),
            "mqtt.max_session_expiry: at most 4294967295s (about 136 years)",
        );
        check(m.maximum_qos <= 2, "mqtt.maximum_qos: must be 0, 1 or 2");
        check(
            !m.connect_timeout.is_zero(),
            "mqtt.connect_timeout: must be more than 0s",
        );
        check(
            self.http.max_body_size.as_u64() >= 1024,
            "http.max_body_size: must be at least 1KiB",
        );
        check(
            self.http.rate_limit == 0 || self.http.rate_limit_burst > 0,
            "http.rate_limit_burst: must be at least 1 when http.rate_limit is set",
        );
        let ns = &self.namespace;
        check(
            ns.resources_file.is_none() || ns.resources.is_none(),
            "namespace.resources_file: give resources in a file or inline in [namespace.resources], not both",
        );
        if let Some(resources) = &ns.resources {
            errors.extend(
                crate::namespace::set::check_document(&resources.0, &ns.limits)
                    .into_iter()
                    .map(|p| format!("namespace.resources: {p}")),
            );
        }
        errors
    }
}

/// Deserializes one section key by key, so that every bad key is reported rather than
/// only the first; a section with errors falls back to its defaults.
fn section<T: DeserializeOwned + Default>(
    path: &str,
    value: Option<&toml::Value>,
    errors: &mut Vec<String>,
) -> T {
    let Some(value) = value else {
        return T::default();
    };
    let Some(table) = value.as_table() else {
        errors.push(format!("{path}: expected a table"));
        return T::default();
    };
    let before = errors.len();
    for (key, item) in table {
        let mut single = toml::Table::new();
        single.insert(key.clone(), item.clone());
        if let Err(error) = toml::Value::Table(single).try_into::<T>() {
            errors.push(format!("{path}.{key}: {}", error.to_string().trim()));
        }
    }
    if errors.len() > before {
        return T::default();
    }
    value.clone().try_into::<T>().unwrap_or_else(|error| {
        errors.push(format!("{path}: {}", error.to_string().trim()));
        T::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_file_equals_the_defaults_in_code() {
        assert_eq!(Config::parse(DEFAULT_CONFIG).unwrap(), Config::default());
    }

    #[test]
    fn the_configuration_reference_shows_the_default_file() {
        let reference = include_str!("../../../docs/configuration.md");
        assert!(
            reference.contains(DEFAULT_CONFIG),
            "docs/configuration.md must contain crates/server/src/default.toml verbatim"
        );
    }

    /// The commented listener examples in the default file, uncommented, are valid.
    #[test]
    fn commented_listener_examples_parse() {
        let start = DEFAULT_CONFIG.find("# MQTT over TLS").unwrap();
        let end = DEFAULT_CONFIG.find("[mqtt]").unwrap();
        let examples: String = DEFAULT_CONFIG[start..end]
            .lines()
            .filter_map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.starts_with(['[', '#', ' ', ']']) => Some(rest),
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    }) =>
                {
                    Some(rest)
                }
                _ => None,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let config = Config::parse(&examples).unwrap_or_else(|e| panic!("{e}\n{examples}"));
        let kinds: Vec<_> = config.listeners.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, [ListenerKind::Mqtts, ListenerKind::Wss]);
        let tls = config.listeners[0].tls.as_ref().unwrap();
        assert_eq!(tls.certificates.len(), 2);
        assert_eq!(tls.client_auth, ClientAuth::Required);
        assert!(
            config.listeners[1]
                .websocket
                .as_ref()
                .unwrap()
                .forwarded_headers
        );
    }

    #[test]
    fn listener_kinds_and_their_settings_are_checked() {
        let errors = Config::parse(
            r#"
            [[listeners]]
            kind = "mqtts"
            bind = "127.0.0.1:8883"
            [[listeners]]
            kind = "mqtt"
            bind = "127.0.0.1:1883"
            proxy_protocol = true
            [listeners.tls]
            certificates = [{ cert = "a.pem", key = "a.key" }]
            [[listeners]]
            kind = "ws"
            bind = "127.0.0.1:8080"
            trusted_proxies = ["10.0.0.1/8"]
            [listeners.websocket]
            path = "mqtt"
            [[listeners]]
            kind = "wss"
            bind = "127.0.0.1:8443"
            [listeners.tls]
            client_auth = "required"
            "#,
        )
        .unwrap_err()
        .0;
        let text = errors.join("\n");
        for needle in [
            "listeners[0].tls: a mqtts listener needs",
            "listeners[1].trusted_proxies: proxy_protocol",
            "listeners[1].tls: a mqtt listener does not use TLS",
            "listeners[2].trusted_proxies",
            "did you mean 10.0.0.0/8",
            "listeners[3].tls.certificates: at least one",
            "listeners[3].tls.client_ca",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn ephemeral_ports_may_repeat() {
        let config = Config::parse(
            "[[listeners]]\nbind = \"127.0.0.1:0\"\n[[listeners]]\nkind = \"ws\"\nbind = \"127.0.0.1:0\"\n",
        )
        .unwrap();
        assert_eq!(config.listeners.len(), 2);
    }

    #[test]
    fn declared_resources_are_typed_and_validated() {
        let config = Config::parse(
            r#"
            [namespace]
            enabled = true
            [[namespace.resources.topicSpaces]]
            name = "devices"
            topicTemplates = ["devices/${client.authenticationName}/#"]
            [[namespace.resources.permissionBindings]]
            name = "devices-pub"
            properties = { clientGroupName = "$all", topicSpaceName = "devices", permission = "Publisher" }
            "#,
        )
        .unwrap();
        assert!(config.namespace.enabled);
        assert!(config.namespace.resources.is_some());

        let errors = Config::parse(
            r#"
            [namespace]
            resources_file = "elsewhere.json"
            [[namespace.resources.clientGroups]]
            name = "g1"
            query = "attributes.floor >"
            [[namespace.resources.permissionBindings]]
            name = "b1"
            clientGroupName = "nobody"
            topicSpaceName = "nowhere"
            permission = "Publisher"
            [[namespace.resources.clients]]
            name = "c1"
            state = "Sleeping"
            "#,
        )
        .unwrap_err()
        .0;
        let text = errors.join("\n");
        for needle in [
            "not both",
            "client 'c1': properties.state",
            "clientGroup 'g1': properties.query: at byte",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn human_sizes_and_durations() {
        let config = Config::parse(
            r#"
            [mqtt]
            max_packet_size = "256KiB"
            max_session_expiry = "2h"
            "#,
        )
        .unwrap();
        assert_eq!(config.mqtt.max_packet_size.as_u64(), 256 * 1024);
        assert_eq!(config.mqtt.to_engine().max_session_expiry, 7200);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let errors = Config::parse(
            r#"
            colour = "blue"
            [mqtt]
            receive_maximum = 0
            max_inflight = "many"
            no_such_key = 1
            [[listeners]]
            bind = "not an address"
            [log]
            level = "[[["
            "#,
        )
        .unwrap_err()
        .0;
        let text = errors.join("\n");
        for needle in [
            "colour",
            "max_inflight",
            "no_such_key",
            "listeners[0].bind",
            "log.level",
        ] {
            assert!(text.contains(needle), "missing {needle} in:\n{text}");
        }
        assert!(errors.len() >= 5, "{text}");
    }

    #[test]
    fn values_out_of_range_are_named() {
        let errors = Config::parse("[mqtt]\nreceive_maximum = 0\nmaximum_qos = 3\n")
            .unwrap_err()
            .0;
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("mqtt.receive_maximum"));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let errors = Config::parse("[mqtt\n").unwrap_err().0;
        assert!(errors[0].contains("line 1"), "{errors:?}");
    }
}
