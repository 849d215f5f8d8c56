//! The gridmq broker: the composition root that binds listeners, runs a connection
//! driver per client around the engine, and shuts down in order.
//!
//! # Layout
//! - [`config`]: the configuration file schema, defaults and checks.
//! - `listener`: accept loops, connection limits, handshakes before MQTT.
//! - [`tls_reload`]: reloading TLS certificates on SIGHUP and when files change.
//! - [`cert`]: development certificates (`gridmq cert`).
//! - `connection`: the per-connection event loop (transport <-> codec <-> engine).
//! - [`namespace`]: clients, groups, topic spaces and bindings; authentication and
//!   authorization of connections; the management API's service.
//! - `storage`: the data directory: opening, restoring and flushing durable state.
//! - `http`: the HTTP listener.
//! - `mqtt_api`: HTTP Publish and the retained-message API over the broker.
//! - [`apply`]: `gridmq apply`, a resources document sent to a running broker.
//! - [`telemetry`]: logging setup.
//! - `main.rs`: the `gridmq` command line.

pub mod apply;
pub mod cert;
pub mod config;
mod connection;
mod http;
mod listener;
mod mqtt_api;
pub mod namespace;
mod storage;
pub mod telemetry;
pub mod tls_reload;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gridmq_codec::ReasonCode;
use gridmq_engine::Broker;
use gridmq_transport::tls::{TlsAcceptor, TlsLoadError};
use gridmq_transport::{Endpoint, ListenerKind};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use crate::config::Config;
use crate::config::ListenerConfig;
use crate::connection::ConnectionContext;
use crate::listener::{BoundListener, accept_loop};
use crate::namespace::{Namespace, NamespaceStartError};
use crate::tls_reload::TlsReloader;

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
    /// A listener's certificates, keys or CA bundles could not be loaded.
    #[error("listeners[{index}] ({kind} on {addr}): {source}")]
    Tls {
        /// The listener's position in the configuration.
        index: usize,
        /// Its kind.
        kind: &'static str,
        /// Its configured address.
        addr: SocketAddr,
        /// The cause.
        source: TlsLoadError,
    },
    /// The data directory could not be opened or read.
    #[error("cannot use the data directory {dir}: {source}{hint}", hint = storage_hint(source))]
    Storage {
        /// The directory.
        dir: std::path::PathBuf,
        /// The cause.
        source: gridmq_store::StoreError,
    },
}

fn storage_hint(error: &gridmq_store::StoreError) -> &'static str {
    match error {
        gridmq_store::StoreError::Corrupt(_) => {
            " (start with --salvage to skip and drop the corrupt records)"
        }
        gridmq_store::StoreError::IncompatibleSchema { .. } => {
            " (it was written by another version of gridmq; it is left untouched)"
        }
        _ => "",
    }
}

/// A listener the server is accepting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerAddr {
    /// What it speaks.
    pub kind: ListenerKind,
    /// The bound address (the real port when configured with port 0).
    pub addr: SocketAddr,
}

/// A running broker: its listeners' addresses and the handle to stop it.
#[derive(Debug)]
pub struct Server {
    broker: Arc<Broker>,
    namespace: Arc<Namespace>,
    http_addr: Option<SocketAddr>,
    listeners: Vec<ListenerAddr>,
    mqtt_addrs: Vec<SocketAddr>,
    tls: TlsReloader,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    shutdown_timeout: Duration,
    storage: Option<StorageHandle>,
}

/// The durable store of a running server, closed at shutdown.
struct StorageHandle {
    queue: Arc<gridmq_store::CommitQueue>,
    store: Option<Arc<gridmq_store_redb::RedbStore>>,
    dir: std::path::PathBuf,
}

impl std::fmt::Debug for StorageHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageHandle")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every connection closed within the shutdown timeout.
    pub clean: bool,
}

/// The file in the data directory that keeps namespace resources changed through the
/// management API, when `namespace.state_file` names no other.
pub const NAMESPACE_STATE_FILE: &str = "namespace.json";

