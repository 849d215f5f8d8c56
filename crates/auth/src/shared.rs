//! [`AuthShared`]: what outlives a rebuilt [`crate::Authenticator`] — the HTTP client and
//! its connection pool, the JWKS cache, the webhook decision cache, the concurrency slots —
//! and the counters a metrics exporter reads.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use crate::certificate;
use crate::error::BuildError;
use crate::jwks::JwksCache;
use crate::options::AuthOptions;
use crate::webhook::DecisionCache;

/// State shared by every [`crate::Authenticator`] built with it. Sizes (cache entries,
/// concurrency) are fixed by the options it was made with.
pub struct AuthShared {
    pub(crate) http: reqwest::Client,
    pub(crate) jwks: JwksCache,
    pub(crate) webhook_cache: DecisionCache,
    pub(crate) webhook_slots: Semaphore,
    pub(crate) password_slots: Semaphore,
    pub(crate) webhook_calls: AtomicU64,
}

impl std::fmt::Debug for AuthShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthShared")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Counters since start, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthStats {
    /// JWKS documents requested.
    pub jwks_fetches: u64,
    /// Webhook requests sent.
    pub webhook_calls: u64,
    /// CONNECTs answered from the webhook decision cache.
    pub webhook_cache_hits: u64,
    /// Cached webhook decisions dropped to make room.
    pub webhook_cache_evictions: u64,
}

impl AuthShared {
    /// The shared state for `options`; fails only if the HTTP client cannot be built
    /// (e.g. an unreadable `trusted_http_roots` certificate).
    pub fn new(options: &AuthOptions) -> Result<Self, BuildError> {
        let mut roots = Vec::new();
        for (i, pem) in options.trusted_http_roots.iter().enumerate() {
            let ders = certificate::pem_certificates(pem)
                .map_err(|e| BuildError::one(format!("trusted_http_roots[{i}]: {e}")))?;
            roots.extend(ders.into_iter().map(|d| d.to_vec()));
        }
        // Made now, so the first unknown user costs no more than the next.
        let _ = crate::password::dummy();
        Ok(Self {
            http: crate::http::client(&roots)?,
            jwks: JwksCache::default(),
            webhook_cache: DecisionCache::new(options.webhook_cache_entries),
            webhook_slots: Semaphore::new(options.webhook_max_in_flight.max(1)),
            password_slots: Semaphore::new(options.password_max_in_flight.max(1)),
            webhook_calls: AtomicU64::new(0),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> AuthStats {
        AuthStats {
            jwks_fetches: self.jwks.fetches.load(Ordering::Relaxed),
            webhook_calls: self.webhook_calls.load(Ordering::Relaxed),
            webhook_cache_hits: self.webhook_cache.hits.load(Ordering::Relaxed),
            webhook_cache_evictions: self.webhook_cache.evictions.load(Ordering::Relaxed),
        }
    }
}
