"""TLS reload without a restart: `moat serve` re-reads the files of every TLS listener (cert, key,
ca, crl, psk_file) from the same paths on SIGHUP, and by itself when one of them changes (its
mtime or size; looked at every 2 seconds). The configuration file is not read again.

What the tests check, from the outside:
  - a renewed server certificate is what new connections get (the serial `openssl s_client`
    shows), after SIGHUP or by the file change alone, while connections made before keep
    working;
  - SIGHUP reloads every TLS listener, from the paths it started with, whatever the
    configuration file says now;
  - a reload that cannot work (a broken key, a key of another certificate, an expired
    certificate, a missing file) is logged with its reason and changes nothing;
  - a reloaded CRL disconnects the live clients whose certificates it revokes (5.0: DISCONNECT
    0x87 Not authorized, then the close; 3.1.1: the close) and no others, and refuses those
    certificates at the next handshake; a client whose handshake was under way during the
    reload does not slip through either.

The listener's files are copies in the test's own directory, so a test can replace them as an
operator would (write a temporary file beside the target, then rename it over the target)
without touching the session's PKI. The copies are dated an hour back when first placed: files
installed a while ago, so a replacement differs in mtime even at one-second resolution.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from support import mqtt_bytes as mb
from support.broker import BrokerProcess, write_moat_config
from support.deploy import install, install_long_ago
from support.paho_client import PahoClient
from support.pki import Credential, Pki
from support.tls_client import (Attempt, TlsConnection, attempt_connect, client_context,
                                s_client)

pytestmark = pytest.mark.moat_only("Moat's TLS reload (SIGHUP and file watching) and its log")

SECURE = "secure"
LOG_TIMEOUT = 5.0
# The broker looks at the files every 2 s: a change is picked up within one period and a
# reload, with room for a slow machine.
WATCH_TIMEOUT = 8.0

NOT_AUTHORIZED = 0x87


# -- the listener's files ---------------------------------------------------------------------

class ListenerFiles:
    """The certificate and key a TLS listener serves, as copies in `directory`."""

    def __init__(self, directory: Path, server: Credential):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.cert = install_long_ago(server.cert, directory / "server.crt")
        self.key = install_long_ago(server.key, directory / "server.key")

    def replace_with(self, server: Credential) -> None:
        """Both files replaced by `server`'s, one rename each."""
        install(server.cert, self.cert)
        install(server.key, self.key)


def tls_listener(files: ListenerFiles, name: str = SECURE, **tls) -> dict:
    settings = {"cert": files.cert, "key": files.key}
    settings.update(tls)
    return {"name": name, "transport": "tls", "tls": settings}


def send_sighup(broker: BrokerProcess) -> None:
    assert broker.running(), f"broker exited before SIGHUP; log:\n{broker.log()}"
    os.kill(broker.pid, signal.SIGHUP)


# -- certificates as the outside sees them ----------------------------------------------------

def serial_of(pem: str) -> str:
    """The serial number of the first certificate in `pem`, as `openssl x509 -serial` prints
    it (upper-case hex)."""
    result = subprocess.run(["openssl", "x509", "-serial", "-noout"], input=pem,
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().removeprefix("serial=")


def credential_serial(credential: Credential) -> str:
    return serial_of(credential.cert.read_text())


def served_serial(broker: BrokerProcess, pki: Pki, listener: str = SECURE) -> str:
    """The serial of the certificate a new connection is given, its chain verified against the
    test root and its name against "localhost"."""
    result = s_client(broker.ports[listener], "-showcerts", "-CAfile", str(pki.root.cert),
                      "-verify_return_error", "-verify_hostname", "localhost")
    assert result.returncode == 0, result.stdout + result.stderr
    leaf = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", result.stdout,
                     re.S)
    assert leaf, result.stdout
    return serial_of(leaf.group(0))


# -- the broker's log -------------------------------------------------------------------------

def wait_for_line(broker: BrokerProcess, pattern: str, timeout: float = LOG_TIMEOUT) -> re.Match:
    """The first log line matching `pattern` (a regex); fails the test when none appears in
    time."""
    match = broker.wait_for_log(pattern, timeout)
    assert match, f"no log line matching {pattern!r} within {timeout}s; log:\n{broker.log()}"
    return match


def reloaded(broker: BrokerProcess, serial: str, listener: str = SECURE,
             timeout: float = LOG_TIMEOUT) -> re.Match:
    """The "TLS reloaded" line of `listener` naming the certificate with `serial`."""
    return wait_for_line(broker, rf'listener "{re.escape(listener)}": TLS reloaded '
                                 rf'\(certificate (?P<subject>.+) serial (?i:{serial}), '
                                 rf'expires in (?P<days>\d+) days\)', timeout)


