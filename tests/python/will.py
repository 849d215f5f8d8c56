"""Wills with paho (v311 or v5): published when a client drops its connection, not
when it disconnects normally; v5 will properties arrive with the will."""

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common import Client, check, parse_args, run, unique


def main():
    args = parse_args(lambda p: p.add_argument("--version", choices=["v311", "v5"], default="v5"))
    topic = unique("py/will")
    watcher = Client(args.port, version=args.version)
    watcher.subscribe(topic + "/#", qos=1)

    will_properties = None
    if args.version == "v5":
        will_properties = Properties(PacketTypes.WILLMESSAGE)
        will_properties.ContentType = "text/plain"
        will_properties.UserProperty = [("reason", "crash")]

    polite = Client(args.port, version=args.version,
                    will={"topic": topic + "/polite", "payload": b"never sent", "qos": 1})
    polite.disconnect()

    crashing = Client(args.port, version=args.version,
                      will={"topic": topic + "/crash", "payload": b"gone", "qos": 1,
                            "properties": will_properties})
    crashing.drop()

    message = watcher.next_message()
    check(message.topic == topic + "/crash", f"first will on {message.topic}")
    check(message.payload == b"gone", f"payload {message.payload!r}")
    if args.version == "v5":
        check(message.properties.ContentType == "text/plain", "will Content Type")
        check(message.properties.UserProperty == [("reason", "crash")], "will User Property")
    watcher.disconnect()


run(main)
