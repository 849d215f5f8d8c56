"""Helpers shared by the paho-mqtt scripts the end-to-end tests run against gridmq.

Every wait has a timeout; a failed check raises Failure, which `run` prints and turns
into exit code 1.
"""

import argparse
import queue
import socket
import sys
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 10.0
VERSIONS = {"v311": mqtt.MQTTv311, "v5": mqtt.MQTTv5}


class Failure(Exception):
    """A check that did not hold."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def parse_args(add_arguments=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    if add_arguments:
        add_arguments(parser)
    return parser.parse_args()


def unique(prefix):
    """A topic or client id no other run uses."""
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def run(main):
    """Runs `main`, printing what failed; exits 0 on success, 1 on failure."""
    try:
        main()
    except Failure as failure:
        print(f"FAILED: {failure}")
        sys.exit(1)
    print("ok")
    sys.exit(0)


def publish_properties(**values):
    props = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(props, name, value)
    return props


class Client:
    """A paho client on its own network thread, with events on queues."""

    def __init__(self, port, client_id=None, version="v5", clean=True, will=None,
                 connect_properties=None):
        self.version = version
        self.client_id = client_id or unique("py").replace("/", "-")
        protocol = VERSIONS[version]
        kwargs = {"clean_session": clean} if version == "v311" else {}
        self.mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                protocol=protocol, **kwargs)
        self.messages = queue.Queue()
        self.subacks = queue.Queue()
        self.connacks = queue.Queue()
        self.mqtt.on_connect = lambda c, u, flags, rc, props: self.connacks.put((flags, rc, props))
        self.mqtt.on_message = lambda c, u, message: self.messages.put(message)
        self.mqtt.on_subscribe = lambda c, u, mid, codes, props: self.subacks.put(codes)
        if will:
            self.mqtt.will_set(**will)
        connect_kwargs = {"keepalive": 30}
        if version == "v5":
            connect_kwargs["clean_start"] = clean
            connect_kwargs["properties"] = connect_properties
        self.mqtt.connect("127.0.0.1", port, **connect_kwargs)
        self.mqtt.loop_start()
        try:
            flags, rc, props = self.connacks.get(timeout=TIMEOUT)
        except queue.Empty:
            raise Failure(f"{self.client_id}: no CONNACK")
        check(not rc.is_failure, f"{self.client_id}: CONNACK {rc}")
        self.session_present = flags.session_present
        self.connack_properties = props

    def subscribe(self, topic, qos=0, options=None, properties=None):
        """Subscribes and returns the SUBACK reason codes."""
        if options is not None:
            result, _ = self.mqtt.subscribe(topic, options=options, properties=properties)
        else:
            result, _ = self.mqtt.subscribe(topic, qos, properties=properties)
        check(result == mqtt.MQTT_ERR_SUCCESS, f"subscribe {topic}: {result}")
        try:
            return self.subacks.get(timeout=TIMEOUT)
        except queue.Empty:
            raise Failure(f"{self.client_id}: no SUBACK for {topic}")

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        """Publishes and waits until the QoS exchange is complete."""
        info = self.mqtt.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=TIMEOUT)
        check(info.is_published(), f"{self.client_id}: publish to {topic} not completed")

    def next_message(self):
        try:
            return self.messages.get(timeout=TIMEOUT)
        except queue.Empty:
            raise Failure(f"{self.client_id}: no message within {TIMEOUT}s")

    def disconnect(self):
        """A normal DISCONNECT."""
        self.mqtt.disconnect()
        self.mqtt.loop_stop()

    def drop(self):
        """Closes the socket without DISCONNECT, as a crashed client would."""
        sock = self.mqtt.socket()
        self.mqtt.loop_stop()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