def reload_failed(broker: BrokerProcess, problem: str, listener: str = SECURE) -> str:
    """The reason of the "TLS reload failed" line of `listener` whose reason matches `problem`
    (a regex)."""
    match = wait_for_line(broker, rf'listener "{re.escape(listener)}": TLS reload failed, '
                                  rf'keeping the previous settings: (?P<reason>.*(?:{problem}).*)')
    return match.group("reason")


def handshake_refused(broker: BrokerProcess, client_port: int, reason: str) -> str:
    return wait_for_line(broker, rf'127\.0\.0\.1:{client_port} on listener "{SECURE}": TLS '
                                 rf'handshake failed(?: \(SNI "[^"]*"\))?: {re.escape(reason)}'
                         ).string


def revoked_and_disconnected(broker: BrokerProcess, client_id: str, client_port: int,
                             serial: str) -> str:
    return wait_for_line(broker, rf'client "{re.escape(client_id)}" 127\.0\.0\.1:{client_port}: '
                                 rf'client certificate serial (?i:{serial}) revoked by the '
                                 rf'reloaded CRL; disconnecting').string


# -- clients ----------------------------------------------------------------------------------

def paho_tls(pki: Pki, cert: Optional[Credential] = None) -> dict:
    """paho's tls_set() arguments: trust the test root, present `cert` when given."""
    settings = {"ca_certs": str(pki.root.cert), "tls_version": ssl.PROTOCOL_TLS_CLIENT}
    if cert is not None:
        settings.update(certfile=str(cert.cert), keyfile=str(cert.key))
    return settings


def tls_session(broker: BrokerProcess, pki: Pki, device: str, version: int) -> TlsConnection:
    """A raw TLS connection with the client certificate of `device` (also its client id) whose
    CONNECT the broker accepted."""
    context = client_context(pki.root.cert, pki.client(device))
    conn = TlsConnection(broker.host, broker.ports[SECURE], context)
    try:
        conn.send(mb.connect(device, version=version))
        connack = mb.parse_connack(conn.read_packet(), version)
        assert connack.reason == 0, f"{device}: CONNACK 0x{connack.reason:02X}"
    except BaseException:
        conn.close()
        raise
    return conn


def try_connect(broker: BrokerProcess, pki: Pki, device: str, version: int) -> Attempt:
    """A new connection with the client certificate of `device`: what came of it."""
    context = client_context(pki.root.cert, pki.client(device))
    return attempt_connect(broker.host, broker.ports[SECURE], context, f"{device}-again", version)


