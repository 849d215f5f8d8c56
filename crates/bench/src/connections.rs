//! The connections scenario: open N idle clients at a target rate, spread over several
//! loopback source addresses, hold them, and report connect rate and broker memory.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::cli::ConnectionsArgs;
use crate::handshake::{self, Session};
use crate::latency::Latency;
use crate::procstat;
use crate::ratelimit::RateLimiter;
use crate::report::{ConnectionsSummary, SCHEMA};
use crate::run::{connector, run_tag};
use crate::transport::{BoxStream, Connector, source_addresses};
use crate::wire;

/// Connections per loopback source address when `--source-ips` is not given; one
/// address has about 28k ephemeral ports toward one server port.
const CONNECTIONS_PER_SOURCE: u32 = 25_000;
/// How long a closing client waits for the broker to close the connection.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Errors kept for the report.
const ERRORS_KEPT: usize = 5;

/// Shared tallies of the clients.
#[derive(Default)]
struct Tally {
    connected: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    latency: Mutex<Latency>,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut errors) = self.errors.lock() {
            if errors.len() < ERRORS_KEPT {
                errors.push(error);
            }
        }
    }
}

/// The number of source addresses to use for `connections` clients.
pub fn default_source_ips(connections: u32) -> u8 {
    u8::try_from(connections.div_ceil(CONNECTIONS_PER_SOURCE).clamp(1, 254)).unwrap_or(254)
}

/// Runs the connections scenario.
pub async fn run_connections(args: &ConnectionsArgs) -> anyhow::Result<ConnectionsSummary> {
    ensure!(args.connections > 0, "--connections must be positive");
    ensure!(args.concurrency > 0, "--concurrency must be positive");
    let conn = &args.conn;
    let connector = connector(conn).await?;
    let source_ips = args
        .source_ips
        .unwrap_or_else(|| default_source_ips(args.connections));
    let sources = source_addresses(connector.addr(), source_ips)?;
    let prefix = format!("{}-{}", conn.client_prefix, run_tag());
    let pid = conn.broker_pid;
    let rss_before = pid.and_then(|p| procstat::status_kib(p, "VmRSS"));
    let cpu_before = pid.and_then(|p| procstat::cpu_seconds(&p.to_string()));

    let tally = Arc::new(Tally::default());
    let hold = CancellationToken::new();
    let started = Instant::now();
    // Opened from a task on the runtime: spawning each client from there stays on the
    // worker, where from `block_on`'s thread every spawn would wake a worker (a futex
    // call per connection, a tenth of the tool's time).
    let opener = {
        let (args, tally, hold) = (args.clone(), tally.clone(), hold.clone());
        tokio::spawn(async move {
            open_clients(&args, &connector, &sources, &prefix, &tally, &hold).await
        })
    };
    let clients = opener
        .await
        .context("the task opening the clients failed")?;
    let open_s = started.elapsed().as_secs_f64();

    tokio::time::sleep(args.duration).await;
    let rss_after = pid.and_then(|p| procstat::status_kib(p, "VmRSS"));
    let cpu_after = pid.and_then(|p| procstat::cpu_seconds(&p.to_string()));
    hold.cancel();
    drop_clients(clients).await;

    Ok(summarise(
        args,
        source_ips,
        &tally,
        open_s,
        (rss_before, rss_after),
        cpu_before.zip(cpu_after).map(|(a, b)| b - a),
    ))
}

