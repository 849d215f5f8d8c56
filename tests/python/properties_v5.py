"""MQTT 5 properties round trip with paho: Payload Format Indicator, Message Expiry
Interval, Content Type, Response Topic, Correlation Data and User Properties arrive
unchanged; Response Information is returned when requested; the Subscription
Identifier is attached to deliveries."""

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common import Client, check, parse_args, publish_properties, run, unique


def main():
    args = parse_args()
    topic = unique("py/props")

    connect_properties = Properties(PacketTypes.CONNECT)
    connect_properties.RequestResponseInformation = 1
    subscriber = Client(args.port, connect_properties=connect_properties)
    info = getattr(subscriber.connack_properties, "ResponseInformation", None)
    check(info == "response/" + subscriber.client_id, f"Response Information {info!r}")

    subscribe_properties = Properties(PacketTypes.SUBSCRIBE)
    subscribe_properties.SubscriptionIdentifier = 42
    subscriber.subscribe(topic, qos=1, properties=subscribe_properties)

    publisher = Client(args.port)
    sent = publish_properties(
        PayloadFormatIndicator=1,
        MessageExpiryInterval=3600,
        ContentType="text/plain; charset=utf-8",
        ResponseTopic=topic + "/reply",
        CorrelationData=b"\x00\x01\x02corr",
        UserProperty=[("a", "1"), ("a", "2"), ("b", "ß")],
    )
    publisher.publish(topic, "héllo".encode(), qos=1, properties=sent)

    message = subscriber.next_message()
    got = message.properties
    check(message.payload == "héllo".encode(), f"payload {message.payload!r}")
    check(got.PayloadFormatIndicator == 1, "Payload Format Indicator")
    check(3590 <= got.MessageExpiryInterval <= 3600, f"expiry {got.MessageExpiryInterval}")
    check(got.ContentType == "text/plain; charset=utf-8", f"Content Type {got.ContentType!r}")
    check(got.ResponseTopic == topic + "/reply", f"Response Topic {got.ResponseTopic!r}")
    check(got.CorrelationData == b"\x00\x01\x02corr", f"Correlation Data {got.CorrelationData!r}")
    check(got.UserProperty == [("a", "1"), ("a", "2"), ("b", "ß")],
          f"User Properties {got.UserProperty!r}")
    check(got.SubscriptionIdentifier == [42], f"Subscription Identifier {got.SubscriptionIdentifier!r}")

    publisher.disconnect()
    subscriber.disconnect()


run(main)
