"""Back-pressure for QoS 1/2 (docs/configuration.md, limits.publisher_wait): a subscriber whose
queue is half full holds back the publishers that feed it instead of losing messages they were
told were delivered; one that takes nothing at all stops holding them back after
publisher_wait. Mosquitto drops what overflows its queue, so these are Moat's behaviour."""

import contextlib
import re
import time

import pytest

from support import mqtt_bytes as mb
from support.paho_client import PahoClient
from support.raw_client import open_session
from support.waiting import let_elapse, wait_until

COUNT = 200


def payloads(count: int = COUNT):
    return [f"reading {i}".encode() for i in range(count)]


def publish_in_background(publisher: PahoClient, count: int = COUNT):
    """Hands `count` QoS 1 publishes to paho (its own inflight window sends them) and returns
    their MQTTMessageInfo list: completion is is_published()."""
    return [publisher.client.publish("meters/m1", p, 1) for p in payloads(count)]


def completed(infos) -> int:
    return sum(1 for info in infos if info.is_published())


@contextlib.contextmanager
def stuck_healthy_and_meter(broker, stuck_id: str, healthy_id: str, topic_filter: str, version):
    """A raw session subscribed to `topic_filter` that never reads again, a paho subscriber to
    the same filter, and a connected paho publisher "meter-1" (3.1.1)."""
    with open_session(broker.host, broker.port, stuck_id, version) as stuck, \
            PahoClient(broker.host, broker.port, healthy_id, version) as healthy, \
            PahoClient(broker.host, broker.port, "meter-1", mb.V311) as meter:
        assert stuck.subscribe(1, [(topic_filter, 1)]) == [1]
        healthy.connect()
        healthy.subscribe(topic_filter, 1)
        meter.connect()
        yield healthy, meter


@pytest.mark.moat_only("Mosquitto drops QoS 1 messages past max_queued_messages")
@pytest.mark.limits(max_queued_messages=10, max_inflight=2)
def test_a_slow_subscriber_slows_the_publisher_and_loses_nothing(broker):
    with open_session(broker.host, broker.port, "dashboard", mb.V311) as dashboard, \
            PahoClient(broker.host, broker.port, "meter-1", mb.V311) as meter:
        assert dashboard.subscribe(1, [("meters/#", 1)]) == [1]
        meter.connect()
        infos = publish_in_background(meter)
        # The dashboard reads nothing yet: its queue fills to half, and the meter is held back.
        assert broker.wait_for_log(r'client "dashboard" is not keeping up',
                                   timeout=10)
        # Held: while the dashboard reads nothing, the meter's publishes stay unacknowledged
        # (what was routed before the pause is acknowledged within the first half second).
        let_elapse(time.monotonic(), 0.5)
        held_at, held_count = time.monotonic(), completed(infos)
        let_elapse(held_at, 0.5)
        assert completed(infos) == held_count < COUNT, "the publisher was not held back"
        got = [dashboard.read_publish(timeout=10).payload for _ in range(COUNT)]
        wait_until(lambda: completed(infos) == COUNT, timeout=10,
                   what="every publish of the meter acknowledged")
    assert got == payloads(), "messages lost, duplicated or reordered"
    assert not re.search(r"dropped", broker.log()), "the broker dropped messages"


@pytest.mark.moat_only("Mosquitto drops QoS 1 messages past max_queued_messages")
@pytest.mark.limits(max_queued_messages=10, max_inflight=2, publisher_wait=1)
def test_a_subscriber_that_takes_nothing_holds_publishers_back_only_for_publisher_wait(broker):
    with stuck_healthy_and_meter(broker, "stuck", "dashboard", "meters/#",
                                 mb.V311) as (dashboard, meter):
        # "stuck" never reads again: once its queue has stayed half full for 1 s, the meter
        # goes on.
        meter.publish_many("meters/m1", payloads(), qos=1, timeout=15)
        got = [m.payload for m in dashboard.receive(COUNT, timeout=10)]
    assert got == payloads(), "the healthy subscriber lost messages"
    assert broker.wait_for_log(r'client "stuck": its queue stayed half full for 1 s; publishers '
                               r'no longer wait for it', timeout=5)
    assert broker.wait_for_log(r'client "stuck": QoS 1/2 messages dropped: the session\'s queue '
                               r'is full', timeout=5)


