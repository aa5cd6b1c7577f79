"""SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK (MQTT 3.1.1 section 3.8-3.11, MQTT 5.0 section
3.8-3.11), exact bytes."""

import pytest

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.mqtt_bytes import Prop
from support.raw_client import open_session


def session(broker, version, client_id="subscriber"):
    return open_session(broker.host, broker.port, client_id, version)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqtt311_suback_grants_the_requested_qos(broker, qos):
    with session(broker, mb.V311) as conn:
        conn.send(mb.subscribe(0x1234, [("a/b", qos)]))
        conn.expect(f"90 03 12 34 0{qos}")


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqtt5_suback_grants_the_requested_qos_after_empty_properties(broker, qos):
    with session(broker, mb.V5) as conn:
        conn.send(mb.subscribe(0x1234, [("a/b", qos)], mb.V5))
        conn.expect(f"90 04 12 34 00 0{qos}")


@both_versions
def test_suback_has_one_code_per_filter_in_order(broker, version):
    props = "00 " if version == mb.V5 else ""
    length = "06" if version == mb.V5 else "05"
    with session(broker, version) as conn:
        conn.send(mb.subscribe(7, [("a/#", 2), ("+/b", 0), ("c", 1)], version))
        conn.expect(f"90 {length} 00 07 {props}02 00 01")


@pytest.mark.moat_only("mosquitto disconnects on an invalid filter")
@pytest.mark.parametrize("bad_filter", ["a/#/b", "a+", "a/b#", "#/a"])
def test_mqtt311_invalid_filter_is_refused_with_0x80_and_others_still_granted(broker,
                                                                              bad_filter):
    with session(broker, mb.V311) as conn:
        conn.send(mb.subscribe(2, [("ok/1", 1), (bad_filter, 1), ("ok/2", 2)]))
        conn.expect("90 05 00 02 01 80 02")


@pytest.mark.moat_only("mosquitto disconnects on an invalid filter")
@pytest.mark.parametrize("bad_filter", ["a/#/b", "a+", "a/b#", "#/a"])
def test_mqtt5_invalid_filter_is_refused_with_0x8f_and_others_still_granted(broker,
                                                                            bad_filter):
    with session(broker, mb.V5) as conn:
        conn.send(mb.subscribe(2, [("ok/1", 1), (bad_filter, 1), ("ok/2", 2)], mb.V5))
        conn.expect("90 06 00 02 00 01 8F 02")


@both_versions
def test_subscribing_again_to_the_same_filter_replaces_the_subscription(broker, version):
    """[MQTT-3.8.4-3]: one subscription per filter; a message is delivered once, at the new
    QoS."""
    with session(broker, version) as conn:
        assert conn.subscribe(1, [("a/b", 0)]) == [0]
        assert conn.subscribe(2, [("a/b", 1)]) == [1]
        conn.send(mb.publish("a/b", b"x", qos=1, packet_id=9, version=version))
        seen = []
        for _ in range(2):  # the PUBACK to us and the single delivery, in either order
            pkt = conn.read_packet()
            seen.append(pkt.type)
            if pkt.type == mb.PUBLISH:
                message = mb.parse_publish(pkt, version)
                assert message.qos == 1
                conn.send(mb.puback(message.packet_id))
        assert sorted(seen) == [mb.PUBLISH, mb.PUBACK]
        conn.send(mb.publish("a/b", b"end", version=version))
        assert conn.read_publish().payload == b"end"


def test_mqtt311_unsuback_echoes_the_packet_id(broker):
    with session(broker, mb.V311) as conn:
        conn.subscribe(1, [("a/b", 0)])
        conn.send(mb.unsubscribe(0x0102, ["a/b"]))
        conn.expect("B0 02 01 02")
        conn.send(mb.unsubscribe(0x0103, ["never/subscribed"]))
        conn.expect("B0 02 01 03")


def test_mqtt5_unsuback_reports_success_for_an_existing_subscription(broker):
    with session(broker, mb.V5) as conn:
        conn.subscribe(1, [("a/b", 0)])
        conn.send(mb.unsubscribe(0x0102, ["a/b"], mb.V5))
        conn.expect("B0 04 01 02 00 00")


def test_mqtt5_unsuback_reports_no_subscription_existed(broker):
    with session(broker, mb.V5) as conn:
        conn.send(mb.unsubscribe(0x0102, ["never/subscribed"], mb.V5))
        conn.expect("B0 04 01 02 00 11")


