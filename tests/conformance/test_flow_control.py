"""Flow control and topic aliases (MQTT 5.0 section 3.3.2.3.4, 4.9; MQTT 3.1.1 section 4.4):
the limits a broker announces and what happens when a client goes past them, exact bytes."""

import pytest

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.mqtt_bytes import Prop
from support.raw_client import open_session

PROTOCOL_ERROR = 0x82
RECEIVE_MAXIMUM_EXCEEDED = 0x93
TOPIC_ALIAS_INVALID = 0x94


# -- receive maximum: the broker's window for QoS > 0 publishes from a client ---------------

@pytest.mark.moat_only("mosquitto has no setting for the broker's Receive Maximum")
@pytest.mark.limits(receive_maximum=2)
def test_mqtt5_client_exceeding_the_receive_maximum_is_disconnected(broker):
    """QoS 2 publishes stay unacknowledged until PUBREL, so three without PUBREL are three in
    flight against a window of two."""
    with open_session(broker.host, broker.port, "eager", mb.V5) as conn:
        assert mb.prop_value(conn.connack.props, Prop.RECEIVE_MAXIMUM) == 2
        for packet_id in (1, 2):
            conn.send(mb.publish("a/b", b"x", qos=2, packet_id=packet_id, version=mb.V5))
            assert conn.read_packet_of_type(mb.PUBREC).body[:2] == mb.u16(packet_id)
        conn.send(mb.publish("a/b", b"x", qos=2, packet_id=3, version=mb.V5))
        conn.expect_disconnect(mb.V5, RECEIVE_MAXIMUM_EXCEEDED)


@pytest.mark.moat_only("mosquitto has no setting for the broker's Receive Maximum")
@pytest.mark.limits(receive_maximum=2)
def test_mqtt5_completed_exchanges_free_the_receive_window(broker):
    with open_session(broker.host, broker.port, "steady", mb.V5) as conn:
        for packet_id in range(1, 6):
            conn.send(mb.publish("a/b", b"x", qos=2, packet_id=packet_id, version=mb.V5))
            conn.read_packet_of_type(mb.PUBREC)
            conn.send(mb.pubrel(packet_id))
            conn.expect(mb.pubcomp(packet_id))


# -- inflight window: QoS > 0 deliveries towards one client ---------------------------------

@both_versions
@pytest.mark.limits(max_inflight=2)
def test_broker_keeps_at_most_max_inflight_unacknowledged_deliveries(broker, version):
    with open_session(broker.host, broker.port, "slow", version) as sub, \
            open_session(broker.host, broker.port, "fast", version) as pub:
        sub.subscribe(1, [("a/b", 1)])
        for packet_id in (1, 2, 3):
            pub.send(mb.publish("a/b", bytes([packet_id]), qos=1, packet_id=packet_id,
                                version=version))
            pub.read_packet_of_type(mb.PUBACK)
        first = sub.read_publish(ack=False)
        second = sub.read_publish(ack=False)
        assert (first.payload, second.payload) == (b"\x01", b"\x02")
        sub.expect_open_for(0.5)  # the third waits for a slot
        sub.send(mb.puback(first.packet_id))
        third = sub.read_publish(ack=False)
        assert third.payload == b"\x03"


def test_mqtt5_client_receive_maximum_limits_unacknowledged_deliveries(broker):
    with open_session(broker.host, broker.port, "small-window", mb.V5,
                      props=[(Prop.RECEIVE_MAXIMUM, 1)]) as sub, \
            open_session(broker.host, broker.port, "fast", mb.V5) as pub:
        sub.subscribe(1, [("a/b", 1)])
        for packet_id in (1, 2):
            pub.send(mb.publish("a/b", bytes([packet_id]), qos=1, packet_id=packet_id,
                                version=mb.V5))
            pub.read_packet_of_type(mb.PUBACK)
        first = sub.read_publish(ack=False)
        assert first.payload == b"\x01"
        sub.expect_open_for(0.5)
        sub.send(mb.puback(first.packet_id))
        assert sub.read_publish(ack=False).payload == b"\x02"