@pytest.mark.moat_only("Mosquitto drops QoS 1 messages past max_queued_messages")
@pytest.mark.limits(max_queued_messages=10, max_inflight=2, publisher_wait=0)
def test_publisher_wait_0_turns_back_pressure_off(broker):
    with open_session(broker.host, broker.port, "stuck", mb.V311) as stuck, \
            PahoClient(broker.host, broker.port, "meter-1", mb.V311) as meter:
        assert stuck.subscribe(1, [("meters/#", 1)]) == [1]
        meter.connect()
        meter.publish_many("meters/m1", payloads(), qos=1, timeout=10)
    assert broker.wait_for_log(r'client "stuck": QoS 1/2 messages dropped', timeout=5)
    assert not re.search(r"not keeping up", broker.log())


@pytest.mark.moat_only("Mosquitto drops QoS 1 messages past max_queued_messages")
@pytest.mark.limits(max_queued_messages=10, max_inflight=2, publisher_wait=30)
def test_a_subscriber_that_goes_away_releases_its_publishers_at_once(broker):
    with open_session(broker.host, broker.port, "dashboard", mb.V311) as dashboard, \
            PahoClient(broker.host, broker.port, "meter-1", mb.V311) as meter:
        assert dashboard.subscribe(1, [("meters/#", 1)]) == [1]
        meter.connect()
        infos = publish_in_background(meter)
        assert broker.wait_for_log(r'client "dashboard" is not keeping up', timeout=10)
        dashboard.abort()
        # Well within publisher_wait (30 s): the session is gone, nobody is waited for.
        wait_until(lambda: completed(infos) == COUNT, timeout=10,
                   what="every publish of the meter acknowledged")
    assert not re.search(r"stayed half full", broker.log())


@pytest.mark.moat_only("Mosquitto drops QoS 1 messages past max_queued_messages")
@pytest.mark.limits(max_queued_messages=10, max_inflight=2, publisher_wait=30)
def test_a_held_back_publisher_keeps_its_connection_and_its_acknowledgements_flow(broker):
    """While its publishes are held, the broker still reads the publisher's PINGREQs and
    PUBACKs: neither side's keep-alive (here 1 s) ends the connection, and the messages the
    publisher itself subscribed to keep arriving."""
    with open_session(broker.host, broker.port, "dashboard", mb.V311) as dashboard, \
            PahoClient(broker.host, broker.port, "meter-1", mb.V311, keepalive=1) as meter:
        assert dashboard.subscribe(1, [("meters/#", 1)]) == [1]
        meter.connect()
        meter.subscribe("commands/meter-1", 1)
        infos = publish_in_background(meter)
        assert broker.wait_for_log(r'client "dashboard" is not keeping up', timeout=10)
        held_at = time.monotonic()
        with PahoClient(broker.host, broker.port, "operator", mb.V311) as operator:
            operator.connect()
            operator.publish_many("commands/meter-1", [b"c%d" % i for i in range(30)], qos=1)
        assert [m.payload for m in meter.receive(30)] == [b"c%d" % i for i in range(30)]
        let_elapse(held_at, 3.0)  # three keep-alive periods held back
        assert meter.client.is_connected()
        assert completed(infos) < COUNT, "the publisher was not held back"
        got = [dashboard.read_publish(timeout=10).payload for _ in range(COUNT)]
        wait_until(lambda: completed(infos) == COUNT, timeout=10,
                   what="every publish of the meter acknowledged")
    assert got == payloads()
    assert not re.search(r'"meter-1".*(keep-alive timeout|connection lost)', broker.log())


@pytest.mark.moat_only("Mosquitto drops QoS 1 messages past max_queued_messages")
@pytest.mark.limits(max_queued_messages=100, max_inflight=2, publisher_wait=30)
def test_a_slow_member_of_a_shared_subscription_does_not_hold_the_group_back(broker):
    """Round-robin skips a member that is not keeping up while another has room, so the
    publisher is not held for the slow one (publisher_wait is 30 s here): the stuck member
    gets messages only until it is congested (half of 100 queued, 2 in flight)."""
    with stuck_healthy_and_meter(broker, "worker-stuck", "worker-ok", "$share/workers/meters/#",
                                 mb.V5) as (ok, meter):
        meter.publish_many("meters/m1", payloads(), qos=1, timeout=10)
        held_by_stuck = 2 + 100 // 2
        got = ok.receive(COUNT - held_by_stuck - 1)  # the one that made it congested, at most
        assert all(m.payload in payloads() for m in got)
    assert broker.wait_for_log(r'client "worker-stuck" is not keeping up', timeout=5)
    assert not re.search(r"dropped|stayed half full", broker.log())
