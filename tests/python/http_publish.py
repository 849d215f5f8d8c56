"""HTTP Publish seen by paho subscribers: a request shaped like Event Grid's sample, sent
with Python's urllib, arrives at an MQTT 5 subscriber with every property mapped (Response
Topic, Correlation Data, User Properties in order, Content Type, Message Expiry Interval,
Payload Format Indicator) and at an MQTT 3.1.1 subscriber with its payload and QoS."""

import base64
import json
import urllib.parse
import urllib.request

from common import Client, check, parse_args, run, unique


def add_http_port(parser):
    parser.add_argument("--http-port", type=int, required=True)


def main():
    args = parse_args(add_http_port)
    topic = unique("py/http")
    v5 = Client(args.port, version="v5")
    v5.subscribe(topic, qos=1)
    v311 = Client(args.port, version="v311")
    v311.subscribe(topic, qos=1)

    user_properties = [{"Urgency": "alert"}, {"RequestId": "55f4"}, {"Urgency": "again"}]
    query = urllib.parse.urlencode({"topic": topic, "api-version": "2025-02-15-preview"},
                                   quote_via=urllib.parse.quote, safe="")
    request = urllib.request.Request(
        f"http://127.0.0.1:{args.http_port}/mqtt/messages?{query}",
        data="Please accept terms of licensing and agreement".encode(),
        method="POST",
        headers={
            "mqtt-qos": "1",
            "mqtt-retain": "0",
            "mqtt-response-topic": urllib.parse.quote(topic + "/reply", safe=""),
            "mqtt-correlation-data": base64.b64encode(b"\x00corr\xff").decode(),
            "mqtt-user-properties": base64.b64encode(json.dumps(user_properties).encode()).decode(),
            "mqtt-message-expiry": "120",
            "mqtt-payload-format-indicator": "1",
            "Content-Type": "text/plain;charset=UTF-8",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        check(response.status == 204, f"HTTP status {response.status}")

    message = v5.next_message()
    got = message.properties
    check(message.payload == b"Please accept terms of licensing and agreement",
          f"payload {message.payload!r}")
    check(message.qos == 1, f"QoS {message.qos}")
    check(got.ResponseTopic == topic + "/reply", f"Response Topic {got.ResponseTopic!r}")
    check(got.CorrelationData == b"\x00corr\xff", f"Correlation Data {got.CorrelationData!r}")
    check(got.UserProperty == [("Urgency", "alert"), ("RequestId", "55f4"), ("Urgency", "again")],
          f"User Properties {got.UserProperty!r}")
    check(got.ContentType == "text/plain;charset=UTF-8", f"Content Type {got.ContentType!r}")
    check(110 <= got.MessageExpiryInterval <= 120, f"expiry {got.MessageExpiryInterval}")
    check(got.PayloadFormatIndicator == 1, "Payload Format Indicator")

    old = v311.next_message()
    check(old.payload == message.payload, f"v3.1.1 payload {old.payload!r}")
    check(old.qos == 1, f"v3.1.1 QoS {old.qos}")

    v5.disconnect()
    v311.disconnect()


run(main)
