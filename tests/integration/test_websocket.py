"""MQTT over WebSocket (issue 3): `ws` and `wss` listeners with outside clients (paho-mqtt's
websocket transport, MQTT.js from Node), the upgrade checks (path, Origin allow-list,
sub-protocol, version), X-Forwarded-For from trusted proxies only, frame rules and size limits,
and WSS getting exactly the TLS settings of a TLS listener: client certificates, CRLs, identity
mapping.

Refusals are checked from both sides: what the client gets back (an HTTP status, a close frame)
and the broker's log line naming the peer and the reason.
"""

import json
import os
import re
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from support import mqtt_bytes as mb
from support.broker import HOST
from support.fixtures import both_versions
from support.moat_cli import MoatSub, moat_run
from support.mosquitto_clients import MosquittoSub
from support.paho_client import PahoClient

from integration.test_tls import paho_tls

pytestmark = pytest.mark.moat_only("Moat's [listener.websocket] configuration and log lines")

WS = "web"
LOG_TIMEOUT = 5.0
NODE_DIR = Path(__file__).resolve().parents[1] / "js"


def ws_listener(name=WS, tls=None, **websocket) -> dict:
    spec = {"name": name, "transport": "wss" if tls else "ws"}
    if tls:
        spec["tls"] = tls
    if websocket:
        spec["websocket"] = websocket
    return spec


def wss_listener(pki, name=WS, client_cert="none", **tls) -> dict:
    settings = {"cert": pki.server.cert, "key": pki.server.key, **tls}
    if client_cert != "none":
        settings.update(ca=pki.root.cert, client_cert=client_cert)
    return ws_listener(name, tls=settings)


def log_line(broker, pattern: str) -> str:
    match = broker.wait_for_log(pattern, LOG_TIMEOUT)
    assert match, f"no log line matching {pattern!r}; log:\n{broker.log()}"
    return match.string


# -- a raw WebSocket client, for what real clients never send ---------------------------------

