//! [`AuthOptions`]: the bounds and timeouts authentication works within, with defaults in
//! code. They belong to the broker's configuration, not to the namespace's resources.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits and timeouts for authentication; see [`AuthOptions::default`] for the values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthOptions {
    /// Longest CONNECT User Name, in bytes (1 KiB); longer ones are refused unread.
    pub max_username_len: usize,
    /// Longest CONNECT Password, in bytes (16 KiB, room for a JWT).
    pub max_password_len: usize,
    /// Longest Authentication Data, in bytes (16 KiB).
    pub max_authentication_data_len: usize,
    /// Most certificates in a presented client chain (8).
    pub max_chain_len: usize,
    /// Clock skew tolerated on a token's `exp` and `nbf` (60 s).
    #[serde(with = "humantime_serde")]
    pub jwt_leeway: Duration,
    /// `aud` values accepted when the namespace lists no audiences: the broker's host
    /// names. The server name the client asked for over TLS (SNI) is accepted as well.
    pub default_audiences: Vec<String>,
    /// How long a JWKS fetch may take (5 s).
    #[serde(with = "humantime_serde")]
    pub jwks_timeout: Duration,
    /// How long fetched JWKS keys are used before they are fetched again (1 h).
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
    /// Least time between two fetches of one JWKS, whether a token names an unknown `kid`
    /// or the endpoint failed (30 s): a flood of made-up key ids costs one request.
    #[serde(with = "humantime_serde")]
    pub jwks_min_refresh_interval: Duration,
    /// Largest JWKS document read, in bytes (256 KiB).
    pub jwks_max_bytes: usize,
    /// Most keys taken from one JWKS document (64).
    pub jwks_max_keys: usize,
    /// Largest webhook answer read, in bytes (64 KiB).
    pub webhook_max_response_bytes: usize,
    /// Most cached webhook `allow` decisions (10,000).
    pub webhook_cache_entries: usize,
    /// Most webhook requests in flight (256); a connection that cannot get a slot within
    /// the webhook timeout is refused with 0x88.
    pub webhook_max_in_flight: usize,
    /// Most argon2 verifications running at once (4): each takes tens of MiB and
    /// milliseconds of CPU.
    pub password_max_in_flight: usize,
    /// How long a password check may wait for a slot before 0x88 (5 s).
    #[serde(with = "humantime_serde")]
    pub password_queue_timeout: Duration,
    /// Highest argon2 memory cost a stored hash may ask for, in KiB (262,144 = 256 MiB).
    pub password_max_memory_kib: u32,
    /// Highest argon2 time cost (iterations) a stored hash may ask for (16).
    pub password_max_time_cost: u32,
    /// Highest argon2 parallelism a stored hash may ask for (16).
    pub password_max_parallelism: u32,
    /// Longest authentication name from a token's `sub` or a webhook, in characters (128,
    /// Event Grid's limit).
    pub max_authentication_name_len: usize,
    /// CA certificates (PEM) trusted for `https://` JWKS and webhook endpoints besides the
    /// system's roots.
    pub trusted_http_roots: Vec<String>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            max_username_len: 1024,
            max_password_len: 16 * 1024,
            max_authentication_data_len: 16 * 1024,
            max_chain_len: 8,
            jwt_leeway: Duration::from_secs(60),
            default_audiences: Vec::new(),
            jwks_timeout: Duration::from_secs(5),
            jwks_max_age: Duration::from_secs(3600),
            jwks_min_refresh_interval: Duration::from_secs(30),
            jwks_max_bytes: 256 * 1024,
            jwks_max_keys: 64,
            webhook_max_response_bytes: 64 * 1024,
            webhook_cache_entries: 10_000,
            webhook_max_in_flight: 256,
            password_max_in_flight: 4,
            password_queue_timeout: Duration::from_secs(5),
            password_max_memory_kib: 256 * 1024,
            password_max_time_cost: 16,
            password_max_parallelism: 16,
            max_authentication_name_len: 128,
            trusted_http_roots: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_human_durations_and_refuses_unknown_fields() {
        let options: AuthOptions =
            serde_json::from_str(r#"{ "jwt_leeway": "30s", "jwks_max_age": "10m" }"#).unwrap();
        assert_eq!(options.jwt_leeway, Duration::from_secs(30));
        assert_eq!(options.jwks_max_age, Duration::from_secs(600));
        assert_eq!(
            options.max_password_len,
            AuthOptions::default().max_password_len
        );
        assert!(serde_json::from_str::<AuthOptions>(r#"{ "jwt_leway": "30s" }"#).is_err());
    }
}
