//! Property tests: every packet round-trips through the wire in every version, however the
//! bytes are split, and no byte sequence makes the decoder panic.
//!
//! The strategies generate packets that are valid for the version at hand, with every
//! field and property drawn from its whole valid range. For MQTT 3.x the expected result
//! is `Packet::normalized_for`, the codec's one statement of what older versions drop.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use gridmq_codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    DecodeError, Decoder, Disconnect, DisconnectProperties, EncodeError, MAX_VARINT, Packet,
    PacketId, ProtocolVersion, Publish, PublishAck, PublishProperties, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscribeOptions, SubscribeProperties, Subscription,
    TopicName, UnsubAck, Unsubscribe, UnsubscribeProperties, UserProperty, Utf8Bytes, Will,
    WillProperties, decode_packet,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;

// ---------------------------------------------------------------------------------------
// Reason code tables of MQTT 5.0, written out independently of the codec's own.

const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
const PUBACK_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_CODES: &[u8] = &[0x00, 0x92];
const SUBACK_CODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
const UNSUBACK_CODES: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
const DISCONNECT_CODES: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
const AUTH_CODES: &[u8] = &[0x00, 0x18, 0x19];

const V3: [ProtocolVersion; 2] = [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1];

fn reason(table: &'static [u8]) -> impl Strategy<Value = ReasonCode> {
    select(table).prop_filter_map("defined reason code", ReasonCode::from_u8)
}

// ---------------------------------------------------------------------------------------
// Field strategies.

fn utf8(max_chars: usize) -> impl Strategy<Value = Utf8Bytes> {
    vec(any::<char>(), 0..max_chars).prop_map(|chars| {
        chars
            .into_iter()
            .filter(|c| *c != '\0')
            .collect::<String>()
            .into()
    })
}

fn data(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn topic_name() -> impl Strategy<Value = TopicName> {
    let level = vec(
        any::<char>().prop_filter("no wildcard", |c| !matches!(c, '+' | '#' | '\0')),
        0..6,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>());
    vec(level, 1..4).prop_filter_map("non-empty topic", |levels| {
        TopicName::new(levels.join("/")).ok()
    })
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    any::<u16>().prop_filter_map("non-zero packet id", PacketId::new)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn user_properties() -> impl Strategy<Value = Vec<UserProperty>> {
    vec((utf8(6), utf8(6)), 0..3)
}

fn subscription_identifier() -> impl Strategy<Value = NonZeroU32> {
    (1..=MAX_VARINT).prop_filter_map("non-zero", NonZeroU32::new)
}

fn non_zero_u16() -> impl Strategy<Value = NonZeroU16> {
    any::<u16>().prop_filter_map("non-zero", NonZeroU16::new)
}

fn non_zero_u32() -> impl Strategy<Value = NonZeroU32> {
    any::<u32>().prop_filter_map("non-zero", NonZeroU32::new)
}

// ---------------------------------------------------------------------------------------
// Property strategies.

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        of(any::<u32>()),
        of(non_zero_u16()),
        of(non_zero_u32()),
        of(any::<u16>()),
        of(any::<bool>()),
        of(any::<bool>()),
        user_properties(),
        of((utf8(8), of(data(8)))),
    )
        .prop_map(
            |(expiry, receive, size, alias, response, problem, user, auth)| ConnectProperties {
                session_expiry_interval: expiry,
                receive_maximum: receive,
                maximum_packet_size: size,
                topic_alias_maximum: alias,
                request_response_information: response,
                request_problem_information: problem,
                user_properties: user,
                authentication_data: auth.as_ref().and_then(|(_, data)| data.clone()),
                authentication_method: auth.map(|(method, _)| method),
            },
        )
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        of(any::<u32>()),
        of(any::<bool>()),
        of(any::<u32>()),
        of(utf8(8)),
        of(topic_name()),
        of(data(8)),
        user_properties(),
    )
        .prop_map(
            |(delay, format, expiry, content, response, correlation, user)| WillProperties {
                will_delay_interval: delay,
                payload_format_indicator: format,
                message_expiry_interval: expiry,
                content_type: content,
                response_topic: response,
                correlation_data: correlation,
                user_properties: user,
            },
        )
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let limits = (
        of(any::<u32>()),
        of(non_zero_u16()),
        of(0..=1u8),
        of(any::<bool>()),
        of(non_zero_u32()),
        of(utf8(8)),
        of(any::<u16>()),
    );
    let features = (
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<u16>()),
    );
    let texts = (
        of(utf8(8)),
        user_properties(),
        of(utf8(8)),
        of(utf8(8)),
        of(utf8(8)),
        of(data(8)),
    );
    (limits, features, texts).prop_map(|(limits, features, texts)| ConnAckProperties {
        session_expiry_interval: limits.0,
        receive_maximum: limits.1,
        maximum_qos: limits.2,
        retain_available: limits.3,
        maximum_packet_size: limits.4,
        assigned_client_identifier: limits.5,
        topic_alias_maximum: limits.6,
        wildcard_subscription_available: features.0,
        subscription_identifiers_available: features.1,
        shared_subscription_available: features.2,
        server_keep_alive: features.3,
        reason_string: texts.0,
        user_properties: texts.1,
        response_information: texts.2,
        server_reference: texts.3,
        authentication_method: texts.4,
        authentication_data: texts.5,
    })
}

fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        of(any::<bool>()),
        of(any::<u32>()),
        of(non_zero_u16()),
        of(topic_name()),
        of(data(8)),
        user_properties(),
        vec(subscription_identifier(), 0..3),
        of(utf8(8)),
    )
        .prop_map(
            |(format, expiry, alias, response, correlation, user, ids, content)| {
                PublishProperties {
                    payload_format_indicator: format,
                    message_expiry_interval: expiry,
                    topic_alias: alias,
                    response_topic: response,
                    correlation_data: correlation,
                    user_properties: user,
                    subscription_identifiers: ids,
                    content_type: content,
                }
            },
        )
}

fn ack_properties() -> impl Strategy<Value = AckProperties> {
    (of(utf8(8)), user_properties()).prop_map(|(reason_string, user_properties)| AckProperties {
        reason_string,
        user_properties,
    })
}

// ---------------------------------------------------------------------------------------
// Packet strategies, each valid for `version`.

fn connect(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let will = (
        qos(),
        any::<bool>(),
        topic_name(),
        data(16),
        will_properties(),
    )
        .prop_map(|(qos, retain, topic, payload, properties)| Will {
            qos,
            retain,
            topic,
            payload,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        connect_properties(),
        utf8(12),
        of(will),
        of(utf8(8)),
        of(data(8)),
    )
        .prop_map(
            move |(clean_start, keep_alive, properties, client_id, will, username, password)| {
                // Before v5 a password needs a user name [MQTT-3.1.2-22].
                let username = match (&username, &password, protocol) {
                    (None, Some(_), ProtocolVersion::V3_1 | ProtocolVersion::V3_1_1) => {
                        Some(Utf8Bytes::from("user"))
                    }
                    _ => username,
                };
                Packet::Connect(Box::new(Connect {
                    protocol,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                }))
            },
        )
}

fn connack() -> impl Strategy<Value = Packet> {
    (any::<bool>(), reason(CONNACK_CODES), connack_properties()).prop_map(
        |(present, reason_code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present: present && !reason_code.is_error(),
                reason_code,
                properties,
            })
        },
    )
}

fn publish(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        packet_id(),
        publish_properties(),
        data(64),
    )
        .prop_map(
            move |(qos, dup, retain, topic, aliased, id, properties, payload)| {
                // An empty topic stands for the Topic Alias, which only v5 has.
                let topic = if aliased && properties.topic_alias.is_some() && version.is_v5() {
                    TopicName::default()
                } else {
                    topic
                };
                Packet::Publish(Publish {
                    dup: dup && qos != QoS::AtMostOnce,
                    qos,
                    retain,
                    topic,
                    packet_id: (qos != QoS::AtMostOnce).then_some(id),
                    properties,
                    payload,
                })
            },
        )
}

fn publish_ack() -> impl Strategy<Value = Packet> {
    let ack = |codes| {
        (packet_id(), reason(codes), ack_properties()).prop_map(
            |(packet_id, reason_code, properties)| PublishAck {
                packet_id,
                reason_code,
                properties,
            },
        )
    };
    prop_oneof![
        ack(PUBACK_CODES).prop_map(Packet::PubAck),
        ack(PUBACK_CODES).prop_map(Packet::PubRec),
        ack(PUBREL_CODES).prop_map(Packet::PubRel),
        ack(PUBREL_CODES).prop_map(Packet::PubComp),
    ]
}

