//! The MQTT routes: HTTP Publish (`POST /mqtt/messages`, see [`publish`]) and the
//! retained-message API (`/mqtt/retainedMessages...`, see [`retained`]).
//!
//! Every request passes [`admit`] first: the admin token, or else the service decides
//! who the caller is (a JWT, or anyone in open mode); then the caller's rate limit.
//! Handlers find the [`Principal`] in the request's extensions.

pub mod params;
pub mod publish;
pub mod retained;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::admin::{AdminAuth, bearer_token};
use crate::error::ApiError;
use crate::rate_limit::RateLimiter;
use crate::state::{Credentials, MqttApi, MqttService, Principal};

/// What the MQTT handlers share.
#[derive(Clone)]
pub(crate) struct MqttState {
    pub(crate) service: Arc<dyn MqttService>,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) admin: AdminAuth,
}

/// The MQTT routes with admission, for any outer router state.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(
    api: &MqttApi,
    admin: AdminAuth,
) -> Router<S> {
    let state = MqttState {
        service: api.service.clone(),
        limiter: Arc::new(RateLimiter::new(api.rate_limit)),
        admin,
    };
    // The body alone must fit in a packet; the whole packet is checked after parsing.
    let body_limit = DefaultBodyLimit::max(api.service.max_packet_size());
    Router::new()
        .route("/mqtt/messages", post(publish::post).layer(body_limit))
        .route(
            "/mqtt/retainedMessages/message",
            get(retained::get_one).delete(retained::delete_one),
        )
        .route("/mqtt/retainedMessages", get(retained::list))
        .route_layer(middleware::from_fn_with_state(state.clone(), admit))
        .with_state(state)
}

/// Authenticates the caller and applies its rate limit.
async fn admit(State(state): State<MqttState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let principal = match bearer {
        Some(token) if state.admin.is_admin_token(token) => Principal::admin(),
        _ => {
            let host = request_host(headers, request.uri()).map(host_without_port);
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0);
            let credentials = Credentials { bearer, host, peer };
            match state.service.authenticate(credentials).await {
                Ok(principal) => principal,
                Err(error) => return error.into_response(),
            }
        }
    };
    if let Err(wait) = state.limiter.check(&principal.name, Instant::now()) {
        tracing::debug!(caller = %principal.name, "HTTP API: rate limited");
        return ApiError::too_many_requests(wait).into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// The host a request was sent to: its `Host` header, or for HTTP/2 the `:authority`
/// in its URI.
pub(crate) fn request_host<'a>(
    headers: &'a axum::http::HeaderMap,
    uri: &'a axum::http::Uri,
) -> Option<&'a str> {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// `example.net:8080` -> `example.net`; `[::1]:80` -> `::1`.
fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(host_without_port("example.net:8080"), "example.net");
        assert_eq!(host_without_port("example.net"), "example.net");
        assert_eq!(host_without_port("[::1]:80"), "::1");
    }
}
