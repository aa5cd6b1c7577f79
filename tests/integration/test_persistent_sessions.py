"""Sessions that outlive a connection (MQTT 3.1.1 section 3.1.2.4, 4.1; MQTT 5.0 section
3.1.2.4, 3.1.2.11.2, 4.1).

The story is the water meter's: "meter_001" keeps a session, subscribed at QoS 1 to the price
list and to its own commands. While it is offline the utility publishes prices and commands;
when the meter comes back it must find every one of them, in order, and be told its session was
still there."""

import time

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.mosquitto_clients import MosquittoSub, mosquitto_pub
from support.paho_client import PahoClient
from support.waiting import let_elapse

METER = "meter_001"
SESSION_EXPIRY = 3600

# (topic, payload, publish QoS) sent while the meter is away; the last is not for this meter.
WHILE_OFFLINE = [
    ("prices/electricity", b"0.31 EUR/kWh", 1),
    ("commands/meter_001", b"report now", 2),
    ("prices/gas", b"1.10 EUR/m3", 2),
    ("commands/meter_001", b"set interval 15m", 1),
    ("commands/meter_002", b"not for meter_001", 1),
]
EXPECTED = [(t, p) for t, p, _ in WHILE_OFFLINE if not t.endswith("meter_002")]


def meter(broker, version, expiry=SESSION_EXPIRY) -> PahoClient:
    return PahoClient(broker.host, broker.port, METER, version, clean=False,
                      session_expiry=expiry if version == mb.V5 else None)


def utility_publishes(broker, version, messages=WHILE_OFFLINE) -> None:
    with PahoClient(broker.host, broker.port, "utility", version) as utility:
        utility.connect()
        for topic, payload, qos in messages:
            utility.publish(topic, payload, qos=qos)


@both_versions
def test_meter_gets_every_message_sent_while_offline_in_order(broker, version):
    with meter(broker, version) as first:
        assert not first.connect().session_present
        assert first.subscribe("prices/#", 1) == [1]
        assert first.subscribe(f"commands/{METER}", 1) == [1]
        first.disconnect()

    utility_publishes(broker, version)

    with meter(broker, version) as back:
        assert back.connect().session_present
        got = back.receive(len(EXPECTED))
        back.subscribe("fence", 0)
        back.publish("fence", b"end")
        rest = back.receive_until("fence")
    assert [(m.topic, m.payload) for m in got] == EXPECTED
    assert {m.qos for m in got} == {1}
    assert [m.topic for m in rest] == ["fence"]


@both_versions
def test_mosquitto_clients_meter_gets_messages_queued_while_offline(broker, version):
    expiry = ["-x", str(SESSION_EXPIRY)] if version == mb.V5 else []
    topics = ["prices/#", f"commands/{METER}"]
    with MosquittoSub(broker.host, broker.port, topics, qos=1, version=version, client_id=METER,
                      clean=False, exit_after_subscribe=True, extra=expiry) as setup:
        assert setup.wait_exit() == 0
    for topic, payload, qos in WHILE_OFFLINE:
        mosquitto_pub(broker.host, broker.port, topic, payload.decode(), qos=qos,
                      version=version)
    with MosquittoSub(broker.host, broker.port, topics, qos=1, version=version, client_id=METER,
                      clean=False, count=len(EXPECTED), extra=expiry) as back:
        got = back.receive(len(EXPECTED))
        assert back.wait_exit() == 0
    assert [(m.topic, m.payload) for m in got] == EXPECTED


@both_versions
def test_clean_reconnect_discards_the_session_and_its_queue(broker, version):
    with meter(broker, version) as first:
        first.connect()
        first.subscribe("prices/#", 1)
        first.disconnect()
    utility_publishes(broker, version, WHILE_OFFLINE[:1])
    with PahoClient(broker.host, broker.port, METER, version, clean=True) as clean:
        assert not clean.connect().session_present
        clean.subscribe("fence", 0)
        clean.publish("fence", b"end")
        got = clean.receive_until("fence")
    assert [m.topic for m in got] == ["fence"]


def test_mqtt5_session_expiry_0_ends_the_session_at_disconnect(broker):
    with meter(broker, mb.V5, expiry=None) as first:  # no property: expiry 0
        first.connect()
        first.subscribe("prices/#", 1)
        first.disconnect()
    utility_publishes(broker, mb.V5, WHILE_OFFLINE[:1])
    with meter(broker, mb.V5, expiry=None) as back:
        assert not back.connect().session_present
        back.subscribe("fence", 0)
        back.publish("fence", b"end")
        got = back.receive_until("fence")
    assert [m.topic for m in got] == ["fence"]


def test_mqtt5_session_is_gone_once_its_expiry_interval_has_elapsed(broker):
    with meter(broker, mb.V5, expiry=1) as first:
        first.connect()
        first.subscribe("prices/#", 1)
        first.disconnect()
    disconnected_at = time.monotonic()
    utility_publishes(broker, mb.V5, WHILE_OFFLINE[:1])
    # the 1 s expiry timer is under test; a broker may count in whole seconds, hence 2.5 s
    let_elapse(disconnected_at, 2.5)
    with meter(broker, mb.V5, expiry=1) as back:
        assert not back.connect().session_present
        back.subscribe("fence", 0)
        back.publish("fence", b"end")
        got = back.receive_until("fence")
    assert [m.topic for m in got] == ["fence"]


def test_mqtt5_session_survives_a_reconnect_within_its_expiry_interval(broker):
    with meter(broker, mb.V5, expiry=30) as first:
        first.connect()
        first.subscribe("prices/#", 1)
        first.disconnect()
    utility_publishes(broker, mb.V5, WHILE_OFFLINE[:1])
    with meter(broker, mb.V5, expiry=30) as back:
        assert back.connect().session_present
        message = back.next_message()
    assert (message.topic, message.payload) == ("prices/electricity", b"0.31 EUR/kWh")


def test_mqtt5_session_expiry_set_at_disconnect_replaces_the_connect_value(broker):
    """[MQTT-3.14.2-?] DISCONNECT may raise a non-zero Session Expiry Interval."""
    with meter(broker, mb.V5, expiry=1) as first:
        first.connect()
        first.subscribe("prices/#", 1)
        first.disconnect(SessionExpiryInterval=60)
    disconnected_at = time.monotonic()
    utility_publishes(broker, mb.V5, WHILE_OFFLINE[:1])
    let_elapse(disconnected_at, 2.5)  # well past the CONNECT's 1 s
    with meter(broker, mb.V5, expiry=60) as back:
        assert back.connect().session_present
        assert back.next_message().topic == "prices/electricity"
