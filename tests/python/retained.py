"""Retained messages with paho (v311 or v5): stored, replaced, sent to new subscribers
with the RETAIN flag, and cleared by an empty retained message."""

from common import Client, check, parse_args, run, unique


def retained_for_new_subscriber(port, version, topic, marker):
    """What a fresh subscriber to `topic` gets before a marker message: the retained
    message, or None."""
    subscriber = Client(port, version=version)
    subscriber.subscribe(topic, qos=1)
    subscriber.subscribe(marker, qos=1)
    publisher = Client(port, version=version)
    publisher.publish(marker, b"marker", qos=1)
    publisher.disconnect()
    first = subscriber.next_message()
    result = None
    if first.topic != marker:
        result = first
        second = subscriber.next_message()
        check(second.topic == marker, f"expected the marker, got {second.topic}")
    subscriber.disconnect()
    return result


def main():
    args = parse_args(lambda p: p.add_argument("--version", choices=["v311", "v5"], default="v5"))
    topic = unique("py/retained")
    marker = topic + "/marker"
    publisher = Client(args.port, version=args.version)

    publisher.publish(topic, b"first", qos=1, retain=True)
    got = retained_for_new_subscriber(args.port, args.version, topic, marker)
    check(got is not None and got.payload == b"first" and got.retain, f"stored: {got}")

    publisher.publish(topic, b"second", qos=2, retain=True)
    got = retained_for_new_subscriber(args.port, args.version, topic, marker)
    check(got is not None and got.payload == b"second" and got.retain, f"replaced: {got}")
    check(got.qos == 1, f"delivered at the granted QoS, got {got.qos}")

    publisher.publish(topic, b"", qos=1, retain=True)
    got = retained_for_new_subscriber(args.port, args.version, topic, marker)
    check(got is None, f"cleared, yet got {got and got.payload}")
    publisher.disconnect()


run(main)
