//! The HTTP listener: the routers of `gridmq-http` over this broker's services (the
//! management API over the namespace; HTTP Publish and the retained API over the broker).

use std::net::SocketAddr;
use std::sync::Arc;

use gridmq_engine::Broker;
use gridmq_http::{AdminAuth, ApiLimits, AppState, MqttApi, RateLimit};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::HttpConfig;
use crate::mqtt_api::MqttBroker;
use crate::namespace::Namespace;
use crate::namespace::management::ManagementService;

/// Binds the HTTP listener and serves it until shutdown; returns the bound address.
pub(crate) async fn start(
    config: &HttpConfig,
    bind: SocketAddr,
    broker: Arc<Broker>,
    namespace: Arc<Namespace>,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let admin = AdminAuth::new(config.admin_token.as_ref().map(|t| t.0.as_str()));
    if admin == AdminAuth::LoopbackOnly {
        warn!(
            "management API without an admin token: only loopback clients may use it \
             (set http.admin_token or GRIDMQ_ADMIN_TOKEN)"
        );
    }
    let mqtt = MqttApi {
        service: Arc::new(MqttBroker {
            broker,
            namespace: namespace.clone(),
        }),
        rate_limit: RateLimit {
            per_second: config.rate_limit,
            burst: config.rate_limit_burst,
            ..RateLimit::default()
        },
    };
    let state = AppState {
        management: Arc::new(ManagementService(namespace)),
        admin,
        limits: ApiLimits {
            max_body_bytes: usize::try_from(config.max_body_size.as_u64()).unwrap_or(usize::MAX),
            ..ApiLimits::default()
        },
        mqtt: Some(mqtt),
    };
    let router = gridmq_http::router(state);
    info!(listener = %format!("http://{addr}"), "listening");
    let stop = shutdown.clone();
    tracker.spawn(async move {
        if let Err(error) =
            gridmq_http::serve(listener, router, async move { stop.cancelled().await }).await
        {
            warn!("HTTP listener stopped: {error}");
        }
    });
    Ok(addr)
}
