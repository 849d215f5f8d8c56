//! A publishing client: stamps and encodes batches of PUBLISH packets into one buffer per
//! write, paced by a token bucket when a rate is given, with a bounded window of
//! unacknowledged QoS 1/2 messages.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Buf, BufMut, BytesMut};
use gridmq_codec::{
    PacketId, ProtocolVersion, PublishOverrides, PublishProperties, PublishView, QoS,
    encode_publish,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep_until, timeout};

use crate::handshake::{self, Session};
use crate::payload::Stamp;
use crate::ratelimit::RateLimiter;
use crate::schedule::Schedule;
use crate::timer::PreciseTimer;
use crate::wire::{self, kind};

/// Encode more only while fewer than this many bytes wait to be written.
const WRITE_LOW_WATER: usize = 32 * 1024;
/// Longest wait for DISCONNECT to be written at the end.
pub(crate) const GOODBYE_WAIT: Duration = Duration::from_secs(1);
/// Bytes reserved in the receive buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// The token bucket holds this much time's worth of messages, so a publisher catches up
/// after its thread was descheduled for up to this long.
const RATE_BURST_WINDOW: Duration = Duration::from_millis(100);
/// ... and at least this many.
const RATE_BURST_MIN: u64 = 8;
/// A paced publisher wakes at most this often and sends what fell due meanwhile: at
/// high rates a wake-up per token would cost the tool a core of its own.
const PACING_MIN_GAP: Duration = Duration::from_micros(250);

/// Settings every publisher of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct PublishLoad {
    /// QoS of every PUBLISH.
    pub qos: QoS,
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Payload length in bytes (at least the stamp).
    pub payload_len: usize,
    /// Messages per second for this publisher; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Most unacknowledged QoS 1/2 messages at once.
    pub inflight: u16,
    /// Most messages encoded into one write.
    pub batch: usize,
    /// Keep Alive announced in CONNECT, seconds.
    pub keep_alive: u16,
}

/// What one publisher did.
#[derive(Debug, Clone, Default)]
pub struct PublisherReport {
    /// Messages sent in the window: acknowledged (QoS 1/2) or encoded for writing (QoS 0).
    pub sent_in_window: u64,
    /// Messages encoded for writing over the whole run, warm-up included.
    pub written: u64,
    /// Messages still unacknowledged when the publisher stopped.
    pub unacked: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// Runs one publisher to the end of the schedule and reports what it did.
///
/// A paced publisher starts its token bucket `phase` after the schedule's start, so the
/// publishers of a run take turns instead of sending together.
pub async fn run(
    session: Session,
    index: u32,
    topic: String,
    load: PublishLoad,
    schedule: Schedule,
    phase: Duration,
) -> PublisherReport {
    // [MQTT-3.3.4-7] never more unacknowledged messages than the broker's Receive Maximum.
    let load = PublishLoad {
        inflight: load.inflight.min(session.receive_maximum),
        ..load
    };
    let mut publisher = Publisher::new(index, topic, load, schedule, phase);
    if let Err(err) = publisher.drive(session).await {
        publisher.report.error = Some(format!("publisher {index}: {err:#}"));
    }
    publisher.report.unacked = u64::from(publisher.inflight.outstanding());
    publisher.report
}

struct Publisher {
    index: u32,
    topic: String,
    load: PublishLoad,
    schedule: Schedule,
    phase: Duration,
    payload: Vec<u8>,
    properties: PublishProperties,
    seq: u64,
    limiter: Option<RateLimiter>,
    inflight: Inflight,
    report: PublisherReport,
}

impl Publisher {
    fn new(
        index: u32,
        topic: String,
        load: PublishLoad,
        schedule: Schedule,
        phase: Duration,
    ) -> Self {
        let window = if load.qos == QoS::AtMostOnce {
            0
        } else {
            load.inflight
        };
        Self {
            index,
            topic,
            load,
            schedule,
            phase,
            payload: vec![0x5A; load.payload_len],
            properties: PublishProperties::default(),
            seq: 0,
            limiter: load.rate.map(|rate| {
                RateLimiter::with_burst_window(rate, RATE_BURST_WINDOW, RATE_BURST_MIN)
            }),
            inflight: Inflight::new(window),
            report: PublisherReport::default(),
        }
    }

