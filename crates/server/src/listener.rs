//! Accept loops: one task per listener, a connection limit per listener and per server,
//! and a task per connection tracked for shutdown. The connection task runs the
//! listener's handshakes (PROXY, TLS, WebSocket) within its handshake timeout, so a
//! slow client never holds up the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gridmq_transport::{Accepted, Endpoint, ListenerKind, PeerInfo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::either::Either;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::connection::{ConnectionContext, serve};

/// A bound listener, ready to accept.
#[derive(Debug)]
pub(crate) struct BoundListener {
    pub(crate) listener: TcpListener,
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) limit: Arc<Semaphore>,
}

/// Accepts connections until shutdown, refusing those over either limit by closing them.
pub(crate) async fn accept_loop(
    bound: BoundListener,
    ctx: ConnectionContext,
    global: Arc<Semaphore>,
    tracker: TaskTracker,
) {
    let name = bound.endpoint.name.clone();
    let local: Option<SocketAddr> = bound.listener.local_addr().ok();
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            accepted = bound.listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(error) => {
                // Out of file descriptors and similar: wait rather than spin.
                warn!(listener = %name, "accept failed: {error}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let (Ok(local_permit), Ok(global_permit)) = (
            bound.limit.clone().try_acquire_owned(),
            global.clone().try_acquire_owned(),
        ) else {
            debug!(listener = %name, %peer, "connection limit reached; closing");
            continue;
        };
        // Linux copies TCP_NODELAY from the listening socket (see `bind_mqtt`): one
        // system call less per connection.
        #[cfg(not(target_os = "linux"))]
        let _ = stream.set_nodelay(true);
        tracker.spawn(connection(Box::new(NewConnection {
            ctx: ctx.clone(),
            endpoint: bound.endpoint.clone(),
            handshake_timeout: bound.handshake_timeout,
            stream,
            addr: peer,
            permits: (local_permit, global_permit),
        })));
    }
    debug!(listener = %name, ?local, "stopped accepting");
}

/// An accepted socket and what its task needs, handed over in one box.
///
/// The arguments of an `async fn` keep their room in its future for the task's whole
/// life, even once moved out; one pointer is all this task carries for them.
struct NewConnection {
    ctx: ConnectionContext,
    endpoint: Arc<Endpoint>,
    handshake_timeout: Duration,
    stream: TcpStream,
    addr: SocketAddr,
    /// The listener's and the server's connection-limit permits, held until the end.
    permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// Moves the value out and frees the box at once; `*boxed` alone would keep the
/// allocation until the end of the scope, here the connection's life.
#[expect(clippy::boxed_local, reason = "freeing the box early is the point")]
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// Runs the handshakes, then the MQTT connection.
async fn connection(new: Box<NewConnection>) {
    let (serving, permits) = start(unbox(new));
    serving.await;
    drop(permits);
}

/// The connection's future, and the permits to hold while it runs. A plain function:
/// nothing it looks at stays in the task.
fn start(
    new: NewConnection,
) -> (
    impl Future<Output = ()> + Send,
    (OwnedSemaphorePermit, OwnedSemaphorePermit),
) {
    let NewConnection {
        ctx,
        endpoint,
        handshake_timeout,
        stream,
        addr,
        permits,
    } = new;
    let serving = if endpoint.kind == ListenerKind::Mqtt && !endpoint.proxy_protocol {
        // Plain MQTT over TCP: no handshake, and none of its state in the task.
        let peer = Box::new(PeerInfo::plain(addr, endpoint.name.clone()));
        Either::Left(serve(ctx, stream, peer))
    } else {
        // PROXY, TLS and WebSocket connections are boxed as a whole: their handshakes
        // and streams are large, and plain connections should not carry room for them.
        Either::Right(Box::pin(handshake_then_serve(
            ctx,
            endpoint,
            handshake_timeout,
            stream,
            addr,
        )))
    };
    (serving, permits)
}

async fn handshake_then_serve(
    ctx: ConnectionContext,
    endpoint: Arc<Endpoint>,
    timeout: Duration,
    stream: TcpStream,
    addr: SocketAddr,
) {
    let handshake = tokio::select! {
        _ = ctx.shutdown.cancelled() => return,
        result = tokio::time::timeout(timeout, endpoint.accept(stream, addr)) => result,
    };
    let (accepted, peer) = match handshake {
        Ok(Ok(ready)) => ready,
        Ok(Err(error)) => {
            return info!(listener = %endpoint.name, peer = %addr, "closed before MQTT: {error}");
        }
        Err(_) => {
            return info!(
                listener = %endpoint.name,
                peer = %addr,
                "closed before MQTT: handshake not completed within {timeout:?}"
            );
        }
    };
    match accepted {
        Accepted::Tcp(tcp) => serve(ctx, tcp, Box::new(peer)).await,
        Accepted::Other(io) => serve(ctx, io, Box::new(peer)).await,
    }
}

#[cfg(test)]
mod tests {
    use gridmq_engine::EngineConfig;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::NamespaceConfig;
    use crate::namespace::Namespace;

    /// The most a plain TCP connection's task may hold, in bytes: 656 in a release
    /// build and 664 in a test build today, so that tokio's task cell stays at 768.
    /// Every byte is paid by each connection of a fleet; see docs/ARCHITECTURE.md,
    /// "Memory of an idle connection", before raising it.
    const PLAIN_TASK_BUDGET: usize = 704;

    #[tokio::test]
    async fn a_plain_connection_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (stream, addr) = listener.accept().await.expect("accept");
        let namespace = Namespace::open(&NamespaceConfig::default())
            .await
            .expect("open mode");
        let ctx = ConnectionContext {
            broker: gridmq_engine::Broker::new(EngineConfig::default()),
            namespace,
            shutdown: CancellationToken::new(),
        };
        let endpoint = Arc::new(Endpoint {
            name: "mqtt://test".into(),
            kind: ListenerKind::Mqtt,
            proxy_protocol: false,
            trusted_proxies: Vec::new(),
            tls: None,
            websocket: Default::default(),
        });
        let limit = Arc::new(Semaphore::new(2));
        let permits = (
            limit.clone().try_acquire_owned().expect("permit"),
            limit.try_acquire_owned().expect("permit"),
        );
        let task = connection(Box::new(NewConnection {
            ctx,
            endpoint,
            handshake_timeout: Duration::from_secs(1),
            stream,
            addr,
            permits,
        }));
        let size = std::mem::size_of_val(&task);
        eprintln!("plain connection task: {size} bytes");
        assert!(
            size <= PLAIN_TASK_BUDGET,
            "a plain connection's task grew to {size} bytes (budget {PLAIN_TASK_BUDGET})"
        );
        drop(client);
    }
}