/// Opens every client at the target rate; each holds its connection until `hold` is
/// cancelled.
async fn open_clients(
    args: &ConnectionsArgs,
    connector: &Connector,
    sources: &[IpAddr],
    prefix: &str,
    tally: &Arc<Tally>,
    hold: &CancellationToken,
) -> JoinSet<()> {
    let permits = Arc::new(Semaphore::new(args.concurrency as usize));
    let mut limiter = args
        .connect_rate
        .map(|rate| RateLimiter::with_burst_window(f64::from(rate), Duration::from_millis(100), 1));
    let start = Instant::now();
    let mut clients = JoinSet::new();
    let mut i = 0u32;
    while i < args.connections {
        if let Some(limiter) = &mut limiter {
            let available = limiter.available(start.elapsed());
            if available == 0 {
                sleep_until(start + limiter.next_due()).await;
                continue;
            }
            limiter.take(1);
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let source = sources[i as usize % sources.len()];
        // With one source address the kernel picks it anyway; binding costs a search
        // for a free port.
        let bind = (sources.len() > 1).then_some(source);
        let client_id = format!("{prefix}-c{i}");
        let connector = connector.clone();
        let tally = tally.clone();
        let hold = hold.clone();
        let version = args.conn.mqtt.version();
        let (limit, keep_alive) = (args.conn.connect_timeout, args.conn.keep_alive);
        let credentials = args.conn.credentials('c', i);
        clients.spawn(async move {
            let begun = Instant::now();
            let opened = timeout(limit, async {
                let stream = connector.connect(bind).await?;
                handshake::connect(stream, version, &client_id, keep_alive, &credentials, false)
                    .await
            })
            .await;
            drop(permit);
            match opened {
                Ok(Ok(session)) => {
                    tally.connected.fetch_add(1, Ordering::Relaxed);
                    let ns = u64::try_from(begun.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    if let Ok(mut latency) = tally.latency.lock() {
                        latency.record(ns);
                    }
                    if !idle(session, keep_alive, &hold).await {
                        tally.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Err(err)) => tally.fail(format!("{client_id} from {source}: {err:#}")),
                Err(_) => tally.fail(format!("{client_id} from {source}: timed out")),
            }
        });
        i += 1;
    }
    // Wait for the handshakes still in progress.
    let _ = permits.acquire_many(args.concurrency).await;
    clients
}

/// Holds an idle session until `hold` is cancelled, answering nothing and sending
/// PINGREQ when a keep-alive is set. Returns `false` if the broker closed it first.
async fn idle(session: Session, keep_alive: u16, hold: &CancellationToken) -> bool {
    let Session { mut stream, .. } = session;
    let mut buf = [0u8; 64];
    let ping_every = handshake::ping_interval(keep_alive);
    let mut next_ping = Instant::now() + ping_every.unwrap_or_default();
    loop {
        tokio::select! {
            () = hold.cancelled() => {
                close(stream).await;
                return true;
            }
            read = stream.read(&mut buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return false;
                }
            }
            () = sleep_until(next_ping), if ping_every.is_some() => {
                if stream.write_all(&wire::PINGREQ).await.is_err() {
                    return false;
                }
                next_ping += ping_every.unwrap_or_default();
            }
        }
    }
}

/// Sends DISCONNECT and waits briefly for the broker to close first, so the TIME_WAIT
/// state lands on the broker's side and repeated runs do not run out of client ports.
async fn close(mut stream: BoxStream) {
    if stream.write_all(&wire::DISCONNECT).await.is_err() {
        return;
    }
    let mut buf = [0u8; 64];
    let _ = timeout(CLOSE_WAIT, async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    let _ = stream.shutdown().await;
}

async fn drop_clients(mut clients: JoinSet<()>) {
    let all = async { while clients.join_next().await.is_some() {} };
    if timeout(Duration::from_secs(10), all).await.is_err() {
        clients.abort_all();
    }
}

fn summarise(
    args: &ConnectionsArgs,
    source_ips: u8,
    tally: &Tally,
    open_s: f64,
    (rss_before, rss_after): (Option<u64>, Option<u64>),
    broker_cpu_s: Option<f64>,
) -> ConnectionsSummary {
    let connected = tally.connected.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let dropped = tally.dropped.load(Ordering::Relaxed);
    let latency = tally
        .latency
        .lock()
        .map(|l| l.summary())
        .unwrap_or_default();
    let errors = tally.errors.lock().map(|e| e.clone()).unwrap_or_default();
    let per_conn = rss_before
        .zip(rss_after)
        .filter(|_| connected > 0)
        .map(|(before, after)| after.saturating_sub(before) * 1024 / connected);
    ConnectionsSummary {
        tool: "gridmq-bench",
        schema: SCHEMA,
        scenario: "connections",
        mqtt: args.conn.mqtt.version().to_string(),
        tls: args.conn.tls,
        connections_target: args.connections,
        connect_rate_target: args.connect_rate,
        source_ips,
        connected,
        connect_failures: failed,
        open_s: procstat::round3(open_s),
        connects_per_s: if open_s > 0.0 {
            (connected as f64 / open_s).round()
        } else {
            0.0
        },
        connect_p50_us: latency.p50_us,
        connect_p99_us: latency.p99_us,
        connect_max_us: latency.max_us,
        hold_s: args.duration.as_secs_f64(),
        dropped_during_hold: dropped,
        broker_rss_before_kib: rss_before,
        broker_rss_after_kib: rss_after,
        broker_rss_per_conn_bytes: per_conn,
        broker_cpu_s: broker_cpu_s.map(procstat::round3),
        tool_rss_peak_kib: procstat::own_peak_rss_kib(),
        ok: connected == u64::from(args.connections) && dropped == 0,
        errors,
    }
}

/// Raises this process's open-file limit as far as allowed, returning the new soft limit.
///
/// The broker needs the same (`ulimit -n` before starting it).
pub fn raise_nofile_limit(wanted: u64) -> anyhow::Result<u64> {
    let (soft, hard) = rlimit::Resource::NOFILE
        .get()
        .context("reading RLIMIT_NOFILE")?;
    if soft >= wanted {
        return Ok(soft);
    }
    // Root may raise the hard limit too; otherwise stop at the hard limit.
    if hard < wanted && rlimit::Resource::NOFILE.set(wanted, wanted).is_ok() {
        return Ok(wanted);
    }
    let target = wanted.min(hard);
    rlimit::Resource::NOFILE
        .set(target, hard)
        .context("raising RLIMIT_NOFILE")?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_address_per_25k_connections() {
        assert_eq!(default_source_ips(1), 1);
        assert_eq!(default_source_ips(25_000), 1);
        assert_eq!(default_source_ips(25_001), 2);
        assert_eq!(default_source_ips(100_000), 4);
        assert_eq!(default_source_ips(u32::MAX), 254);
    }
}
