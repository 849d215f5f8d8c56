//! Opening an MQTT session: CONNECT / CONNACK and SUBSCRIBE / SUBACK, through
//! `gridmq-codec`. These run once per client, before measurement starts.

use std::num::NonZeroU16;

use anyhow::{Context, bail};
use bytes::BytesMut;
use gridmq_codec::{
    Connect, ConnectProperties, Decoder, Packet, PacketId, ProtocolVersion, QoS, ReasonCode,
    Subscribe, SubscribeOptions, Subscription,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::Credentials;
use crate::transport::BoxStream;

/// Largest packet accepted during the handshake.
const MAX_HANDSHAKE_PACKET: usize = 64 * 1024;

/// The receive buffer a session starts with: room for a CONNACK or SUBACK. It grows when
/// a packet needs more, and the publish and subscribe loops reserve their own chunk; an
/// idle connection keeps it small (the connections scenario holds thousands).
const HANDSHAKE_READ_BUF: usize = 256;

/// A connected client with its receive buffer (bytes already read past the handshake).
pub struct Session {
    /// The stream to the broker.
    pub stream: BoxStream,
    /// Bytes read but not yet consumed.
    pub read_buf: BytesMut,
    /// The protocol spoken.
    pub version: ProtocolVersion,
    /// The broker's Receive Maximum (v5): most unacknowledged QoS 1/2 PUBLISH packets it
    /// accepts from this client; 65,535 when it sets none.
    pub receive_maximum: u16,
}

/// How often a client with Keep Alive `keep_alive` seconds sends PINGREQ; `None` for 0.
///
/// Half the interval, so a ping is always in time however busy the client is otherwise
/// ([MQTT-3.1.2-23] lets the server close after one and a half intervals of silence).
pub fn ping_interval(keep_alive: u16) -> Option<std::time::Duration> {
    (keep_alive > 0).then(|| std::time::Duration::from_millis(u64::from(keep_alive) * 500))
}

/// Sends CONNECT (a clean session unless `persistent`) and waits for a successful
/// CONNACK.
pub async fn connect(
    mut stream: BoxStream,
    version: ProtocolVersion,
    client_id: &str,
    keep_alive: u16,
    credentials: &Credentials,
    persistent: bool,
) -> anyhow::Result<Session> {
    let connect = Connect {
        protocol: version,
        clean_start: !persistent,
        keep_alive,
        properties: ConnectProperties {
            // Let the broker keep as many QoS 1/2 deliveries in flight as it wants.
            receive_maximum: NonZeroU16::new(u16::MAX),
            session_expiry_interval: (persistent && version.is_v5()).then_some(3600),
            ..ConnectProperties::default()
        },
        client_id: client_id.into(),
        will: None,
        username: credentials.username.as_deref().map(Into::into),
        password: credentials
            .password
            .as_ref()
            .map(|p| bytes::Bytes::copy_from_slice(p.as_bytes())),
    };
    let bytes = Packet::Connect(Box::new(connect))
        .to_bytes(version)
        .context("encoding CONNECT")?;
    stream.write_all(&bytes).await.context("sending CONNECT")?;
    let mut session = Session {
        stream,
        read_buf: BytesMut::with_capacity(HANDSHAKE_READ_BUF),
        version,
        receive_maximum: u16::MAX,
    };
    match session.next_packet().await? {
        Packet::ConnAck(ack) if ack.reason_code == ReasonCode::Success => {
            if let Some(max) = ack.properties.receive_maximum {
                session.receive_maximum = max.get();
            }
            Ok(session)
        }
        Packet::ConnAck(ack) => bail!("broker refused {client_id}: {}", ack.reason_code),
        other => bail!("expected CONNACK, got {:?}", other.packet_type()),
    }
}

impl Session {
    /// Subscribes to one filter at `qos` and waits for a SUBACK granting it.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> anyhow::Result<()> {
        let subscribe = Subscribe {
            packet_id: PacketId::new(1).context("packet id")?,
            properties: Default::default(),
            subscriptions: vec![Subscription {
                filter: filter.into(),
                options: SubscribeOptions {
                    qos,
                    ..SubscribeOptions::default()
                },
            }],
        };
        let bytes = Packet::Subscribe(subscribe)
            .to_bytes(self.version)
            .context("encoding SUBSCRIBE")?;
        self.stream
            .write_all(&bytes)
            .await
            .context("sending SUBSCRIBE")?;
        match self.next_packet().await? {
            Packet::SubAck(ack) => match ack.reason_codes.first() {
                Some(code) if code.is_error() => bail!("broker refused {filter}: {code}"),
                Some(code) if (*code as u8) < qos as u8 => {
                    bail!(
                        "broker granted only {code} for {filter}, asked for QoS {}",
                        qos as u8
                    )
                }
                Some(_) => Ok(()),
                None => bail!("SUBACK without a reason code"),
            },
            other => bail!("expected SUBACK, got {:?}", other.packet_type()),
        }
    }

    async fn next_packet(&mut self) -> anyhow::Result<Packet> {
        let mut decoder = Decoder::client(self.version, MAX_HANDSHAKE_PACKET);
        loop {
            if let Some(packet) = decoder.decode(&mut self.read_buf)? {
                return Ok(packet);
            }
            if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                bail!("broker closed the connection during the handshake");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use gridmq_codec::{ConnAck, ConnAckProperties};
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A CONNACK larger than the session's first buffer, written in pieces, still
    /// completes the handshake: the buffer grows to fit the packet.
    #[tokio::test]
    async fn connack_larger_than_the_first_buffer_completes_the_handshake() {
        let (client, mut broker) = tokio::io::duplex(64 * 1024);
        let ack = ConnAck {
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties {
                receive_maximum: NonZeroU16::new(10),
                reason_string: Some("x".repeat(4 * HANDSHAKE_READ_BUF).into()),
                ..ConnAckProperties::default()
            },
            ..ConnAck::default()
        };
        let bytes = Packet::ConnAck(ack)
            .to_bytes(ProtocolVersion::V5)
            .expect("encode CONNACK");
        assert!(bytes.len() > HANDSHAKE_READ_BUF);
        let broker_side = tokio::spawn(async move {
            let mut connect = [0u8; 256];
            let read = broker.read(&mut connect).await.expect("read CONNECT");
            assert!(read > 0, "no CONNECT");
            for piece in bytes.chunks(100) {
                broker.write_all(piece).await.expect("write CONNACK");
                broker.flush().await.expect("flush");
                tokio::task::yield_now().await;
            }
            broker
        });
        let session = connect(
            Box::new(client),
            ProtocolVersion::V5,
            "big-connack",
            0,
            &Credentials::default(),
            false,
        )
        .await
        .expect("handshake");
        assert_eq!(session.receive_maximum, 10);
        assert!(session.read_buf.is_empty(), "CONNACK fully consumed");
        drop(broker_side.await.expect("broker side"));
    }
}
