"""Publish and subscribe with QoS 0, 1 and 2 between a publisher and a subscriber of
the given protocol versions (v311 or v5, in any combination)."""

from common import Client, check, parse_args, run, unique


def main():
    args = parse_args(lambda p: (
        p.add_argument("--publisher", choices=["v311", "v5"], default="v5"),
        p.add_argument("--subscriber", choices=["v311", "v5"], default="v5"),
    ))
    topic = unique("py/pubsub")
    subscriber = Client(args.port, version=args.subscriber)
    codes = subscriber.subscribe(topic + "/#", qos=2)
    check([c.value for c in codes] == [2], f"SUBACK {codes}")
    publisher = Client(args.port, version=args.publisher)
    for qos in (0, 1, 2):
        publisher.publish(f"{topic}/q{qos}", f"payload at qos {qos}".encode(), qos=qos)
    for qos in (0, 1, 2):
        message = subscriber.next_message()
        check(message.topic == f"{topic}/q{qos}", f"topic {message.topic}")
        check(message.qos == qos, f"QoS {message.qos} for {message.topic}")
        check(message.payload == f"payload at qos {qos}".encode(), f"payload {message.payload!r}")
        check(not message.retain, "not retained")
    publisher.disconnect()
    subscriber.disconnect()


run(main)
