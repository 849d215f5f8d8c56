//! Graceful shutdown of the real `gridmq` binary: SIGTERM disconnects MQTT 5 clients
//! with DISCONNECT 0x8B, closes 3.1.1 connections, and exits 0 within the configured
//! shutdown timeout. (`Server::shutdown` in-process is in `shutdown_in_process.rs`.)

mod support;

use gridmq_codec::ReasonCode;
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::v5::mqttbytes::v5::DisconnectReasonCode;
use support::process::BrokerProcess;
use support::raw::RawClient;
use support::rumqtt::{V3, V5, v3_options, v5_options};
use support::unique;

/// A configuration file with a short shutdown timeout: a clean exit (status 0) proves
/// every connection closed within it, as a timed-out shutdown exits 1.
fn short_shutdown_config() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "gridmq-shutdown-{}-{}.toml",
        std::process::id(),
        unique("cfg").replace('/', "-")
    ));
    if let Err(error) = std::fs::write(&path, "[server]\nshutdown_timeout = \"3s\"\n") {
        panic!("cannot write {}: {error}", path.display());
    }
    path
}

#[tokio::test]
async fn sigterm_disconnects_clients_with_0x8b_and_exits_0() {
    let config = short_shutdown_config();
    let mut broker =
        BrokerProcess::start(&["--config", config.to_str().expect("UTF-8 path")]).await;
    let (mut v5, _) = V5::connect(v5_options(broker.port(), "sigterm-v5")).await;
    v5.subscribe("shutdown/t", V5QoS::AtLeastOnce).await;
    let mut raw5 = RawClient::v5(broker.addr(), "sigterm-raw5").await;
    let mut raw3 = RawClient::v311(broker.addr(), "sigterm-raw3").await;
    let (_v3, _) = V3::connect(v3_options(broker.port(), "sigterm-v3")).await;

    broker.terminate();
    assert_eq!(
        v5.server_disconnect().await,
        DisconnectReasonCode::ServerShuttingDown
    );
    raw5.expect_disconnect(ReasonCode::ServerShuttingDown).await;
    assert!(raw3.expect_closed().await.is_empty(), "3.1.1: just closed");
    let status = broker.wait().await;
    assert!(status.success(), "gridmq exited with {status}");
    let _ = std::fs::remove_file(config);
}

#[tokio::test]
async fn sigterm_with_no_clients_exits_0() {
    let mut broker = BrokerProcess::start(&[]).await;
    broker.terminate();
    broker.log_line("shut down").await;
    assert!(broker.wait().await.success());
}