@pytest.mark.moat_only("mosquitto 2.0 resends more than the new Receive Maximum at once")
def test_mqtt5_resent_deliveries_after_a_reconnect_respect_the_new_receive_maximum(broker):
    """A resumed session resends its unacknowledged PUBLISH packets with DUP set, in order and
    with their packet ids [MQTT-4.4.0-1], but no more at once than the Receive Maximum of the
    new connection [MQTT-3.3.4-7]: 10 unacknowledged and Receive Maximum 2 means 2, then one
    per PUBACK. regression: review finding 7."""
    expiry = (Prop.SESSION_EXPIRY_INTERVAL, 60)
    with open_session(broker.host, broker.port, "resumer", mb.V5,
                      props=[expiry, (Prop.RECEIVE_MAXIMUM, 10)]) as first, \
            open_session(broker.host, broker.port, "fast", mb.V5) as pub:
        first.subscribe(1, [("a/b", 1)])
        for i in range(10):
            pub.send(mb.publish("a/b", b"m%d" % i, qos=1, packet_id=i + 1, version=mb.V5))
            pub.read_packet_of_type(mb.PUBACK)
        original = [first.read_publish(ack=False) for _ in range(10)]
    # closed without DISCONNECT and without a single PUBACK: 10 deliveries unacknowledged
    with open_session(broker.host, broker.port, "resumer", mb.V5, clean=False,
                      props=[expiry, (Prop.RECEIVE_MAXIMUM, 2)]) as back:
        assert back.connack.session_present
        resent = [back.read_publish(ack=False) for _ in range(2)]
        back.expect_open_for(0.5)  # the window of 2 is full
        back.send(mb.puback(resent[0].packet_id))
        resent.append(back.read_publish(ack=False))
        back.expect_open_for(0.5)  # one PUBACK, one more
        for acked in range(1, 10):
            back.send(mb.puback(resent[acked].packet_id))
            if len(resent) < 10:
                resent.append(back.read_publish(ack=False))
        back.send("C0 00")
        back.expect("D0 00")  # nothing else came
    assert [m.payload for m in resent] == [b"m%d" % i for i in range(10)]
    assert all(m.dup and m.qos == 1 for m in resent), "resent without DUP"
    assert [m.packet_id for m in resent] == [m.packet_id for m in original]


# -- topic aliases from the client ----------------------------------------------------------

def test_mqtt5_topic_alias_set_then_used_alone_publishes_to_the_aliased_topic(broker):
    with open_session(broker.host, broker.port, "sub", mb.V5) as sub, \
            open_session(broker.host, broker.port, "aliaser", mb.V5) as pub:
        sub.subscribe(1, [("a/b", 0)])
        pub.send(mb.publish("a/b", b"one", version=mb.V5, props=[(Prop.TOPIC_ALIAS, 1)]))
        pub.send(mb.publish("", b"two", version=mb.V5, props=[(Prop.TOPIC_ALIAS, 1)]))
        sub.expect("30 09 00 03 61 2F 62 00 6F 6E 65")
        sub.expect("30 09 00 03 61 2F 62 00 74 77 6F")


@pytest.mark.parametrize("alias", [
    pytest.param(0, id="zero", marks=pytest.mark.moat_only("mosquitto sends 0x81")),
    pytest.param(11, id="above-maximum"),
])
def test_mqtt5_topic_alias_outside_the_announced_range_is_refused(broker, alias):
    with open_session(broker.host, broker.port, "aliaser", mb.V5) as conn:
        conn.send(mb.publish("a/b", b"x", version=mb.V5, props=[(Prop.TOPIC_ALIAS, alias)]))
        conn.expect_disconnect(mb.V5, TOPIC_ALIAS_INVALID)


def test_mqtt5_publish_with_empty_topic_and_no_alias_is_a_protocol_error(broker):
    with open_session(broker.host, broker.port, "aliaser", mb.V5) as conn:
        conn.send(mb.publish("", b"x", version=mb.V5))
        conn.expect_disconnect(mb.V5, PROTOCOL_ERROR)


def test_mqtt5_publish_with_empty_topic_and_an_unset_alias_is_a_protocol_error(broker):
    with open_session(broker.host, broker.port, "aliaser", mb.V5) as conn:
        conn.send(mb.publish("", b"x", version=mb.V5, props=[(Prop.TOPIC_ALIAS, 3)]))
        conn.expect_disconnect(mb.V5, PROTOCOL_ERROR)


def test_mqtt311_publish_with_empty_topic_ends_the_connection(broker):
    with open_session(broker.host, broker.port, "empty", mb.V311) as conn:
        conn.send(mb.publish("", b"x"))
        conn.expect_closed()
