"""Shared subscriptions (MQTT 5.0 section 4.8.2): the members of "$share/g/work/#" split the
messages between them, each message to exactly one member, while an ordinary subscriber to the
same topics still gets every message."""

import queue
import time

from support import mqtt_bytes as mb
from support.paho_client import PahoClient

JOBS = [f"job {i:03d}".encode() for i in range(60)]


def connected(broker, client_id):
    c = PahoClient(broker.host, broker.port, client_id, mb.V5)
    c.connect()
    return c


def collect_together(clients):
    """Routes the messages of several clients into one queue of (client id, message), so a
    test can wait for the group's total with one deadline."""
    shared = queue.Queue()
    for c in clients:
        c.client.on_message = (lambda _c, _u, message, cid=c.client_id:
                               shared.put((cid, message)))
    return shared


def receive_shares(shared, total, timeout=10.0):
    deadline = time.monotonic() + timeout
    got = {}
    for received in range(total):
        try:
            cid, message = shared.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise AssertionError(f"{received} of {total} messages within {timeout}s") from None
        got.setdefault(cid, []).append(message.payload)
    return got


def test_mqtt5_shared_subscribers_each_get_a_share_and_together_every_message_once(broker):
    with connected(broker, "worker-a") as a, connected(broker, "worker-b") as b, \
            connected(broker, "auditor") as auditor, connected(broker, "dispatcher") as pub:
        shared = collect_together([a, b])
        assert a.subscribe("$share/g/work/#", 1) == [1]
        assert b.subscribe("$share/g/work/#", 1) == [1]
        auditor.subscribe("work/#", 1)
        for i, job in enumerate(JOBS):
            pub.publish(f"work/queue/{i % 3}", job, qos=1)

        shares = receive_shares(shared, len(JOBS))
        audited = auditor.receive(len(JOBS))

    share_a, share_b = shares.get("worker-a", []), shares.get("worker-b", [])
    assert share_a and share_b, f"one member got nothing: a={len(share_a)} b={len(share_b)}"
    assert sorted(share_a + share_b) == JOBS, "some message missing or delivered twice"
    assert [m.payload for m in audited] == JOBS
    # each member sees its share in publish order
    assert share_a == sorted(share_a) and share_b == sorted(share_b)


def test_mqtt5_shared_subscription_delivers_the_real_topic(broker):
    with connected(broker, "worker") as worker, connected(broker, "dispatcher") as pub:
        worker.subscribe("$share/g/work/#", 0)
        pub.publish("work/queue/1", b"job")
        message = worker.next_message()
    assert message.topic == "work/queue/1"


def test_mqtt5_different_share_groups_each_get_every_message(broker):
    with connected(broker, "billing") as billing, connected(broker, "metrics") as metrics, \
            connected(broker, "dispatcher") as pub:
        billing.subscribe("$share/billing/work/#", 1)
        metrics.subscribe("$share/metrics/work/#", 1)
        for job in JOBS[:10]:
            pub.publish("work/queue/0", job, qos=1)
        assert [m.payload for m in billing.receive(10)] == JOBS[:10]
        assert [m.payload for m in metrics.receive(10)] == JOBS[:10]


def test_mqtt5_shared_and_ordinary_subscription_of_one_session_each_deliver_a_copy(broker):
    """A client with a Shared and a Non-shared Subscription matching a message receives a copy
    by virtue of the non-shared one, and a second copy when the group picks it (spec 4.8.2):
    here it is the group's only member, so it gets two. regression: review finding 12."""
    with connected(broker, "worker") as worker, connected(broker, "dispatcher") as pub:
        assert worker.subscribe("$share/g/work/queue", 1) == [1]
        assert worker.subscribe("work/queue", 1) == [1]
        worker.subscribe("fence", 0)
        pub.publish("work/queue", b"job", qos=1)
        pub.publish("fence", b"end")
        got = worker.receive_until("fence")
    assert [(m.topic, m.payload) for m in got] == [
        ("work/queue", b"job"), ("work/queue", b"job"), ("fence", b"end")]
