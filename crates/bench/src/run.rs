//! Running a message scenario: connect everyone, follow the [`Schedule`], drain, and add
//! up what publishers and subscribers saw.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use gridmq_codec::QoS;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::accounting::{Counts, Loss};
use crate::cli::{ConnArgs, LoadArgs};
use crate::handshake::{self, Session};
use crate::http_publisher::{self, HttpLoad, RequesterReport};
use crate::latency::Latency;
use crate::layout::Layout;
use crate::payload::{Clock, STAMP_LEN};
use crate::procstat::{self, BrokerMonitor};
use crate::publisher::{self, PublishLoad, PublisherReport};
use crate::report::{MessageSummary, SCHEMA};
use crate::schedule::Schedule;
use crate::subscriber::{self, Progress, SubscriberReport};
use crate::transport::{Connector, TlsOptions};

/// Clients connecting at once while a run is set up.
const SETUP_CONCURRENCY: usize = 64;
/// Time between the last client being ready and the first message.
const LEAD: Duration = Duration::from_millis(200);
/// How often the drain checks whether everything has arrived.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// A tag unique to this run, so topics and client ids never meet an earlier run's.
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", std::process::id(), nanos % 0xFFFF_FFFF)
}

/// The connector for the options' broker.
pub async fn connector(conn: &ConnArgs) -> anyhow::Result<Connector> {
    let tls = conn.tls.then(|| TlsOptions {
        ca: conn.ca.clone(),
        cert: conn.cert.clone(),
        key: conn.key.clone(),
        insecure: conn.insecure,
        server_name: conn.server_name.clone(),
    });
    Connector::new(&conn.host, conn.port, tls.as_ref()).await
}

/// Runs a message scenario to completion.
pub async fn run_messages(
    layout: Layout,
    load: &LoadArgs,
    conn: &ConnArgs,
) -> anyhow::Result<MessageSummary> {
    validate(&layout, load, conn)?;
    let connector = connector(conn).await?;
    let tag = run_tag();
    let base = format!("{}/{}", conn.topic_prefix, tag);
    let id_prefix = format!("{}-{}", conn.client_prefix, tag);
    let qos = load.qos();

    let sub_sessions = open_all(
        &connector,
        conn,
        's',
        layout.subscribers(),
        |i| {
            (
                format!("{id_prefix}-s{i}"),
                Some(layout.subscriber_filter(&base, i)),
            )
        },
        qos,
    )
    .await
    .context("connecting subscribers")?;
    // HTTP requesters connect when they start; MQTT publishers now.
    let mqtt_publishers = if matches!(layout, Layout::HttpPublish { .. }) {
        0
    } else {
        layout.publishers()
    };
    let pub_sessions = open_all(
        &connector,
        conn,
        'p',
        mqtt_publishers,
        |i| (format!("{id_prefix}-p{i}"), None),
        qos,
    )
    .await
    .context("connecting publishers")?;

    let clock = Clock::start();
    let schedule = Schedule::new(clock, LEAD, load.warmup, load.duration, load.drain);
    let progress = Arc::new(Progress::default());
    let stop_subscribers = CancellationToken::new();
    let subscribers = spawn_subscribers(
        sub_sessions,
        &layout,
        conn,
        schedule,
        &progress,
        &stop_subscribers,
    );
    let (publishers, requesters) = match &layout {
        Layout::HttpPublish { http_port, .. } => {
            let http = Connector::new(&conn.host, *http_port, None).await?;
            let host = format!("{}:{http_port}", conn.host);
            (
                JoinSet::new(),
                spawn_requesters(&http, &host, &layout, &base, load, schedule),
            )
        }
        _ => (
            spawn_publishers(pub_sessions, &layout, &base, load, conn, schedule),
            JoinSet::new(),
        ),
    };

    let (broker, tool_cpu_s) = measure_window(conn.broker_pid, &schedule).await;
    let mut pub_reports = join_all(publishers).await?;
    let mut http_response = None;
    for requester in join_all(requesters).await? {
        pub_reports.push(requester.publisher);
        http_response
            .get_or_insert_with(Latency::new)
            .merge(&requester.response);
    }
    let sent: u64 = pub_reports.iter().map(|r| r.sent_in_window).sum();
    let expected = sent.saturating_mul(layout.fanout());
    drain(&progress, expected, &schedule, load.drain_idle).await;
    let drain_s = schedule
        .clock
        .now_ns()
        .saturating_sub(schedule.window.end_ns) as f64
        / 1e9;
    stop_subscribers.cancel();
    let sub_reports = join_all(subscribers).await?;

    let observed = Observed {
        publishers: pub_reports,
        http_response,
        subscribers: sub_reports,
        broker,
        tool_cpu_s,
        drain_s,
    };
    Ok(summarise(&layout, load, conn, &schedule, &observed))
}

