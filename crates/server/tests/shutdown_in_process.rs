//! Graceful shutdown in-process: `Server::shutdown` disconnects MQTT 5 clients with
//! DISCONNECT 0x8B, closes 3.1.1 connections, reports a clean shutdown and stops
//! accepting.
//!
//! Kept apart from tests that spawn processes: a child between fork and exec holds a
//! copy of every descriptor, the closed listener's included, and would accept for it.

mod support;

use gridmq_codec::{QoS, ReasonCode};
use support::raw::RawClient;
use support::{broker, within};

#[tokio::test]
async fn in_process_shutdown_disconnects_and_stops_accepting() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut v5 = RawClient::v5(addr, "inproc-v5").await;
    v5.subscribe("inproc/t", QoS::AtMostOnce).await;
    let mut v3 = RawClient::v311(addr, "inproc-v3").await;
    let report = within("shutdown", server.shutdown()).await;
    assert!(report.clean);
    v5.expect_disconnect(ReasonCode::ServerShuttingDown).await;
    assert!(v3.expect_closed().await.is_empty());
    // The listener is closed: a new connection is refused.
    let late = tokio::net::TcpStream::connect(addr).await;
    assert!(
        late.is_err(),
        "connected to {addr} after shutdown: {late:?}"
    );
}
