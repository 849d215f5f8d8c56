//! Decode and encode cost of the packets on the broker's hot paths, in packets per second.
//!
//! Decoding goes through `Decoder`, as a connection does: the packet's bytes are already
//! in the receive buffer (copying them there is set-up, not measured). Encoding appends
//! to a reused buffer, as the connection's write buffer is.
//!
//! ```sh
//! cargo bench -p gridmq-codec                 # full run
//! cargo bench -p gridmq-codec -- --quick      # a rough figure in a few seconds each
//! cargo bench -p gridmq-codec -- publish/     # one group
//! ```

use std::hint::black_box;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gridmq_codec::{
    Connect, ConnectProperties, Decoder, Packet, PacketId, ProtocolVersion, Publish, PublishAck,
    QoS, RetainHandling, Subscribe, SubscribeOptions, SubscribeProperties, Subscription, TopicName,
};

const VERSIONS: [(&str, ProtocolVersion); 2] = [
    ("v3.1.1", ProtocolVersion::V3_1_1),
    ("v5", ProtocolVersion::V5),
];

fn packet_id(value: u16) -> PacketId {
    PacketId::new(value).unwrap_or_else(|| unreachable!("non-zero literal"))
}

/// A QoS 1 PUBLISH; in v5 with the properties a typical IoT message carries.
fn publish(payload_len: usize) -> Packet {
    let topic = TopicName::new("factory/line-7/press-3/telemetry")
        .unwrap_or_else(|_| unreachable!("valid literal"));
    let mut publish = Publish::new(topic, Bytes::from(vec![0x5A; payload_len]));
    publish.qos = QoS::AtLeastOnce;
    publish.packet_id = Some(packet_id(4242));
    let properties = &mut publish.properties;
    properties.payload_format_indicator = Some(false);
    properties.message_expiry_interval = Some(3600);
    properties.content_type = Some("application/cbor".into());
    properties.user_properties = vec![("trace-id".into(), "4bf92f3577b34da6".into())];
    properties.subscription_identifiers = NonZeroU32::new(17).into_iter().collect();
    Packet::Publish(publish)
}

fn connect(version: ProtocolVersion) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: version,
        clean_start: false,
        keep_alive: 60,
        properties: ConnectProperties {
            session_expiry_interval: Some(86_400),
            receive_maximum: NonZeroU16::new(100),
            maximum_packet_size: NonZeroU32::new(1 << 20),
            topic_alias_maximum: Some(16),
            ..ConnectProperties::default()
        },
        client_id: "sensor-000123-eu-west".into(),
        will: None,
        username: Some("device-000123".into()),
        password: Some(Bytes::from_static(b"a-long-enough-secret-token")),
    }))
}

fn subscribe() -> Packet {
    let options = SubscribeOptions {
        qos: QoS::AtLeastOnce,
        no_local: false,
        retain_as_published: true,
        retain_handling: RetainHandling::SendIfNew,
    };
    let filters = [
        "factory/+/press-3/#",
        "alerts/line-7",
        "$share/workers/jobs/+",
    ];
    Packet::Subscribe(Subscribe {
        packet_id: packet_id(7),
        properties: SubscribeProperties {
            subscription_identifier: NonZeroU32::new(17),
            user_properties: Vec::new(),
        },
        subscriptions: filters
            .into_iter()
            .map(|filter| Subscription {
                filter: filter.into(),
                options,
            })
            .collect(),
    })
}

fn encoded(packet: &Packet, version: ProtocolVersion) -> Bytes {
    packet
        .to_bytes(version)
        .unwrap_or_else(|err| panic!("benchmark packet does not encode: {err}"))
}

/// Benchmarks decoding and encoding of `packet` under `group/{decode,encode}/{label}`.
fn bench_packet(
    c: &mut Criterion,
    group: &str,
    label: &str,
    packet: &Packet,
    version: ProtocolVersion,
) {
    let bytes = encoded(packet, version);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("decode", label), |b| {
        let mut decoder = Decoder::client(version, usize::MAX);
        b.iter_batched_ref(
            || BytesMut::from(&bytes[..]),
            |buf| black_box(decoder.decode(buf)),
            BatchSize::SmallInput,
        );
    });
    g.bench_function(BenchmarkId::new("encode", label), |b| {
        let mut buf = BytesMut::with_capacity(bytes.len());
        b.iter(|| {
            buf.clear();
            black_box(black_box(packet).encode(version, usize::MAX, &mut buf))
        });
    });
    g.finish();
}

fn publish_benches(c: &mut Criterion) {
    for (size_label, size) in [("64B", 64), ("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let packet = publish(size);
        for (version_label, version) in VERSIONS {
            let label = format!("{version_label}/{size_label}");
            bench_packet(c, "publish", &label, &packet, version);
        }
    }
}

fn control_benches(c: &mut Criterion) {
    let puback = Packet::PubAck(PublishAck::new(packet_id(4242)));
    for (label, version) in VERSIONS {
        bench_packet(c, "connect", label, &connect(version), version);
        bench_packet(c, "puback", label, &puback, version);
        bench_packet(c, "subscribe", label, &subscribe(), version);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
}

criterion_group! {
    name = benches;
    config = config();
    targets = publish_benches, control_benches
}
criterion_main!(benches);
