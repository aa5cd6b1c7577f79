"""TLS listeners: MQTT over TLS with mosquitto clients, paho and openssl s_client; client
certificates (none, optional, require); protocol versions; the certificate chain and ALPN;
non-TLS bytes and silent connections on a TLS port; many TLS clients across workers; and the
start-up errors a bad [listener.tls] must give.

Every broker here has the plain listener "local" and a TLS listener "secure". Keys and
certificates come from the session's throwaway PKI (support/pki.py): a root CA, an intermediate
that issues the server certificate (so the served chain matters), client certificates with
CN = device id from the root, and the bad ones (expired, rogue CA, self-signed).

A refusal is checked from both sides: the client gets no CONNACK, and the broker's log names
the reason for that very connection (its client port is in the line).
"""

import concurrent.futures
import re
import shutil
import ssl

import pytest

from support import mqtt_bytes as mb
from support.broker import (MOAT_BINARY, BrokerProcess, check_config, serve_until_exit,
                            write_moat_config)
from support.fixtures import both_versions
from support.moat_cli import moat_run
from support.mosquitto_clients import MosquittoSub, mosquitto_pub
from support.paho_client import PahoClient
from support.raw_client import RawConnection
from support.tls_client import (TlsConnection, attempt_connect, client_context, client_hello,
                                s_client)
from support.waiting import wait_until

pytestmark = pytest.mark.moat_only("Moat's [listener.tls] configuration and log lines")

SECURE = "secure"
MiB = 1 << 20
LOG_TIMEOUT = 5.0


# -- configuration helpers --------------------------------------------------------------------

def tls_listener(server, name=SECURE, **tls) -> dict:
    """A TLS listener spec serving `server` (a pki Credential); `tls` adds [listener.tls] keys."""
    settings = {"cert": server.cert, "key": server.key}
    settings.update(tls)
    return {"name": name, "transport": "tls", "tls": settings}


def mutual_tls_listener(pki, client_cert="require", **tls) -> dict:
    """A TLS listener that asks for client certificates from the test root CA."""
    return tls_listener(pki.server, ca=pki.root.cert, client_cert=client_cert, **tls)


def start_tls_broker(broker_factory, listener, **kwargs) -> BrokerProcess:
    return broker_factory(listeners=[listener], **kwargs)


# -- log helpers ------------------------------------------------------------------------------

def handshake_failure(broker, reason: str, client_port=None, timeout=LOG_TIMEOUT) -> str:
    """The broker's "TLS handshake failed" line whose reason starts with `reason` (literal
    text), for the connection from `client_port` when given; fails the test when no such line
    appears in time."""
    peer = rf"127\.0\.0\.1:{client_port}" if client_port else r"\S+"
    pattern = (rf'{peer} on listener "{SECURE}": TLS handshake failed'
               rf'(?: \(SNI "[^"]*"\))?: {re.escape(reason)}')
    match = broker.wait_for_log(pattern, timeout)
    assert match, f"no log line matching {pattern!r} within {timeout}s; log:\n{broker.log()}"
    return match.string


def connected_line(broker, client_id: str, listener=SECURE, timeout=LOG_TIMEOUT) -> str:
    pattern = (rf'client "{re.escape(client_id)}" connected from 127\.0\.0\.1:\d+ '
               rf'on listener "{listener}"')
    match = broker.wait_for_log(pattern, timeout)
    assert match, f"no log line matching {pattern!r} within {timeout}s; log:\n{broker.log()}"
    return match.string


def never_connected(broker, client_id: str) -> bool:
    return f'client "{client_id}" connected' not in broker.log()


# -- clients ----------------------------------------------------------------------------------

def mosquitto_tls_args(pki, cert=None) -> list:
    args = ["--cafile", str(pki.root.cert)]
    if cert is not None:
        args += ["--cert", str(cert.cert), "--key", str(cert.key)]
    return args


