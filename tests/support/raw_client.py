"""A raw TCP connection to the broker for tests that check exact bytes.

Every read takes a deadline; nothing blocks without one. Assertion messages show the bytes
received so far in the same hex notation the tests use, so a failure reads like a diff.

Closed means: recv returned b'' or the peer reset the connection. A broker that closes a
connection it has not read to the end may make the kernel send a reset, which is still a close.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Optional, Union

from support import mqtt_bytes as mb
from support.mqtt_bytes import Packet, h, hexdump

DEFAULT_TIMEOUT = 5.0

Sendable = Union[bytes, str]


class ConnectionClosed(AssertionError):
    """The broker closed the connection where the test expected more bytes."""


class RawConnection:
    """One client socket. Not thread-safe: one test thread drives it."""

    def __init__(self, host: str, port: int, timeout: float = DEFAULT_TIMEOUT,
                 source: Optional[str] = None):
        """`source`: the local address to connect from (e.g. "127.0.0.2", another loopback
        address, to look like a second client machine)."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pending = b""  # bytes received but not yet consumed
        self.closed_by_peer = False

    # -- sending ----------------------------------------------------------------------------

    def send(self, data: Sendable) -> None:
        """Sends bytes, or hex text like "C0 00". A peer that already closed is not an error
        here: the next read reports it."""
        raw = h(data) if isinstance(data, str) else data
        try:
            self.sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            self.closed_by_peer = True

    # -- receiving --------------------------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        """Reads what is available into the buffer before the deadline. False on close."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed_by_peer = True
            return False
        self._pending += chunk
        return True

    def recv_exact(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._pending) < count:
            try:
                if not self._fill(deadline):
                    raise ConnectionClosed(
                        f"connection closed after [{hexdump(self._pending)}] "
                        f"while waiting for {count} bytes")
            except TimeoutError:
                raise AssertionError(
                    f"no {count} bytes within {timeout}s; got [{hexdump(self._pending)}]"
                ) from None
        data, self._pending = self._pending[:count], self._pending[count:]
        return data

    def read_packet(self, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        """The next whole control packet."""
        deadline = time.monotonic() + timeout
        first = self.recv_exact(1, timeout)[0]
        length, multiplier = 0, 1
        for _ in range(4):
            byte = self.recv_exact(1, max(deadline - time.monotonic(), 0.001))[0]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            if not byte & 0x80:
                break
        else:
            raise AssertionError("malformed Remaining Length from broker")
        body = self.recv_exact(length, max(deadline - time.monotonic(), 0.001))
        return Packet(first, body)

    def read_packet_of_type(self, packet_type: int, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        pkt = self.read_packet(timeout)
        assert pkt.type == packet_type, \
            f"expected {mb.PACKET_NAMES[packet_type]}, got {pkt}"
        return pkt

    def expect(self, expected: Sendable, timeout: float = DEFAULT_TIMEOUT) -> None:
        """The next bytes are exactly `expected` (hex text or bytes)."""
        want = h(expected) if isinstance(expected, str) else expected
        deadline = time.monotonic() + timeout
        while len(self._pending) < len(want):
            try:
                if not self._fill(deadline):
                    break
            except TimeoutError:
                break
        got, self._pending = self._pending[:len(want)], self._pending[len(want):]
        assert hexdump(got) == hexdump(want), (
            f"expected [{hexdump(want)}], got [{hexdump(got)}]"
            + (" and then the connection closed" if self.closed_by_peer else ""))

    def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> float:
        """The broker closes the connection within the timeout and sends nothing more.
        Returns the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        while not self.closed_by_peer:
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError(
                    f"connection still open after {timeout}s; received "
                    f"[{hexdump(self._pending)}]") from None
        assert self._pending == b"", \
            f"expected nothing before the close, got [{hexdump(self._pending)}]"
        return time.monotonic() - start

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """Waits for the close whatever comes before it; returns what came."""
        deadline = time.monotonic() + timeout
        while not self.closed_by_peer:
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError(f"connection still open after {timeout}s") from None
        data, self._pending = self._pending, b""
        return data

    def expect_disconnect(self, version: int, reason: int,
                          timeout: float = DEFAULT_TIMEOUT) -> None:
        """How the broker ends a connection after an error: in 5.0 a DISCONNECT with `reason`
        then the close; in 3.1.1 (which has no server DISCONNECT) the close alone."""
        if version == mb.V5:
            self.expect(bytes([0xE0, 0x01, reason]), timeout)
        self.expect_closed(timeout)

    def expect_open_for(self, duration: float) -> None:
        """Nothing arrives and the connection stays open for `duration` seconds. Only for
        asserting that the broker waits (e.g. it must not time out early). Bytes already
        received but not yet read count as arrived."""
        assert self._pending == b"", f"unexpected bytes [{hexdump(self._pending)}]"
        deadline = time.monotonic() + duration
        try:
            while True:
                if not self._fill(deadline):
                    raise ConnectionClosed(
                        f"connection closed early, after [{hexdump(self._pending)}]")
                raise AssertionError(f"unexpected bytes [{hexdump(self._pending)}]")
        except TimeoutError:
            pass

    # -- closing ----------------------------------------------------------------------------

    def abort(self) -> None:
        """Drops the connection with a TCP reset and no DISCONNECT: what a crashed client or a
        lost network looks like to the broker."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_session(host: str, port: int, client_id: str, version: int = mb.V311,
                 timeout: float = DEFAULT_TIMEOUT, **connect_args) -> "RawSession":
    """Connects, sends CONNECT and checks the CONNACK accepts it. The CONNACK is kept on the
    returned session for tests that look at it."""
    conn = RawSession(host, port, version, timeout)
    try:
        conn.send(mb.connect(client_id, version=version, **connect_args))
        conn.connack = mb.parse_connack(conn.read_packet(timeout), version)
        assert conn.connack.reason == 0, f"CONNECT refused with 0x{conn.connack.reason:02X}"
    except BaseException:
        conn.close()
        raise
    return conn


class RawSession(RawConnection):
    """A raw connection that knows its protocol version and keeps the state a client needs to
    read deliveries: broker-to-client topic aliases (spec 3.3.2.3.4)."""

    def __init__(self, host: str, port: int, version: int, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(host, port, timeout)
        self.version = version
        self.connack: Optional[mb.ConnAck] = None
        self.aliases: dict = {}

    def subscribe(self, packet_id: int, filters, props=None,
                  timeout: float = DEFAULT_TIMEOUT) -> list:
        """Sends SUBSCRIBE and returns the SUBACK's reason codes."""
        self.send(mb.subscribe(packet_id, filters, self.version, props))
        pkt = self.read_packet_of_type(mb.SUBACK, timeout)
        (ack_id,) = struct.unpack_from("!H", pkt.body, 0)
        assert ack_id == packet_id, f"SUBACK for {ack_id}, expected {packet_id}"
        return mb.parse_ack_reasons(pkt, self.version)

    def read_publish(self, timeout: float = DEFAULT_TIMEOUT, ack: bool = True) -> mb.Publish:
        """The next PUBLISH, with a topic alias resolved into `topic`. Acknowledges QoS 1 and
        runs the QoS 2 exchange when `ack` is set."""
        pkt = self.read_packet_of_type(mb.PUBLISH, timeout)
        msg = mb.parse_publish(pkt, self.version)
        alias = mb.prop_value(msg.props, mb.Prop.TOPIC_ALIAS)
        if alias is not None:
            if msg.topic:
                self.aliases[alias] = msg.topic
            else:
                assert alias in self.aliases, f"broker used unknown topic alias {alias}"
                msg.topic = self.aliases[alias]
        if ack and msg.qos == 1:
            self.send(mb.puback(msg.packet_id))
        elif ack and msg.qos == 2:
            self.send(mb.pubrec(msg.packet_id))
            self.expect_pubrel(msg.packet_id, timeout)
            self.send(mb.pubcomp(msg.packet_id))
        return msg

    def expect_pubrel(self, packet_id: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        """PUBREL for `packet_id`: "62 02 IDhi IDlo"; in 5.0 the long form with reason 0x00
        (and empty properties) means the same (spec 3.6.2.1), so it is accepted too."""
        pkt = self.read_packet_of_type(mb.PUBREL, timeout)
        short = mb.pubrel(packet_id)
        if self.version == mb.V5 and pkt.raw() != short:
            assert pkt.first_byte == 0x62 and pkt.body[:3] == mb.u16(packet_id) + b"\x00" \
                and pkt.body[3:] in (b"", b"\x00"), f"expected PUBREL {packet_id}, got {pkt}"
        else:
            assert mb.hexdump(pkt.raw()) == mb.hexdump(short), \
                f"expected [{mb.hexdump(short)}], got {pkt}"