    async fn drive(&mut self, session: Session) -> anyhow::Result<()> {
        let clock = self.schedule.clock;
        let start = Instant::from_std(clock.instant_at(self.schedule.send_from_ns));
        let paced_from = start + self.phase;
        // Rate tokens fall due between tokio's millisecond ticks.
        let timer = match self.limiter {
            Some(_) => Some(PreciseTimer::new().context("creating the pacing timer")?),
            None => None,
        };
        let stop = Instant::from_std(clock.instant_at(self.schedule.window.end_ns));
        let drain_until = Instant::from_std(clock.instant_at(self.schedule.drain_until_ns));
        let mut read_buf = session.read_buf;
        let (mut reader, mut writer) = tokio::io::split(session.stream);
        let mut write_buf = BytesMut::with_capacity(WRITE_LOW_WATER * 2);
        let ping_every = handshake::ping_interval(self.load.keep_alive);
        let mut next_ping = Instant::now() + ping_every.unwrap_or_default();
        sleep_until(start).await;
        loop {
            let now = Instant::now();
            if now >= drain_until {
                break;
            }
            let sending = now < stop;
            if sending && write_buf.len() < WRITE_LOW_WATER {
                let n = self.allowed(now.saturating_duration_since(paced_from));
                self.encode(n, clock.ns_at(now.into_std()), &mut write_buf)?;
            }
            if !sending && write_buf.is_empty() && self.inflight.outstanding() == 0 {
                break;
            }
            // With every packet id in use only an acknowledgement (a read) can help; the
            // next rate token is no reason to wake.
            let window_full = self.load.qos != QoS::AtMostOnce && self.inflight.free() == 0;
            let wake = match &self.limiter {
                _ if !sending => drain_until,
                _ if window_full => stop,
                Some(limiter) => (paced_from + limiter.next_due())
                    .max(now + PACING_MIN_GAP)
                    .min(stop),
                None => stop,
            };
            // Only paced publishers have the precise timer; the others wake for the end.
            let wait = async {
                match &timer {
                    Some(timer) => timer.sleep_until(wake.into_std()).await,
                    None => {
                        sleep_until(wake).await;
                        Ok(())
                    }
                }
            };
            if read_buf.capacity() - read_buf.len() < READ_CHUNK / 2 {
                read_buf.reserve(READ_CHUNK);
            }
            tokio::select! {
                biased;
                read = reader.read_buf(&mut read_buf) => {
                    if read.context("reading from the broker")? == 0 {
                        bail!("broker closed the connection");
                    }
                    self.handle_acks(&mut read_buf, &mut write_buf)?;
                }
                written = writer.write_buf(&mut write_buf), if !write_buf.is_empty() => {
                    written.context("writing to the broker")?;
                    if write_buf.is_empty() {
                        writer.flush().await?;
                    }
                }
                waited = wait, if write_buf.is_empty() => waited.context("pacing timer")?,
                () = sleep_until(next_ping), if ping_every.is_some() => {
                    write_buf.put_slice(&wire::PINGREQ);
                    next_ping += ping_every.unwrap_or_default();
                }
                // A broker that stops reading cannot hold the publisher past the drain.
                () = sleep_until(drain_until) => break,
            }
        }
        let goodbye = async {
            writer.write_all(&wire::DISCONNECT).await?;
            writer.shutdown().await
        };
        let _ = timeout(GOODBYE_WAIT, goodbye).await;
        Ok(())
    }

    /// How many messages may be encoded now: the batch size, capped by free inflight
    /// slots and rate tokens.
    fn allowed(&mut self, elapsed: Duration) -> usize {
        let mut n = self.load.batch as u64;
        if self.load.qos != QoS::AtMostOnce {
            n = n.min(u64::from(self.inflight.free()));
        }
        if let Some(limiter) = &mut self.limiter {
            n = n.min(limiter.available(elapsed));
            limiter.take(n);
        }
        n as usize
    }