/// Everything a run saw, for the summary.
struct Observed {
    publishers: Vec<PublisherReport>,
    /// Response times of HTTP Publish requests (`http-publish` only).
    http_response: Option<Latency>,
    subscribers: Vec<SubscriberReport>,
    broker: Option<procstat::BrokerUsage>,
    tool_cpu_s: f64,
    drain_s: f64,
}

fn spawn_subscribers(
    sessions: Vec<Session>,
    layout: &Layout,
    conn: &ConnArgs,
    schedule: Schedule,
    progress: &Arc<Progress>,
    stop: &CancellationToken,
) -> JoinSet<SubscriberReport> {
    let mut subscribers = JoinSet::new();
    for (i, session) in (0u32..).zip(sessions) {
        subscribers.spawn(subscriber::run(
            session,
            i,
            layout.publishers(),
            conn.keep_alive,
            schedule,
            progress.clone(),
            stop.clone(),
        ));
    }
    subscribers
}

fn spawn_publishers(
    sessions: Vec<Session>,
    layout: &Layout,
    base: &str,
    load: &LoadArgs,
    conn: &ConnArgs,
    schedule: Schedule,
) -> JoinSet<PublisherReport> {
    let publish_load = PublishLoad {
        qos: load.qos(),
        version: conn.mqtt.version(),
        payload_len: load.payload,
        rate: load.rate.map(|r| r as f64 / f64::from(layout.publishers())),
        inflight: load.inflight,
        batch: load.batch.max(1),
        keep_alive: conn.keep_alive,
    };
    // Paced publishers take turns: publisher i starts i / rate after the first.
    let turn = load
        .rate
        .map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r as f64));
    let mut publishers = JoinSet::new();
    for (i, session) in (0u32..).zip(sessions) {
        let topic = layout.publisher_topic(base, i);
        let phase = turn * i;
        publishers.spawn(publisher::run(
            session,
            i,
            topic,
            publish_load,
            schedule,
            phase,
        ));
    }
    publishers
}

fn spawn_requesters(
    connector: &Connector,
    host: &str,
    layout: &Layout,
    base: &str,
    load: &LoadArgs,
    schedule: Schedule,
) -> JoinSet<RequesterReport> {
    let http_load = HttpLoad {
        qos: load.qos(),
        payload_len: load.payload,
    };
    let mut requesters = JoinSet::new();
    for i in 0..layout.publishers() {
        let topic = layout.publisher_topic(base, i);
        requesters.spawn(http_publisher::run(
            connector.clone(),
            host.to_owned(),
            i,
            topic,
            http_load,
            schedule,
        ));
    }
    requesters
}

fn validate(layout: &Layout, load: &LoadArgs, conn: &ConnArgs) -> anyhow::Result<()> {
    ensure!(
        load.payload >= STAMP_LEN,
        "--payload must be at least {STAMP_LEN} bytes (the stamp)"
    );
    ensure!(layout.publishers() > 0, "at least one publisher is needed");
    ensure!(
        layout.subscribers() > 0,
        "at least one subscriber is needed"
    );
    ensure!(
        load.duration > Duration::ZERO,
        "--duration must be positive"
    );
    if matches!(load.rate, Some(0)) {
        bail!("--rate must be positive; leave it out for maximum speed");
    }
    if matches!(layout, Layout::HttpPublish { .. }) && load.rate.is_some() {
        bail!("http-publish requesters run closed-loop: leave out --rate, set --requesters");
    }
    if matches!(layout, Layout::Shared { .. }) && !conn.mqtt.version().is_v5() {
        bail!("shared subscriptions need --mqtt 5");
    }
    Ok(())
}

/// Connects `count` clients in `role` (`p` or `s`, for their credentials), at most
/// [`SETUP_CONCURRENCY`] at a time, subscribing each
/// to its filter when it has one. Returns them in index order.
async fn open_all(
    connector: &Connector,
    conn: &ConnArgs,
    role: char,
    count: u32,
    client: impl Fn(u32) -> (String, Option<String>),
    qos: QoS,
) -> anyhow::Result<Vec<Session>> {
    let permits = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let (client_id, filter) = client(i);
        let credentials = conn.credentials(role, i);
        let connector = connector.clone();
        let permits = permits.clone();
        let version = conn.mqtt.version();
        let (limit, keep_alive) = (conn.connect_timeout, conn.keep_alive);
        let persistent = role == 's' && conn.persistent_subscribers;
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let open = async {
                let stream = connector.connect(None).await?;
                let mut session = handshake::connect(
                    stream,
                    version,
                    &client_id,
                    keep_alive,
                    &credentials,
                    persistent,
                )
                .await?;
                if let Some(filter) = &filter {
                    session.subscribe(filter, qos).await?;
                }
                anyhow::Ok(session)
            };
            let session = timeout(limit, open)
                .await
                .with_context(|| format!("{client_id}: no answer within {limit:?}"))?
                .with_context(|| client_id.clone())?;
            anyhow::Ok((i, session))
        });
    }
    let mut sessions: Vec<Option<Session>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, session) = joined??;
        sessions[i as usize] = Some(session);
    }
    sessions
        .into_iter()
        .map(|s| s.context("a client did not connect"))
        .collect()
}

