//! A subscribing client: reads into a large buffer, parses only what it needs out of each
//! PUBLISH, records sequence and latency, and acknowledges QoS 1/2 deliveries in batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::accounting::{Counts, Outcome, Reception};
use crate::handshake::{self, Session};
use crate::latency::Latency;
use crate::payload::Stamp;
use crate::publisher::GOODBYE_WAIT;
use crate::schedule::Schedule;
use crate::wire::{self, kind};

/// Bytes reserved in the receive buffer before each read.
const READ_CHUNK: usize = 256 * 1024;

/// Deliveries so far, over all subscribers, for deciding when the drain is over.
#[derive(Debug, Default)]
pub struct Progress {
    /// Distinct window messages received.
    pub unique: AtomicU64,
    /// Every PUBLISH received, measured or not.
    pub arrived: AtomicU64,
}

/// What one subscriber saw.
#[derive(Debug, Default)]
pub struct SubscriberReport {
    /// Unique, duplicate and foreign message counts.
    pub counts: Counts,
    /// Latency of messages sent in the window.
    pub latency: Latency,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// Runs one subscriber until `stop` is cancelled, adding what it receives to `progress`
/// so the run can tell when everything has arrived.
pub async fn run(
    session: Session,
    index: u32,
    publishers: u32,
    keep_alive: u16,
    schedule: Schedule,
    progress: Arc<Progress>,
    stop: CancellationToken,
) -> SubscriberReport {
    let mut subscriber = Subscriber {
        schedule,
        v5: session.version.is_v5(),
        reception: Reception::new(publishers),
        latency: Latency::new(),
        progress,
    };
    let error = subscriber
        .drive(session, keep_alive, stop)
        .await
        .err()
        .map(|err| format!("subscriber {index}: {err:#}"));
    SubscriberReport {
        counts: subscriber.reception.counts(),
        latency: subscriber.latency,
        error,
    }
}

struct Subscriber {
    schedule: Schedule,
    v5: bool,
    reception: Reception,
    latency: Latency,
    progress: Arc<Progress>,
}

impl Subscriber {
    async fn drive(
        &mut self,
        session: Session,
        keep_alive: u16,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut read_buf = session.read_buf;
        let (mut reader, mut writer) = tokio::io::split(session.stream);
        let mut write_buf = BytesMut::with_capacity(16 * 1024);
        let ping_every = handshake::ping_interval(keep_alive);
        let mut next_ping = Instant::now() + ping_every.unwrap_or_default();
        // Deliveries may already be waiting behind the SUBACK.
        self.handle(&mut read_buf, &mut write_buf)?;
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        loop {
            if read_buf.capacity() - read_buf.len() < READ_CHUNK / 2 {
                read_buf.reserve(READ_CHUNK);
            }
            tokio::select! {
                biased;
                () = &mut stopped => break,
                read = reader.read_buf(&mut read_buf) => {
                    if read.context("reading from the broker")? == 0 {
                        bail!("broker closed the connection");
                    }
                    self.handle(&mut read_buf, &mut write_buf)?;
                }
                written = writer.write_buf(&mut write_buf), if !write_buf.is_empty() => {
                    written.context("writing acknowledgements")?;
                    if write_buf.is_empty() {
                        writer.flush().await?;
                    }
                }
                () = sleep_until(next_ping), if ping_every.is_some() => {
                    write_buf.put_slice(&wire::PINGREQ);
                    next_ping += ping_every.unwrap_or_default();
                }
            }
        }
        let goodbye = async {
            writer.write_all(&wire::DISCONNECT).await?;
            writer.shutdown().await
        };
        let _ = timeout(GOODBYE_WAIT, goodbye).await;
        Ok(())
    }

    /// Consumes every complete packet in `read_buf`, queueing acknowledgements.
    fn handle(&mut self, read_buf: &mut BytesMut, write_buf: &mut BytesMut) -> anyhow::Result<()> {
        // One clock read per batch: everything in it arrived in the same read.
        let now_ns = self.schedule.clock.now_ns();
        let window = self.schedule.window;
        let before = self.reception.counts().unique;
        let mut arrived = 0;
        let mut consumed = 0;
        while let Some(frame) = wire::next_frame(&read_buf[consumed..])? {
            let body = &read_buf[consumed + frame.header_len..consumed + frame.len()];
            match frame.kind() {
                kind::PUBLISH => {
                    let publish = wire::publish_fields(frame.first, body, self.v5)?;
                    arrived += 1;
                    match Stamp::read(publish.payload) {
                        Some(stamp) => {
                            let measured = window.contains(stamp.sent_ns);
                            let outcome = self.reception.record(&stamp, measured);
                            if measured && outcome == Outcome::New {
                                self.latency.record(now_ns.saturating_sub(stamp.sent_ns));
                            }
                        }
                        None => self.reception.record_foreign(),
                    }
                    match publish.qos {
                        1 => wire::put_ack(write_buf, kind::PUBACK, publish.packet_id),
                        2 => wire::put_ack(write_buf, kind::PUBREC, publish.packet_id),
                        _ => {}
                    }
                }
                kind::DISCONNECT => {
                    bail!(
                        "broker sent DISCONNECT (reason 0x{:02X})",
                        body.first().unwrap_or(&0)
                    );
                }
                kind::PUBREL => {
                    wire::put_ack(write_buf, kind::PUBCOMP, wire::ack_packet_id(body)?);
                }
                _ => {}
            }
            consumed += frame.len();
        }
        read_buf.advance(consumed);
        if window.contains(now_ns) {
            self.reception.arrived_in_window(arrived);
        }
        let gained = self.reception.counts().unique - before;
        if gained > 0 {
            self.progress.unique.fetch_add(gained, Ordering::Relaxed);
        }
        if arrived > 0 {
            self.progress.arrived.fetch_add(arrived, Ordering::Relaxed);
        }
        Ok(())
    }
}
