//! `gridmq apply FILE`: sends a resources document to a running broker's management API
//! (`POST /api/v1/apply`), which applies it all or nothing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// Where and how to reach the management API.
#[derive(Debug, Clone)]
pub struct ApiTarget {
    /// The HTTP listener's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// The admin bearer token, if the broker has one.
    pub token: Option<String>,
}

/// Why an application failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The broker could not be reached or answered with something unreadable.
    #[error("{0}")]
    Transport(String),
    /// The broker refused the document; the message lists every problem it named.
    #[error("{0}")]
    Refused(String),
}

/// Sends `document`; with `prune`, resources it leaves out are deleted. Returns the
/// broker's report of what changed.
pub async fn apply(target: &ApiTarget, document: &Value, prune: bool) -> Result<Value, ApplyError> {
    let client = http_client()?;
    let url = format!(
        "{}/api/v1/apply?prune={prune}",
        target.url.trim_end_matches('/')
    );
    let body = serde_json::to_vec(document).map_err(|e| ApplyError::Transport(e.to_string()))?;
    let mut request = client
        .post(&url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = &target.token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| ApplyError::Transport(format!("cannot reach {url}: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| ApplyError::Transport(format!("reading the answer failed: {e}")))?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        Ok(value)
    } else {
        Err(ApplyError::Refused(describe_problem(
            status.as_u16(),
            &value,
        )))
    }
}

/// A problem+json answer as lines for a terminal.
fn describe_problem(status: u16, problem: &Value) -> String {
    let detail = problem
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("refused");
    let mut out = format!("the broker answered {status}: {detail}");
    for error in problem
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |key| error.get(key).and_then(Value::as_str).unwrap_or_default();
        out.push_str("\n  - ");
        if !text("resource").is_empty() {
            out.push_str(text("resource"));
            out.push_str(": ");
        }
        if !text("field").is_empty() {
            out.push_str(text("field"));
            out.push_str(": ");
        }
        if let Some(position) = error.get("position").and_then(Value::as_u64) {
            out.push_str(&format!("at byte {position}: "));
        }
        out.push_str(text("message"));
    }
    out
}

/// An HTTP client over rustls (the workspace's aws-lc-rs provider) trusting the system's
/// roots.
fn http_client() -> Result<reqwest::Client, ApplyError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApplyError::Transport(format!("TLS client: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("gridmq/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ApplyError::Transport(format!("HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_read_as_lines() {
        let text = describe_problem(
            400,
            &json!({
                "detail": "2 problems",
                "errors": [
                    { "resource": "clientGroups/g", "field": "properties.query", "position": 4, "message": "bad" },
                    { "field": "colour", "message": "unknown key" }
                ]
            }),
        );
        assert_eq!(
            text,
            "the broker answered 400: 2 problems\n  - clientGroups/g: properties.query: at byte 4: bad\n  - colour: unknown key"
        );
    }
}
