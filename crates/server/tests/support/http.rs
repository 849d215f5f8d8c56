//! HTTP Publish and the retained-message API over real HTTP with reqwest: a client with
//! an optional bearer token, replies with their headers, and percent-encoding.

use std::net::SocketAddr;

use bytes::Bytes;
use gridmq_server::Server;
use serde_json::Value;

use super::within;

/// The `api-version` of the retained API in Event Grid's documentation.
pub(crate) const API_VERSION: &str = "2025-11-16-preview";

/// Percent-encodes a query parameter value: everything but RFC 3986's unreserved bytes.
pub(crate) fn enc(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A reply: status, headers and body.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) version: reqwest::Version,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Bytes,
}

impl HttpReply {
    /// A header as text (empty when absent).
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `field` of every error in a problem+json body.
    pub(crate) fn fields(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts a problem+json error with `status`.
    #[track_caller]
    pub(crate) fn assert_problem(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            "application/problem+json",
            "{self:?}"
        );
        assert_eq!(self.json()["status"], status, "{self:?}");
    }
}

/// A client of the broker's HTTP listener.
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Http {
    /// HTTP/1.1 with keep-alive, no token.
    pub(crate) fn new(server: &Server) -> Self {
        Self::with_client(server, reqwest::Client::builder())
    }

    /// HTTP/2 without TLS (prior knowledge), no token.
    pub(crate) fn http2(server: &Server) -> Self {
        Self::with_client(server, reqwest::Client::builder().http2_prior_knowledge())
    }

    fn with_client(server: &Server, builder: reqwest::ClientBuilder) -> Self {
        // reqwest is built without a default TLS provider; another test may have set one.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let addr: SocketAddr = server.http_addr().expect("the broker serves HTTP");
        Self {
            base: format!("http://{addr}"),
            token: None,
            client: builder.build().expect("an HTTP client"),
        }
    }

    /// The same client with a bearer token (or none).
    pub(crate) fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    /// Sends a request to `path` (with its query) and reads the whole reply.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> HttpReply {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.client.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = within(&url, request.send())
            .await
            .expect("the HTTP request completes");
        let status = response.status().as_u16();
        let version = response.version();
        let headers = response.headers().clone();
        let body = within("the HTTP body", response.bytes())
            .await
            .expect("a body");
        HttpReply {
            status,
            version,
            headers,
            body,
        }
    }

    /// `POST /mqtt/messages?topic=<topic>&<query>` with `headers` and `body`.
    pub(crate) async fn publish(
        &self,
        topic: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> HttpReply {
        let mut path = format!("/mqtt/messages?topic={}", enc(topic));
        if !query.is_empty() {
            path.push('&');
            path.push_str(query);
        }
        self.send("POST", &path, headers, Some(body.into())).await
    }

    /// Publishes and expects 204.
    pub(crate) async fn publish_ok(
        &self,
        topic: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) {
        let reply = self.publish(topic, query, headers, body).await;
        assert_eq!(reply.status, 204, "publish to {topic}: {reply:?}");
    }

    /// `GET` of `path`.
    pub(crate) async fn get(&self, path: &str) -> HttpReply {
        self.send("GET", path, &[], None).await
    }

    /// `DELETE` of `path`.
    pub(crate) async fn delete(&self, path: &str) -> HttpReply {
        self.send("DELETE", path, &[], None).await
    }

    /// `GET /mqtt/retainedMessages/message?topic=<topic>`.
    pub(crate) async fn retained(&self, topic: &str) -> HttpReply {
        self.get(&format!(
            "/mqtt/retainedMessages/message?topic={}&api-version={API_VERSION}",
            enc(topic)
        ))
        .await
    }

    /// `DELETE /mqtt/retainedMessages/message?topic=<topic>`.
    pub(crate) async fn delete_retained(&self, topic: &str) -> HttpReply {
        self.delete(&format!(
            "/mqtt/retainedMessages/message?topic={}&api-version={API_VERSION}",
            enc(topic)
        ))
        .await
    }

    /// Every retained topic matching `filter`, following `nextLink` with `page`-sized
    /// pages; also returns the number of pages.
    pub(crate) async fn list_all(&self, filter: &str, page: usize) -> (Vec<Value>, usize) {
        let mut next = Some(format!(
            "/mqtt/retainedMessages?topicFilter={}&maxResults={page}&api-version={API_VERSION}",
            enc(filter)
        ));
        let (mut items, mut pages) = (Vec::new(), 0);
        while let Some(link) = next {
            let reply = self.get(&link).await;
            assert_eq!(reply.status, 200, "{link}: {reply:?}");
            let body = reply.json();
            let list = body["retainedMessages"].as_array().expect("a list");
            assert!(list.len() <= page, "{body}");
            items.extend(list.iter().cloned());
            pages += 1;
            assert!(pages < 1000, "nextLink never ends");
            next = body["nextLink"].as_str().map(str::to_owned);
        }
        (items, pages)
    }
}
