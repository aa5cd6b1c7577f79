"""PUBLISH and its acknowledgements (MQTT 3.1.1 section 3.3-3.7, 4.3; MQTT 5.0 section 3.3-3.7,
4.3), exact bytes in both directions.

The subscriber's topic is "a/b" (00 03 61 2F 62) and the payload "hi" (68 69) unless a test
says otherwise, so the expected deliveries can be read byte by byte.
"""

import pytest

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.mqtt_bytes import Prop
from support.raw_client import RawSession, open_session

TOPIC_AB = "00 03 61 2F 62"
HI = "68 69"


def subscriber(broker, version, qos=0, topic="a/b", client_id="sub", props=None,
               options=None) -> RawSession:
    conn = open_session(broker.host, broker.port, client_id, version)
    granted = conn.subscribe(1, [(topic, qos if options is None else options)], props)
    assert granted == [qos]
    return conn


def publisher(broker, version, client_id="pub") -> RawSession:
    return open_session(broker.host, broker.port, client_id, version)


def publish_and_complete(pub: RawSession, topic, payload, qos, packet_id=1, **kwargs) -> None:
    """Publishes and runs the publisher's side of the QoS exchange to its end. A broker may
    forward a QoS 2 message on PUBLISH or only on PUBREL (spec 4.3.3), so a test that waits for
    the delivery completes the exchange first."""
    pub.send(mb.publish(topic, payload, qos=qos, packet_id=packet_id if qos else None,
                        version=pub.version, **kwargs))
    if qos == 1:
        pub.read_packet_of_type(mb.PUBACK)
    elif qos == 2:
        pub.read_packet_of_type(mb.PUBREC)
        pub.send(mb.pubrel(packet_id))
        pub.expect(mb.pubcomp(packet_id))


# -- acknowledgements to the publisher ------------------------------------------------------

def test_mqtt311_qos1_publish_is_acknowledged_with_puback(broker):
    with publisher(broker, mb.V311) as pub:
        pub.send(mb.publish("a/b", b"hi", qos=1, packet_id=1))
        pub.expect("40 02 00 01")


def test_mqtt5_qos1_publish_without_subscribers_gets_no_matching_subscribers(broker):
    with publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", qos=1, packet_id=1, version=mb.V5))
        pub.expect("40 03 00 01 10")


def test_mqtt5_qos1_publish_with_a_subscriber_gets_a_success_puback(broker):
    with subscriber(broker, mb.V5), publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", qos=1, packet_id=1, version=mb.V5))
        pub.expect("40 02 00 01")


def test_mqtt311_qos2_publish_runs_pubrec_pubrel_pubcomp(broker):
    with publisher(broker, mb.V311) as pub:
        pub.send(mb.publish("a/b", b"hi", qos=2, packet_id=1))
        pub.expect("50 02 00 01")
        pub.send("62 02 00 01")
        pub.expect("70 02 00 01")


@pytest.mark.moat_only("mosquitto's PUBREC carries no reason code here")
def test_mqtt5_qos2_publish_without_subscribers_runs_pubrec_pubrel_pubcomp(broker):
    with publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", qos=2, packet_id=1, version=mb.V5))
        pub.expect("50 03 00 01 10")
        pub.send("62 02 00 01")
        pub.expect("70 02 00 01")


def test_mqtt5_qos2_publish_with_a_subscriber_gets_a_success_pubrec(broker):
    with subscriber(broker, mb.V5), publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", qos=2, packet_id=1, version=mb.V5))
        pub.expect("50 02 00 01")
        pub.send("62 02 00 01")
        pub.expect("70 02 00 01")


@pytest.mark.moat_only("mosquitto's PUBCOMP carries no reason code here")
def test_mqtt5_pubrel_for_an_unknown_packet_id_gets_packet_identifier_not_found(broker):
    with publisher(broker, mb.V5) as pub:
        pub.send("62 02 00 01")
        pub.expect("70 03 00 01 92")


def test_mqtt311_pubrel_for_an_unknown_packet_id_is_still_completed(broker):
    with publisher(broker, mb.V311) as pub:
        pub.send("62 02 00 01")
        pub.expect("70 02 00 01")


@both_versions
def test_qos2_publish_resent_before_pubrel_is_delivered_once(broker, version):
    """[MQTT-4.3.3-9/10]: until PUBREL, a PUBLISH with the same packet id is the same message."""
    with subscriber(broker, version) as sub, publisher(broker, version) as pub:
        first = mb.publish("a/b", b"hi", qos=2, packet_id=7, version=version)
        pub.send(first)
        pub.read_packet_of_type(mb.PUBREC)
        pub.send(bytes([first[0] | 0x08]) + first[1:])  # same packet with DUP set
        pub.read_packet_of_type(mb.PUBREC)
        pub.send(mb.pubrel(7))
        pub.expect("70 02 00 07")
        pub.send(mb.publish("a/b", b"end", version=version))
        assert sub.read_publish().payload == b"hi"
        assert sub.read_publish().payload == b"end"


# -- deliveries to the subscriber -----------------------------------------------------------

def test_mqtt311_qos0_delivery_has_topic_and_payload(broker):
    with subscriber(broker, mb.V311) as sub, publisher(broker, mb.V311) as pub:
        pub.send(mb.publish("a/b", b"hi"))
        sub.expect(f"30 07 {TOPIC_AB} {HI}")


def test_mqtt5_qos0_delivery_has_topic_empty_properties_and_payload(broker):
    with subscriber(broker, mb.V5) as sub, publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", version=mb.V5))
        sub.expect(f"30 08 {TOPIC_AB} 00 {HI}")


