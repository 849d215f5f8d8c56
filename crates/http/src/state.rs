//! [`AppState`]: what the routers share, and the service traits the server implements.
//! The routers only translate HTTP to calls on these traits and back.
//!
//! To add a group of routes (HTTP Publish, say): define its service trait here, add an
//! `Option<Arc<dyn ...>>` field to [`AppState`], write a `routes()` module like
//! [`crate::management`], and merge it in [`crate::router`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use gridmq_access::ResourceKind;
use serde_json::Value;

use crate::admin::AdminAuth;
use crate::error::ApiError;

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

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The namespace's resources.
    pub management: Arc<dyn Management>,
    /// Who may call the management API.
    pub admin: AdminAuth,
    /// Limits of the API itself.
    pub limits: ApiLimits,
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