impl Server {
    /// Validates the configuration, binds every listener and starts serving.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        config.validate()?;
        let storage_config = config.storage.clone();
        let dir = storage_config.data_dir.clone();
        let opened = tokio::task::spawn_blocking(move || storage::open(&storage_config))
            .await
            .map_err(|error| StartError::Storage {
                dir: dir.clone(),
                source: gridmq_store::StoreError::Backend(error.to_string()),
            })?
            .map_err(|source| StartError::Storage {
                dir: dir.clone(),
                source,
            })?;
        // Namespace resources live in the data directory unless a state file is named.
        let mut namespace_config = config.namespace.clone();
        if namespace_config.state_file.is_none() && opened.queue.is_some() {
            namespace_config.state_file = Some(dir.join(NAMESPACE_STATE_FILE));
        }
        let namespace = Namespace::open(&namespace_config).await?;
        let mut engine = config.mqtt.to_engine();
        engine.delegate_authentication_methods = namespace.enforced();
        let clock =
            gridmq_engine::WallClock::new(std::time::Instant::now(), std::time::SystemTime::now());
        let broker = Broker::with_persistence(engine, opened.persistence(), clock);
        let restored = broker.restore(&opened.snapshot, std::time::Instant::now());
        let storage = match &opened.queue {
            Some(queue) => {
                storage::log_restored(&dir, &opened, &restored);
                Some(StorageHandle {
                    queue: queue.clone(),
                    store: opened.store.clone(),
                    dir: dir.clone(),
                })
            }
            None => {
                info!("state is kept in memory only: nothing survives a restart");
                None
            }
        };
        drop(opened);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let global = Arc::new(Semaphore::new(
            config.server.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let acceptors = load_tls(&config.listeners)?;
        let mut listeners = Vec::new();
        let mut tls = TlsReloader::default();
        for (listener, acceptor) in config.listeners.iter().zip(acceptors) {
            let tcp = bind_mqtt(listener.bind).map_err(|source| StartError::Bind {
                addr: listener.bind,
                source,
            })?;
            let addr = tcp.local_addr().map_err(|source| StartError::Bind {
                addr: listener.bind,
                source,
            })?;
            let name: Arc<str> = format!("{}://{addr}", listener.kind.scheme()).into();
            info!(listener = %name, "listening");
            listeners.push(ListenerAddr {
                kind: listener.kind,
                addr,
            });
            if let Some(acceptor) = &acceptor {
                tls.add(name.clone(), acceptor.clone());
            }
            let endpoint = Endpoint {
                name,
                kind: listener.kind,
                proxy_protocol: listener.proxy_protocol,
                trusted_proxies: listener.trusted_proxies.clone(),
                tls: acceptor,
                websocket: listener.websocket.clone().unwrap_or_default(),
            };
            let bound = BoundListener {
                listener: tcp,
                endpoint: Arc::new(endpoint),
                handshake_timeout: listener.handshake_timeout,
                limit: Arc::new(Semaphore::new(
                    listener.max_connections.min(Semaphore::MAX_PERMITS),
                )),
            };
            let ctx = ConnectionContext {
                broker: broker.clone(),
                namespace: namespace.clone(),
                shutdown: shutdown.clone(),
            };
            tracker.spawn(accept_loop(bound, ctx, global.clone(), tracker.clone()));
        }
        let http_addr = match config.http.bind {
            Some(bind) => {
                let started = http::start(
                    &config.http,
                    bind,
                    broker.clone(),
                    namespace.clone(),
                    &shutdown,
                    &tracker,
                )
                .await;
                match started {
                    Ok(addr) => Some(addr),
                    Err(source) => {
                        shutdown.cancel();
                        return Err(StartError::Bind { addr: bind, source });
                    }
                }
            }
            None => None,
        };
        tls.spawn_watchers(&tracker, &shutdown);
        tracker.spawn(run_timers(broker.clone(), shutdown.clone()));
        namespace.announce(&namespace_config);
        Ok(Self {
            broker,
            namespace,
            http_addr,
            mqtt_addrs: listeners.iter().map(|l| l.addr).collect(),
            listeners,
            tls,
            shutdown,
            tracker,
            shutdown_timeout: config.server.shutdown_timeout,
            storage,
        })
    }

    /// The address of the first `mqtt` (plain TCP) listener, or of the first listener
    /// when there is none.
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.addr(ListenerKind::Mqtt)
            .unwrap_or(self.listeners[0].addr)
    }

    /// The addresses of all listeners, in configuration order.
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

    /// The address of the first listener of `kind`.
    pub fn addr(&self, kind: ListenerKind) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|l| l.kind == kind)
            .map(|l| l.addr)
    }

    /// Every listener, in configuration order.
    pub fn listeners(&self) -> &[ListenerAddr] {
        &self.listeners
    }

    /// The handle that reloads TLS certificates (what SIGHUP does).
    pub fn tls_reloader(&self) -> TlsReloader {
        self.tls.clone()
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
        if let Some(storage) = self.storage {
            // Everything acknowledged is already durable; this writes what followed.
            let _ = tokio::task::spawn_blocking(move || {
                storage::close(&storage.queue, storage.store.as_deref(), &storage.dir)
            })
            .await;
        }
        if clean {
            info!("shut down");
        } else {
            warn!(timeout = ?self.shutdown_timeout, "shutdown timed out with connections still open");
        }
        ShutdownReport { clean }
    }
}

/// Pending connections the kernel queues per listener before the accept loop takes
/// them (capped by `net.core.somaxconn`). A fleet reconnecting at once after an outage
/// would otherwise overflow the default of 1024 and wait out SYN retransmissions.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds an MQTT listener with a deep accept queue.
fn bind_mqtt(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's bind does on Unix: a restarted broker can bind while old connections
    // linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    // MQTT packets are small and latency matters: no Nagle delay. Accepted sockets
    // inherit it on Linux; elsewhere the accept loop sets it on each.
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Loads the TLS material of every listener that needs it, before anything binds.
fn load_tls(listeners: &[ListenerConfig]) -> Result<Vec<Option<Arc<TlsAcceptor>>>, StartError> {
    listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| {
            let Some(tls) = listener.tls.clone().filter(|_| listener.kind.is_tls()) else {
                return Ok(None);
            };
            TlsAcceptor::new(tls)
                .map(|acceptor| Some(Arc::new(acceptor)))
                .map_err(|source| StartError::Tls {
                    index,
                    kind: listener.kind.scheme(),
                    addr: listener.bind,
                    source,
                })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The accept loop leaves TCP_NODELAY to the listening socket on Linux.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_connections_inherit_no_delay() {
        let listener = bind_mqtt("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        assert!(accepted.nodelay().expect("getsockopt"));
        drop(client);
    }
}