def test_mqtt311_qos1_deliveries_number_packet_ids_from_1(broker):
    with subscriber(broker, mb.V311, qos=1) as sub, publisher(broker, mb.V311) as pub:
        pub.send(mb.publish("a/b", b"hi", qos=1, packet_id=10))
        pub.send(mb.publish("a/b", b"hi", qos=1, packet_id=11))
        sub.expect(f"32 09 {TOPIC_AB} 00 01 {HI}")
        sub.send("40 02 00 01")
        sub.expect(f"32 09 {TOPIC_AB} 00 02 {HI}")
        sub.send("40 02 00 02")


def test_mqtt5_qos1_deliveries_number_packet_ids_from_1(broker):
    with subscriber(broker, mb.V5, qos=1) as sub, publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", qos=1, packet_id=10, version=mb.V5))
        pub.send(mb.publish("a/b", b"hi", qos=1, packet_id=11, version=mb.V5))
        sub.expect(f"32 0A {TOPIC_AB} 00 01 00 {HI}")
        sub.send("40 02 00 01")
        sub.expect(f"32 0A {TOPIC_AB} 00 02 00 {HI}")
        sub.send("40 02 00 02")


@both_versions
def test_qos2_delivery_runs_pubrec_pubrel_pubcomp_with_the_subscriber(broker, version):
    props = "00 " if version == mb.V5 else ""
    length = "0A" if version == mb.V5 else "09"
    with subscriber(broker, version, qos=2) as sub, publisher(broker, version) as pub:
        publish_and_complete(pub, "a/b", b"hi", qos=2, packet_id=3)
        sub.expect(f"34 {length} {TOPIC_AB} 00 01 {props}{HI}")
        sub.send("50 02 00 01")
        sub.expect_pubrel(1)  # 62 02 00 01 (5.0 may add reason code 00)
        sub.send("70 02 00 01")


@both_versions
@pytest.mark.parametrize("pub_qos,sub_qos", [(0, 2), (1, 0), (2, 1), (1, 2), (2, 2)])
def test_delivered_qos_is_the_lower_of_publish_and_subscription_qos(broker, version, pub_qos,
                                                                   sub_qos):
    with subscriber(broker, version, qos=sub_qos) as sub, publisher(broker, version) as pub:
        publish_and_complete(pub, "a/b", b"hi", qos=pub_qos)
        message = sub.read_publish()
        assert (message.topic, message.payload) == (b"a/b", b"hi")
        assert message.qos == min(pub_qos, sub_qos)


@both_versions
def test_empty_and_large_payloads_are_delivered_intact(broker, version):
    """A 200 000 byte payload needs a three-byte Remaining Length."""
    large = bytes(range(256)) * 781 + b"tail"
    with subscriber(broker, version) as sub, publisher(broker, version) as pub:
        pub.send(mb.publish("a/b", b"", version=version))
        pub.send(mb.publish("a/b", large, version=version))
        assert sub.read_publish().payload == b""
        assert sub.read_publish().payload == large


# -- the retain flag on deliveries ----------------------------------------------------------

@both_versions
def test_retained_message_is_delivered_on_subscribe_with_retain_flag_set(broker, version):
    props = "00 " if version == mb.V5 else ""
    length = "08" if version == mb.V5 else "07"
    with publisher(broker, version) as pub:
        publish_and_complete(pub, "a/b", b"hi", qos=1, retain=True)
    with open_session(broker.host, broker.port, "late", version) as sub:
        sub.send(mb.subscribe(1, [("a/b", 0)], version))
        sub.read_packet_of_type(mb.SUBACK)
        sub.expect(f"31 {length} {TOPIC_AB} {props}{HI}")


@both_versions
def test_live_delivery_of_a_retained_publish_has_retain_flag_clear(broker, version):
    props = "00 " if version == mb.V5 else ""
    length = "08" if version == mb.V5 else "07"
    with subscriber(broker, version) as sub, publisher(broker, version) as pub:
        pub.send(mb.publish("a/b", b"hi", retain=True, version=version))
        sub.expect(f"30 {length} {TOPIC_AB} {props}{HI}")


def test_mqtt5_retain_as_published_keeps_the_retain_flag_on_live_delivery(broker):
    options = mb.subscribe_options(qos=0, retain_as_published=True)
    with subscriber(broker, mb.V5, options=options) as sub, publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", retain=True, version=mb.V5))
        pub.send(mb.publish("a/b", b"hi", retain=False, version=mb.V5))
        sub.expect(f"31 08 {TOPIC_AB} 00 {HI}")
        sub.expect(f"30 08 {TOPIC_AB} 00 {HI}")


def test_mqtt5_delivery_carries_the_subscription_identifier(broker):
    sub_id = [(Prop.SUBSCRIPTION_IDENTIFIER, 5)]
    with subscriber(broker, mb.V5, props=sub_id) as sub, publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", version=mb.V5))
        sub.expect(f"30 0A {TOPIC_AB} 02 0B 05 {HI}")


def test_mqtt5_publish_properties_are_forwarded_to_the_subscriber(broker):
    props = [(Prop.PAYLOAD_FORMAT_INDICATOR, 1), (Prop.CONTENT_TYPE, "t"),
             (Prop.USER_PROPERTY, ("k", "v"))]
    with subscriber(broker, mb.V5) as sub, publisher(broker, mb.V5) as pub:
        pub.send(mb.publish("a/b", b"hi", version=mb.V5, props=props))
        message = sub.read_publish()
        assert sorted(message.props) == sorted(props)
        assert message.payload == b"hi"