fn subscription() -> impl Strategy<Value = Subscription> {
    let filter = prop_oneof![
        utf8(12),
        Just(Utf8Bytes::from("$share/group/a/+/#")),
        Just(Utf8Bytes::from("sport/tennis/#")),
    ];
    let retain_handling = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendIfNew),
        Just(RetainHandling::DoNotSend),
    ];
    (filter, qos(), any::<bool>(), any::<bool>(), retain_handling).prop_map(
        |(filter, qos, no_local, retain_as_published, retain_handling)| Subscription {
            // No Local is forbidden on shared subscriptions [MQTT-3.8.3-4].
            options: SubscribeOptions {
                qos,
                no_local: no_local && !filter.starts_with("$share/"),
                retain_as_published,
                retain_handling,
            },
            filter,
        },
    )
}

fn subscribe() -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        of(subscription_identifier()),
        user_properties(),
        vec(subscription(), 1..4),
    )
        .prop_map(|(packet_id, id, user, subscriptions)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties: SubscribeProperties {
                    subscription_identifier: id,
                    user_properties: user,
                },
                subscriptions,
            })
        })
}

fn suback() -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        ack_properties(),
        vec(reason(SUBACK_CODES), 1..5),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
}

fn unsubscribe() -> impl Strategy<Value = Packet> {
    (packet_id(), user_properties(), vec(utf8(12), 1..4)).prop_map(
        |(packet_id, user_properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties: UnsubscribeProperties { user_properties },
                filters,
            })
        },
    )
}

fn unsuback() -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        ack_properties(),
        vec(reason(UNSUBACK_CODES), 1..5),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
}

fn disconnect() -> impl Strategy<Value = Packet> {
    (
        reason(DISCONNECT_CODES),
        of(any::<u32>()),
        of(utf8(8)),
        user_properties(),
        of(utf8(8)),
    )
        .prop_map(|(reason_code, expiry, reason_string, user, reference)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties: DisconnectProperties {
                    session_expiry_interval: expiry,
                    reason_string,
                    user_properties: user,
                    server_reference: reference,
                },
            })
        })
}

fn auth() -> impl Strategy<Value = Packet> {
    (
        reason(AUTH_CODES),
        of(utf8(8)),
        of(data(8)),
        of(utf8(8)),
        user_properties(),
    )
        .prop_map(|(reason_code, method, data, reason_string, user)| {
            let mut properties = AuthProperties {
                authentication_method: method,
                authentication_data: data,
                reason_string,
                user_properties: user,
            };
            // Only the bare success may leave out the method [MQTT 3.15.2.2.2].
            if reason_code != ReasonCode::Success || !properties.is_empty() {
                properties
                    .authentication_method
                    .get_or_insert_with(|| "SCRAM-SHA-1".into());
            }
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        })
}

/// Any packet that is valid in `version` except CONNECT, whose protocol is its own.
fn session_packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut arms = vec![
        connack().boxed(),
        publish(version).boxed(),
        publish_ack().boxed(),
        subscribe().boxed(),
        suback().boxed(),
        unsubscribe().boxed(),
        unsuback().boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect().boxed(),
    ];
    if version.is_v5() {
        arms.push(auth().boxed());
    }
    Union::new(arms).boxed()
}

/// Any packet valid in `version`, CONNECT included.
fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    prop_oneof![1 => connect(version), 10 => session_packet(version)].boxed()
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(&[
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ])
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn fail(err: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(err.to_string())
}

/// Encodes after some bytes already in the buffer, checking that the returned size is
/// exactly what was appended.
fn encode(packet: &Packet, version: ProtocolVersion) -> Result<Bytes, TestCaseError> {
    const PREFIX: &[u8] = b"earlier packets";
    let mut buf = BytesMut::from(PREFIX);
    let size = packet.encode(version, usize::MAX, &mut buf).map_err(fail)?;
    prop_assert_eq!(size, buf.len() - PREFIX.len());
    Ok(buf.split_off(PREFIX.len()).freeze())
}

/// Feeds `chunks` one at a time, decoding everything available after each.
fn decode_chunks<'a>(
    decoder: &mut Decoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Packet>, DecodeError> {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(packet) = decoder.decode(&mut buf)? {
            packets.push(packet);
        }
    }
    if !buf.is_empty() {
        return Err(DecodeError::Malformed("test: bytes left in the buffer"));
    }
    Ok(packets)
}

