"""Will messages (MQTT 3.1.1 section 3.1.2.5, MQTT 5.0 section 3.1.2.5 and 3.1.3.2): published
when a connection ends without a normal DISCONNECT, not after one; in 5.0 also on DISCONNECT with
reason 0x04, after the Will Delay Interval, and not if the client comes back within it.

The client with the will is a raw socket, so "abrupt" is exactly a TCP reset with no DISCONNECT;
the observer is paho."""

import time

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.mqtt_bytes import Prop, Will
from support.paho_client import PahoClient, prop
from support.raw_client import open_session

WILL_TOPIC = "devices/meter_001/status"


def observer(broker, version, topic="devices/#"):
    c = PahoClient(broker.host, broker.port, "observer", version)
    c.connect()
    c.subscribe(topic, 1)
    return c


def connect_with_will(broker, version, client_id="meter_001", will_props=None, props=None,
                      retain=False, **kwargs):
    will = Will(WILL_TOPIC, b"offline", qos=1, retain=retain, properties=will_props or [])
    return open_session(broker.host, broker.port, client_id, version, will=will, props=props,
                        **kwargs)


@both_versions
def test_will_is_published_when_the_connection_drops_without_disconnect(broker, version):
    with observer(broker, version) as watcher:
        connect_with_will(broker, version).abort()
        message = watcher.next_message()
    assert (message.topic, message.payload, message.qos) == (WILL_TOPIC, b"offline", 1)
    assert not message.retain


@both_versions
def test_will_is_published_when_the_client_closes_its_socket_without_disconnect(broker,
                                                                                version):
    """An orderly TCP close (FIN) is still not a DISCONNECT."""
    with observer(broker, version) as watcher:
        connect_with_will(broker, version).close()
        assert watcher.next_message().payload == b"offline"


@both_versions
def test_will_is_not_published_after_a_normal_disconnect(broker, version):
    with observer(broker, version) as watcher:
        meter = connect_with_will(broker, version)
        meter.send(mb.disconnect(version))
        meter.expect_closed()
        meter.close()
        with PahoClient(broker.host, broker.port, "fence", version) as fence:
            fence.connect()
            fence.publish("devices/fence", b"end", qos=1)
        got = watcher.receive_until("devices/fence")
    assert [m.topic for m in got] == ["devices/fence"]


@both_versions
def test_retained_will_is_kept_for_later_subscribers(broker, version):
    connect_with_will(broker, version, retain=True).abort()
    with observer(broker, version, topic=WILL_TOPIC) as first:
        message = first.next_message()  # either live or, if it came first, from the store
    assert message.payload == b"offline"
    with observer(broker, version, topic=WILL_TOPIC) as later:
        stored = later.next_message()
    assert (stored.payload, stored.retain) == (b"offline", 1)


def test_mqtt5_disconnect_with_reason_0x04_publishes_the_will(broker):
    with observer(broker, mb.V5) as watcher:
        meter = connect_with_will(broker, mb.V5)
        meter.send(mb.disconnect(mb.V5, reason=0x04))
        meter.expect_closed()
        meter.close()
        message = watcher.next_message()
    assert (message.topic, message.payload) == (WILL_TOPIC, b"offline")


def test_mqtt5_will_properties_are_forwarded(broker):
    will_props = [(Prop.CONTENT_TYPE, "text/plain"), (Prop.USER_PROPERTY, ("site", "north")),
                  (Prop.RESPONSE_TOPIC, "devices/meter_001/ping")]
    with observer(broker, mb.V5) as watcher:
        connect_with_will(broker, mb.V5, will_props=will_props).abort()
        message = watcher.next_message()
    assert message.properties.ContentType == "text/plain"
    assert message.properties.UserProperty == [("site", "north")]
    assert message.properties.ResponseTopic == "devices/meter_001/ping"


def test_mqtt5_will_is_published_after_the_will_delay(broker):
    with observer(broker, mb.V5) as watcher:
        meter = connect_with_will(broker, mb.V5, will_props=[(Prop.WILL_DELAY_INTERVAL, 1)],
                                  props=[(Prop.SESSION_EXPIRY_INTERVAL, 30)], clean=False)
        dropped_at = time.monotonic()
        meter.abort()
        message = watcher.next_message(timeout=5)
        delay = time.monotonic() - dropped_at
    assert message.payload == b"offline"
    assert 0.9 <= delay <= 4.0, f"will published {delay:.2f}s after the drop, expected ~1s"


def test_mqtt5_will_is_not_published_if_the_client_reconnects_within_the_delay(broker):
    with observer(broker, mb.V5) as watcher:
        meter = connect_with_will(broker, mb.V5, will_props=[(Prop.WILL_DELAY_INTERVAL, 2)],
                                  props=[(Prop.SESSION_EXPIRY_INTERVAL, 30)], clean=False)
        meter.abort()
        again = open_session(broker.host, broker.port, "meter_001", mb.V5, clean=False,
                             props=[(Prop.SESSION_EXPIRY_INTERVAL, 30)])
        assert again.connack.session_present
        watcher.expect_no_message_for(3.0)  # past the 2 s delay
        again.send(mb.disconnect(mb.V5))
        again.close()


def test_mqtt5_will_is_published_when_the_session_ends_before_the_will_delay(broker):
    """[MQTT-3.1.3-9]: the will goes out at the earlier of the delay and the session's end."""
    with observer(broker, mb.V5) as watcher:
        meter = connect_with_will(broker, mb.V5, will_props=[(Prop.WILL_DELAY_INTERVAL, 60)],
                                  props=[(Prop.SESSION_EXPIRY_INTERVAL, 1)], clean=False)
        dropped_at = time.monotonic()
        meter.abort()
        message = watcher.next_message(timeout=5)
        delay = time.monotonic() - dropped_at
    assert message.payload == b"offline"
    assert 0.9 <= delay <= 4.0, f"will published {delay:.2f}s after the drop, expected ~1s"


def test_mqtt5_will_message_expiry_counts_from_its_publication(broker):
    """The will's Message Expiry Interval applies from when the Server publishes it (spec
    3.1.3.2.4), not from when the connection dropped: with a Will Delay of 2 s and an expiry
    of 1 s the will goes out after about 2 s, carrying Message Expiry Interval 1.
    regression: review finding 6."""
    with observer(broker, mb.V5) as watcher:
        meter = connect_with_will(broker, mb.V5,
                                  will_props=[(Prop.WILL_DELAY_INTERVAL, 2),
                                              (Prop.MESSAGE_EXPIRY_INTERVAL, 1)],
                                  props=[(Prop.SESSION_EXPIRY_INTERVAL, 30)], clean=False)
        dropped_at = time.monotonic()
        meter.abort()
        message = watcher.next_message(timeout=6)
        delay = time.monotonic() - dropped_at
    assert message.payload == b"offline"
    assert 1.5 <= delay <= 4.5, f"will published {delay:.2f}s after the drop, expected ~2s"
    assert prop(message, "MessageExpiryInterval") == 1
