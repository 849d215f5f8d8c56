//! An HTTP Publish requester for the `http-publish` scenario: one keep-alive HTTP/1.1
//! connection (hyper's client), one request at a time, each carrying a stamped payload
//! to `POST /mqtt/messages`. Its response time (until the 204) is recorded here; the
//! end-to-end latency is measured by the MQTT subscribers like any other run's.

use bytes::Bytes;
use gridmq_codec::QoS;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, sleep_until};

use crate::latency::Latency;
use crate::payload::Stamp;
use crate::publisher::PublisherReport;
use crate::schedule::Schedule;
use crate::transport::Connector;

/// Settings every requester of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct HttpLoad {
    /// QoS asked for with `qos=`.
    pub qos: QoS,
    /// Payload length in bytes (at least the stamp).
    pub payload_len: usize,
}

/// What one requester did, with its response times.
#[derive(Debug, Default)]
pub struct RequesterReport {
    /// Requests and messages, as a publisher reports them.
    pub publisher: PublisherReport,
    /// Time from sending a window request to its response.
    pub response: Latency,
}

/// Runs one requester on its own connection to the end of the schedule's window.
pub async fn run(
    connector: Connector,
    host: String,
    index: u32,
    topic: String,
    load: HttpLoad,
    schedule: Schedule,
) -> RequesterReport {
    let mut report = RequesterReport::default();
    if let Err(err) = drive(
        &connector,
        &host,
        index,
        &topic,
        load,
        schedule,
        &mut report,
    )
    .await
    {
        report.publisher.error = Some(format!("requester {index}: {err:#}"));
    }
    report
}

async fn drive(
    connector: &Connector,
    host: &str,
    index: u32,
    topic: &str,
    load: HttpLoad,
    schedule: Schedule,
    report: &mut RequesterReport,
) -> anyhow::Result<()> {
    let stream = connector.connect(None).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let uri = format!(
        "/mqtt/messages?topic={}&qos={}&api-version=2025-02-15-preview",
        encode(topic),
        load.qos as u8
    );
    let clock = schedule.clock;
    let mut payload = vec![0x5A; load.payload_len];
    sleep_until(Instant::from_std(clock.instant_at(schedule.send_from_ns))).await;
    let mut seq = 0u64;
    let result = loop {
        let sent_ns = clock.now_ns();
        if sent_ns >= schedule.window.end_ns {
            break Ok(());
        }
        let stamp = Stamp {
            publisher: index,
            seq,
            sent_ns,
        };
        stamp.write(&mut payload);
        let request = Request::post(uri.as_str())
            .header(hyper::header::HOST, host)
            .body(Full::new(Bytes::copy_from_slice(&payload)))?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        report.publisher.written += 1;
        if status != hyper::StatusCode::NO_CONTENT {
            break Err(anyhow::anyhow!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        if schedule.window.contains(sent_ns) {
            report.publisher.sent_in_window += 1;
            report
                .response
                .record(clock.now_ns().saturating_sub(sent_ns));
        }
        seq += 1;
    };
    driver.abort();
    result
}

/// Percent-encodes a topic for the query string.
fn encode(topic: &str) -> String {
    let mut out = String::with_capacity(topic.len() * 3);
    for byte in topic.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_percent_encoded() {
        assert_eq!(encode("gbench/ab1/http/3"), "gbench%2Fab1%2Fhttp%2F3");
    }
}