def upgrade_request(path="/mqtt", protocol="mqtt", extra=()) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13"]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    header = bytes([(0x80 if fin else 0) | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    elif len(payload) < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawWs:
    def __init__(self, port: int):
        self.sock = socket.create_connection((HOST, port), timeout=LOG_TIMEOUT)
        self.local_port = self.sock.getsockname()[1]
        self.buffer = b""

    def upgrade(self, request: bytes) -> str:
        """Sends `request`; returns the HTTP response head."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head.decode(errors="replace")

    def read_frame(self):
        """(opcode, payload) of the next server frame, or None when the connection closed."""
        def need(n):
            while len(self.buffer) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return False
                self.buffer += chunk
            return True
        if not need(2):
            return None
        opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
        assert not self.buffer[1] & 0x80, "a server frame must not be masked"
        at = 2
        if length == 126:
            need(4)
            length, at = struct.unpack("!H", self.buffer[2:4])[0], 4
        elif length == 127:
            need(10)
            length, at = struct.unpack("!Q", self.buffer[2:10])[0], 10
        if not need(at + length):
            return None
        payload, self.buffer = self.buffer[at:at + length], self.buffer[at + length:]
        return opcode, payload

    def closed(self) -> bool:
        """True when the server closes the connection (after any frames it sends)."""
        try:
            while self.read_frame() is not None:
                pass
            return True
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()


def close_code(frame) -> int:
    opcode, payload = frame
    assert opcode == 0x8, f"expected a close frame, got opcode {opcode}"
    return struct.unpack("!H", payload[:2])[0]


# -- end to end with outside clients ----------------------------------------------------------

@both_versions
def test_paho_over_websocket_reaches_a_plain_tcp_subscriber_and_back(broker_factory, version):
    broker = broker_factory(listeners=[ws_listener()])
    with MosquittoSub(broker.host, broker.port, ["meters/+/reading"], qos=1,
                      version=version, client_id="tcp-display") as sub, \
            PahoClient(broker.host, broker.ports[WS], "ws-meter", version=version,
                       websocket_path="/mqtt") as meter:
        sub.wait_subscribed()
        assert meter.connect().reason == 0
        meter.subscribe("commands/ws-meter", qos=1)
        meter.publish("meters/ws-meter/reading", b"17.5", qos=1)
        assert [m.payload for m in sub.receive(1)] == [b"17.5"]
        with PahoClient(broker.host, broker.port, "tcp-operator", version=version) as operator:
            operator.connect()
            operator.publish("commands/ws-meter", b"close-valve", qos=1)
        message = meter.next_message()
        assert (message.topic, message.payload) == ("commands/ws-meter", b"close-valve")
    line = log_line(broker, r'client "ws-meter" connected from 127\.0\.0\.1:\d+ on listener '
                            rf'"{WS}"')
    assert "MQTT" in line


def test_a_websocket_connection_is_released_as_soon_as_its_close_frame_is_written(
        broker_factory):
    # As for TLS (test_tls.py): the close frame after the DISCONNECT used to leave the
    # connection waiting for the 2 s close grace.
    broker = broker_factory(listeners=[ws_listener()], log_level="debug")
    client = PahoClient(broker.host, broker.ports[WS], "ws-visit", websocket_path="/mqtt")
    client.connect()
    client.disconnect()
    client.close()
    released = broker.wait_for_log(r'client "ws-visit" \S+: connection released', 1.0)
    assert released, broker.log()


def test_large_messages_cross_a_websocket_in_both_directions(broker_factory):
    broker = broker_factory(listeners=[ws_listener()])
    payload = os.urandom(300_000)
    with PahoClient(broker.host, broker.ports[WS], "ws-big", version=mb.V5,
                    websocket_path="/mqtt") as client:
        client.connect()
        client.subscribe("firmware/image", qos=1)
        client.publish("firmware/image", payload, qos=1)
        assert client.next_message().payload == payload


def test_listener_reports_its_websocket_settings(broker_factory):
    broker = broker_factory(listeners=[ws_listener(
        path="/broker", origins=["https://app.example"], trusted_proxies=["127.0.0.1/32"])])
    line = broker.listening_lines[WS]
    assert ("ws (path /broker, origins https://app.example, X-Forwarded-For from 127.0.0.1/32)"
            in line), line


def run_mqttjs(url: str, *args: str) -> dict:
    result = subprocess.run(["node", str(NODE_DIR / "mqttjs_roundtrip.js"), url, *args],
                            capture_output=True, text=True, timeout=30, cwd=NODE_DIR)
    lines = result.stdout.strip().splitlines()
    assert lines, f"MQTT.js printed nothing; stderr:\n{result.stderr}"
    return json.loads(lines[-1])


@pytest.mark.parametrize("version", ["4", "5"])
def test_mqttjs_round_trip_over_wss_trusting_the_test_ca(broker_factory, pki, version):
    broker = broker_factory(listeners=[wss_listener(pki)])
    result = run_mqttjs(f"wss://localhost:{broker.ports[WS]}/mqtt", "--ca", str(pki.root.cert),
                        "--version", version, "--client-id", f"browser-{version}",
                        "--topic", "dashboard/echo", "--message", "hello from MQTT.js")
    assert result == {"ok": True, "topic": "dashboard/echo", "payload": "hello from MQTT.js"}
    line = log_line(broker, rf'client "browser-{version}" connected from 127\.0\.0\.1:\d+ on '
                            rf'listener "{WS}"')
    assert "over WebSocket (mqtt), TLSv1.3" in line, line


def test_mqttjs_refuses_a_wss_server_it_cannot_verify(broker_factory, pki):
    broker = broker_factory(listeners=[wss_listener(pki)])
    result = run_mqttjs(f"wss://localhost:{broker.ports[WS]}/mqtt", "--timeout", "5")
    assert not result["ok"]
    assert "certificate" in result["error"], result
    log_line(broker, rf'on listener "{WS}": TLS handshake failed \(SNI "localhost"\): connection '
                     r'closed by peer during the handshake')


def test_mqttjs_over_plain_ws(broker_factory):
    broker = broker_factory(listeners=[ws_listener()])
    result = run_mqttjs(f"ws://127.0.0.1:{broker.ports[WS]}/mqtt", "--version", "5",
                        "--qos", "2", "--topic", "a/b", "--message", "x")
    assert result == {"ok": True, "topic": "a/b", "payload": "x"}


# -- WSS: the TLS settings of a TLS listener --------------------------------------------------

def test_wss_maps_the_client_certificate_to_the_username_and_checks_the_crl(broker_factory, pki,
                                                                            tmp_path):
    crl = pki.crl(pki.root, [pki.client("stolen-meter")])
    listener = wss_listener(pki, client_cert="require", crl=[str(crl)], identity="cn",
                            identity_as="both")
    listener["allow_anonymous"] = False
    broker = broker_factory(listeners=[listener])
    port = broker.ports[WS]
    with PahoClient("localhost", port, "", version=mb.V5, websocket_path="/mqtt",
                    tls=paho_tls(pki, pki.client("meter-007"))) as meter:
        assert meter.connect().reason == 0
    line = log_line(broker, rf'client "meter-007" connected from 127\.0\.0\.1:\d+ on listener '
                            rf'"{WS}"')
    assert 'identity "meter-007" from certificate cn' in line

    with PahoClient("localhost", port, "stolen-meter", version=mb.V5, websocket_path="/mqtt",
                    tls=paho_tls(pki, pki.client("stolen-meter"))) as thief:
        with pytest.raises(Exception):
            thief.connect(timeout=5)
    log_line(broker, rf'on listener "{WS}": TLS handshake failed \(SNI "localhost"\): client '
                     r'certificate revoked')
    assert 'client "stolen-meter" connected' not in broker.log()

    with PahoClient("localhost", port, "anonymous", version=mb.V5, websocket_path="/mqtt",
                    tls=paho_tls(pki)) as anonymous:
        with pytest.raises(Exception):
            anonymous.connect(timeout=5)
    log_line(broker, rf'on listener "{WS}": TLS handshake failed \(SNI "localhost"\): no client '
                     r'certificate')


# -- the upgrade ------------------------------------------------------------------------------

@pytest.mark.parametrize("request_bytes, status, reason", [
    pytest.param(upgrade_request(path="/other"), "404", 'path "/other"', id="wrong-path"),
    pytest.param(upgrade_request(extra=["Origin: https://evil.example"]), "403",
                 'origin "https://evil.example" is not allowed', id="foreign-origin"),
    pytest.param(upgrade_request(protocol="chat"), "400", "no MQTT sub-protocol offered",
                 id="no-mqtt-subprotocol"),
    pytest.param(b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\n\r\n", "426",
                 "not a WebSocket upgrade request", id="plain-http"),
    pytest.param(bytes(mb.connect("raw", version=mb.V311)), "400",
                 "malformed HTTP request", id="mqtt-without-websocket"),
])
def test_refused_upgrades_get_an_http_status_and_a_log_line(broker_factory, request_bytes,
                                                            status, reason):
    broker = broker_factory(listeners=[ws_listener(origins=["https://app.example"])])
    raw = RawWs(broker.ports[WS])
    head = raw.upgrade(request_bytes)
    assert head.startswith(f"HTTP/1.1 {status} "), head
    assert raw.closed()
    raw.close()
    log_line(broker, rf'127\.0\.0\.1:{raw.local_port} on listener "{WS}": WebSocket upgrade '
                     rf'refused: {re.escape(reason)}')
    # Nothing else is affected: an allowed origin connects.
    with PahoClient(broker.host, broker.ports[WS], "after", websocket_path="/mqtt",
                    websocket_headers={"Origin": "https://app.example"}) as client:
        assert client.connect().reason == 0


def test_configured_path_is_served(broker_factory):
    broker = broker_factory(listeners=[ws_listener(path="/broker/mqtt")])
    with PahoClient(broker.host, broker.ports[WS], "pathed", websocket_path="/broker/mqtt") as c:
        assert c.connect().reason == 0


# -- X-Forwarded-For --------------------------------------------------------------------------

def test_forwarded_address_is_used_only_from_a_trusted_proxy(broker_factory):
    broker = broker_factory(listeners=[
        ws_listener("proxied", trusted_proxies=["127.0.0.1/32"]),
        ws_listener("direct")])
    headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    for name, client_id in (("proxied", "behind-proxy"), ("direct", "spoofer")):
        with PahoClient(broker.host, broker.ports[name], client_id, websocket_path="/mqtt",
                        websocket_headers=headers) as client:
            assert client.connect().reason == 0
    log_line(broker, r'client "behind-proxy" connected from 203\.0\.113\.9 via '
                     r'127\.0\.0\.1:\d+ on listener "proxied"')
    log_line(broker, r'client "spoofer" connected from 127\.0\.0\.1:\d+ on listener "direct"')


def test_listener_deny_list_applies_to_the_forwarded_address(broker_factory):
    listener = ws_listener(trusted_proxies=["127.0.0.1/32"])
    listener["deny"] = ["203.0.113.0/24"]
    broker = broker_factory(listeners=[listener])
    raw = RawWs(broker.ports[WS])
    head = raw.upgrade(upgrade_request(extra=["X-Forwarded-For: 203.0.113.9"]))
    assert head.startswith("HTTP/1.1 403 "), head
    raw.close()
    log_line(broker, r'WebSocket upgrade refused: forwarded client address 203\.0\.113\.9 is not '
                     r'allowed')


# -- frames -----------------------------------------------------------------------------------

def test_text_frame_is_answered_with_close_1003(broker_factory):
    broker = broker_factory(listeners=[ws_listener()])
    raw = RawWs(broker.ports[WS])
    assert raw.upgrade(upgrade_request()).startswith("HTTP/1.1 101 ")
    raw.sock.sendall(masked_frame(0x1, bytes(mb.connect("texty", version=mb.V311))))
    assert close_code(raw.read_frame()) == 1003
    assert raw.closed()
    raw.close()
    log_line(broker, r"WebSocket text frame \(MQTT needs binary frames\); closing")


def test_mqtt_packets_split_across_frames_and_pings_between_them(broker_factory):
    broker = broker_factory(listeners=[ws_listener()])
    raw = RawWs(broker.ports[WS])
    assert raw.upgrade(upgrade_request()).startswith("HTTP/1.1 101 ")
    connect = bytes(mb.connect("fragments", version=mb.V311))
    raw.sock.sendall(masked_frame(0x2, connect[:3], fin=False) + masked_frame(0x9, b"are you there")
                     + masked_frame(0x0, connect[3:7], fin=False) + masked_frame(0x0, connect[7:]))
    frames = [raw.read_frame(), raw.read_frame()]
    assert (0xA, b"are you there") in frames  # the pong
    assert (0x2, bytes([0x20, 0x02, 0x00, 0x00])) in frames  # CONNACK in a binary frame
    raw.sock.sendall(masked_frame(0x8, struct.pack("!H", 1000)))
    assert close_code(raw.read_frame()) == 1000
    raw.close()


def test_frame_over_max_frame_size_closes_with_1009(broker_factory):
    broker = broker_factory(listeners=[ws_listener(max_frame_size=1024)])
    raw = RawWs(broker.ports[WS])
    assert raw.upgrade(upgrade_request()).startswith("HTTP/1.1 101 ")
    raw.sock.sendall(masked_frame(0x2, b"\x00" * 2000))
    assert close_code(raw.read_frame()) == 1009
    raw.close()
    log_line(broker, r"WebSocket frame of 2000 bytes \(max_frame_size is 1024\); closing")


# -- moat pub / moat sub with ws:// and wss:// URLs -------------------------------------------

def test_moat_sub_and_pub_over_ws_and_wss_urls(broker_factory, pki):
    broker = broker_factory(listeners=[ws_listener("ws"), wss_listener(pki, "wss")])
    ws_url = f"ws://127.0.0.1:{broker.ports['ws']}/meters/+/reading"
    with MoatSub(None, None, ["-L", ws_url, "-V", "mqttv5", "-C", "2", "-v"]) as sub:
        sub.wait_subscribed()
        plain = moat_run("pub", "-L", f"ws://127.0.0.1:{broker.ports['ws']}/meters/1/reading",
                         "-m", "over-ws", "-q", "1")
        assert plain.returncode == 0, plain.stderr
        secure = moat_run("pub", "-L", f"wss://localhost:{broker.ports['wss']}/meters/2/reading",
                          "--cafile", str(pki.root.cert), "-m", "over-wss", "-q", "1")
        assert secure.returncode == 0, secure.stderr
        assert sub.lines(2) == ["meters/1/reading over-ws", "meters/2/reading over-wss"]
        assert sub.wait_exit() == 0
    log_line(broker, r'connected from 127\.0\.0\.1:\d+ on listener "wss" \(MQTT 3\.1\.1 over '
                     r'WebSocket \(mqtt\), TLSv1\.3')


def test_moat_pub_says_why_a_websocket_upgrade_failed(broker_factory):
    broker = broker_factory(listeners=[ws_listener()])
    result = moat_run("pub", "-L", f"ws://127.0.0.1:{broker.ports[WS]}/t", "--ws-path", "/nope",
                      "-m", "x")
    assert result.returncode != 0
    assert "the server refused the WebSocket upgrade: 404 Not Found" in result.stderr.decode()
    result = moat_run("pub", "-L", f"ws://127.0.0.1:{broker.port}/t", "-m", "x")
    assert result.returncode != 0
    assert "WebSocket upgrade failed" in result.stderr.decode()


# -- connections that move to their session's worker ------------------------------------------

def read_packets(raw: RawWs, count: int) -> list:
    """The next `count` MQTT packets from binary frames (a frame may hold several)."""
    data = b""
    packets = []
    while len(packets) < count:
        frame = raw.read_frame()
        assert frame is not None, f"connection closed after {len(packets)} packets"
        assert frame[0] in (0x0, 0x2), f"unexpected opcode {frame[0]}"
        data += frame[1]
        while len(data) >= 2:
            length, used = mb.decode_varint(data, 1)
            if len(data) < used + length:
                break
            packets.append(data[:used + length])
            data = data[used + length:]
    return packets


def test_packets_behind_connect_in_a_fragmented_message_survive_the_move_between_workers(
        broker_factory):
    # CONNECT, SUBSCRIBE and PUBLISH arrive in one write, in one WebSocket message cut into two
    # frames in the middle of the SUBSCRIBE: the WebSocket engine moves to the session's worker
    # half-way through a message, and nothing may be lost.
    broker = broker_factory(listeners=[ws_listener()], workers=2)
    connections = []
    try:
        for i in range(10):
            raw = RawWs(broker.ports[WS])
            connections.append(raw)
            assert raw.upgrade(upgrade_request()).startswith("HTTP/1.1 101 ")
            topic = f"pipelined/{i}"
            stream = (mb.connect(f"ws-pipelined-{i}") + mb.subscribe(1, [(topic, 1)])
                      + mb.publish(topic, f"payload {i}", qos=1, packet_id=2))
            cut = len(mb.connect(f"ws-pipelined-{i}")) + 4
            raw.sock.sendall(masked_frame(0x2, stream[:cut], fin=False)
                             + masked_frame(0x0, stream[cut:]))
        for i, raw in enumerate(connections):
            packets = read_packets(raw, 4)
            assert packets[0] == bytes([0x20, 0x02, 0x00, 0x00])  # CONNACK, accepted
            assert packets[1] == bytes([0x90, 0x03, 0x00, 0x01, 0x01])  # SUBACK, QoS 1
            publish, puback = sorted(packets[2:], key=lambda p: p[0])  # in either order
            assert puback == mb.puback(2)
            assert publish[0] & 0xF0 == 0x30 and publish.endswith(f"payload {i}".encode())
    finally:
        for raw in connections:
            raw.close()


def test_twenty_wss_clients_across_two_workers_each_get_their_own_message(broker_factory, pki):
    broker = broker_factory(listeners=[wss_listener(pki)], workers=2)
    ids = [f"wss-fleet-{i:02d}" for i in range(20)]
    clients = [PahoClient("localhost", broker.ports[WS], cid, websocket_path="/mqtt",
                          tls=paho_tls(pki)) for cid in ids]
    try:
        for client in clients:
            client.connect(timeout=10)
            assert client.subscribe(f"fleet/{client.client_id}/inbox", 1) == [1]
        for i, client in enumerate(clients):
            client.publish(f"fleet/{ids[(i + 1) % len(ids)]}/inbox", client.client_id.encode(),
                           qos=1)
        for i, client in enumerate(clients):
            [message] = client.receive(1)
            assert message.payload == ids[i - 1].encode()
    finally:
        for client in clients:
            client.close()


def test_packets_before_a_close_frame_are_answered_before_the_closing_handshake(broker_factory):
    broker = broker_factory(listeners=[ws_listener()])
    raw = RawWs(broker.ports[WS])
    assert raw.upgrade(upgrade_request()).startswith("HTTP/1.1 101 ")
    raw.sock.sendall(masked_frame(0x2, mb.connect("tab", version=mb.V311)))
    assert raw.read_frame() == (0x2, bytes([0x20, 0x02, 0x00, 0x00]))
    # A browser tab that publishes and closes at once (code 1001, going away).
    raw.sock.sendall(masked_frame(0x2, mb.publish("tabs/closed", b"bye", qos=1, packet_id=7))
                     + masked_frame(0x8, struct.pack("!H", 1001)))
    assert raw.read_frame() == (0x2, mb.puback(7))
    assert close_code(raw.read_frame()) == 1001  # the answer comes last
    assert raw.closed()
    raw.close()
    log_line(broker, r'client "tab" 127\.0\.0\.1:\d+: connection lost \(WebSocket closed by the '
                     r'client, code 1001, without DISCONNECT\)')
