"""TLS clients for tests of the broker's TLS listeners.

- client_context(): a Python ssl context that trusts a test CA, optionally with a client
  certificate and fixed protocol versions.
- TlsConnection: RawConnection over TLS, so exact MQTT bytes can be sent and read the same way.
  A TLS alert from the broker counts as a close, and its text is kept in `alert`.
- attempt_connect(): TLS handshake + CONNECT, and what came of it: a CONNACK, or the refusal.
  With TLS 1.3 a client finishes its handshake before the server has checked the client's
  certificate, so a refusal can arrive as an alert after CONNECT is sent; both count.
- client_hello(): the bytes of a real ClientHello, for tests that send part of one.
- s_client(): `openssl s_client`, always with stdin closed and a timeout.
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from support import mqtt_bytes as mb
from support.pki import Credential
from support.raw_client import DEFAULT_TIMEOUT, ConnectionClosed, RawConnection, Sendable

OPENSSL = "openssl"
S_CLIENT_TIMEOUT = 10.0

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def client_context(ca: Path, cert: Optional[Credential] = None, version: Optional[str] = None,
                   alpn: Optional[list] = None) -> ssl.SSLContext:
    """Verifies the server against `ca` (name checked); `version` "1.2" or "1.3" pins it."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    if version is not None:
        context.minimum_version = context.maximum_version = TLS_VERSIONS[version]
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


class HandshakeFailed(Exception):
    """The TLS handshake failed on the client's side. `local_port` is the client's port, which
    the broker names in its log ("127.0.0.1:PORT on listener ...")."""

    def __init__(self, reason: str, local_port: int):
        super().__init__(reason)
        self.reason = reason
        self.local_port = local_port


class TlsConnection(RawConnection):
    """A TLS client connection; the handshake is done when the constructor returns (it raises
    HandshakeFailed when the handshake fails on the client's side)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext,
                 server_name: str = "localhost", timeout: float = DEFAULT_TIMEOUT):
        super().__init__(host, port, timeout)
        self.alert: Optional[str] = None
        self.local_port = self.sock.getsockname()[1]
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=server_name)
        except ssl.SSLError as exc:
            self.sock.close()
            raise HandshakeFailed(str(exc), self.local_port) from None
        except BaseException:
            self.sock.close()
            raise

    def send(self, data: Sendable) -> None:
        try:
            super().send(data)
        except ssl.SSLError as exc:
            self.alert = str(exc)
            self.closed_by_peer = True

    def _fill(self, deadline: float) -> bool:
        try:
            return super()._fill(deadline)
        except ssl.SSLError as exc:
            self.alert = str(exc)
            self.closed_by_peer = True
            return False


@dataclass
class Attempt:
    """What a client saw: `connack_reason` when the broker answered CONNECT, else `refusal`
    (the client's ssl error or the alert). `local_port` identifies the connection in the
    broker's log."""
    local_port: int
    connack_reason: Optional[int] = None
    refusal: Optional[str] = None

    @property
    def accepted(self) -> bool:
        return self.connack_reason == 0


def attempt_connect(host: str, port: int, context: ssl.SSLContext, client_id: str,
                    version: int = mb.V311, server_name: str = "localhost",
                    timeout: float = DEFAULT_TIMEOUT) -> Attempt:
    """TLS handshake, CONNECT, and the CONNACK or the refusal. A broker that neither answers
    nor closes within `timeout` fails the test (AssertionError)."""
    try:
        conn = TlsConnection(host, port, context, server_name, timeout)
    except HandshakeFailed as failed:
        return Attempt(failed.local_port, refusal=f"handshake failed: {failed.reason}")
    with conn:
        conn.send(mb.connect(client_id, version=version))
        try:
            packet = conn.read_packet(timeout)
        except ConnectionClosed:
            return Attempt(conn.local_port, refusal=conn.alert or "closed without an alert")
        return Attempt(conn.local_port,
                       connack_reason=mb.parse_connack(packet, version).reason)


def client_hello(server_name: str = "localhost") -> bytes:
    """The first flight of a real TLS client (a ClientHello record), made in memory."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # nothing is verified: no reply comes
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100, f"not a ClientHello record: {hello!r}"
    return hello


def s_client(port: int, *args: str, host: str = "127.0.0.1",
             timeout: float = S_CLIENT_TIMEOUT) -> subprocess.CompletedProcess:
    """`openssl s_client -connect host:port ARGS < /dev/null`: handshake, then close."""
    argv = [OPENSSL, "s_client", "-connect", f"{host}:{port}", *args]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