def paho_tls(pki, cert=None) -> dict:
    """paho's tls_set() arguments: trust the test root, present `cert` when given."""
    settings = {"ca_certs": str(pki.root.cert), "tls_version": ssl.PROTOCOL_TLS_CLIENT}
    if cert is not None:
        settings.update(certfile=str(cert.cert), keyfile=str(cert.key))
    return settings


def try_connect(broker, pki, client_id, cert=None, tls_version=None):
    context = client_context(pki.root.cert, cert, tls_version)
    return attempt_connect(broker.host, broker.ports[SECURE], context, client_id)


def assert_refused(attempt, broker, client_id, reason):
    """The client got no CONNACK, and the broker logged `reason` for its connection."""
    assert not attempt.accepted and attempt.connack_reason is None, \
        f"{client_id}: expected a refusal, got CONNACK 0x{attempt.connack_reason:02X}"
    handshake_failure(broker, reason, attempt.local_port)
    assert never_connected(broker, client_id), broker.log()


def assert_accepted(attempt, broker, client_id):
    assert attempt.accepted, f"{client_id}: refused ({attempt.refusal}); log:\n{broker.log()}"
    connected_line(broker, client_id)


# -- start-up report --------------------------------------------------------------------------

def test_tls_listener_reports_versions_client_certificate_mode_and_server_certificate(
        broker_factory, pki):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki))
    line = broker.listening_lines[SECURE]
    match = re.search(r"\(tls \(TLS 1\.2-1\.3, client certificates required, certificate "
                      r"/O=Moat Tests/CN=localhost \(expires in (\d+) days\)\)", line)
    assert match, line
    assert int(match.group(1)) in (29, 30), line  # the test PKI issues for 30 days


# -- end to end with outside clients ----------------------------------------------------------

@both_versions
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_mosquitto_clients_deliver_qos1_over_tls_verifying_the_server_by_name(
        broker_factory, pki, version, host):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    port = broker.ports[SECURE]
    tls = mosquitto_tls_args(pki)
    with MosquittoSub(host, port, ["meters/+/reading"], qos=1, version=version,
                      client_id="tls-display", extra=tls) as sub:
        sub.wait_subscribed()
        mosquitto_pub(host, port, "meters/7/reading", "42.5 kWh", qos=1, version=version,
                      extra=tls + ["-i", "tls-meter"])
        [message] = sub.receive(1)
    assert (message.topic, message.payload, message.qos) == ("meters/7/reading", b"42.5 kWh", 1)
    connected_line(broker, "tls-display")
    connected_line(broker, "tls-meter")


def test_rsa_server_certificate_serves_tls_1_2_with_an_ecdhe_rsa_suite_and_delivers(
        broker_factory, pki):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server_rsa))
    port = broker.ports[SECURE]
    result = s_client(port, "-tls1_2", "-CAfile", str(pki.root.cert), "-verify_return_error",
                      "-verify_hostname", "localhost")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Cipher is ECDHE-RSA-", result.stdout), result.stdout

    tls = mosquitto_tls_args(pki)
    with MosquittoSub("localhost", port, ["rsa/check"], qos=1, extra=tls) as sub:
        sub.wait_subscribed()
        mosquitto_pub("localhost", port, "rsa/check", "over RSA", qos=1, extra=tls)
        [message] = sub.receive(1)
    assert message.payload == b"over RSA"


@both_versions
def test_paho_clients_with_client_certificates_publish_and_subscribe_over_mutual_tls(
        broker_factory, pki, version):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki))
    port = broker.ports[SECURE]
    with PahoClient("localhost", port, "display-1", version,
                    tls=paho_tls(pki, pki.client("display-1"))) as sub, \
            PahoClient("localhost", port, "sensor-1", version,
                       tls=paho_tls(pki, pki.client("sensor-1"))) as pub:
        sub.connect()
        assert sub.subscribe("sensors/#", 1) == [1]
        pub.connect()
        pub.publish("sensors/sensor-1/temp", b"21.5", qos=1)
        message = sub.next_message()
    assert (message.topic, message.payload, message.qos) == ("sensors/sensor-1/temp", b"21.5", 1)
    connected_line(broker, "display-1")
    connected_line(broker, "sensor-1")


