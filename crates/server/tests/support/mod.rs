//! Shared helpers of the end-to-end tests. Each test file does `mod support;`.
//!
//! Every wait is bounded by [`WAIT`] and waits on an event (a packet, a line of output,
//! a process exit), never on a sleep.
//!
//! # Layout
//! - this file: the time bound and starting the broker in-process.
//! - `process`: the real `gridmq` binary as a child process.
//! - `raw`: a client that writes exact bytes and reads decoded packets.
//! - `rumqtt`: rumqttc clients (v3.1.1 and v5) whose events arrive on a channel.
//! - `http`: HTTP Publish and the retained API over reqwest.
//! - `namespace`: namespace-mode brokers, the management API over HTTP, credentials,
//!   JWT keys and local HTTP servers (JWKS, webhooks).
//! - `peers`: third-party programs (paho-mqtt scripts, mosquitto_pub/sub) and the rule
//!   for when they are missing.
#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different subset of it"
)]
#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

pub(crate) mod http;
pub(crate) mod namespace;
pub(crate) mod peers;
pub(crate) mod process;
pub(crate) mod raw;
pub(crate) mod rumqtt;

use std::future::Future;
use std::time::Duration;

use gridmq_server::{Config, Server};

/// The longest any single wait in a test may take before the test fails. Generous: it
/// only bounds a test that would otherwise hang; passing tests never reach it.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test with `what` if it takes longer than [`WAIT`].
pub(crate) async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Starts the broker in-process with its defaults on an ephemeral loopback port.
pub(crate) async fn broker() -> Server {
    broker_with(|_| {}).await
}

/// Starts the broker in-process on an ephemeral loopback port after `tweak` adjusted
/// the default configuration. Set `GRIDMQ_TEST_LOG=debug` to see its log.
pub(crate) async fn broker_with(tweak: impl FnOnce(&mut Config)) -> Server {
    if let Ok(level) = std::env::var("GRIDMQ_TEST_LOG") {
        // Several tests of one binary may try; the first one wins.
        let _ = gridmq_server::telemetry::init_logging(&level, Default::default());
    }
    let mut config = Config::default();
    config.listeners[0].bind = "127.0.0.1:0".parse().expect("loopback address");
    // Tests that need durable state give a temporary data directory.
    config.storage.in_memory = true;
    tweak(&mut config);
    within("the broker to start", Server::start(config))
        .await
        .expect("the broker starts")
}

/// A topic unique to the calling test, so tests sharing a broker never see each
/// other's messages: `prefix/<n>`.
pub(crate) fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}/{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Waits until the broker's own clock has advanced by at least `secs` seconds: a client
/// whose will is delayed by `secs` drops its connection, and the will arrives. Tests use
/// this instead of sleeping when something must expire inside the broker, so the wait
/// ends on a broker event and is ordered against the broker's other timers.
pub(crate) async fn broker_time_passes(addr: std::net::SocketAddr, secs: u32) {
    use gridmq_codec::{ProtocolVersion, QoS, TopicName, Will, WillProperties};
    let topic = unique("clock");
    let mut watcher = raw::RawClient::v5(addr, &unique("clock-watcher")).await;
    watcher.subscribe(&topic, QoS::AtMostOnce).await;
    let mut connect = raw::connect(ProtocolVersion::V5, &unique("clock"), true);
    connect.properties.session_expiry_interval = Some(secs);
    connect.will = Some(Will {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: TopicName::new(topic.as_str()).expect("a valid topic"),
        payload: bytes::Bytes::from_static(b"tick"),
        properties: WillProperties {
            will_delay_interval: Some(secs),
            ..Default::default()
        },
    });
    let (clock, _) = raw::RawClient::connect(addr, connect).await;
    drop(clock);
    let will = watcher.expect_publish().await;
    assert_eq!(will.topic.as_str(), topic);
}