    fn encode(&mut self, n: usize, now_ns: u64, buf: &mut BytesMut) -> anyhow::Result<()> {
        let in_window = self.schedule.window.contains(now_ns);
        for _ in 0..n {
            let stamp = Stamp {
                publisher: self.index,
                seq: self.seq,
                sent_ns: now_ns,
            };
            stamp.write(&mut self.payload);
            let packet_id = match self.load.qos {
                QoS::AtMostOnce => None,
                _ => Some(self.inflight.acquire(now_ns).context("no free packet id")?),
            };
            let view = PublishView {
                dup: false,
                qos: self.load.qos,
                retain: false,
                topic: &self.topic,
                packet_id,
                properties: &self.properties,
                overrides: PublishOverrides::default(),
                payload: &self.payload,
            };
            encode_publish(&view, self.load.version, usize::MAX, buf)
                .context("encoding PUBLISH")?;
            self.seq += 1;
            self.report.written += 1;
            if in_window && self.load.qos == QoS::AtMostOnce {
                self.report.sent_in_window += 1;
            }
        }
        Ok(())
    }

    fn handle_acks(
        &mut self,
        read_buf: &mut BytesMut,
        write_buf: &mut BytesMut,
    ) -> anyhow::Result<()> {
        let mut consumed = 0;
        while let Some(frame) = wire::next_frame(&read_buf[consumed..])? {
            let body = &read_buf[consumed + frame.header_len..consumed + frame.len()];
            match frame.kind() {
                kind::PUBACK | kind::PUBCOMP => {
                    let id = wire::ack_packet_id(body)?;
                    let reason = wire::ack_reason(body);
                    if reason >= 0x80 {
                        bail!("broker rejected message {id} with reason 0x{reason:02X}");
                    }
                    if let Some(sent_ns) = self.inflight.release(id) {
                        if self.schedule.window.contains(sent_ns) {
                            self.report.sent_in_window += 1;
                        }
                    }
                }
                kind::DISCONNECT => {
                    bail!(
                        "broker sent DISCONNECT (reason 0x{:02X})",
                        body.first().unwrap_or(&0)
                    );
                }
                kind::PUBREC => {
                    let id = wire::ack_packet_id(body)?;
                    let reason = wire::ack_reason(body);
                    if reason >= 0x80 {
                        bail!("broker rejected message {id} with reason 0x{reason:02X}");
                    }
                    wire::put_ack(write_buf, kind::PUBREL, id);
                }
                _ => {}
            }
            consumed += frame.len();
        }
        read_buf.advance(consumed);
        Ok(())
    }
}

/// Packet ids of unacknowledged messages and when each was sent.
///
/// Ids `1..=window` are handed out from a free list, so an id is never reused while its
/// message is unacknowledged, whatever order acknowledgements arrive in.
#[derive(Debug)]
struct Inflight {
    free: Vec<u16>,
    sent_ns: Vec<Option<u64>>,
}

impl Inflight {
    fn new(window: u16) -> Self {
        Self {
            free: (1..=window).rev().collect(),
            sent_ns: vec![None; usize::from(window)],
        }
    }

    fn free(&self) -> u16 {
        self.free.len() as u16
    }

    fn outstanding(&self) -> u16 {
        self.sent_ns.len() as u16 - self.free()
    }

    fn acquire(&mut self, sent_ns: u64) -> Option<PacketId> {
        let id = self.free.pop()?;
        self.sent_ns[usize::from(id - 1)] = Some(sent_ns);
        PacketId::new(id)
    }

    /// Frees `id`, returning when its message was sent; `None` if it was not in flight.
    fn release(&mut self, id: u16) -> Option<u64> {
        let slot = self.sent_ns.get_mut(usize::from(id.checked_sub(1)?))?;
        let sent = slot.take()?;
        self.free.push(id);
        Some(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflight_ids_are_unique_until_released() {
        let mut inflight = Inflight::new(3);
        let a = inflight.acquire(10).unwrap();
        let b = inflight.acquire(20).unwrap();
        let c = inflight.acquire(30).unwrap();
        assert!(inflight.acquire(40).is_none());
        assert_eq!(inflight.outstanding(), 3);
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_eq!(inflight.release(b.get()), Some(20));
        assert_eq!(inflight.release(b.get()), None, "double ack");
        assert_eq!(inflight.release(0), None);
        assert_eq!(inflight.release(99), None);
        assert_eq!(inflight.acquire(50), Some(b));
        assert_eq!(inflight.free(), 0);
    }
}
