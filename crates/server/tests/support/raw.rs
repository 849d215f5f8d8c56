//! A raw-bytes client: writes exact byte sequences (valid or not) and reads what the
//! broker answers, decoded with the project's codec in client mode.

use std::net::SocketAddr;
use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use gridmq_codec::{
    ConnAck, Connect, ConnectProperties, Decoder, Disconnect, Packet, PacketId, ProtocolVersion,
    Publish, PublishAck, QoS, ReasonCode, Subscribe, SubscribeOptions, Subscription, TopicName,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::within;

/// What the broker did next.
#[derive(Debug)]
pub(crate) enum Next {
    /// It sent a packet.
    Packet(Box<Packet>),
    /// It closed the connection (end of stream or reset).
    Closed,
}

/// A TCP connection driven byte by byte.
pub(crate) struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
    version: ProtocolVersion,
}

impl RawClient {
    /// Opens a TCP connection; packets read back are decoded as `version`.
    pub(crate) async fn tcp(addr: SocketAddr, version: ProtocolVersion) -> Self {
        let stream = within("the TCP connection", TcpStream::connect(addr))
            .await
            .expect("TCP connect");
        Self {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::client(version, usize::MAX),
            version,
        }
    }

    /// Opens a TCP connection whose receive buffer is only `bytes` large, for a client
    /// that stops reading and should back up into the broker quickly.
    pub(crate) async fn tcp_small_buffer(
        addr: SocketAddr,
        version: ProtocolVersion,
        bytes: u32,
    ) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let stream = within("the TCP connection", socket.connect(addr))
            .await
            .expect("TCP connect");
        Self {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::client(version, usize::MAX),
            version,
        }
    }

    /// Closes the sending half: the broker reads the end of the stream.
    pub(crate) async fn shutdown_write(&mut self) {
        let _ = within("closing the sending half", self.stream.shutdown()).await;
    }

    /// Connects with `connect` and expects a successful CONNACK.
    pub(crate) async fn connect(addr: SocketAddr, connect: Connect) -> (Self, ConnAck) {
        let mut client = Self::tcp(addr, connect.protocol).await;
        client
            .send_packet(&Packet::Connect(Box::new(connect)))
            .await;
        let ack = client.expect_connack().await;
        assert_eq!(ack.reason_code, ReasonCode::Success, "CONNACK: {ack:?}");
        (client, ack)
    }

    /// Connects with `connect` and returns the CONNACK, whatever its reason code; an
    /// error if the connection fails or closes first (a broker that is down or dying).
    pub(crate) async fn try_connect(
        addr: SocketAddr,
        connect: Connect,
    ) -> std::io::Result<(Self, ConnAck)> {
        let stream = TcpStream::connect(addr).await?;
        let mut client = Self {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::client(connect.protocol, usize::MAX),
            version: connect.protocol,
        };
        client
            .try_send_packet(&Packet::Connect(Box::new(connect)))
            .await?;
        match client.recv().await {
            Next::Packet(packet) => match *packet {
                Packet::ConnAck(ack) => Ok((client, ack)),
                other => panic!("expected CONNACK, got {other:?}"),
            },
            Next::Closed => Err(std::io::ErrorKind::ConnectionAborted.into()),
        }
    }

    /// Connects as MQTT 5 client `client_id` with Clean Start and no session expiry.
    pub(crate) async fn v5(addr: SocketAddr, client_id: &str) -> Self {
        Self::connect(addr, connect(ProtocolVersion::V5, client_id, true))
            .await
            .0
    }

    /// Connects as MQTT 3.1.1 client `client_id` with Clean Session.
    pub(crate) async fn v311(addr: SocketAddr, client_id: &str) -> Self {
        Self::connect(addr, connect(ProtocolVersion::V3_1_1, client_id, true))
            .await
            .0
    }

    /// The protocol version packets are decoded in.
    pub(crate) fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Writes `bytes`, failing the test if the write fails.
    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes)
            .await
            .unwrap_or_else(|e| panic!("writing {} bytes: {e}", bytes.len()));
    }

    /// Writes `bytes`; the broker may already have closed the connection.
    pub(crate) async fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        within("a write to the broker", self.stream.write_all(bytes)).await
    }

    /// Encodes and writes `packet` in this client's version.
    pub(crate) async fn send_packet(&mut self, packet: &Packet) {
        let bytes = packet.to_bytes(self.version).expect("the packet encodes");
        self.send(&bytes).await;
    }

    /// Encodes and writes `packet`; the broker may have closed the connection.
    pub(crate) async fn try_send_packet(&mut self, packet: &Packet) -> std::io::Result<()> {
        let bytes = packet.to_bytes(self.version).expect("the packet encodes");
        self.stream.write_all(&bytes).await
    }

    /// Reads the next packet, without a time bound (the caller bounds it), or learns that
    /// the connection ended. A broker killed in the middle of writing leaves part of a
    /// packet: that counts as closed too. Cancel safe.
    pub(crate) async fn recv(&mut self) -> Next {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(packet)) => return Next::Packet(Box::new(packet)),
                Ok(None) => {}
                Err(error) => panic!("the broker sent an invalid packet: {error}"),
            }
            self.buf.reserve(4096);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return Next::Closed,
                Ok(_) => {}
            }
        }
    }

    /// Reads the next packet, or learns that the broker closed the connection.
    pub(crate) async fn next(&mut self) -> Next {
        within("a packet from the broker", async {
            loop {
                match self.decoder.decode(&mut self.buf) {
                    Ok(Some(packet)) => return Next::Packet(Box::new(packet)),
                    Ok(None) => {}
                    Err(error) => panic!("the broker sent an invalid packet: {error}"),
                }
                self.buf.reserve(4096);
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => {
                        assert!(
                            self.buf.is_empty(),
                            "connection closed inside a packet: {:?}",
                            self.buf
                        );
                        return Next::Closed;
                    }
                    Ok(_) => {}
                }
            }
        })
        .await
    }

    /// Reads the next packet; the connection must not close.
    pub(crate) async fn expect(&mut self) -> Packet {
        match self.next().await {
            Next::Packet(packet) => *packet,
            Next::Closed => panic!("the broker closed the connection"),
        }
    }

    /// Reads raw bytes until `n` have arrived, bypassing the decoder.
    pub(crate) async fn expect_bytes(&mut self, n: usize) -> Bytes {
        within("bytes from the broker", async {
            while self.buf.len() < n {
                let read = self.stream.read_buf(&mut self.buf).await.expect("read");
                assert!(read > 0, "closed after {:?}", self.buf);
            }
        })
        .await;
        self.buf.split_to(n).freeze()
    }

    /// Reads a CONNACK.
    pub(crate) async fn expect_connack(&mut self) -> ConnAck {
        match self.expect().await {
            Packet::ConnAck(ack) => ack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Reads the next PUBLISH.
    pub(crate) async fn expect_publish(&mut self) -> Publish {
        match self.expect().await {
            Packet::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Expects the connection to be closed, reading what comes before. Returns the
    /// packets the broker sent first.
    pub(crate) async fn expect_closed(&mut self) -> Vec<Packet> {
        let mut before = Vec::new();
        loop {
            match self.next().await {
                Next::Packet(packet) => {
                    assert!(before.len() < 10_000, "no close after {before:?}");
                    before.push(*packet);
                }
                Next::Closed => return before,
            }
        }
    }

    /// Expects DISCONNECT with `reason` (skipping other packets) and then the close.
    pub(crate) async fn expect_disconnect(&mut self, reason: ReasonCode) -> Disconnect {
        let packets = self.expect_closed().await;
        let disconnect = packets.iter().rev().find_map(|p| match p {
            Packet::Disconnect(d) => Some(d.clone()),
            _ => None,
        });
        match disconnect {
            Some(d) => {
                assert_eq!(d.reason_code, reason, "DISCONNECT: {d:?}");
                d
            }
            None => panic!("closed without DISCONNECT {reason:?}; got {packets:?}"),
        }
    }

    /// Subscribes to `filter` with `qos` (packet id 1) and expects a SUBACK granting it.
    pub(crate) async fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.send_packet(&Packet::Subscribe(subscribe(1, filter, qos)))
            .await;
        match self.expect().await {
            Packet::SubAck(ack) => assert_eq!(ack.reason_codes, [ReasonCode::granted(qos)]),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes `payload` to `topic`; QoS 1 and 2 use `packet_id`. Does not wait.
    pub(crate) async fn publish(&mut self, topic: &str, qos: QoS, packet_id: u16, payload: &[u8]) {
        self.send_packet(&Packet::Publish(publish(topic, qos, packet_id, payload)))
            .await;
    }

    /// Sends DISCONNECT 0x00 and waits for the broker to close the connection.
    pub(crate) async fn disconnect(mut self) {
        self.send_packet(&Packet::Disconnect(Disconnect::new(
            ReasonCode::Success,
            None,
        )))
        .await;
        self.expect_closed().await;
    }
}

/// A CONNECT for `client_id` with no will, keep alive off, and default properties.
pub(crate) fn connect(version: ProtocolVersion, client_id: &str, clean_start: bool) -> Connect {
    Connect {
        protocol: version,
        clean_start,
        keep_alive: 0,
        properties: ConnectProperties::default(),
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
    }
}

/// A PUBLISH; `packet_id` is ignored for QoS 0.
pub(crate) fn publish(topic: &str, qos: QoS, packet_id: u16, payload: &[u8]) -> Publish {
    let mut publish = Publish::new(
        TopicName::new(topic).expect("a valid topic name"),
        Bytes::copy_from_slice(payload),
    );
    publish.qos = qos;
    if qos != QoS::AtMostOnce {
        publish.packet_id = Some(id(packet_id));
    }
    publish
}

/// A SUBSCRIBE of one filter.
pub(crate) fn subscribe(packet_id: u16, filter: &str, qos: QoS) -> Subscribe {
    Subscribe {
        packet_id: id(packet_id),
        properties: Default::default(),
        subscriptions: vec![Subscription {
            filter: filter.into(),
            options: SubscribeOptions {
                qos,
                ..Default::default()
            },
        }],
    }
}

/// A PUBACK / PUBREC / PUBREL / PUBCOMP body with reason Success.
pub(crate) fn ack(packet_id: u16) -> PublishAck {
    PublishAck::new(id(packet_id))
}

/// A packet id; panics on 0.
pub(crate) fn id(value: u16) -> PacketId {
    PacketId::new(value).expect("packet ids are non-zero")
}

/// A Receive Maximum or Topic Alias value; panics on 0.
pub(crate) fn nz(value: u16) -> NonZeroU16 {
    NonZeroU16::new(value).expect("non-zero")
}

/// An MQTT variable byte integer.
pub(crate) fn varint(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            return out;
        }
    }
}

/// An MQTT UTF-8 string or binary field: two length bytes then the bytes.
pub(crate) fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A whole packet from its first byte and body: the remaining length is computed.
pub(crate) fn packet(first_byte: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}
