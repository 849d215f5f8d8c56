//! [`AppState`]: what the routers share, and the service traits the server implements.
//! The routers only translate HTTP to calls on these traits and back.
//!
//! To add a group of routes (HTTP Publish, say): define its service trait here, add an
//! `Option<Arc<dyn ...>>` field to [`AppState`], write a `routes()` module like
//! [`crate::management`], and merge it in [`crate::router`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use gridmq_access::{ClientRights, ResourceKind};
use gridmq_codec::{Publish, TopicFilter, TopicName};
use serde_json::Value;

use crate::admin::AdminAuth;
use crate::error::ApiError;
use crate::rate_limit::RateLimit;

/// A boxed future, so the service traits stay object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The resources, each `{"name": ..., "properties": {...}}`, in listing order.
    pub items: Vec<Value>,
    /// When more follow: the cursor to continue after (the last item's listing key).
    pub next: Option<String>,
}

/// What a PUT did.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// Whether the resource is new (201) rather than replaced (200).
    pub created: bool,
    /// The resource as stored, `{"name": ..., "properties": {...}}`.
    pub resource: Value,
}

/// The namespace's resources as the management API sees them. Bodies arrive as parsed
/// JSON, flat or wrapped in `properties`; the implementation validates them and answers
/// with an [`ApiError`] naming every bad field.
pub trait Management: Send + Sync + 'static {
    /// One resource; 404 when there is none.
    fn get(&self, kind: ResourceKind, name: &str) -> Result<Value, ApiError>;

    /// At most `limit` resources of `kind` whose listing key comes after `after`.
    fn list(&self, kind: ResourceKind, after: Option<&str>, limit: usize)
    -> Result<Page, ApiError>;

    /// Creates or replaces a resource.
    fn put(
        &self,
        kind: ResourceKind,
        name: String,
        body: Value,
    ) -> BoxFuture<'_, Result<Saved, ApiError>>;

    /// Deletes a resource; 404 when there is none, 409 when others use it.
    fn delete(&self, kind: ResourceKind, name: String) -> BoxFuture<'_, Result<(), ApiError>>;

    /// The namespace and its settings.
    fn namespace(&self) -> Value;

    /// Replaces the namespace settings; answers with the namespace as stored.
    fn put_namespace(&self, body: Value) -> BoxFuture<'_, Result<Value, ApiError>>;

    /// Applies a document of resources at once (created or replaced; with `prune`, the
    /// ones it leaves out are deleted); answers with what changed.
    fn apply(&self, document: Value, prune: bool) -> BoxFuture<'_, Result<Value, ApiError>>;
}

/// Who made a request to the MQTT routes (HTTP Publish, the retained API).
#[derive(Debug, Clone)]
pub struct Principal {
    /// Who it is, for rate limits and the log: the authentication name of a token's
    /// client, `admin`, or in open mode the peer's IP address.
    pub name: Arc<str>,
    /// What it may do.
    pub access: Access,
}

/// What a [`Principal`] may do.
#[derive(Debug, Clone)]
pub enum Access {
    /// Everything: the admin token, or anyone in open mode.
    All,
    /// What the namespace's permission bindings grant its identity.
    Rights(Arc<ClientRights>),
}

impl Principal {
    /// The holder of the admin token.
    pub fn admin() -> Self {
        Self {
            name: Arc::from("admin"),
            access: Access::All,
        }
    }

    /// Whether it may publish to `topic` (Publisher rights).
    pub fn may_publish(&self, topic: &str) -> bool {
        match &self.access {
            Access::All => true,
            Access::Rights(rights) => rights.may_publish(topic),
        }
    }

    /// Whether it may read what `filter` matches (Subscriber rights).
    pub fn may_subscribe(&self, filter: &str) -> bool {
        match &self.access {
            Access::All => true,
            Access::Rights(rights) => rights.may_subscribe(filter),
        }
    }
}

/// The credentials of one request.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The token of `Authorization: Bearer <token>`.
    pub bearer: Option<&'a str>,
    /// The Host header without its port: the audience a token may name when the
    /// namespace configures none.
    pub host: Option<&'a str>,
    /// The peer.
    pub peer: Option<SocketAddr>,
}

/// A retained message as the retained API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedMessage {
    /// Its topic.
    pub topic: String,
    /// The QoS it was published with.
    pub qos: u8,
    /// The size of the whole MQTT PUBLISH packet that carries it, in bytes.
    pub size: usize,
    /// When it expires, if it does.
    pub expiry: Option<SystemTime>,
    /// When it was last set.
    pub last_modified: SystemTime,
    /// Its Content Type, if any.
    pub content_type: Option<String>,
    /// The payload (empty in listings).
    pub payload: Bytes,
}

/// One page of retained messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedPage {
    /// The messages, in topic order, without payloads.
    pub items: Vec<RetainedMessage>,
    /// Whether more follow after the last one.
    pub more: bool,
}

/// The MQTT broker as HTTP Publish and the retained API see it. The routers parse and
/// validate requests into MQTT terms; the implementation authenticates callers, applies
/// the broker's limits and permissions, and does the work.
pub trait MqttService: Send + Sync + 'static {
    /// Who is calling (401 without valid credentials where they are needed). The admin
    /// token is recognised before this is called.
    fn authenticate<'a>(
        &'a self,
        credentials: Credentials<'a>,
    ) -> BoxFuture<'a, Result<Principal, ApiError>>;

    /// Publishes as an MQTT client would: answers once the message is accepted (for QoS
    /// 1 and 2, durable), 403 without Publisher rights on the topic.
    fn publish(
        &self,
        principal: Principal,
        publish: Publish,
    ) -> BoxFuture<'_, Result<(), ApiError>>;

    /// The retained message of `topic`; 404 when there is none.
    fn retained(
        &self,
        principal: &Principal,
        topic: &TopicName,
    ) -> Result<RetainedMessage, ApiError>;

    /// At most `limit` retained messages matching `filter` whose topics come after
    /// `after` in topic order.
    fn retained_page(
        &self,
        principal: &Principal,
        filter: &TopicFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RetainedPage, ApiError>;

    /// Removes the retained message of `topic`, durably; 404 when there is none.
    fn remove_retained(
        &self,
        principal: Principal,
        topic: TopicName,
    ) -> BoxFuture<'_, Result<(), ApiError>>;

    /// The largest MQTT packet the broker accepts, in bytes: the bound on an HTTP
    /// Publish (body, topic and properties together).
    fn max_packet_size(&self) -> usize;
}

/// The MQTT routes' service and their rate limit.
#[derive(Clone)]
pub struct MqttApi {
    /// The broker.
    pub service: Arc<dyn MqttService>,
    /// Requests per caller.
    pub rate_limit: RateLimit,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The namespace's resources.
    pub management: Arc<dyn Management>,
    /// Who may call the management API (and, with a token, act as admin on the MQTT
    /// routes).
    pub admin: AdminAuth,
    /// Limits of the API itself.
    pub limits: ApiLimits,
    /// HTTP Publish and the retained API; `None` serves neither.
    pub mqtt: Option<MqttApi>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("admin", &self.admin)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Bounds on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Page size when the request names none.
    pub default_page_size: usize,
    /// Largest page size a request may ask for.
    pub max_page_size: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            default_page_size: 100,
            max_page_size: 1000,
        }
    }
}