def test_mqtt5_unsuback_has_one_code_per_filter_in_order(broker):
    with session(broker, mb.V5) as conn:
        conn.subscribe(1, [("a/b", 0), ("c/d", 0)])
        conn.send(mb.unsubscribe(3, ["a/b", "x", "c/d"], mb.V5))
        conn.expect("B0 06 00 03 00 00 11 00")


@both_versions
def test_unsubscribed_filter_no_longer_receives_messages(broker, version):
    with session(broker, version) as conn:
        conn.subscribe(1, [("a/b", 0), ("fence", 0)])
        conn.send(mb.unsubscribe(2, ["a/b"], version))
        conn.read_packet_of_type(mb.UNSUBACK)
        conn.send(mb.publish("a/b", b"gone", version=version))
        conn.send(mb.publish("fence", b"end", version=version))
        message = conn.read_publish()
        assert (message.topic, message.payload) == (b"fence", b"end")


@pytest.mark.moat_only("mosquitto disconnects on an invalid filter")
@pytest.mark.parametrize("bad_filter", ["a/#/b", "a+", "a/b#", "#/a"])
def test_mqtt5_unsubscribe_of_an_invalid_filter_is_answered_with_0x8f(broker, bad_filter):
    """UNSUBACK has one reason code per filter (spec 3.11.3): 0x8F Topic Filter invalid for a
    filter that breaks the wildcard rules (spec 4.7.1), the others as usual.
    regression: review finding 10."""
    with session(broker, mb.V5) as conn:
        conn.subscribe(1, [("ok/1", 0)])
        conn.send(mb.unsubscribe(1, [bad_filter], mb.V5))
        conn.expect("B0 04 00 01 00 8F")
        conn.send(mb.unsubscribe(2, ["ok/1", bad_filter, "never/subscribed"], mb.V5))
        conn.expect("B0 06 00 02 00 00 8F 11")


@pytest.mark.moat_only("mosquitto answers with a SUBACK, not DISCONNECT 0x82")
def test_mqtt5_subscribe_with_no_local_on_a_shared_filter_is_refused_as_a_whole(broker):
    """[MQTT-3.8.3-4] No Local on a Shared Subscription is a Protocol Error: DISCONNECT 0x82.
    The SUBSCRIBE is refused whole, so a valid filter before the shared one was not subscribed
    either, as the resumed session shows. regression: review finding 11."""
    expiry = [(Prop.SESSION_EXPIRY_INTERVAL, 60)]
    with open_session(broker.host, broker.port, "mixed", mb.V5, props=expiry) as conn:
        conn.send(mb.subscribe(1, [("a/b", 1),
                                   ("$share/g/c/d", mb.subscribe_options(qos=1, no_local=True))],
                               mb.V5))
        conn.expect_disconnect(mb.V5, 0x82)
    with open_session(broker.host, broker.port, "mixed", mb.V5, clean=False,
                      props=expiry) as back:
        assert back.connack.session_present
        back.subscribe(2, [("fence", 0)])
        back.send(mb.publish("a/b", b"must not arrive", version=mb.V5))
        back.send(mb.publish("fence", b"end", version=mb.V5))
        message = back.read_publish()
        assert (message.topic, message.payload) == (b"fence", b"end")


@pytest.mark.moat_only("max_subscriptions_per_session is a Moat limit")
@pytest.mark.limits(max_subscriptions_per_session=2)
@both_versions
def test_subscription_beyond_max_subscriptions_per_session_is_refused(broker, version):
    """A third distinct filter is refused: 5.0 0x97 Quota exceeded, 3.1.1 0x80 Failure (its
    only refusal). Subscribing again to a filter the session has replaces it [MQTT-3.8.4-3] and
    is still granted; unsubscribing frees a place. regression: review finding 13."""
    if version == mb.V5:
        three, two, refused = "90 06 00 01 00", "90 05 00 02 00", "97"
    else:
        three, two, refused = "90 05 00 01", "90 04 00 02", "80"
    with session(broker, version) as conn:
        conn.send(mb.subscribe(1, [("a", 0), ("b", 1), ("c", 2)], version))
        conn.expect(f"{three} 00 01 {refused}")
        conn.send(mb.subscribe(2, [("a", 2), ("d", 0)], version))
        conn.expect(f"{two} 02 {refused}")
        conn.send(mb.publish("c", b"refused", version=version))
        conn.send(mb.publish("d", b"refused", version=version))
        conn.send(mb.publish("b", b"fence", version=version))
        message = conn.read_publish()
        assert (message.topic, message.payload) == (b"b", b"fence")
        conn.send(mb.unsubscribe(3, ["b"], version))
        conn.read_packet_of_type(mb.UNSUBACK)
        assert conn.subscribe(4, [("c", 1)]) == [1]
