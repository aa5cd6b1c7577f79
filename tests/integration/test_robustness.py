"""The broker under misbehaving clients: connections that never send CONNECT, clients that go
silent past their keep-alive, and garbage on one connection while others carry on."""

import random
import time

import pytest

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.mqtt_bytes import Will
from support.paho_client import PahoClient
from support.raw_client import RawConnection, open_session


@pytest.mark.moat_only("mosquitto has no connect_timeout setting")
@pytest.mark.limits(connect_timeout=1)
def test_connection_that_never_sends_connect_is_closed_after_connect_timeout(broker):
    with RawConnection(broker.host, broker.port) as idle:
        took = idle.expect_closed(timeout=4.0)
    assert 0.8 <= took <= 3.0, f"closed after {took:.2f}s, connect_timeout is 1s"


@pytest.mark.moat_only("mosquitto has no connect_timeout setting")
@pytest.mark.limits(connect_timeout=1)
def test_connection_that_sends_half_a_connect_is_closed_after_connect_timeout(broker):
    with RawConnection(broker.host, broker.port) as slow:
        slow.send(mb.connect("slowloris")[:6])
        took = slow.expect_closed(timeout=4.0)
    assert took <= 3.0


@pytest.mark.moat_only("mosquitto's keep-alive check is coarse (about 5 s) and sends no 0x8D")
def test_mqtt5_silent_client_gets_keep_alive_timeout_and_its_will_is_published(broker):
    with PahoClient(broker.host, broker.port, "observer", mb.V5) as observer:
        observer.connect()
        observer.subscribe("devices/#", 1)
        will = Will("devices/meter_001/status", b"lost", qos=1)
        with open_session(broker.host, broker.port, "meter_001", mb.V5, keepalive=1,
                          will=will) as silent:
            start = time.monotonic()
            silent.expect_disconnect(mb.V5, 0x8D, timeout=1.5 + 1.5)
            took = time.monotonic() - start
        message = observer.next_message(timeout=2)
    assert 0.9 <= took <= 3.0, f"disconnected after {took:.2f}s, expected ~1.5s"
    assert (message.topic, message.payload) == ("devices/meter_001/status", b"lost")


@both_versions
def test_will_of_a_client_silent_past_its_keep_alive_is_published(broker, version):
    with PahoClient(broker.host, broker.port, "observer", version) as observer:
        observer.connect()
        observer.subscribe("devices/#", 1)
        will = Will("devices/meter_001/status", b"lost", qos=1)
        with open_session(broker.host, broker.port, "meter_001", version, keepalive=1,
                          will=will):
            # generous: mosquitto checks keep-alive only every few seconds
            message = observer.next_message(timeout=10)
    assert message.payload == b"lost"


@both_versions
def test_garbage_from_other_clients_does_not_disturb_a_subscription(broker, version):
    rng = random.Random(1883)  # fixed seed: the same garbage every run
    with PahoClient(broker.host, broker.port, "display", version) as display, \
            PahoClient(broker.host, broker.port, "meter", version) as meter:
        display.connect()
        display.subscribe("feed/#", 1)
        meter.connect()
        for i in range(10):
            meter.publish("feed/readings", f"{i}".encode(), qos=1)

        # Each burst starts with a whole packet of the reserved type 0 ("00 00"), so a broker
        # that reads whole packets before judging them still has one to judge.
        for _ in range(5):  # never connected: noise where CONNECT should be
            with RawConnection(broker.host, broker.port) as noise:
                noise.send(b"\x00\x00" + bytes(rng.randrange(256) for _ in range(200)))
                noise.wait_closed()
        for i in range(5):  # connected, then noise
            with open_session(broker.host, broker.port, f"noisy-{i}", version) as noisy:
                noisy.send(b"\x00\x00" + bytes(rng.randrange(256) for _ in range(200)))
                noisy.wait_closed()
        with open_session(broker.host, broker.port, "huge-length", version) as huge:
            huge.send("30 FF FF FF FF 7F")  # a Remaining Length of five bytes
            huge.wait_closed()

        for i in range(10, 20):
            meter.publish("feed/readings", f"{i}".encode(), qos=1)
        got = display.receive(20)
    assert [m.payload for m in got] == [f"{i}".encode() for i in range(20)]


@both_versions
def test_fifty_clients_connecting_at_once_are_all_accepted(broker, version):
    sessions = []
    try:
        for i in range(50):
            conn = RawConnection(broker.host, broker.port)
            sessions.append(conn)
            conn.send(mb.connect(f"crowd-{i:02d}", version=version))
        for conn in sessions:
            connack = mb.parse_connack(conn.read_packet(), version)
            assert connack.reason == 0
    finally:
        for conn in sessions:
            conn.close()
