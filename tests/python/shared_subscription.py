"""Shared subscriptions with paho v5: messages to $share/<group>/<filter> are split
between the group's members, each message going to exactly one of them."""

import queue

from common import TIMEOUT, Client, Failure, check, parse_args, run, unique


def main():
    args = parse_args()
    topic = unique("py/shared")
    group = "$share/pygroup/" + topic + "/#"
    arrivals = queue.Queue()
    members = [Client(args.port) for _ in range(2)]
    for index, member in enumerate(members):
        member.mqtt.on_message = lambda c, u, m, index=index: arrivals.put((index, m))
        member.subscribe(group, qos=1)
    publisher = Client(args.port)
    count = 10
    for i in range(count):
        publisher.publish(f"{topic}/{i}", str(i).encode(), qos=1)

    received = [[], []]
    for _ in range(count):
        try:
            index, message = arrivals.get(timeout=TIMEOUT)
        except queue.Empty:
            raise Failure(f"messages missing; got {received}")
        received[index].append(int(message.payload))
    check(sorted(received[0] + received[1]) == list(range(count)),
          f"each exactly once: {received}")
    check(received[0] and received[1], f"both members got some: {received}")
    publisher.disconnect()
    for member in members:
        member.disconnect()


run(main)
