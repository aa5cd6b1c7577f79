"""Audit events (issue 4): with [audit] file set, every connection attempt that reaches a
decision writes one JSON line — accepted, or refused at the TLS handshake, the WebSocket
upgrade, the CONNECT checks or authentication — with the listener, address and port, client id,
user name, method, outcome, exact reason, protocol version and TLS facts. Never a password.
"""

import json
import socket
import time

import pytest

from support import mqtt_bytes as mb
from support.paho_client import PahoClient
from support.raw_client import RawConnection
from support.waiting import wait_until

from integration.test_authentication import USERS, auth_toml, password_file  # noqa: F401
from integration.test_tls import paho_tls

pytestmark = pytest.mark.moat_only("Moat's audit events")

SECURE = "secure"
EVENT_TIMEOUT = 5.0


def audit_toml(path) -> str:
    return f'[audit]\nfile = "{path}"\n'


def events(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_events(path, count):
    found = wait_until(lambda: len(events(path)) >= count or None, EVENT_TIMEOUT)
    assert found, f"{len(events(path))} audit events, expected {count}:\n{events(path)}"
    return events(path)


def event_for(path, client_id):
    found = wait_until(lambda: [e for e in events(path) if e.get("client_id") == client_id]
                       or None, EVENT_TIMEOUT)
    assert found, f"no audit event for {client_id!r}:\n{events(path)}"
    assert len(found) == 1, found
    return found[0]


def connect(port, client_id, version=mb.V5, username=None, password=None) -> int:
    with RawConnection("127.0.0.1", port) as conn:
        conn.send(mb.connect(client_id, version=version, username=username, password=password))
        return mb.parse_connack(conn.read_packet(), version).reason


def test_accepted_and_refused_logins_are_one_event_each_without_the_password(
        broker_factory, password_file, tmp_path):
    log = tmp_path / "audit.jsonl"
    listener = {"name": SECURE, "transport": "tcp", "auth": ["password"]}
    broker = broker_factory(listeners=[listener],
                            extra_toml=auth_toml(password_file) + audit_toml(log))
    port = broker.ports[SECURE]
    assert connect(port, "ok-1", mb.V5, "sensor_001", USERS["sensor_001"].encode()) == 0
    assert connect(port, "bad-1", mb.V311, "sensor_001", b"not-the-password") == 4
    assert connect(port, "anon-1") == 0x87

    ok = event_for(log, "ok-1")
    assert ok["outcome"] == "accepted" and ok["reason_code"] == 0
    assert (ok["listener"], ok["transport"], ok["remote_address"]) == (SECURE, "tcp", "127.0.0.1")
    assert isinstance(ok["remote_port"], int) and ok["remote_port"] > 0
    assert (ok["username"], ok["method"], ok["protocol"]) == ("sensor_001", "password", "5.0")
    assert ok["time"].endswith("Z")

    bad = event_for(log, "bad-1")
    assert bad["outcome"] == "refused" and bad["stage"] == "authentication"
    assert bad["remote_address"] == "127.0.0.1" and bad["remote_port"] > 0
    assert bad["reason_code"] == 0x86 and bad["reason"] == "Bad User Name or Password"
    assert bad["detail"] == 'wrong password for user "sensor_001"'
    assert (bad["username"], bad["protocol"]) == ("sensor_001", "3.1.1")

    anon = event_for(log, "anon-1")
    assert anon["reason_code"] == 0x87 and "username" not in anon

    text = log.read_text()
    assert "not-the-password" not in text and USERS["sensor_001"] not in text
    assert len(events(log)) == 3  # one per attempt, nothing for the probe connections


def test_tls_events_carry_the_handshake_facts_and_failures(broker_factory, pki, tmp_path):
    log = tmp_path / "audit.jsonl"
    listener = {"name": SECURE, "transport": "tls", "auth": ["certificate"],
                "tls": {"cert": pki.server.cert, "key": pki.server.key, "ca": pki.root.cert,
                        "client_cert": "require", "identity": "cn"}}
    broker = broker_factory(listeners=[listener], extra_toml=audit_toml(log))
    port = broker.ports[SECURE]
    with PahoClient("localhost", port, "meter-7", version=mb.V5,
                    tls=paho_tls(pki, pki.client("meter-7"))) as client:
        assert client.connect().reason == 0
    ok = event_for(log, "meter-7")
    assert ok["transport"] == "tls" and ok["method"] == "certificate"
    assert ok["username"] == "meter-7"
    assert ok["tls"]["version"] in ("TLSv1.2", "TLSv1.3") and ok["tls"]["cipher"]
    assert "CN=meter-7" in ok["tls"]["subject"] and ok["tls"]["serial"]

    # Not TLS at all: refused at the handshake.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(mb.connect("plain", version=mb.V5))
        s.recv(100)
    [failed] = wait_events(log, 2)[1:]
    assert (failed["outcome"], failed["stage"]) == ("refused", "tls")
    assert failed["reason"] == "TLS handshake failed" and failed["detail"]


def test_websocket_upgrade_refusals_and_timeouts_are_events(broker_factory, tmp_path):
    log = tmp_path / "audit.jsonl"
    broker = broker_factory(listeners=[{"name": "web", "transport": "ws"}],
                            limits={"connect_timeout": 1}, extra_toml=audit_toml(log))
    with socket.create_connection(("127.0.0.1", broker.ports["web"]), timeout=5) as s:
        s.sendall(b"GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 404")
    [refused] = wait_events(log, 1)
    assert (refused["stage"], refused["reason"]) == ("websocket", "WebSocket upgrade refused")
    assert "path" in refused["detail"]
    # A client that connects, sends a byte and never a CONNECT: a timeout event.
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.sendall(b"\x10")
        started = time.monotonic()
        [_, timeout] = wait_events(log, 2)
        assert time.monotonic() - started < EVENT_TIMEOUT
    assert (timeout["stage"], timeout["reason"]) == ("connect", "Timeout")
    assert timeout["detail"] == "no CONNECT within 1 s"