/// Waits for the window, measuring the broker (when a pid is given) and this tool across
/// it.
async fn measure_window(
    broker_pid: Option<u32>,
    schedule: &Schedule,
) -> (Option<procstat::BrokerUsage>, f64) {
    let clock = schedule.clock;
    sleep_until(Instant::from_std(
        clock.instant_at(schedule.window.start_ns),
    ))
    .await;
    let monitor = broker_pid.and_then(BrokerMonitor::start);
    let tool_start = procstat::cpu_seconds("self").unwrap_or(0.0);
    sleep_until(Instant::from_std(clock.instant_at(schedule.window.end_ns))).await;
    let tool_cpu = procstat::cpu_seconds("self").unwrap_or(tool_start) - tool_start;
    (
        monitor.map(BrokerMonitor::finish),
        procstat::round3(tool_cpu),
    )
}

/// Waits until every expected delivery has arrived, nothing at all has arrived for
/// `idle`, or the schedule's drain deadline passes.
async fn drain(progress: &Progress, expected: u64, schedule: &Schedule, idle: Duration) {
    let deadline = Instant::from_std(schedule.clock.instant_at(schedule.drain_until_ns));
    let mut last = progress.arrived.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    loop {
        let now = Instant::now();
        if progress.unique.load(Ordering::Relaxed) >= expected || now >= deadline {
            return;
        }
        let arrived = progress.arrived.load(Ordering::Relaxed);
        if arrived != last {
            last = arrived;
            last_change = now;
        } else if now - last_change >= idle {
            return;
        }
        sleep(DRAIN_POLL).await;
    }
}

async fn join_all<T: 'static>(mut tasks: JoinSet<T>) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        out.push(joined.context("a client task panicked")?);
    }
    Ok(out)
}

fn summarise(
    layout: &Layout,
    load: &LoadArgs,
    conn: &ConnArgs,
    schedule: &Schedule,
    observed: &Observed,
) -> MessageSummary {
    let (pubs, subs) = (&observed.publishers, &observed.subscribers);
    let mut counts = Counts::default();
    let mut latency = Latency::new();
    for sub in subs {
        counts.merge(&sub.counts);
        latency.merge(&sub.latency);
    }
    let sent: u64 = pubs.iter().map(|p| p.sent_in_window).sum();
    let loss = Loss::compute(sent, layout.fanout(), counts.unique);
    let seconds = schedule.window.duration().as_secs_f64();
    let errors: Vec<String> = pubs
        .iter()
        .filter_map(|p| p.error.clone())
        .chain(subs.iter().filter_map(|s| s.error.clone()))
        .collect();
    let qos = load.qos();
    MessageSummary {
        tool: "gridmq-bench",
        schema: SCHEMA,
        scenario: layout.name(),
        mqtt: conn.mqtt.version().to_string(),
        qos: qos as u8,
        payload_bytes: load.payload,
        publishers: layout.publishers(),
        subscribers: layout.subscribers(),
        rate_target: load.rate,
        inflight: load.inflight,
        tls: conn.tls,
        warmup_s: load.warmup.as_secs_f64(),
        duration_s: seconds,
        sent,
        written: pubs.iter().map(|p| p.written).sum(),
        unacked: pubs.iter().map(|p| p.unacked).sum(),
        expected: loss.expected,
        received: loss.received,
        lost: loss.lost,
        duplicates: counts.duplicates,
        foreign: counts.foreign,
        send_rate_msgs_per_s: (sent as f64 / seconds).round(),
        throughput_msgs_per_s: (counts.arrived_in_window as f64 / seconds).round(),
        latency: latency.summary().into(),
        http_response: observed.http_response.as_ref().map(|l| l.summary().into()),
        broker: observed.broker.into(),
        tool_cpu_s: observed.tool_cpu_s,
        drain_s: procstat::round3(observed.drain_s),
        tool_rss_peak_kib: procstat::own_peak_rss_kib(),
        ok: errors.is_empty() && (qos == QoS::AtMostOnce || loss.lost == 0),
        errors,
    }
}
