"""PINGREQ, DISCONNECT, keep-alive and client id takeover (MQTT 3.1.1 section 3.1.2.10, 3.12-3.14,
MQTT 5.0 section 3.1.2.10, 3.12-3.14, 4.13), exact bytes."""

import time

import pytest

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.raw_client import open_session

KEEP_ALIVE_TIMEOUT = 0x8D
SESSION_TAKEN_OVER = 0x8E


@both_versions
def test_pingreq_is_answered_with_pingresp(broker, version):
    with open_session(broker.host, broker.port, "pinger", version) as conn:
        conn.send("C0 00")
        conn.expect("D0 00")
        conn.send("C0 00 C0 00")
        conn.expect("D0 00 D0 00")


@both_versions
def test_disconnect_from_the_client_is_followed_by_a_silent_close(broker, version):
    with open_session(broker.host, broker.port, "leaver", version) as conn:
        conn.send("E0 00")
        conn.expect_closed()


def test_mqtt5_disconnect_with_will_reason_is_followed_by_a_silent_close(broker):
    with open_session(broker.host, broker.port, "leaver", mb.V5) as conn:
        conn.send("E0 02 04 00")
        conn.expect_closed()


@pytest.mark.moat_only("mosquitto checks keep-alive on a coarse timer (about 5 s) and "
                       "sends no DISCONNECT")
@both_versions
def test_silent_client_is_disconnected_after_one_and_a_half_keepalives(broker, version):
    """[MQTT-3.1.2-24] no packet within 1.5 x Keep Alive: 5.0 sends 0x8D, then both close."""
    with open_session(broker.host, broker.port, "silent", version, keepalive=1) as conn:
        start = time.monotonic()
        conn.expect_disconnect(version, KEEP_ALIVE_TIMEOUT, timeout=4.0)
        elapsed = time.monotonic() - start
        assert 0.9 <= elapsed <= 3.0, f"closed after {elapsed:.2f}s, expected about 1.5s"


@both_versions
def test_pingreqs_keep_a_short_keepalive_connection_open(broker, version):
    with open_session(broker.host, broker.port, "alive", version, keepalive=1) as conn:
        for _ in range(5):  # 2.5 s in all: well past 1.5 x Keep Alive
            conn.send("C0 00")
            conn.expect("D0 00", timeout=1.0)
            conn.expect_open_for(0.5)


@pytest.mark.parametrize("version", [
    pytest.param(mb.V311, id="mqtt311"),
    pytest.param(mb.V5, id="mqtt5", marks=pytest.mark.moat_only("mosquitto sends no 0x8E")),
])
def test_second_connection_with_the_same_client_id_takes_over(broker, version):
    """[MQTT-3.1.4-2]: the old connection is closed; 5.0 first sends Session taken over."""
    with open_session(broker.host, broker.port, "same-id", version) as old:
        with open_session(broker.host, broker.port, "same-id", version) as new:
            old.expect_disconnect(version, SESSION_TAKEN_OVER)
            new.send("C0 00")
            new.expect("D0 00")
