"""CONNECT and CONNACK (MQTT 3.1.1 section 3.1-3.2, MQTT 5.0 section 3.1-3.2), exact bytes."""

import pytest

from support import mqtt_bytes as mb
from support.mqtt_bytes import Prop, h, hexdump
from support.raw_client import RawConnection, open_session

# Moat's CONNACK properties with the default limits, in ascending id order:
# Topic Alias Maximum 10, Maximum Packet Size 1048576.
DEFAULT_CONNACK_PROPERTIES = "08 22 00 0A 27 00 10 00 00"


def connect_raw(broker) -> RawConnection:
    return RawConnection(broker.host, broker.port)


# -- accepted connections -------------------------------------------------------------------

def test_mqtt311_connect_with_client_id_and_clean_session_is_accepted(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("conformance-1", version=mb.V311, clean=True))
        conn.expect("20 02 00 00")


def test_mqtt31_connect_with_protocol_name_mqisdp_is_accepted(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("conformance-31", version=mb.V31, clean=True))
        conn.expect("20 02 00 00")


def test_mqtt311_reconnect_without_clean_session_reports_the_previous_session(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("persistent-1", version=mb.V311, clean=False))
        conn.expect("20 02 00 00")
        conn.send(mb.disconnect())
        conn.expect_closed()
    with connect_raw(broker) as conn:
        conn.send(mb.connect("persistent-1", version=mb.V311, clean=False))
        conn.expect("20 02 01 00")


def test_mqtt311_clean_session_discards_the_previous_session(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("persistent-2", version=mb.V311, clean=False))
        conn.expect("20 02 00 00")
        conn.send(mb.disconnect())
        conn.expect_closed()
    with connect_raw(broker) as conn:
        conn.send(mb.connect("persistent-2", version=mb.V311, clean=True))
        conn.expect("20 02 00 00")


@pytest.mark.moat_only("exact CONNACK properties")
def test_mqtt5_connack_carries_topic_alias_maximum_and_maximum_packet_size(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("conformance-5", version=mb.V5))
        conn.expect("20 0B 00 00 " + DEFAULT_CONNACK_PROPERTIES)


@pytest.mark.moat_only("exact CONNACK properties")
def test_mqtt5_reconnect_with_session_expiry_reports_the_previous_session(broker):
    expiry = [(Prop.SESSION_EXPIRY_INTERVAL, 60)]
    with connect_raw(broker) as conn:
        conn.send(mb.connect("persistent-5", version=mb.V5, clean=False, props=expiry))
        conn.expect("20 0B 00 00 " + DEFAULT_CONNACK_PROPERTIES)
        conn.send(mb.disconnect(mb.V5))
        conn.expect_closed()
    with connect_raw(broker) as conn:
        conn.send(mb.connect("persistent-5", version=mb.V5, clean=False, props=expiry))
        conn.expect("20 0B 01 00 " + DEFAULT_CONNACK_PROPERTIES)


def test_mqtt5_session_present_is_set_when_a_session_with_expiry_is_resumed(broker):
    expiry = [(Prop.SESSION_EXPIRY_INTERVAL, 60)]
    first = open_session(broker.host, broker.port, "persistent-5b", mb.V5, clean=False,
                         props=expiry)
    assert not first.connack.session_present
    first.send(mb.disconnect(mb.V5))
    first.expect_closed()
    first.close()
    second = open_session(broker.host, broker.port, "persistent-5b", mb.V5, clean=False,
                          props=expiry)
    assert second.connack.session_present
    second.close()


def test_mqtt5_empty_client_id_gets_an_assigned_client_identifier(broker):
    with open_session(broker.host, broker.port, "", mb.V5) as conn:
        assigned = mb.prop_value(conn.connack.props, Prop.ASSIGNED_CLIENT_IDENTIFIER)
        assert assigned, f"no Assigned Client Identifier in {conn.connack}"


@pytest.mark.moat_only("exact CONNACK properties")
def test_mqtt5_assigned_client_identifier_comes_first_among_the_connack_properties(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("", version=mb.V5))
        connack = conn.read_packet()
        props, _ = mb.decode_properties(connack.body, 2)
        assigned = mb.prop_value(props, Prop.ASSIGNED_CLIENT_IDENTIFIER)
        assert assigned
        expected = mb.packet(0x20, h("00 00") + mb.properties(
            [(Prop.ASSIGNED_CLIENT_IDENTIFIER, assigned), (Prop.TOPIC_ALIAS_MAXIMUM, 10),
             (Prop.MAXIMUM_PACKET_SIZE, 1_048_576)]))
        assert hexdump(connack.raw()) == hexdump(expected)


def test_mqtt5_empty_client_id_without_clean_start_is_accepted_with_an_assigned_id(broker):
    with open_session(broker.host, broker.port, "", mb.V5, clean=False) as conn:
        assert mb.prop_value(conn.connack.props, Prop.ASSIGNED_CLIENT_IDENTIFIER)
        assert not conn.connack.session_present


def test_mqtt5_assigned_client_identifiers_differ_between_connections(broker):
    with open_session(broker.host, broker.port, "", mb.V5) as a, \
            open_session(broker.host, broker.port, "", mb.V5) as b:
        id_a = mb.prop_value(a.connack.props, Prop.ASSIGNED_CLIENT_IDENTIFIER)
        id_b = mb.prop_value(b.connack.props, Prop.ASSIGNED_CLIENT_IDENTIFIER)
        assert id_a != id_b


