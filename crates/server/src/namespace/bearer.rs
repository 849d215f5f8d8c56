//! Bearer tokens of HTTP requests (HTTP Publish, the retained API): checked like an MQTT
//! client's JWT, then turned into the rights the permission bindings grant its identity.
//!
//! A publisher sends the same token with many requests, so accepted tokens are cached
//! by their SHA-256 (never the token itself) with the namespace version they were
//! judged against: any change to the resources, and the token's own expiry, send it
//! through the full check again. The cache is bounded; when full it first drops what
//! is stale, then everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use gridmq_access::ClientRights;
use gridmq_auth::AuthFailure;
use parking_lot::Mutex;

use super::Namespace;

/// Tokens remembered at most.
const CACHE_CAPACITY: usize = 4096;

/// An accepted token: who it names and what that identity may do.
#[derive(Debug, Clone)]
pub(crate) struct Bearer {
    /// The authentication name (`sub`, or `oid`).
    pub(crate) name: Arc<str>,
    /// Its rights under the namespace version `version`.
    pub(crate) rights: Arc<ClientRights>,
    version: u64,
    /// The token's `exp` plus the configured leeway.
    valid_until: SystemTime,
}

/// Accepted tokens by SHA-256 of host and token.
#[derive(Debug, Default)]
pub(crate) struct BearerCache {
    entries: Mutex<HashMap<[u8; 32], Bearer>>,
}

impl BearerCache {
    fn get(&self, key: &[u8; 32], version: u64, now: SystemTime) -> Option<Bearer> {
        let entries = self.entries.lock();
        let bearer = entries.get(key)?;
        (bearer.version == version && now < bearer.valid_until).then(|| bearer.clone())
    }

    fn insert(&self, key: [u8; 32], bearer: Bearer, now: SystemTime) {
        let mut entries = self.entries.lock();
        if entries.len() >= CACHE_CAPACITY {
            let version = bearer.version;
            entries.retain(|_, b| b.version == version && now < b.valid_until);
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, bearer);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

fn cache_key(host: Option<&str>, token: &str) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(host.unwrap_or_default().as_bytes());
    context.update(&[0]);
    context.update(token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

impl Namespace {
    /// Checks the bearer token of an HTTP request (`host` is its Host header without
    /// port) and answers with the identity's rights.
    pub(crate) async fn bearer(
        &self,
        token: &str,
        host: Option<&str>,
    ) -> Result<Bearer, AuthFailure> {
        let state = self.state();
        let now = SystemTime::now();
        let key = cache_key(host, token);
        if let Some(bearer) = self.bearers.get(&key, state.version, now) {
            return Ok(bearer);
        }
        let authenticated = state
            .authenticator
            .authenticate_bearer(token.as_bytes(), host, now)
            .await?;
        let valid_until = authenticated
            .expires_at
            .map_or(now, |at| at + self.options.jwt_leeway);
        let bearer = Bearer {
            name: Arc::from(authenticated.identity.authentication_name.as_str()),
            rights: Arc::new(state.policy.rights_for(&authenticated.identity)),
            version: state.version,
            valid_until,
        };
        self.bearers.insert(key, bearer.clone(), now);
        Ok(bearer)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn bearer(version: u64, valid_until: SystemTime) -> Bearer {
        Bearer {
            name: Arc::from("d"),
            rights: Arc::new(ClientRights::deny_all()),
            version,
            valid_until,
        }
    }

    #[test]
    fn entries_hold_for_their_version_and_lifetime() {
        let cache = BearerCache::default();
        let now = SystemTime::now();
        let key = cache_key(Some("h"), "t");
        assert_ne!(key, cache_key(None, "t"), "the host is part of the key");
        cache.insert(key, bearer(3, now + Duration::from_secs(60)), now);
        assert!(cache.get(&key, 3, now).is_some());
        assert!(cache.get(&key, 4, now).is_none(), "resources changed");
        assert!(
            cache.get(&key, 3, now + Duration::from_secs(60)).is_none(),
            "expired"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = BearerCache::default();
        let now = SystemTime::now();
        for i in 0..CACHE_CAPACITY + 10 {
            let key = cache_key(None, &i.to_string());
            cache.insert(key, bearer(1, now + Duration::from_secs(60)), now);
        }
        assert!(cache.len() <= CACHE_CAPACITY);
    }
}
