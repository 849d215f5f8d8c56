//! Accept loops: one task per listener, a connection limit per listener and per server,
//! and a task per connection tracked for shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::connection::{ConnectionContext, serve};

/// A bound listener, ready to accept.
#[derive(Debug)]
pub(crate) struct BoundListener {
    pub(crate) listener: TcpListener,
    pub(crate) name: Arc<str>,
    pub(crate) limit: Arc<Semaphore>,
}

/// Accepts connections until shutdown, refusing those over either limit by closing them.
pub(crate) async fn accept_loop(
    bound: BoundListener,
    ctx: ConnectionContext,
    global: Arc<Semaphore>,
    tracker: TaskTracker,
) {
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
                warn!(listener = %bound.name, "accept failed: {error}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let (Ok(local_permit), Ok(global_permit)) = (
            bound.limit.clone().try_acquire_owned(),
            global.clone().try_acquire_owned(),
        ) else {
            debug!(listener = %bound.name, %peer, "connection limit reached; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        tracker.spawn(async move {
            serve(ctx, stream, peer).await;
            drop((local_permit, global_permit));
        });
    }
    debug!(listener = %bound.name, ?local, "stopped accepting");
}
