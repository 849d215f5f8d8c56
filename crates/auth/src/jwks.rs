//! The JWKS cache, shared across rebuilds of the [`crate::Authenticator`]: keys per URL,
//! fetched on first use, refetched when older than `jwks_max_age` or when a token names an
//! unknown `kid` — but never more often than `jwks_min_refresh_interval`, whatever tokens
//! arrive. One fetch per URL at a time; concurrent callers wait for it (bounded by the
//! fetch timeout). When a refetch fails the previous keys stay in use.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use crate::http;
use crate::keys::KeySet;
use crate::options::AuthOptions;

/// Most JWKS URLs remembered (a namespace has one; old ones linger after changes).
const MAX_URLS: usize = 8;

#[derive(Default)]
pub(crate) struct JwksCache {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    pub(crate) fetches: AtomicU64,
}

#[derive(Default)]
struct Entry {
    state: Mutex<State>,
    /// Held while fetching, so one request per URL is in flight.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<SystemTime>,
    last_attempt: Option<SystemTime>,
    last_error: Option<String>,
}

enum Next {
    Use(Arc<KeySet>),
    Fetch,
    Fail(String),
}

fn age(then: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

impl State {
    fn next(&self, kid: Option<&str>, now: SystemTime, options: &AuthOptions) -> Next {
        let fresh = self
            .fetched_at
            .is_some_and(|t| age(t, now) < options.jwks_max_age);
        if let Some(keys) = &self.keys {
            if fresh && kid.is_none_or(|k| keys.contains(k)) {
                return Next::Use(keys.clone());
            }
        }
        let recently_tried = self
            .last_attempt
            .is_some_and(|t| age(t, now) < options.jwks_min_refresh_interval);
        match (&self.keys, recently_tried) {
            (_, false) => Next::Fetch,
            (Some(keys), true) => Next::Use(keys.clone()),
            (None, true) => Next::Fail(
                self.last_error
                    .clone()
                    .unwrap_or_else(|| "JWKS not fetched yet".into()),
            ),
        }
    }
}

impl JwksCache {
    fn entry(&self, url: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock();
        if !entries.contains_key(url) && entries.len() >= MAX_URLS {
            entries.clear();
        }
        entries.entry(url.to_owned()).or_default().clone()
    }

    /// The keys of `url`, refreshed as described in the module doc; an error message when
    /// none are available.
    pub(crate) async fn keys(
        &self,
        client: &reqwest::Client,
        url: &str,
        kid: Option<&str>,
        now: SystemTime,
        options: &AuthOptions,
    ) -> Result<Arc<KeySet>, String> {
        let entry = self.entry(url);
        if let Some(done) = decided(&entry, kid, now, options) {
            return done;
        }
        let _fetching = entry.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(done) = decided(&entry, kid, now, options) {
            return done;
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        // Recorded only once the fetch ends: a caller dropped mid-fetch leaves no trace,
        // and the next caller tries again.
        let fetched = fetch(client, url, options).await;
        let mut state = entry.state.lock();
        state.last_attempt = Some(now);
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                state.keys = Some(keys.clone());
                state.fetched_at = Some(now);
                state.last_error = None;
                Ok(keys)
            }
            Err(e) => {
                tracing::warn!(url, error = %e, "JWKS fetch failed");
                state.last_error = Some(e.clone());
                state.keys.clone().ok_or(e)
            }
        }
    }
}

fn decided(
    entry: &Entry,
    kid: Option<&str>,
    now: SystemTime,
    options: &AuthOptions,
) -> Option<Result<Arc<KeySet>, String>> {
    match entry.state.lock().next(kid, now, options) {
        Next::Use(keys) => Some(Ok(keys)),
        Next::Fail(e) => Some(Err(e)),
        Next::Fetch => None,
    }
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    options: &AuthOptions,
) -> Result<KeySet, String> {
    let request = async {
        let response = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("JWKS request failed: {}", http::error_chain(&e)))?;
        http::read_ok_body(response, options.jwks_max_bytes).await
    };
    let body = tokio::time::timeout(options.jwks_timeout, request)
        .await
        .map_err(|_| format!("JWKS did not answer within {:?}", options.jwks_timeout))??;
    KeySet::from_jwks(&body, options.jwks_max_keys)
}
