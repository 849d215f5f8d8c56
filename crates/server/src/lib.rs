//! The gridmq broker: the composition root that binds listeners, runs a connection
//! driver per client around the engine, and shuts down in order.
//!
//! # Layout
//! - [`config`]: the configuration file schema, defaults and checks.
//! - `listener`: accept loops and connection limits.
//! - `connection`: the per-connection event loop (transport <-> codec <-> engine).
//! - [`namespace`]: clients, groups, topic spaces and bindings; authentication and
//!   authorization of connections; the management API's service.
//! - `http`: the HTTP listener.
//! - [`apply`]: `gridmq apply`, a resources document sent to a running broker.
//! - [`telemetry`]: logging setup.
//! - `main.rs`: the `gridmq` command line.

pub mod apply;
pub mod config;
mod connection;
mod http;
mod listener;
pub mod namespace;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gridmq_codec::ReasonCode;
use gridmq_engine::Broker;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use crate::config::Config;
use crate::config::ListenerKind;
use crate::connection::ConnectionContext;
use crate::listener::{BoundListener, accept_loop};
use crate::namespace::{Namespace, NamespaceStartError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigErrors),
    /// The namespace's stored or declared resources are not usable.
    #[error(transparent)]
    Namespace(#[from] NamespaceStartError),
    /// A listener could not bind its address.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running broker: its listeners' addresses and the handle to stop it.
#[derive(Debug)]
pub struct Server {
    broker: Arc<Broker>,
    namespace: Arc<Namespace>,
    mqtt_addrs: Vec<SocketAddr>,
    http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    shutdown_timeout: Duration,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every connection closed within the shutdown timeout.
    pub clean: bool,
}

impl Server {
    /// Validates the configuration, binds every listener and starts serving.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        config.validate()?;
        let namespace = Namespace::open(&config.namespace).await?;
        let mut engine = config.mqtt.to_engine();
        engine.delegate_authentication_methods = namespace.enforced();
        let broker = Broker::new(engine);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let http_addr = match config.http.bind {
            Some(bind) => Some(
                http::start(&config.http, bind, namespace.clone(), &shutdown, &tracker)
                    .await
                    .map_err(|source| StartError::Bind { addr: bind, source })?,
            ),
            None => None,
        };
        let global = Arc::new(Semaphore::new(
            config.server.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let mut mqtt_addrs = Vec::new();
        for listener in &config.listeners {
            let tcp =
                TcpListener::bind(listener.bind)
                    .await
                    .map_err(|source| StartError::Bind {
                        addr: listener.bind,
                        source,
                    })?;
            let addr = tcp.local_addr().map_err(|source| StartError::Bind {
                addr: listener.bind,
                source,
            })?;
            let name: Arc<str> = match listener.kind {
                ListenerKind::Mqtt => format!("mqtt://{addr}").into(),
            };
            info!(listener = %name, "listening");
            mqtt_addrs.push(addr);
            let bound = BoundListener {
                listener: tcp,
                name: name.clone(),
                limit: Arc::new(Semaphore::new(
                    listener.max_connections.min(Semaphore::MAX_PERMITS),
                )),
            };
            let ctx = ConnectionContext {
                broker: broker.clone(),
                namespace: namespace.clone(),
                shutdown: shutdown.clone(),
                listener: name,
            };
            tracker.spawn(accept_loop(bound, ctx, global.clone(), tracker.clone()));
        }
        tracker.spawn(run_timers(broker.clone(), shutdown.clone()));
        namespace.announce(&config.namespace);
        Ok(Self {
            broker,
            namespace,
            mqtt_addrs,
            http_addr,
            shutdown,
            tracker,
            shutdown_timeout: config.server.shutdown_timeout,
        })
    }

    /// The address of the first MQTT listener.
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.mqtt_addrs[0]
    }

    /// The addresses of all MQTT listeners, in configuration order.
    pub fn mqtt_addrs(&self) -> &[SocketAddr] {
        &self.mqtt_addrs
    }

    /// The address of the HTTP listener, if there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The namespace, for inspection.
    pub fn namespace(&self) -> &Arc<Namespace> {
        &self.namespace
    }

    /// The broker core, for inspection.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Serves until `signal` completes, then shuts down.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> ShutdownReport {
        signal.await;
        self.shutdown().await
    }

    /// Stops accepting, disconnects every client (v5 clients get DISCONNECT 0x8B),
    /// and waits for connections to finish, at most the configured shutdown timeout.
    pub async fn shutdown(self) -> ShutdownReport {
        info!("shutting down");
        self.shutdown.cancel();
        self.broker.disconnect_all(
            ReasonCode::ServerShuttingDown,
            "the server is shutting down",
        );
        self.tracker.close();
        let clean = tokio::time::timeout(self.shutdown_timeout, self.tracker.wait())
            .await
            .is_ok();
        if clean {
            info!("shut down");
        } else {
            warn!(timeout = ?self.shutdown_timeout, "shutdown timed out with connections still open");
        }
        ShutdownReport { clean }
    }
}

/// Fires the broker's timers: offline session expiry, delayed wills, retained expiry.
async fn run_timers(broker: Arc<Broker>, shutdown: CancellationToken) {
    let mut purge = tokio::time::interval(Duration::from_secs(60));
    loop {
        let next = broker
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(1))
            .min(tokio::time::Instant::now() + Duration::from_secs(1));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => broker.handle_timeout(std::time::Instant::now()),
            _ = purge.tick() => {
                broker.retained().purge_expired(std::time::Instant::now());
            }
        }
    }
}
