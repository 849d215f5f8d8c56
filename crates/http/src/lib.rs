//! gridmq's HTTP API as axum routers. Handlers only translate between HTTP and the
//! service traits in [`state`]; the server crate implements those traits and owns the
//! rules. Errors are one [`ApiError`] type, rendered as `application/problem+json`.
//!
//! Routes:
//! - `GET /healthz`: liveness, without credentials.
//! - `/api/v1/...`: the management API (see [`management`]), behind [`AdminAuth`].
//! - `/mqtt/...`: HTTP Publish and the retained-message API (see [`mqtt`]), for callers
//!   with a JWT, the admin token, or anyone in open mode; rate limited per caller.
//!
//! # Layout
//! - [`state`]: [`AppState`], the [`Management`] and [`MqttService`] service traits,
//!   pages and limits.
//! - [`error`]: [`ApiError`] and its problem+json rendering.
//! - [`admin`]: [`AdminAuth`], the bearer token or loopback-only rule.
//! - [`management`]: the resource routes and paging.
//! - [`mqtt`]: HTTP Publish and the retained API: parameters, handlers, admission.
//! - [`rate_limit`]: token buckets per caller.
//! - `health`: `/healthz`.

pub mod admin;
pub mod error;
mod health;
pub mod management;
pub mod mqtt;
pub mod rate_limit;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tokio::net::TcpListener;

pub use admin::AdminAuth;
pub use error::{ApiError, FieldError};
pub use rate_limit::{RateLimit, RateLimiter};
pub use state::{
    Access, ApiLimits, AppState, BoxFuture, Credentials, Management, MqttApi, MqttService, Page,
    Principal, RetainedMessage, RetainedPage, Saved,
};

/// Every route, with admission on the management and MQTT routes, problem+json for
/// unknown routes and methods, and the body size limit.
pub fn router(state: AppState) -> Router {
    let management = management::routes().route_layer(middleware::from_fn_with_state(
        state.clone(),
        management::require_admin,
    ));
    let mut router = Router::new().merge(health::routes()).merge(management);
    if let Some(api) = &state.mqtt {
        router = router.merge(mqtt::routes(api, state.admin.clone()));
    }
    router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes the requests
/// in progress. Handlers see the peer address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