# -- client certificates ----------------------------------------------------------------------

@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_required_client_certificate_refuses_a_client_that_sends_none(
        broker_factory, pki, tls_version):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki))
    attempt = try_connect(broker, pki, "anonymous-device", tls_version=tls_version)
    assert_refused(attempt, broker, "anonymous-device", "no client certificate")


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_required_client_certificate_refuses_one_from_a_rogue_ca(
        broker_factory, pki, tls_version):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki))
    attempt = try_connect(broker, pki, "rogue-device", pki.rogue_client("rogue-device"),
                          tls_version)
    assert_refused(attempt, broker, "rogue-device", "client certificate from an unknown CA (")


def test_required_client_certificate_refuses_a_self_signed_one(broker_factory, pki):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki))
    attempt = try_connect(broker, pki, "selfish-device",
                          pki.self_signed_client("selfish-device"))
    assert_refused(attempt, broker, "selfish-device", "client certificate from an unknown CA (")


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_required_client_certificate_refuses_an_expired_one(broker_factory, pki, tls_version):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki))
    attempt = try_connect(broker, pki, "old-device", pki.expired_client("old-device"),
                          tls_version)
    assert_refused(attempt, broker, "old-device", "client certificate expired")


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_required_client_certificate_accepts_a_valid_one(broker_factory, pki, tls_version):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki))
    attempt = try_connect(broker, pki, "device-7", pki.client("device-7"), tls_version)
    assert_accepted(attempt, broker, "device-7")


def test_optional_client_certificate_accepts_clients_with_and_without_one(broker_factory, pki):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki, "optional"))
    assert_accepted(try_connect(broker, pki, "no-cert-device"), broker, "no-cert-device")
    assert_accepted(try_connect(broker, pki, "device-8", pki.client("device-8")), broker,
                    "device-8")


@pytest.mark.parametrize("bad_cert, reason", [
    ("rogue_client", "client certificate from an unknown CA ("),
    ("expired_client", "client certificate expired"),
], ids=["rogue-ca", "expired"])
def test_optional_client_certificate_still_refuses_an_invalid_one(broker_factory, pki, bad_cert,
                                                                  reason):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki, "optional"))
    cert = getattr(pki, bad_cert)("bad-device")
    assert_refused(try_connect(broker, pki, "bad-device", cert), broker, "bad-device", reason)


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_client_that_does_not_trust_the_server_is_logged_with_the_sni_it_asked_for(
        broker_factory, pki, tls_version):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    context = client_context(pki.rogue_root.cert, version=tls_version)
    attempt = attempt_connect(broker.host, broker.ports[SECURE], context, "suspicious-client",
                              server_name="localhost")
    assert attempt.connack_reason is None and "CERTIFICATE_VERIFY_FAILED" in attempt.refusal, \
        attempt
    line = handshake_failure(broker, "the client does not trust the server certificate "
                                     "(alert: unknown CA)", attempt.local_port)
    assert '(SNI "localhost")' in line, line