/// Splits `bytes` into chunks of the given sizes, cycling through them.
fn chunked<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Whatever the decoder accepts is valid: it re-encodes, round-trips, and is already in
/// its normal form.
fn check_accepted(packet: &Packet, version: ProtocolVersion) -> Result<(), TestCaseError> {
    prop_assert_eq!(&packet.normalized_for(version), packet);
    let bytes = encode(packet, version)?;
    prop_assert_eq!(&decode_packet(&bytes, version).map_err(fail)?, packet);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v5_round_trip_is_the_identity(packet in packet(ProtocolVersion::V5)) {
        prop_assert_eq!(&packet.normalized_for(ProtocolVersion::V5), &packet);
        let bytes = encode(&packet, ProtocolVersion::V5)?;
        prop_assert_eq!(decode_packet(&bytes, ProtocolVersion::V5).map_err(fail)?, packet);
    }

    #[test]
    fn v3_round_trip_drops_exactly_the_v5_fields(
        version in select(&V3[..]),
        packet in session_packet(ProtocolVersion::V5).prop_filter("v3 has no AUTH or alias", |p| {
            !matches!(p, Packet::Auth(_))
                && !matches!(p, Packet::Publish(publish) if publish.topic.is_empty())
        }),
    ) {
        let bytes = encode(&packet, version)?;
        let decoded = decode_packet(&bytes, version).map_err(fail)?;
        prop_assert_eq!(&decoded, &packet.normalized_for(version));
        // Normalising twice changes nothing.
        prop_assert_eq!(&decoded.normalized_for(version), &decoded);
    }

    #[test]
    fn v3_connack_maps_any_reason_to_a_consistent_return_code(
        version in select(&V3[..]),
        present in any::<bool>(),
        code in any::<u8>().prop_filter_map("defined reason code", ReasonCode::from_u8),
    ) {
        // v3 has a return code for every reason, so the encoder takes any of them.
        let packet = Packet::ConnAck(ConnAck {
            session_present: present,
            reason_code: code,
            properties: ConnAckProperties::default(),
        });
        let bytes = encode(&packet, version)?;
        let decoded = decode_packet(&bytes, version).map_err(fail)?;
        prop_assert_eq!(decoded, packet.normalized_for(version));
    }

    #[test]
    fn connect_round_trips_in_its_own_protocol(
        protocol in version(),
        decode_as in version(),
        packet in version().prop_flat_map(connect),
    ) {
        let Packet::Connect(connect) = &packet else {
            return Err(fail("not a CONNECT"));
        };
        let mut connect = connect.clone();
        connect.protocol = protocol;
        if !protocol.is_v5() && connect.password.is_some() {
            connect.username.get_or_insert_with(|| "user".into());
        }
        let packet = Packet::Connect(connect);
        // The version argument does not matter for CONNECT, which names its own.
        let bytes = encode(&packet, decode_as)?;
        let decoded = decode_packet(&bytes, decode_as).map_err(fail)?;
        prop_assert_eq!(&decoded, &packet.normalized_for(protocol));
        prop_assert_eq!(decoded, packet.normalized_for(decode_as));
    }

    #[test]
    fn size_limits_trim_or_refuse_but_never_overflow(
        (version, packet) in versioned_packet(),
        slack in 0usize..64,
    ) {
        let full = encode(&packet, version)?;
        let limit = full.len().saturating_sub(slack);
        let mut buf = BytesMut::new();
        match packet.encode(version, limit, &mut buf) {
            Ok(size) => {
                prop_assert_eq!(size, buf.len());
                prop_assert!(size <= limit);
                let decoded = decode_packet(&buf, version).map_err(fail)?;
                prop_assert_eq!(decoded.packet_type(), packet.packet_type());
                if slack == 0 {
                    prop_assert_eq!(decoded, packet.normalized_for(version));
                }
            }
            Err(EncodeError::PacketTooLarge { size, max }) => {
                prop_assert!(buf.is_empty(), "nothing is written for a refused packet");
                prop_assert!(size > max);
                prop_assert_eq!(max, limit);
            }
            Err(other) => return Err(fail(other)),
        }
    }

    #[test]
    fn concatenated_packets_decode_in_order(
        (version, packets) in version().prop_flat_map(|v| (Just(v), vec(session_packet(v), 1..8))),
        sizes in vec(1usize..48, 1..6),
    ) {
        let mut stream = Vec::new();
        for packet in &packets {
            stream.extend_from_slice(&encode(packet, version)?);
        }
        let expected: Vec<Packet> = packets.iter().map(|p| p.normalized_for(version)).collect();
        let mut decoder = Decoder::client(version, usize::MAX);
        prop_assert_eq!(&decode_chunks(&mut decoder, [&stream[..]]).map_err(fail)?, &expected);
        let mut decoder = Decoder::client(version, usize::MAX);
        let chunks = chunked(&stream, &sizes);
        prop_assert_eq!(decode_chunks(&mut decoder, chunks).map_err(fail)?, expected);
    }

    #[test]
    fn server_learns_the_version_from_connect(
        (version, connect, packets) in version().prop_flat_map(|v| {
            (Just(v), connect(v), vec(session_packet(v), 0..6))
        }),
        sizes in vec(1usize..32, 1..6),
    ) {
        let mut stream = encode(&connect, version)?.to_vec();
        let mut expected = vec![connect.normalized_for(version)];
        for packet in &packets {
            stream.extend_from_slice(&encode(packet, version)?);
            expected.push(packet.normalized_for(version));
        }
        let mut decoder = Decoder::server(usize::MAX);
        let decoded = decode_chunks(&mut decoder, chunked(&stream, &sizes)).map_err(fail)?;
        prop_assert_eq!(decoded, expected);
        prop_assert_eq!(decoder.version(), Some(version));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_split_point_yields_the_same_packet((version, packet) in versioned_packet()) {
        let bytes = encode(&packet, version)?;
        let expected = vec![packet.normalized_for(version)];
        for split in 0..=bytes.len() {
            let mut decoder = Decoder::client(version, usize::MAX);
            let chunks = [&bytes[..split], &bytes[split..]];
            prop_assert_eq!(&decode_chunks(&mut decoder, chunks).map_err(fail)?, &expected);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..256),
        version in version(),
        limit in prop_oneof![Just(usize::MAX), 0usize..300],
    ) {
        let mut decoder = Decoder::client(version, limit);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(packet)) = decoder.decode(&mut buf) {
            check_accepted(&packet, version)?;
        }
        let mut server = Decoder::server(limit);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(packet)) = server.decode(&mut buf) {
            check_accepted(&packet, server.version().unwrap_or(version))?;
        }
    }

    #[test]
    fn mutated_packets_never_panic_and_what_decodes_is_valid(
        (version, packet) in versioned_packet(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&packet, version)?.to_vec();
        for (index, byte) in edits {
            let at = index.index(bytes.len());
            bytes[at] = byte;
        }
        let truncated = &bytes[..cut.index(bytes.len() + 1)];
        for input in [&bytes[..], truncated] {
            if let Ok(decoded) = decode_packet(input, version) {
                check_accepted(&decoded, version)?;
            }
        }
    }
}

