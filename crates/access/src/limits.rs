//! The bounds validation enforces. Event Grid's own counts are small (10 groups, 10 topic
//! spaces, ...); ours default to generous values and are configurable. Name rules and the
//! 4 KB attribute budget follow Event Grid, since clients and tools rely on them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits on resources; see the field defaults in [`Limits::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Shortest name of a CA certificate, client group, topic space or binding (3).
    pub min_name_len: usize,
    /// Longest such name (50).
    pub max_name_len: usize,
    /// Longest client name (128).
    pub max_client_name_len: usize,
    /// Longest authentication name, in characters (128).
    pub max_authentication_name_len: usize,
    /// Attributes, encoded as compact JSON, must be smaller than this many bytes (4096).
    pub attributes_size_limit: usize,
    /// Longest description, in characters (1024).
    pub max_description_len: usize,
    /// Most CA certificates (1,000).
    pub max_ca_certificates: usize,
    /// Largest encoded certificate, in bytes (64 KiB).
    pub max_certificate_len: usize,
    /// Most clients (1,000,000).
    pub max_clients: usize,
    /// Most client groups besides `$all` (10,000).
    pub max_client_groups: usize,
    /// Most topic spaces (10,000).
    pub max_topic_spaces: usize,
    /// Most templates in one topic space (1,000).
    pub max_templates_per_topic_space: usize,
    /// Most permission bindings (100,000).
    pub max_permission_bindings: usize,
    /// Most thumbprints per client (16).
    pub max_thumbprints: usize,
    /// Most password hashes per client (16).
    pub max_password_hashes: usize,
    /// Most uploaded JWT issuer certificates (16).
    pub max_issuer_certificates: usize,
    /// Longest client group query, in bytes (4,096).
    pub max_query_len: usize,
    /// Longest topic template, in bytes (4,096).
    pub max_template_len: usize,
    /// Most levels in a topic template (128); also bounds the matcher's recursion.
    pub max_template_levels: usize,
    /// Most topic filters one template may expand to for a client with array attributes
    /// (256); a template that would expand to more grants nothing to that client.
    pub max_template_expansions: usize,
    /// Highest `maximumClientSessionsPerAuthenticationName` (100,000).
    pub max_sessions_per_authentication_name: u32,
    /// Highest `maximumSessionExpiryInHours` (8,760, a year).
    pub max_session_expiry_hours: u32,
    /// Longest webhook timeout (60 s).
    #[serde(with = "humantime_serde")]
    pub max_webhook_timeout: Duration,
    /// Whether `http://` endpoints are accepted (false: Event Grid requires https).
    pub allow_plain_http: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_name_len: 3,
            max_name_len: 50,
            max_client_name_len: 128,
            max_authentication_name_len: 128,
            attributes_size_limit: 4096,
            max_description_len: 1024,
            max_ca_certificates: 1_000,
            max_certificate_len: 64 * 1024,
            max_clients: 1_000_000,
            max_client_groups: 10_000,
            max_topic_spaces: 10_000,
            max_templates_per_topic_space: 1_000,
            max_permission_bindings: 100_000,
            max_thumbprints: 16,
            max_password_hashes: 16,
            max_issuer_certificates: 16,
            max_query_len: 4096,
            max_template_len: 4096,
            max_template_levels: 128,
            max_template_expansions: 256,
            max_sessions_per_authentication_name: 100_000,
            max_session_expiry_hours: 8_760,
            max_webhook_timeout: Duration::from_secs(60),
            allow_plain_http: false,
        }
    }
}