def test_client_without_a_cipher_the_listener_allows_gets_no_shared_cipher(broker_factory, pki):
    broker = start_tls_broker(broker_factory, tls_listener(
        pki.server, max_version="1.2", ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"))
    result = s_client(broker.ports[SECURE], "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert result.returncode != 0, result.stdout
    handshake_failure(broker, "no shared cipher")


# -- protocol versions, chain, ALPN (openssl s_client) ---------------------------------------

# OpenSSL 3.0 clients offer TLS 1.0/1.1 only at security level 0.
LEGACY = ["-cipher", "DEFAULT@SECLEVEL=0"]


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused(broker_factory, pki, flag):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    result = s_client(broker.ports[SECURE], flag, *LEGACY)
    assert result.returncode != 0, result.stdout
    assert "alert protocol version" in result.stderr, result.stderr
    handshake_failure(broker, "protocol version not allowed (")


@pytest.mark.parametrize("flag, protocol", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls_1_2_and_1_3_are_accepted(broker_factory, pki, flag, protocol):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    result = s_client(broker.ports[SECURE], flag, "-CAfile", str(pki.root.cert),
                      "-verify_return_error")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"New, {protocol}, Cipher is " in result.stdout, result.stdout


def test_min_version_1_3_refuses_tls_1_2_and_accepts_tls_1_3(broker_factory, pki):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server, min_version="1.3"))
    assert "TLS 1.3-1.3" in broker.listening_lines[SECURE]
    port = broker.ports[SECURE]
    refused = s_client(port, "-tls1_2", "-CAfile", str(pki.root.cert))
    assert refused.returncode != 0, refused.stdout
    handshake_failure(broker, "protocol version not allowed (")

    accepted = s_client(port, "-tls1_3", "-CAfile", str(pki.root.cert), "-verify_return_error")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "New, TLSv1.3, Cipher is " in accepted.stdout, accepted.stdout


def test_served_chain_includes_the_intermediate_so_the_root_alone_verifies_it(
        broker_factory, pki):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    result = s_client(broker.ports[SECURE], "-showcerts", "-CAfile", str(pki.root.cert),
                      "-verify_return_error", "-verify_hostname", "localhost")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("-----BEGIN CERTIFICATE-----") == 2, result.stdout
    assert re.search(r"^ 0 s:.*CN ?= ?localhost$", result.stdout, re.M), result.stdout
    assert re.search(r"^ 1 s:.*CN ?= ?Moat Test Intermediate CA$", result.stdout, re.M), \
        result.stdout
    assert "Verify return code: 0 (ok)" in result.stdout, result.stdout


def test_served_chain_is_the_cert_file_as_it_is_not_completed_from_ca(broker_factory, pki,
                                                                      tmp_path):
    """The broker serves exactly the certificates of its `cert` file. A file that holds only the
    leaf gets nothing added from `ca` (the CAs for client certificates), even when `ca` holds
    the intermediate that issued it; the broker says so at start. (OpenSSL would otherwise
    rebuild the chain from `ca` at every handshake, verifying the server's own certificate
    each time.)"""
    pem = pki.server.cert.read_text()
    end = "-----END CERTIFICATE-----"
    leaf_only = tmp_path / "server-leaf-only.crt"
    leaf_only.write_text(pem[:pem.index(end) + len(end)] + "\n")
    listener = tls_listener(pki.server, cert=str(leaf_only), ca=str(pki.intermediate.cert),
                            client_cert="optional")
    broker = start_tls_broker(broker_factory, listener)
    warning = broker.wait_for_log(
        re.escape(f'tls.cert "{leaf_only}" does not hold ') +
        r".*CN ?= ?Moat Test Intermediate CA, which issued .*CN ?= ?localhost",
        timeout=LOG_TIMEOUT)
    assert warning, broker.log()

    result = s_client(broker.ports[SECURE], "-showcerts", "-CAfile", str(pki.root.cert))
    assert result.stdout.count("-----BEGIN CERTIFICATE-----") == 1, result.stdout
    assert re.search(r"^ 0 s:.*CN ?= ?localhost$", result.stdout, re.M), result.stdout
    # Without the intermediate, a client that trusts only the root cannot verify the server.
    assert "Verify return code: 21 (unable to verify the first certificate)" in result.stdout, \
        result.stdout


@pytest.mark.parametrize("offered", ["mqtt", "h2,mqtt"])
def test_alpn_mqtt_is_selected_when_offered(broker_factory, pki, offered):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    result = s_client(broker.ports[SECURE], "-alpn", offered, "-CAfile", str(pki.root.cert),
                      "-verify_return_error")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALPN protocol: mqtt" in result.stdout, result.stdout


def test_alpn_offering_only_other_protocols_gets_no_alpn_but_the_handshake_succeeds(
        broker_factory, pki):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    result = s_client(broker.ports[SECURE], "-alpn", "h2", "-CAfile", str(pki.root.cert),
                      "-verify_return_error")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No ALPN negotiated" in result.stdout, result.stdout


def test_a_tls_connection_is_released_as_soon_as_its_close_notify_is_written(
        broker_factory, pki):
    # Its close_notify goes out after the DISCONNECT; the connection (and its TLS state, tens
    # of KiB) used to wait for the 2 s close grace anyway, so a connect storm held 2 s of
    # closed connections in memory.
    broker = start_tls_broker(broker_factory, tls_listener(pki.server), log_level="debug")
    port = broker.ports[SECURE]
    client = PahoClient("localhost", port, "short-visit", tls=paho_tls(pki))
    client.connect()
    client.disconnect()
    client.close()
    released = broker.wait_for_log(r'client "short-visit" \S+: connection released', 1.0)
    assert released, broker.log()


def test_memory_a_tls_connect_storm_freed_goes_back_to_the_system(broker_factory, pki):
    # glibc keeps freed memory in the workers' arenas: after a storm, the broker's resident size
    # stayed at the storm's peak (54 MB after two storms of 2,000, against 12 MB at start) until
    # the broker began trimming (every 10 s, once the heap is mostly free).
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    before = broker.memory()
    result = moat_run("bench", "connect", "--connections", "1500", "--concurrency", "100",
                      "--cafile", str(pki.root.cert), "-h", broker.host, "-p",
                      str(broker.ports[SECURE]), timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    peak = broker.memory("VmHWM")
    assert peak - before > 16 * MiB, f"the storm used only {(peak - before) / MiB:.1f} MiB"
    # Two of the broker's 10 s rounds and a margin: one may have come during the storm.
    try:
        wait_until(lambda: broker.memory() - before < (peak - before) / 2, 25.0, interval=0.5)
    except AssertionError:
        raise AssertionError(f"resident {before / MiB:.1f} MiB before, {peak / MiB:.1f} at the "
                             f"peak, {broker.memory() / MiB:.1f} after 25 s") from None
    assert "memory: freed heap given back to the system" in broker.log()


# -- what is not TLS on a TLS port ------------------------------------------------------------

def test_plain_mqtt_on_the_tls_port_is_closed_while_a_tls_client_keeps_working(
        broker_factory, pki):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server))
    port = broker.ports[SECURE]
    with PahoClient("localhost", port, "tls-bystander", tls=paho_tls(pki)) as bystander:
        bystander.connect()
        bystander.subscribe("bystander/inbox", 1)

        with RawConnection(broker.host, port) as plain:
            plain_port = plain.sock.getsockname()[1]
            plain.send(mb.connect("plain-client", version=mb.V311))
            # connect_timeout is 10 s: a close this soon is the broker refusing the bytes.
            before_close = plain.wait_closed(timeout=3.0)
        assert not before_close.startswith(b"\x20"), "a CONNACK came back over plain TCP"
        handshake_failure(broker, "not a TLS handshake (plain MQTT or another protocol on a "
                                  "TLS port?)", plain_port)
        assert never_connected(broker, "plain-client")

        bystander.publish("bystander/inbox", b"still here", qos=1)
        message = bystander.next_message()
    assert message.payload == b"still here"


@pytest.mark.parametrize("sent", ["nothing", "half a ClientHello"])
def test_tls_connection_without_a_complete_handshake_is_closed_after_connect_timeout(
        broker_factory, pki, sent):
    broker = start_tls_broker(broker_factory, tls_listener(pki.server),
                              limits={"connect_timeout": 1})
    with RawConnection(broker.host, broker.ports[SECURE]) as idle:
        if sent == "half a ClientHello":
            hello = client_hello()
            idle.send(hello[:len(hello) // 2])
        took = idle.expect_closed(timeout=4.0)
    assert 0.8 <= took <= 3.0, f"closed after {took:.2f}s, connect_timeout is 1s"


# -- many clients across workers --------------------------------------------------------------

def test_twenty_mutual_tls_clients_across_two_workers_each_get_their_own_message(
        broker_factory, pki):
    broker = start_tls_broker(broker_factory, mutual_tls_listener(pki), workers=2)
    port = broker.ports[SECURE]
    ids = [f"fleet-{i:02d}" for i in range(20)]
    clients = [PahoClient("localhost", port, cid, tls=paho_tls(pki, pki.client(cid)))
               for cid in ids]
    try:
        # All handshakes and CONNECTs at once: connections move between workers after CONNECT.
        with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
            list(pool.map(lambda c: c.connect(timeout=10), clients))
        for client in clients:
            assert client.subscribe(f"fleet/{client.client_id}/inbox", 1) == [1]
        # Each client writes to the next one's inbox, so every message crosses connections.
        for i, client in enumerate(clients):
            target = ids[(i + 1) % len(ids)]
            client.publish(f"fleet/{target}/inbox", f"from {client.client_id}".encode(), qos=1)
        for i, client in enumerate(clients):
            [message] = client.receive(1)
            assert (message.topic, message.payload) == (
                f"fleet/{client.client_id}/inbox", f"from {ids[i - 1]}".encode())
    finally:
        for client in clients:
            client.close()
    for cid in ids:
        connected_line(broker, cid)


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
def test_connect_subscribe_and_publish_in_one_tls_write_survive_the_move_between_workers(
        broker_factory, pki, tls_version):
    # The SUBSCRIBE and PUBLISH behind CONNECT are already read (and decrypted, or still
    # encrypted) when the connection moves to its worker; none of them may be lost.
    broker = start_tls_broker(broker_factory, tls_listener(pki.server), workers=2)
    context = client_context(pki.root.cert, version=tls_version)
    connections = []
    try:
        for i in range(10):
            conn = TlsConnection(broker.host, broker.ports[SECURE], context)
            connections.append(conn)
            topic = f"pipelined/{i}"
            conn.send(mb.connect(f"pipelined-{i}") + mb.subscribe(1, [(topic, 1)])
                      + mb.publish(topic, f"payload {i}", qos=1, packet_id=2))
        for i, conn in enumerate(connections):
            assert mb.parse_connack(conn.read_packet(), mb.V311).reason == 0
            suback = conn.read_packet_of_type(mb.SUBACK)
            assert mb.parse_ack_reasons(suback, mb.V311) == [1]
            packets = [conn.read_packet(), conn.read_packet()]  # in either order
            by_type = {p.type: p for p in packets}
            assert sorted(by_type) == [mb.PUBLISH, mb.PUBACK], [str(p) for p in packets]
            assert by_type[mb.PUBACK].raw() == mb.puback(2)
            message = mb.parse_publish(by_type[mb.PUBLISH], mb.V311)
            assert (message.topic, message.payload) == (f"pipelined/{i}".encode(),
                                                        f"payload {i}".encode())
    finally:
        for conn in connections:
            conn.close()


# -- start-up errors --------------------------------------------------------------------------

def line_of(path, needle) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


BAD_TLS_SETTINGS = {
    # id: (listener spec from pki and tmp_path, regexes the message must match)
    "key-not-matching-cert": (
        lambda pki, tmp: tls_listener(pki.server, key=pki.client("wrong-key").key),
        [r"does not match|mismatch"]),
    "missing-cert-file": (
        lambda pki, tmp: tls_listener(pki.server, cert=tmp / "absent-server.crt"),
        [r"absent-server\.crt"]),
    "expired-server-cert": (
        lambda pki, tmp: tls_listener(pki.expired_server),
        ["expired"]),
    "tls-transport-without-tls-table": (
        lambda pki, tmp: {"name": SECURE, "transport": "tls"},
        [r"\[listener\.tls\]"]),
    "client-cert-required-without-ca": (
        lambda pki, tmp: tls_listener(pki.server, client_cert="require"),
        [r"client_cert needs ca"]),
}


@pytest.mark.parametrize("case", list(BAD_TLS_SETTINGS))
def test_broker_refuses_to_start_with_a_bad_tls_setting_naming_listener_and_problem(
        tmp_path, pki, case):
    make_listener, problems = BAD_TLS_SETTINGS[case]
    config = write_moat_config(tmp_path / "broker", listeners=[make_listener(pki, tmp_path)])
    result = serve_until_exit(config)
    message = result.stdout + result.stderr
    assert result.returncode != 0, message
    assert "listening on" not in message, message
    assert f'"{SECURE}"' in message, f"listener not named in: {message!r}"
    for problem in problems:
        assert re.search(problem, message), f"{problem!r} not in: {message!r}"


@pytest.mark.parametrize("case", ["tls-transport-without-tls-table",
                                  "client-cert-required-without-ca"])
def test_check_config_rejects_a_tls_listener_that_cannot_work(tmp_path, pki, case):
    make_listener, problems = BAD_TLS_SETTINGS[case]
    config = write_moat_config(tmp_path / "broker", listeners=[make_listener(pki, tmp_path)])
    result = check_config(config)
    assert result.returncode != 0, result.stderr
    assert str(config) in result.stderr, result.stderr
    for problem in problems:
        assert re.search(problem, result.stderr), f"{problem!r} not in: {result.stderr!r}"


@pytest.mark.parametrize("key", ["min_version", "max_version"])
def test_check_config_rejects_tls_1_1_naming_file_and_line(tmp_path, pki, key):
    config = write_moat_config(tmp_path / "broker",
                               listeners=[tls_listener(pki.server, **{key: "1.1"})])
    result = check_config(config)
    assert result.returncode != 0, result.stderr
    line = line_of(config, f'{key} = "1.1"')
    assert re.search(rf"{re.escape(str(config))}:{line}\b", result.stderr), \
        f"{config}:{line} not named in: {result.stderr!r}"
    assert key in result.stderr, result.stderr


def test_check_config_accepts_a_valid_mutual_tls_listener(tmp_path, pki):
    config = write_moat_config(tmp_path / "broker", listeners=[mutual_tls_listener(pki)])
    result = check_config(config)
    assert result.returncode == 0, result.stderr


def test_relative_certificate_paths_are_read_from_the_config_files_directory(tmp_path, pki):
    etc = tmp_path / "etc"
    etc.mkdir()
    for source, name in [(pki.server.cert, "server.crt"), (pki.server.key, "server.key"),
                         (pki.root.cert, "ca.crt")]:
        shutil.copy(source, etc / name)
    listener = {"name": SECURE, "transport": "tls",
                "tls": {"cert": "server.crt", "key": "server.key", "ca": "ca.crt",
                        "client_cert": "optional"}}
    config = write_moat_config(etc, listeners=[listener])
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    # Started by hand: the broker's working directory must differ from the config's.
    broker = BrokerProcess([str(MOAT_BINARY), "serve", "--config", str(config)], elsewhere,
                           {}, "moat")
    try:
        match = broker.wait_for_log(rf'listener "{SECURE}" listening on [0-9.]+:(\d+)', 10.0)
        assert match, broker.log()
        context = client_context(pki.root.cert)
        attempt = attempt_connect(broker.host, int(match.group(1)), context, "relative-paths")
        assert attempt.accepted, f"{attempt.refusal}; log:\n{broker.log()}"
    finally:
        code = broker.stop()
    assert code == 0, broker.log()
