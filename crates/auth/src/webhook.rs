//! Webhook authentication: the broker POSTs the CONNECT's credentials as JSON to the
//! namespace's endpoint and follows its `allow` / `deny` answer (Event Grid's shapes).
//! `allow` answers with an `expiration` are cached until then, keyed by a SHA-256 of
//! everything the request carried, so a different password never finds another's entry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gridmq_access::{ClientIdentity, WebhookAuthentication};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::outcome::{AuthFailure, Authenticated, Method, quoted};
use crate::request::AuthRequest;
use crate::{certificate, http};

/// The namespace's webhook settings.
#[derive(Debug)]
pub(crate) struct WebhookSettings {
    pub(crate) url: String,
    pub(crate) timeout: Duration,
}

impl WebhookSettings {
    pub(crate) fn new(config: &WebhookAuthentication) -> Self {
        Self {
            url: config.endpoint_url.clone(),
            timeout: config.timeout(),
        }
    }
}

/// The request body (Event Grid's field names).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authentication_method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authentication_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_certificate_chain: Option<String>,
}

/// The request body for `request`: bytes in base64, the leaf certificate in PEM, and the
/// whole presented chain (leaf first) in PEM.
pub(crate) fn body(request: &AuthRequest<'_>) -> Vec<u8> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let chain = request
        .peer
        .tls
        .as_ref()
        .map(|t| t.client_chain.as_slice())
        .unwrap_or_default();
    let body = Body {
        client_id: request.client_id,
        user_name: request.username,
        password: request.password.map(b64),
        authentication_method: request.authentication_method,
        authentication_data: request.authentication_data.map(b64),
        client_certificate: chain.first().map(|c| certificate::pem_encode(c)),
        client_certificate_chain: (!chain.is_empty())
            .then(|| chain.iter().map(|c| certificate::pem_encode(c)).collect()),
    };
    // Serializing plain strings cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The cache key: SHA-256 over the endpoint and every credential, each length-prefixed.
pub(crate) fn cache_key(url: &str, request: &AuthRequest<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut field = |tag: u8, value: Option<&[u8]>| {
        h.update([tag]);
        match value {
            Some(v) => {
                h.update((v.len() as u64).to_be_bytes());
                h.update(v);
            }
            None => h.update(u64::MAX.to_be_bytes()),
        }
    };
    field(0, Some(url.as_bytes()));
    field(1, Some(request.client_id.as_bytes()));
    field(2, request.username.map(str::as_bytes));
    field(3, request.password);
    field(4, request.authentication_method.map(str::as_bytes));
    field(5, request.authentication_data);
    let chain = request.peer.tls.as_ref().map(|t| t.client_chain.as_slice());
    for cert in chain.unwrap_or_default() {
        field(6, Some(cert));
    }
    h.finalize().into()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    decision: String,
    client_authentication_name: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
    expiration: Option<Value>,
    error_reason: Option<Value>,
}

/// Reads an answer: `Ok` for allow, a 0x87 failure for deny, a 0x88 failure for garbage.
pub(crate) fn decide(
    body: &[u8],
    now: SystemTime,
    max_name_chars: usize,
) -> Result<Authenticated, AuthFailure> {
    let garbage =
        |why: &str| AuthFailure::unavailable(format!("webhook answer is unusable: {why}"));
    let answer: Answer =
        serde_json::from_slice(body).map_err(|_| garbage("not the expected JSON"))?;
    if answer.decision.eq_ignore_ascii_case("deny") {
        let reason = match &answer.error_reason {
            Some(Value::String(s)) => quoted(s),
            _ => "no reason given".into(),
        };
        return Err(AuthFailure::not_authorized(format!(
            "webhook denied: {reason}"
        )));
    }
    if !answer.decision.eq_ignore_ascii_case("allow") {
        return Err(garbage("decision is neither allow nor deny"));
    }
    let name = answer
        .client_authentication_name
        .filter(|n| !n.is_empty() && n.chars().count() <= max_name_chars)
        .ok_or_else(|| garbage("allow without a valid clientAuthenticationName"))?;
    let expires_at = match &answer.expiration {
        None | Some(Value::Null) => None,
        Some(v) => Some(expiration(v).ok_or_else(|| garbage("expiration is not Unix seconds"))?),
    };
    if expires_at.is_some_and(|t| t <= now) {
        return Err(AuthFailure::not_authorized(
            "webhook allowed, but the decision has already expired",
        ));
    }
    Ok(Authenticated {
        identity: ClientIdentity {
            authentication_name: name,
            attributes: crate::attributes::from_json(&answer.attributes, &[]),
        },
        client: None,
        method: Method::Webhook,
        expires_at,
    })
}

/// Unix seconds, as a number or a string of digits.
fn expiration(v: &Value) -> Option<SystemTime> {
    let secs = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// POSTs `body` and returns the answer's bytes; errors are messages for a 0x88 refusal.
pub(crate) async fn call(
    client: &reqwest::Client,
    settings: &WebhookSettings,
    body: Vec<u8>,
    max_response: usize,
) -> Result<Vec<u8>, String> {
    let request = async {
        let response = client
            .post(&settings.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("request failed: {}", http::error_chain(&e)))?;
        http::read_ok_body(response, max_response).await
    };
    tokio::time::timeout(settings.timeout, request)
        .await
        .map_err(|_| format!("no answer within {:?}", settings.timeout))?
}

/// Cached `allow` decisions, bounded: when full, expired entries go first, then the one
/// closest to expiring.
pub(crate) struct DecisionCache {
    entries: Mutex<HashMap<[u8; 32], Authenticated>>,
    capacity: usize,
    pub(crate) hits: AtomicU64,
    pub(crate) evictions: AtomicU64,
}

impl DecisionCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
            hits: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, key: &[u8; 32], now: SystemTime) -> Option<Authenticated> {
        let mut entries = self.entries.lock();
        let hit = entries.get(key)?;
        if hit.expires_at.is_some_and(|t| t > now) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(hit.clone());
        }
        entries.remove(key);
        None
    }

    /// Caches a decision that has an expiration; others are not cached.
    pub(crate) fn put(&self, key: [u8; 32], decision: &Authenticated, now: SystemTime) {
        if decision.expires_at.is_none() || self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let before = entries.len();
            entries.retain(|_, d| d.expires_at.is_some_and(|t| t > now));
            if entries.len() >= self.capacity {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, d)| d.expires_at)
                    .map(|(k, _)| *k);
                if let Some(k) = soonest {
                    entries.remove(&k);
                }
            }
            let evicted = before.saturating_sub(entries.len());
            self.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
        }
        entries.insert(key, decision.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn answers() {
        let allow = br#"{"decision":"allow","clientAuthenticationName":"dev1",
            "attributes":{"floor":3,"room":"345","tags":["a"],"f":1.5},"expiration":1700000600}"#;
        let ok = decide(allow, now(), 128).unwrap();
        assert_eq!(ok.identity.authentication_name, "dev1");
        assert_eq!(ok.identity.attributes.len(), 3);
        assert_eq!(
            ok.expires_at,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_600))
        );
        let as_string =
            br#"{"decision":"allow","clientAuthenticationName":"d","expiration":"1700000600"}"#;
        assert!(decide(as_string, now(), 128).unwrap().expires_at.is_some());

        let deny = br#"{"decision":"deny","errorReason":"revoked"}"#;
        let failure = decide(deny, now(), 128).unwrap_err();
        assert_eq!(failure.reason, gridmq_codec::ReasonCode::NotAuthorized);
        assert!(failure.log_message.contains("revoked"));

        for garbage in [
            &b"<html>"[..],
            br#"{"decision":"maybe"}"#,
            br#"{"decision":"allow"}"#,
            br#"{"decision":"allow","clientAuthenticationName":"d","expiration":"soon"}"#,
        ] {
            let failure = decide(garbage, now(), 128).unwrap_err();
            assert_eq!(failure.reason, gridmq_codec::ReasonCode::ServerUnavailable);
        }
        let expired = br#"{"decision":"allow","clientAuthenticationName":"d","expiration":1}"#;
        assert_eq!(
            decide(expired, now(), 128).unwrap_err().reason,
            gridmq_codec::ReasonCode::NotAuthorized
        );
    }

    #[test]
    fn cache_is_bounded_and_expires() {
        let cache = DecisionCache::new(2);
        let decision = |secs| Authenticated {
            identity: ClientIdentity::new("d"),
            client: None,
            method: Method::Webhook,
            expires_at: Some(now() + Duration::from_secs(secs)),
        };
        cache.put([1; 32], &decision(10), now());
        cache.put([2; 32], &decision(20), now());
        cache.put([3; 32], &decision(30), now());
        assert!(
            cache.get(&[1; 32], now()).is_none(),
            "soonest to expire was evicted"
        );
        assert!(cache.get(&[2; 32], now()).is_some());
        assert!(cache.get(&[3; 32], now()).is_some());
        assert!(
            cache
                .get(&[2; 32], now() + Duration::from_secs(20))
                .is_none(),
            "expired"
        );
        let mut no_expiry = decision(0);
        no_expiry.expires_at = None;
        cache.put([4; 32], &no_expiry, now());
        assert!(cache.get(&[4; 32], now()).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_answer_is_decided_without_panicking(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = decide(&body, now(), 128);
        }

        #[test]
        fn json_answers_with_odd_values(decision in "allow|deny|ALLOW|x", name in proptest::option::of(".{0,200}"),
            expiration in proptest::option::of(proptest::prelude::any::<i64>())) {
            let body = serde_json::json!({ "decision": decision, "clientAuthenticationName": name,
                "expiration": expiration, "attributes": { "a": expiration } });
            let _ = decide(body.to_string().as_bytes(), now(), 128);
        }
    }
}