#[test]
fn reason_code_tables_match_the_decoder() {
    // A literal check that each table above is exactly what the decoder accepts, so the
    // strategies cannot silently avoid a code the codec rejects.
    let body = |code: u8| -> Vec<u8> { vec![0x00, 0x01, code, 0x00] };
    let cases: [(u8, &[u8]); 4] = [
        (0x40, PUBACK_CODES),
        (0x50, PUBACK_CODES),
        (0x62, PUBREL_CODES),
        (0x70, PUBREL_CODES),
    ];
    for (first, table) in cases {
        for code in 0..=255u8 {
            let mut bytes = vec![first, 4];
            bytes.extend(body(code));
            let accepted = decode_packet(&bytes, ProtocolVersion::V5).is_ok();
            assert_eq!(
                accepted,
                table.contains(&code),
                "{first:#04x} code {code:#04x}"
            );
        }
    }
    for code in 0..=255u8 {
        let accepted = decode_packet(&[0xE0, 0x02, code, 0x00], ProtocolVersion::V5).is_ok();
        assert_eq!(
            accepted,
            DISCONNECT_CODES.contains(&code),
            "DISCONNECT {code:#04x}"
        );
        let accepted = decode_packet(&[0x20, 0x03, 0x00, code, 0x00], ProtocolVersion::V5).is_ok();
        assert_eq!(
            accepted,
            CONNACK_CODES.contains(&code),
            "CONNACK {code:#04x}"
        );
        let accepted =
            decode_packet(&[0x90, 0x04, 0x00, 0x01, 0x00, code], ProtocolVersion::V5).is_ok();
        assert_eq!(accepted, SUBACK_CODES.contains(&code), "SUBACK {code:#04x}");
        let accepted =
            decode_packet(&[0xB0, 0x04, 0x00, 0x01, 0x00, code], ProtocolVersion::V5).is_ok();
        assert_eq!(
            accepted,
            UNSUBACK_CODES.contains(&code),
            "UNSUBACK {code:#04x}"
        );
        let auth = [0xF0, 0x07, code, 0x05, 0x15, 0x00, 0x02, b'm', b'm'];
        let accepted = decode_packet(&auth, ProtocolVersion::V5).is_ok();
        assert_eq!(accepted, AUTH_CODES.contains(&code), "AUTH {code:#04x}");
    }
}
