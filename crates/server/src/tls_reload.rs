//! Reloading TLS certificates, keys and CA bundles without dropping connections: on
//! demand (SIGHUP) and when a listener's files change (polled at its
//! `tls.watch_interval`). A reload that fails keeps the previous material and says why.

use std::sync::Arc;

use gridmq_transport::tls::{TlsAcceptor, TlsLoadError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// The TLS listeners of a server, for reloading.
#[derive(Debug, Clone, Default)]
pub struct TlsReloader {
    listeners: Vec<(Arc<str>, Arc<TlsAcceptor>)>,
}

/// One listener whose reload failed.
#[derive(Debug, thiserror::Error)]
#[error("{listener}: TLS reload failed, previous certificates stay in use: {source}")]
pub struct ReloadError {
    /// The listener's name.
    pub listener: Arc<str>,
    /// The cause.
    pub source: TlsLoadError,
}

impl TlsReloader {
    pub(crate) fn add(&mut self, name: Arc<str>, acceptor: Arc<TlsAcceptor>) {
        self.listeners.push((name, acceptor));
    }

    /// Whether any listener uses TLS.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Reloads every TLS listener now, logging each outcome. New connections get the new
    /// material; established ones keep theirs.
    pub async fn reload_all(&self) -> Vec<ReloadError> {
        let mut errors = Vec::new();
        for (name, acceptor) in &self.listeners {
            let acceptor = acceptor.clone();
            let result = tokio::task::spawn_blocking(move || acceptor.reload()).await;
            match result {
                Ok(Ok(())) => info!(listener = %name, "TLS certificates reloaded"),
                Ok(Err(source)) => {
                    let error = ReloadError {
                        listener: name.clone(),
                        source,
                    };
                    warn!("{error}");
                    errors.push(error);
                }
                Err(join) => warn!(listener = %name, "TLS reload task failed: {join}"),
            }
        }
        errors
    }

    /// Starts one task per listener with a watch interval, reloading when its files
    /// change, until shutdown.
    pub(crate) fn spawn_watchers(&self, tracker: &TaskTracker, shutdown: &CancellationToken) {
        for (name, acceptor) in &self.listeners {
            let Some(every) = acceptor.watch_interval() else {
                continue;
            };
            let (name, acceptor, shutdown) = (name.clone(), acceptor.clone(), shutdown.clone());
            tracker.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    let acceptor = acceptor.clone();
                    let checked =
                        tokio::task::spawn_blocking(move || acceptor.reload_if_changed()).await;
                    match checked {
                        Ok(Ok(true)) => info!(listener = %name, "TLS files changed; reloaded"),
                        Ok(Ok(false)) => {}
                        Ok(Err(source)) => warn!(
                            "{}",
                            ReloadError {
                                listener: name.clone(),
                                source
                            }
                        ),
                        Err(join) => warn!(listener = %name, "TLS watch task failed: {join}"),
                    }
                }
            });
        }
    }
}
