"""Message Expiry Interval (MQTT 5.0 section 3.3.2.3.3): a message that expires while queued
for an offline session is not delivered; one that is delivered carries what is left of its
lifetime."""

import time

import pytest

from support import mqtt_bytes as mb
from support.paho_client import PahoClient, prop
from support.waiting import let_elapse


def meter(broker):
    return PahoClient(broker.host, broker.port, "meter_001", mb.V5, clean=False,
                      session_expiry=300)


def queue_for_offline_meter(broker, messages):
    """Makes meter_001's session (subscribed to prices/#), leaves, and publishes `messages`
    as (topic, payload, expiry or None) at QoS 1 while it is away. Returns when they were sent."""
    with meter(broker) as m:
        m.connect()
        m.subscribe("prices/#", 1)
        m.disconnect()
    with PahoClient(broker.host, broker.port, "utility", mb.V5) as utility:
        utility.connect()
        for topic, payload, expiry in messages:
            props = {"MessageExpiryInterval": expiry} if expiry is not None else {}
            utility.publish(topic, payload, qos=1, **props)
    return time.monotonic()


def test_mqtt5_queued_message_that_expired_offline_is_not_delivered(broker):
    sent_at = queue_for_offline_meter(broker, [("prices/flash", b"0.01", 1),
                                               ("prices/day", b"0.31", None)])
    let_elapse(sent_at, 2.0)  # the 1 s expiry under test
    with meter(broker) as back:
        assert back.connect().session_present
        back.subscribe("fence", 0)
        back.publish("fence", b"end")
        got = back.receive_until("fence")
    assert [(m.topic, m.payload) for m in got] == [("prices/day", b"0.31"), ("fence", b"end")]


def test_mqtt5_queued_message_is_delivered_with_its_expiry_reduced_by_the_wait(broker):
    sent_at = queue_for_offline_meter(broker, [("prices/week", b"0.29", 60)])
    let_elapse(sent_at, 2.0)
    with meter(broker) as back:
        back.connect()
        message = back.next_message()
    assert message.payload == b"0.29"
    remaining = prop(message, "MessageExpiryInterval")
    assert remaining is not None, "the expiry interval was dropped"
    assert 50 <= remaining <= 59, f"expiry {remaining}, expected 60 minus about 2 s"


def test_mqtt5_live_message_keeps_its_expiry_interval(broker):
    with PahoClient(broker.host, broker.port, "display", mb.V5) as sub, \
            PahoClient(broker.host, broker.port, "utility", mb.V5) as pub:
        sub.connect()
        sub.subscribe("prices/#", 1)
        pub.connect()
        pub.publish("prices/day", b"0.31", qos=1, MessageExpiryInterval=120)
        remaining = prop(sub.next_message(), "MessageExpiryInterval")
    assert remaining is not None and 115 <= remaining <= 120


@pytest.mark.moat_only("mosquitto 2.0 counts expired messages against max_queued_messages")
@pytest.mark.limits(max_queued_messages=5)
def test_mqtt5_expired_messages_do_not_hold_places_in_a_full_queue(broker):
    """An expired message is never delivered (spec 3.3.2.3.3), so it must not keep a later one
    out of the offline session's queue: with max_queued_messages = 5 filled by five messages
    that expired, three new ones are still queued and are all the meter gets.
    regression: review finding 8."""
    sent_at = queue_for_offline_meter(
        broker, [("prices/flash", f"old {i}".encode(), 1) for i in range(5)])
    let_elapse(sent_at, 2.0)  # the 1 s expiry under test
    with PahoClient(broker.host, broker.port, "utility", mb.V5) as utility:
        utility.connect()
        for i in range(3):
            utility.publish("prices/day", f"new {i}".encode(), qos=1)
    with meter(broker) as back:
        assert back.connect().session_present
        back.subscribe("fence", 0)
        back.publish("fence", b"end")
        got = back.receive_until("fence")
    assert [(m.topic, m.payload) for m in got] == [
        ("prices/day", b"new 0"), ("prices/day", b"new 1"), ("prices/day", b"new 2"),
        ("fence", b"end")]