@pytest.mark.limits(max_keepalive=30)
@pytest.mark.parametrize("keepalive", [60, 0], ids=["above-the-cap", "zero"])
def test_mqtt5_keepalive_above_the_cap_is_answered_with_server_keep_alive(broker, keepalive):
    with open_session(broker.host, broker.port, "ka", mb.V5, keepalive=keepalive) as conn:
        assert mb.prop_value(conn.connack.props, Prop.SERVER_KEEP_ALIVE) == 30, conn.connack


@pytest.mark.limits(max_keepalive=30)
def test_mqtt5_keepalive_within_the_cap_gets_no_server_keep_alive(broker):
    with open_session(broker.host, broker.port, "ka", mb.V5, keepalive=20) as conn:
        assert mb.prop_value(conn.connack.props, Prop.SERVER_KEEP_ALIVE) is None, conn.connack


@pytest.mark.moat_only("exact CONNACK properties")
@pytest.mark.limits(max_packet_size=2048, topic_alias_maximum=0, receive_maximum=5)
def test_mqtt5_connack_reflects_configured_limits(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("limits", version=mb.V5))
        # Receive Maximum 5 (sent because < 65535), no Topic Alias Maximum (0), packet size 2048
        conn.expect("20 0B 00 00 08 21 00 05 27 00 00 08 00")


# -- refused connections --------------------------------------------------------------------

@pytest.mark.parametrize("level", [2, 6], ids=["level-2", "level-6"])
def test_unsupported_protocol_level_is_refused_with_return_code_1(broker, level):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("bad-level", version=level, protocol_name="MQTT"))
        conn.expect("20 02 00 01")
        conn.expect_closed()


def test_unknown_protocol_name_closes_the_connection_without_a_connack(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("bad-name", version=mb.V311, protocol_name="MQTX"))
        conn.expect_closed()


def test_mqtt311_empty_client_id_without_clean_session_is_refused_as_identifier_rejected(broker):
    with connect_raw(broker) as conn:
        conn.send(mb.connect("", version=mb.V311, clean=False))
        conn.expect("20 02 00 02")
        conn.expect_closed()


# mosquitto closes these 5.0 connections without a CONNACK; Moat answers with the reason code.
_MOAT_REASON = pytest.mark.moat_only("mosquitto closes without a reason code")
_DUPLICATE_EXPIRY = [(Prop.SESSION_EXPIRY_INTERVAL, 10), (Prop.SESSION_EXPIRY_INTERVAL, 20)]


@pytest.mark.parametrize("version,data", [
    # [MQTT-3.1.2-3] the reserved flag bit must be 0
    pytest.param(mb.V5, mb.connect("m", version=mb.V5, flags=0x03),
                 id="mqtt5-reserved-flag", marks=_MOAT_REASON),
    # [MQTT-3.1.2-11] will QoS must be 0 when the will flag is 0
    pytest.param(mb.V5, mb.connect("m", version=mb.V5, flags=0x0A),
                 id="mqtt5-will-qos-without-will", marks=_MOAT_REASON),
    # [MQTT-1.5.4-1] the client identifier must be well-formed UTF-8
    pytest.param(mb.V5, mb.connect(b"m\xff", version=mb.V5),
                 id="mqtt5-client-id-invalid-utf8", marks=_MOAT_REASON),
    # the Property Length runs past the end of the packet
    pytest.param(mb.V5, mb.connect("m", version=mb.V5)[:12] + b"\x7F" + b"\x00\x01m",
                 id="mqtt5-property-length-past-end", marks=_MOAT_REASON),
    pytest.param(mb.V311, mb.connect("m", version=mb.V311, flags=0x03),
                 id="mqtt311-reserved-flag"),
    pytest.param(mb.V311, mb.connect(b"m\xff", version=mb.V311),
                 id="mqtt311-client-id-invalid-utf8"),
    pytest.param(mb.V311, mb.connect("m", version=mb.V311, flags=0x0A),
                 id="mqtt311-will-qos-without-will"),
])
def test_malformed_connect_is_refused(broker, version, data):
    """5.0: CONNACK 0x81 Malformed Packet, then close. 3.1.1: close with nothing sent."""
    with connect_raw(broker) as conn:
        conn.send(data)
        if version == mb.V5:
            conn.expect("20 03 00 81 00")
        conn.expect_closed()


@_MOAT_REASON
def test_mqtt5_connect_with_a_property_twice_is_refused_as_a_protocol_error(broker):
    """[MQTT 5.0 3.1.2.11.2] "It is a Protocol Error to include the Session Expiry Interval
    more than once": CONNACK 0x82, then close."""
    with connect_raw(broker) as conn:
        conn.send(mb.connect("m", version=mb.V5, props=_DUPLICATE_EXPIRY))
        conn.expect("20 03 00 82 00")
        conn.expect_closed()


@pytest.mark.parametrize("first", [mb.pingreq(), mb.publish("a/b", b"x"),
                                   mb.subscribe(1, [("a/b", 0)])],
                         ids=["pingreq", "publish", "subscribe"])
def test_first_packet_other_than_connect_closes_the_connection(broker, first):
    with connect_raw(broker) as conn:
        conn.send(first)
        conn.expect_closed()


@pytest.mark.parametrize("version", [
    pytest.param(mb.V311, id="mqtt311"),
    pytest.param(mb.V5, id="mqtt5", marks=_MOAT_REASON),
])
def test_second_connect_is_a_protocol_error(broker, version):
    with open_session(broker.host, broker.port, "twice", version) as conn:
        conn.send(mb.connect("twice", version=version))
        conn.expect_disconnect(version, 0x82)