class HeldHandshake:
    """A TLS 1.3 client whose handshake is done on its side but whose last flight (its
    certificate, CertificateVerify and Finished) is held back until release(): the broker has
    not seen the client's certificate yet. Driven over memory BIOs on a plain socket."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext,
                 timeout: float = LOG_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.local_port = self.sock.getsockname()[1]
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname="localhost")
        try:
            self._handshake_until_the_last_flight(time.monotonic() + timeout)
        except BaseException:
            self.sock.close()
            raise

    def _handshake_until_the_last_flight(self, deadline: float) -> None:
        for _ in range(100):  # a handful of TLS records in practice
            try:
                self.tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                pass
            flight = self._outgoing.read()
            if flight:
                self.sock.sendall(flight)  # the ClientHello
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            data = self.sock.recv(65536)
            assert data, "the broker closed the connection during the handshake"
            self._incoming.write(data)
        raise AssertionError("the handshake did not finish on the client's side")

    def release(self, then: bytes) -> bytes:
        """Sends the held flight and `then` (MQTT bytes, encrypted), and returns everything
        the broker sends until it closes the connection. A TLS alert counts as a close and
        ends the bytes with b"<alert: ...>". Fails if the connection is still open after
        LOG_TIMEOUT."""
        self.tls.write(then)
        self.sock.sendall(self._outgoing.read())
        received = b""
        deadline = time.monotonic() + LOG_TIMEOUT
        for _ in range(1000):
            try:
                chunk = self.tls.read(65536)
                if not chunk:  # the broker's close_notify: an SSLObject reads it as b""
                    return received
                received += chunk
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return received
            except ssl.SSLError as alert:
                return received + f"<alert: {alert}>".encode()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                return received
            if not data:
                return received
            self._incoming.write(data)
        raise AssertionError(f"the broker kept the connection open for {LOG_TIMEOUT}s after "
                             f"sending [{mb.hexdump(received)}]")

    def close(self) -> None:
        self.sock.close()


# -- a renewed server certificate -------------------------------------------------------------

@pytest.mark.parametrize("trigger", ["sighup", "file-change"])
def test_renewed_server_certificate_reaches_new_connections_while_live_ones_stay_up(
        broker_factory, pki, tmp_path, trigger):
    old, renewed = pki.server, pki.renewed_server
    old_serial, renewed_serial = credential_serial(old), credential_serial(renewed)
    assert old_serial != renewed_serial
    files = ListenerFiles(tmp_path / "tls", old)
    broker = broker_factory(listeners=[tls_listener(files)])
    port = broker.ports[SECURE]
    assert served_serial(broker, pki) == old_serial

    with PahoClient("localhost", port, "before-renewal", tls=paho_tls(pki)) as live:
        live.connect()
        assert live.subscribe("renewal/news", 1) == [1]

        files.replace_with(renewed)
        if trigger == "sighup":
            send_sighup(broker)
        line = reloaded(broker, renewed_serial,
                        timeout=LOG_TIMEOUT if trigger == "sighup" else WATCH_TIMEOUT)
        assert line.group("subject") == renewed.subject, line.string
        assert int(line.group("days")) in (29, 30), line.string  # the test PKI issues 30 days

        assert served_serial(broker, pki) == renewed_serial
        with PahoClient("localhost", port, "after-renewal", tls=paho_tls(pki)) as newcomer:
            newcomer.connect()
            newcomer.publish("renewal/news", b"new certificate in force", qos=1)
        message = live.next_message()
        assert message.payload == b"new certificate in force"
        assert live.disconnect_reason is None, "the live connection was dropped by the reload"


def test_sighup_reloads_every_tls_listener_even_when_no_file_changed(broker_factory, pki,
                                                                     tmp_path):
    ec_files = ListenerFiles(tmp_path / "ec", pki.server)
    rsa_files = ListenerFiles(tmp_path / "rsa", pki.server_rsa)
    broker = broker_factory(listeners=[tls_listener(ec_files, "secure-ec"),
                                       tls_listener(rsa_files, "secure-rsa")])
    assert "TLS reloaded" not in broker.log(), broker.log()

    send_sighup(broker)
    reloaded(broker, credential_serial(pki.server), "secure-ec")
    reloaded(broker, credential_serial(pki.server_rsa), "secure-rsa")
    assert 'listener "local": TLS' not in broker.log(), "the plain listener has no TLS to reload"
    assert served_serial(broker, pki, "secure-ec") == credential_serial(pki.server)
    assert served_serial(broker, pki, "secure-rsa") == credential_serial(pki.server_rsa)


def test_sighup_rereads_the_same_paths_and_not_the_configuration_file(broker_factory, pki,
                                                                      tmp_path):
    files = ListenerFiles(tmp_path / "tls", pki.server)
    broker = broker_factory(listeners=[tls_listener(files)])
    elsewhere = ListenerFiles(tmp_path / "elsewhere", pki.renewed_server)
    # The config now names other files; a reload must not see that.
    write_moat_config(broker.workdir, listeners=[tls_listener(elsewhere)])

    send_sighup(broker)
    reloaded(broker, credential_serial(pki.server))
    assert credential_serial(pki.renewed_server).lower() not in broker.log().lower(), \
        broker.log()
    assert served_serial(broker, pki) == credential_serial(pki.server)


# -- a reload that cannot work ----------------------------------------------------------------

def break_key_with_garbage(files: ListenerFiles, pki: Pki) -> None:
    files.key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")


def install_the_renewed_key_only(files: ListenerFiles, pki: Pki) -> None:
    install(pki.renewed_server.key, files.key)


def install_an_expired_certificate(files: ListenerFiles, pki: Pki) -> None:
    files.replace_with(pki.expired_server)


def remove_the_certificate(files: ListenerFiles, pki: Pki) -> None:
    files.cert.unlink()


BROKEN_FILES = {
    # id: (what the operator did, a regex the logged reason must match)
    "garbage-key": (break_key_with_garbage, r"server\.key"),
    "key-of-another-certificate": (install_the_renewed_key_only, r"does not match|mismatch"),
    "expired-certificate": (install_an_expired_certificate, r"expired"),
    "missing-certificate": (remove_the_certificate, r"server\.crt"),
}


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_reload_of_broken_files_is_logged_and_the_previous_certificate_stays_in_force(
        broker_factory, pki, tmp_path, case):
    breakage, problem = BROKEN_FILES[case]
    files = ListenerFiles(tmp_path / "tls", pki.server)
    broker = broker_factory(listeners=[tls_listener(files)])

    breakage(files, pki)
    send_sighup(broker)
    reload_failed(broker, problem)

    assert served_serial(broker, pki) == credential_serial(pki.server)
    attempt = attempt_connect(broker.host, broker.ports[SECURE], client_context(pki.root.cert),
                              "after-failed-reload")
    assert attempt.accepted, f"{attempt.refusal}; log:\n{broker.log()}"
    assert "TLS reloaded" not in broker.log(), broker.log()


# -- a reloaded CRL ---------------------------------------------------------------------------

def test_reloaded_crl_disconnects_the_live_clients_it_revokes_and_refuses_them_afterwards(
        broker_factory, pki, tmp_path):
    # Device ids (the CN of each client certificate) by protocol version.
    to_revoke = {mb.V5: "crl-revoked-5", mb.V311: "crl-revoked-311"}
    to_keep = {mb.V5: "crl-kept-5", mb.V311: "crl-kept-311"}
    files = ListenerFiles(tmp_path / "tls", pki.server)
    crl = install_long_ago(pki.crl(pki.root), files.directory / "root.crl")  # revokes nothing
    broker = broker_factory(listeners=[tls_listener(files, ca=pki.root.cert,
                                                    client_cert="require", crl=[crl])])
    port = broker.ports[SECURE]

    doomed: Dict[int, TlsConnection] = {}
    survivors: List[PahoClient] = []
    try:
        for version, device in to_revoke.items():
            doomed[version] = tls_session(broker, pki, device, version)
        for version, device in to_keep.items():
            client = PahoClient("localhost", port, device, version,
                                tls=paho_tls(pki, pki.client(device)))
            survivors.append(client)
            client.connect()
            assert client.subscribe("fleet/status/#", 1) == [1]

        install(pki.crl(pki.root, [pki.client(d) for d in to_revoke.values()]), crl)
        send_sighup(broker)
        reloaded(broker, credential_serial(pki.server))

        disconnect = doomed[mb.V5].read_packet_of_type(mb.DISCONNECT)
        assert disconnect.body[:1] == bytes([NOT_AUTHORIZED]), \
            f"DISCONNECT [{mb.hexdump(disconnect.body)}], expected reason 0x87 Not authorized"
        doomed[mb.V5].expect_closed()
        doomed[mb.V311].expect_closed()  # 3.1.1 has no DISCONNECT from the server
        for version, device in to_revoke.items():
            revoked_and_disconnected(broker, device, doomed[version].local_port,
                                     credential_serial(pki.client(device)))

        for client in survivors:
            client.publish(f"fleet/status/{client.client_id}", b"still here", qos=1)
        for client in survivors:
            topics = sorted(message.topic for message in client.receive(len(survivors)))
            assert topics == sorted(f"fleet/status/{device}" for device in to_keep.values())
            assert client.disconnect_reason is None, f"{client.client_id} was disconnected"
    finally:
        for conn in doomed.values():
            conn.close()
        for client in survivors:
            client.close()
    for device in to_keep.values():
        assert not re.search(rf'client "{device}" .*revoked', broker.log()), broker.log()

    for version, device in to_revoke.items():
        attempt = try_connect(broker, pki, device, version)
        assert attempt.connack_reason is None, \
            f"{device}: revoked certificate accepted (CONNACK 0x{attempt.connack_reason:02X})"
        handshake_refused(broker, attempt.local_port, "client certificate revoked")
    for version, device in to_keep.items():
        attempt = try_connect(broker, pki, device, version)
        assert attempt.accepted, f"{device}: {attempt.refusal}; log:\n{broker.log()}"


def test_client_whose_handshake_straddles_a_crl_reload_that_revokes_it_does_not_stay_connected(
        broker_factory, pki, tmp_path):
    # One worker, so the revocation of a live client ("canary") shows that the sweep of live
    # connections is over before the held client finishes its handshake.
    files = ListenerFiles(tmp_path / "tls", pki.server)
    crl = install_long_ago(pki.crl(pki.root), files.directory / "root.crl")  # revokes nothing
    broker = broker_factory(listeners=[tls_listener(files, ca=pki.root.cert,
                                                    client_cert="require", crl=[crl])],
                            workers=1)
    canary = tls_session(broker, pki, "crl-canary", mb.V5)
    context = client_context(pki.root.cert, pki.client("crl-straddler"), version="1.3")
    straddler = HeldHandshake(broker.host, broker.ports[SECURE], context)
    try:
        install(pki.crl(pki.root, [pki.client("crl-canary"), pki.client("crl-straddler")]), crl)
        send_sighup(broker)
        reloaded(broker, credential_serial(pki.server))
        revoked_and_disconnected(broker, "crl-canary", canary.local_port,
                                 credential_serial(pki.client("crl-canary")))

        straddler.release(then=mb.connect("crl-straddler", version=mb.V5))
    finally:
        straddler.close()
        canary.close()
    # release() saw the connection end. Either the new CRL refused the certificate at the end
    # of the handshake, or the client got in on the old CRL and was then disconnected as revoked.
    let_in = re.search(rf'client "crl-straddler" connected from 127\.0\.0\.1:'
                       rf'{straddler.local_port} ', broker.log())
    if let_in:
        revoked_and_disconnected(broker, "crl-straddler", straddler.local_port,
                                 credential_serial(pki.client("crl-straddler")))
    else:
        handshake_refused(broker, straddler.local_port, "client certificate revoked")
