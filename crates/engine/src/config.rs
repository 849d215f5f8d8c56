//! The limits and choices the engine enforces. Plain data: the server crate maps its
//! configuration file onto this struct, tests build it directly.

use std::time::Duration;

use gridmq_codec::QoS;

/// What happens when a session's queue of undelivered messages is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Drop the oldest queued message to make room (counted).
    #[default]
    DropOldest,
    /// Drop the message that does not fit (counted).
    DropNewest,
    /// Drop the message that does not fit and tell a QoS 1/2 publisher with reason 0x97
    /// (Quota exceeded) instead of a success code.
    Refuse,
}

/// When an unacknowledged QoS 1 message of a shared subscription is offered to
/// another member of the group (MQTT 5.0 section 4.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SharedRedelivery {
    /// As soon as the member's connection is lost.
    #[default]
    OnDisconnect,
    /// Only when the member's session ends; a member that reconnects in time gets it back.
    OnSessionEnd,
}

/// Limits and features of the broker core.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Largest packet accepted from clients, in bytes.
    pub max_packet_size: u32,
    /// Highest Keep Alive granted, in seconds; v5 clients asking more (or 0) get Server
    /// Keep Alive set to this. 0 means no maximum.
    pub max_keep_alive: u16,
    /// How many QoS 1/2 publications a client may have unacknowledged toward us
    /// (our Receive Maximum).
    pub receive_maximum: u16,
    /// Upper bound on QoS 1/2 messages in flight toward one client, whatever its Receive
    /// Maximum says.
    pub max_inflight: u16,
    /// Highest topic alias a client may use.
    pub topic_alias_maximum: u16,
    /// Messages a session may have queued (online or offline) before the overflow policy
    /// applies.
    pub max_queued_messages: usize,
    /// Total payload bytes a session may have queued before the overflow policy applies.
    pub max_queued_bytes: u64,
    /// What to do when a session's queue is full.
    pub queue_overflow: OverflowPolicy,
    /// Whether QoS 0 messages are queued for offline sessions.
    pub queue_qos0_offline: bool,
    /// Messages queued for one connected session from which the publishers feeding it
    /// are throttled (their connections are not read) until it drains: flow control that
    /// keeps fast publishers from overrunning a slower subscriber.
    pub congestion_threshold: usize,
    /// How long a publisher stays throttled by a session that does not drain; after that
    /// the session counts as stalled and its queue's overflow policy applies instead.
    pub congestion_timeout: Duration,
    /// Subscriptions one session may hold.
    pub max_subscriptions_per_session: usize,
    /// Longest topic name or filter, in bytes.
    pub max_topic_length: usize,
    /// Most levels a topic name or filter may have.
    pub max_topic_levels: usize,
    /// Longest client identifier, in bytes.
    pub max_client_id_length: usize,
    /// Longest Session Expiry Interval granted, in seconds. MQTT 3.1.1 sessions with
    /// Clean Session 0 get this expiry.
    pub max_session_expiry: u32,
    /// Longest Message Expiry Interval kept for retained and queued messages, in seconds;
    /// 0 keeps messages without an expiry forever.
    pub max_message_expiry: u32,
    /// Highest QoS supported.
    pub maximum_qos: QoS,
    /// Whether retained messages are stored.
    pub retain_available: bool,
    /// Retained messages kept at most.
    pub max_retained_messages: usize,
    /// Total payload bytes of retained messages kept at most.
    pub max_retained_bytes: u64,
    /// Whether PUBLISH payloads flagged as UTF-8 are checked (0x99 when invalid).
    pub validate_utf8_payloads: bool,
    /// Prefix of the Response Information returned to clients that ask for it; the
    /// client id is appended. `None` never returns Response Information.
    pub response_information_prefix: Option<String>,
    /// Prefix of assigned client identifiers.
    pub assigned_client_id_prefix: String,
    /// When shared-subscription messages move to another member.
    pub shared_redelivery: SharedRedelivery,
    /// How long a client has to send CONNECT after the connection opens.
    pub connect_timeout: Duration,
    /// Enhanced authentication methods the server handles; a CONNECT naming any other
    /// gets Bad authentication method (0x8C), unless `delegate_authentication_methods`.
    pub authentication_methods: Vec<String>,
    /// Whether the server authenticates every CONNECT itself (namespace mode): a CONNECT
    /// naming any Authentication Method passes [`crate::Broker::check_connect`] and the
    /// server's authenticator decides whether it supports it.
    pub delegate_authentication_methods: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_packet_size: 1024 * 1024,
            max_keep_alive: 0,
            receive_maximum: 1024,
            max_inflight: 1024,
            topic_alias_maximum: 64,
            max_queued_messages: 10_000,
            max_queued_bytes: 64 * 1024 * 1024,
            queue_overflow: OverflowPolicy::DropOldest,
            queue_qos0_offline: false,
            congestion_threshold: 256,
            congestion_timeout: Duration::from_secs(5),
            max_subscriptions_per_session: 1_000,
            max_topic_length: 65_535,
            max_topic_levels: 128,
            max_client_id_length: 256,
            max_session_expiry: 24 * 60 * 60,
            max_message_expiry: 0,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            max_retained_messages: 1_000_000,
            max_retained_bytes: 1024 * 1024 * 1024,
            validate_utf8_payloads: true,
            response_information_prefix: Some("response/".to_owned()),
            assigned_client_id_prefix: "auto-".to_owned(),
            shared_redelivery: SharedRedelivery::OnDisconnect,
            connect_timeout: Duration::from_secs(10),
            authentication_methods: Vec::new(),
            delegate_authentication_methods: false,
        }
    }
}
