"""Malformed packets and protocol errors after a successful CONNECT (MQTT 3.1.1 section 4.8,
MQTT 5.0 section 4.13): in 5.0 the broker sends DISCONNECT with the reason code and closes; in
3.1.1, which has no server DISCONNECT, it closes with nothing sent."""

import pytest

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.mqtt_bytes import Prop, h
from support.raw_client import open_session

MALFORMED_PACKET = 0x81
TOPIC_NAME_INVALID = 0x90
PACKET_TOO_LARGE = 0x95


def with_first_byte(data: bytes, first: int) -> bytes:
    return bytes([first]) + data[1:]


def _malformed(version):
    """(id, bytes) of packets that break a MUST about their encoding in `version`."""
    v = version
    return [
        # [MQTT-3.8.1-1] SUBSCRIBE's fixed header flags must be 0010
        ("subscribe-flags-0", with_first_byte(mb.subscribe(1, [("a", 0)], v), 0x80)),
        # [MQTT-3.10.1-1] UNSUBSCRIBE's fixed header flags must be 0010
        ("unsubscribe-flags-0", with_first_byte(mb.unsubscribe(1, ["a"], v), 0xA0)),
        # [MQTT-3.6.1-1] PUBREL's fixed header flags must be 0010
        ("pubrel-flags-0", h("60 02 00 01")),
        # [MQTT-3.3.1-4] a PUBLISH must not have both QoS bits set
        ("publish-qos-3", with_first_byte(mb.publish("a/b", b"x", qos=1, packet_id=1,
                                                     version=v), 0x36)),
        # [MQTT-1.5.3-1] strings must be well-formed UTF-8
        ("publish-topic-invalid-utf8", mb.publish(b"a\xffb", b"x", version=v)),
        # [MQTT-1.5.3-2] strings must not contain U+0000
        ("publish-topic-null-character", mb.publish(b"a\x00b", b"x", version=v)),
        # the topic length says 5 bytes but the packet ends after 1
        ("publish-topic-length-past-end", h("30 03 00 05 61")),
        ("subscribe-filter-length-past-end", h("82 05 00 01 00 09 61")),
        # [MQTT-3.12.1] PINGREQ has no variable header or payload
        ("pingreq-with-length-1", h("C0 01 00")),
        # [MQTT-3.8.3-4 / 5.0: MQTT-3.8.3-5] reserved bits of the subscription options are 0
        ("subscribe-reserved-option-bits", mb.subscribe(1, [("a", 0xC0)], v)),
        # packet type 0 is reserved
        ("reserved-packet-type-0", h("00 00")),
        # [MQTT-1.5.5] a Variable Byte Integer has at most 4 bytes
        ("remaining-length-of-5-bytes", h("30 FF FF FF FF 7F")),
    ]


_MALFORMED_5_ONLY = [
    # [MQTT 5.0 2.2.2.2] a property not defined for the packet type is malformed
    ("publish-with-session-expiry-property",
     mb.publish("a/b", b"x", version=mb.V5, props=[(Prop.SESSION_EXPIRY_INTERVAL, 1)])),
    ("publish-with-unknown-property-0x7f", h("30 09 00 03 61 2F 62 02 7F 00 78")),
    ("publish-property-length-past-end", h("30 07 00 03 61 2F 62 09 78")),
]


# Cases where mosquitto 2.0 answers otherwise (accepts the packet, closes without a reason
# code, or sends 0x82), so only Moat is held to the exact answer.
_MOSQUITTO_DIFFERS = {
    "mqtt311-pingreq-with-length-1", "mqtt5-pingreq-with-length-1", "mqtt5-pubrel-flags-0",
    "mqtt5-reserved-packet-type-0", "mqtt5-remaining-length-of-5-bytes",
}


def _cases():
    named = [(version, tag, name, data)
             for version, tag in ((mb.V311, "mqtt311"), (mb.V5, "mqtt5"))
             for name, data in _malformed(version)]
    named += [(mb.V5, "mqtt5", name, data) for name, data in _MALFORMED_5_ONLY]
    for version, tag, name, data in named:
        case_id = f"{tag}-{name}"
        marks = ([pytest.mark.moat_only("mosquitto answers otherwise")]
                 if case_id in _MOSQUITTO_DIFFERS else [])
        yield pytest.param(version, data, id=case_id, marks=marks)


@pytest.mark.parametrize("version,data", list(_cases()))
def test_malformed_packet_ends_the_connection(broker, version, data):
    with open_session(broker.host, broker.port, "malformed", version) as conn:
        conn.send(data)
        conn.expect_disconnect(version, MALFORMED_PACKET)


@pytest.mark.parametrize("version", [
    pytest.param(mb.V311, id="mqtt311"),
    pytest.param(mb.V5, id="mqtt5", marks=pytest.mark.moat_only("mosquitto sends 0x82")),
])
@pytest.mark.parametrize("topic", ["a/+", "a/#", "#"])
def test_publish_to_a_topic_with_a_wildcard_ends_the_connection(broker, version, topic):
    """[MQTT-3.3.2-2] a Topic Name must not contain wildcards: 5.0 Topic Name invalid (0x90)."""
    with open_session(broker.host, broker.port, "wildcard", version) as conn:
        conn.send(mb.publish(topic, b"x", version=version))
        conn.expect_disconnect(version, TOPIC_NAME_INVALID)


@both_versions
@pytest.mark.limits(max_packet_size=1024)
def test_packet_larger_than_the_maximum_packet_size_ends_the_connection(broker, version):
    """5.0 Packet too large (0x95). The packet is small enough to be read whole, so the close
    is not turned into a reset by unread data."""
    with open_session(broker.host, broker.port, "large", version) as conn:
        if version == mb.V5:
            assert mb.prop_value(conn.connack.props, Prop.MAXIMUM_PACKET_SIZE) == 1024
        conn.send(mb.publish("a/b", b"x" * 1100, version=version))
        conn.expect_disconnect(version, PACKET_TOO_LARGE)


@both_versions
@pytest.mark.limits(max_packet_size=1024)
def test_packet_of_exactly_the_maximum_packet_size_is_accepted(broker, version):
    payload = next(b"x" * n for n in range(1024, 0, -1)
                   if len(mb.publish("a/b", b"x" * n, version=version)) == 1024)
    with open_session(broker.host, broker.port, "exact", version) as conn:
        conn.subscribe(1, [("a/b", 0)])
        conn.send(mb.publish("a/b", payload, version=version))
        assert conn.read_publish().payload == payload
