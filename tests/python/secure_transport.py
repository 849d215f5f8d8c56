"""paho-mqtt against gridmq over TLS, mutual TLS, WebSocket and secure WebSocket.

Connects, subscribes at QoS 1, publishes at QoS 1 and waits for the message to come
back. Exits 0 on success, 1 with a reason otherwise. Every wait has a timeout.
"""

import argparse
import queue
import ssl
import sys
import uuid

import paho.mqtt.client as mqtt

TIMEOUT = 10.0
VERSIONS = {"v311": mqtt.MQTTv311, "v5": mqtt.MQTTv5}


def fail(message):
    print(f"FAILED: {message}")
    sys.exit(1)


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=["tcp", "websockets"], default="tcp")
    parser.add_argument("--path", default="/mqtt")
    parser.add_argument("--version", choices=sorted(VERSIONS), default="v311")
    parser.add_argument("--cafile", help="turns TLS on: the CA to verify the broker with")
    parser.add_argument("--certfile", help="client certificate for mutual TLS")
    parser.add_argument("--keyfile", help="client key for mutual TLS")
    return parser.parse_args()


def main():
    args = parse_args()
    client_id = f"paho-{args.transport}-{uuid.uuid4().hex[:8]}"
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=VERSIONS[args.version],
        transport=args.transport,
    )
    if args.transport == "websockets":
        client.ws_set_options(path=args.path)
    if args.cafile:
        client.tls_set(
            ca_certs=args.cafile,
            certfile=args.certfile,
            keyfile=args.keyfile,
            cert_reqs=ssl.CERT_REQUIRED,
        )

    connacks, subacks, messages = queue.Queue(), queue.Queue(), queue.Queue()
    client.on_connect = lambda c, u, flags, reason, props: connacks.put(reason)
    client.on_subscribe = lambda c, u, mid, reasons, props: subacks.put(reasons)
    client.on_message = lambda c, u, message: messages.put(message)

    try:
        client.connect(args.host, args.port, keepalive=30)
    except (OSError, ssl.SSLError) as error:
        fail(f"connect: {error}")
    client.loop_start()
    try:
        reason = connacks.get(timeout=TIMEOUT)
        if reason.is_failure:
            fail(f"CONNACK {reason}")
        topic = f"paho/{args.transport}/{uuid.uuid4().hex[:8]}"
        client.subscribe(topic, qos=1)
        granted = subacks.get(timeout=TIMEOUT)
        if any(r.is_failure for r in granted):
            fail(f"SUBACK {granted}")
        info = client.publish(topic, b"secure transport", qos=1)
        info.wait_for_publish(timeout=TIMEOUT)
        message = messages.get(timeout=TIMEOUT)
        if message.payload != b"secure transport":
            fail(f"payload {message.payload!r}")
    except queue.Empty:
        fail("timed out waiting for the broker")
    finally:
        client.disconnect()
        client.loop_stop()
    print(f"ok: {args.transport} {args.version} tls={bool(args.cafile)} mutual={bool(args.certfile)}")


if __name__ == "__main__":
    main()
