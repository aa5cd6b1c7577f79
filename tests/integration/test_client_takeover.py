"""A second connection with a client id already connected takes the session over (MQTT 3.1.1
section 3.1.4, MQTT 5.0 section 3.1.4): the first connection is closed, in 5.0 after a
DISCONNECT with reason 0x8E Session taken over."""

import pytest

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.paho_client import PahoClient
from support.raw_client import open_session

SESSION_TAKEN_OVER = 0x8E


@both_versions
def test_second_connection_with_the_same_client_id_closes_the_first(broker, version):
    with PahoClient(broker.host, broker.port, "meter_001", version) as first, \
            PahoClient(broker.host, broker.port, "meter_001", version) as second:
        first.connect()
        second.connect()
        assert first.wait_disconnected() != 0, "the first connection ended normally"
        second.subscribe("still/here", 0)
        second.publish("still/here", b"yes")
        assert second.next_message().payload == b"yes"


@pytest.mark.moat_only("mosquitto closes the old connection without a DISCONNECT")
def test_mqtt5_taken_over_connection_is_told_session_taken_over(broker):
    """The first client is a raw socket: paho 1.6 drops the reason code of a DISCONNECT
    whose Remaining Length is 1, which is what "E0 01 8E" has."""
    with open_session(broker.host, broker.port, "meter_001", mb.V5) as first, \
            PahoClient(broker.host, broker.port, "meter_001", mb.V5) as second:
        second.connect()
        first.expect_disconnect(mb.V5, SESSION_TAKEN_OVER)


@both_versions
def test_takeover_without_clean_start_keeps_the_subscriptions(broker, version):
    expiry = 300 if version == mb.V5 else None
    with PahoClient(broker.host, broker.port, "meter_001", version, clean=False,
                    session_expiry=expiry) as first, \
            PahoClient(broker.host, broker.port, "meter_001", version, clean=False,
                       session_expiry=expiry) as second, \
            PahoClient(broker.host, broker.port, "utility", version) as utility:
        first.connect()
        first.subscribe("commands/meter_001", 1)
        assert second.connect().session_present
        first.wait_disconnected()
        utility.connect()
        utility.publish("commands/meter_001", b"report now", qos=1)
        message = second.next_message()
    assert (message.topic, message.payload) == ("commands/meter_001", b"report now")


@both_versions
def test_taken_over_connection_gets_no_more_messages(broker, version):
    with PahoClient(broker.host, broker.port, "meter_001", version, clean=False,
                    session_expiry=300 if version == mb.V5 else None) as first, \
            PahoClient(broker.host, broker.port, "meter_001", version, clean=False,
                       session_expiry=300 if version == mb.V5 else None) as second, \
            PahoClient(broker.host, broker.port, "utility", version) as utility:
        first.connect()
        first.subscribe("commands/#", 1)
        second.connect()
        first.wait_disconnected()
        utility.connect()
        for i in range(5):
            utility.publish("commands/meter_001", str(i).encode(), qos=1)
        got = second.receive(5)
    assert [m.payload for m in got] == [b"0", b"1", b"2", b"3", b"4"]
    assert first.messages.empty(), "the old connection still received messages"
