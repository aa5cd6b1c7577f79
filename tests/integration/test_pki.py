"""`moat pki`, the small CA, used the way an operator would: make a CA, a server certificate and
a device certificate with it, run a mutual-TLS listener on those files, let a device publish,
revoke the device and see the broker pick up the rewritten CRL by itself and refuse it.
Outside tools judge the results: mosquitto_pub/mosquitto_sub as the devices, `openssl x509`
for what the certificates say, stat for the key files' modes.

Also `moat serve` with no configuration: its embedded default makes a CA and a server
certificate under var/pki on first run and serves TLS on 127.0.0.1:8883 with them, next to the
plain 127.0.0.1:1883. Those ports are fixed, so that test is skipped when either is taken.
"""

from __future__ import annotations

import re
import socket
import stat
import subprocess
from pathlib import Path
from typing import List

import pytest

from support.broker import MOAT_BINARY, START_TIMEOUT, BrokerProcess
from support.mosquitto_clients import MOSQUITTO_PUB, MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.moat_only("Moat's own CA command and embedded default")

SECURE = "secure"
COMMAND_TIMEOUT = 30.0
LOG_TIMEOUT = 5.0
# The broker looks at its TLS files every 2 s; a changed CRL is picked up within one period and a
# reload, with room for a slow machine.
WATCH_TIMEOUT = 8.0


# -- running `moat pki` -----------------------------------------------------------------------

def moat_pki(ca_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`moat pki <args> --dir ca_dir`, as text."""
    return subprocess.run([str(MOAT_BINARY), "pki", *args, "--dir", str(ca_dir)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=COMMAND_TIMEOUT)


def pki_ok(ca_dir: Path, *args: str) -> str:
    """Runs `moat pki` and returns its stdout; fails the test on a non-zero exit."""
    result = moat_pki(ca_dir, *args)
    assert result.returncode == 0, (f"moat pki {' '.join(args)} exited {result.returncode}: "
                                    f"{result.stderr}")
    return result.stdout


def pki_error(ca_dir: Path, *args: str, code: int = 1) -> str:
    """Runs `moat pki`, expecting exit `code` and a message on stderr; returns the message."""
    result = moat_pki(ca_dir, *args)
    assert result.returncode == code, (f"moat pki {' '.join(args)}: expected exit {code}, got "
                                       f"{result.returncode}\n{result.stdout}{result.stderr}")
    assert result.stderr.strip(), "no message on stderr"
    return result.stderr


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def x509_text(cert: Path) -> str:
    result = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(cert)],
                            capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def serial_of(cert: Path) -> str:
    result = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(cert)],
                            capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().removeprefix("serial=")


def listed(ca_dir: Path) -> List[List[str]]:
    """The rows of `moat pki list` (header left out), split into columns."""
    lines = pki_ok(ca_dir, "list").splitlines()
    assert lines and lines[0].split() == ["SERIAL", "KIND", "CN", "NOT", "AFTER", "STATUS",
                                          "FILE"], lines
    return [line.split() for line in lines[1:]]


# -- devices ----------------------------------------------------------------------------------

def device_tls(ca_dir: Path, device: str) -> List[str]:
    """mosquitto client flags for `device`: trust the CA, present the device's certificate."""
    return ["--cafile", str(ca_dir / "ca.crt"),
            "--cert", str(ca_dir / "clients" / f"{device}.crt"),
            "--key", str(ca_dir / "clients" / f"{device}.key")]


def publish_as(ca_dir: Path, device: str, port: int, topic: str, message: str,
               client_id: str = "") -> subprocess.CompletedProcess:
    """mosquitto_pub over TLS with the certificate of `device` (client id `device` unless
    given), QoS 1, so it waits for the broker's PUBACK."""
    argv = [MOSQUITTO_PUB, "-h", "localhost", "-p", str(port), "-t", topic, "-m", message,
            "-q", "1", "-i", client_id or device, *device_tls(ca_dir, device)]
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=COMMAND_TIMEOUT)


def wait_for_line(broker: BrokerProcess, pattern: str, timeout: float = LOG_TIMEOUT) -> str:
    match = broker.wait_for_log(pattern, timeout)
    assert match, f"no log line matching {pattern!r} within {timeout}s; log:\n{broker.log()}"
    return match.string


# -- the operator's session -------------------------------------------------------------------

def test_a_device_certificate_from_moat_pki_works_until_it_is_revoked(broker_factory, tmp_path):
    ca_dir = tmp_path / "ca"
    created = pki_ok(ca_dir, "init-ca", "--name", "Fleet CA")
    assert "ca.crt" in created and "ca.key" in created, created
    issued = pki_ok(ca_dir, "issue-server", "localhost", "--san", "DNS:localhost",
                    "--san", "IP:127.0.0.1")
    assert "DNS:localhost, IP:127.0.0.1" in issued, issued
    pki_ok(ca_dir, "issue-client", "meter-001")
    pki_ok(ca_dir, "issue-client", "monitor-001")
    crl = pki_ok(ca_dir, "crl")
    assert re.search(r"CRL number \d+, 0 revoked certificates", crl), crl

    broker = broker_factory(listeners=[{
        "name": SECURE, "transport": "tls",
        "tls": {"cert": ca_dir / "localhost.crt", "key": ca_dir / "localhost.key",
                "ca": ca_dir / "ca.crt", "client_cert": "require", "crl": [ca_dir / "ca.crl"]},
    }])
    port = broker.ports[SECURE]

    with MosquittoSub("localhost", port, ["meters/#"], qos=1, client_id="monitor-001",
                      extra=device_tls(ca_dir, "monitor-001")) as monitor:
        monitor.wait_subscribed()
        sent = publish_as(ca_dir, "meter-001", port, "meters/001/kwh", "42.5")
        assert sent.returncode == 0, sent.stderr
        [message] = monitor.receive(1)
        assert (message.topic, message.payload) == ("meters/001/kwh", b"42.5")

        revoked = pki_ok(ca_dir, "revoke", "meter-001", "--reason", "keyCompromise")
        assert re.search(r'revoked client "meter-001" serial [0-9A-F]+ \(keyCompromise\)',
                         revoked), revoked
        assert re.search(r"CRL number \d+, 1 revoked certificate\b", revoked), revoked
        # No SIGHUP: the broker notices the rewritten ca.crl by itself.
        wait_for_line(broker, rf'listener "{SECURE}": TLS reloaded', WATCH_TIMEOUT)

        refused = publish_as(ca_dir, "meter-001", port, "meters/001/kwh", "43.0")
        assert refused.returncode != 0, "the revoked device could still publish"
        wait_for_line(broker, rf'on listener "{SECURE}": TLS handshake failed'
                              r'(?: \(SNI "[^"]*"\))?: client certificate revoked')

        # Another device of the same CA is not affected.
        still = publish_as(ca_dir, "monitor-001", port, "meters/monitor/ping", "ok",
                           client_id="monitor-001-probe")
        assert still.returncode == 0, still.stderr
        [message] = monitor.receive(1)
        assert message.payload == b"ok"

    rows = {row[2]: row for row in listed(ca_dir)}
    assert rows["meter-001"][1] == "client" and rows["meter-001"][4] == "revoked", rows
    assert rows["meter-001"][0] == serial_of(ca_dir / "clients" / "meter-001.crt")
    assert rows["monitor-001"][4] == "valid", rows
    assert rows["localhost"][1] == "server" and rows["localhost"][5] == "localhost.crt", rows

    text = x509_text(ca_dir / "clients" / "meter-001.crt")
    assert re.search(r"Subject: CN ?= ?meter-001\n", text), text
    assert "Issuer: CN = Fleet CA" in text, text
    assert "id-ecPublicKey" in text and "NIST CURVE: P-256" in text, text
    assert "TLS Web Client Authentication" in text, text
    server_text = x509_text(ca_dir / "localhost.crt")
    assert "DNS:localhost, IP Address:127.0.0.1" in server_text, server_text
    assert "TLS Web Server Authentication" in server_text, server_text

    for key in [ca_dir / "ca.key", ca_dir / "localhost.key",
                ca_dir / "clients" / "meter-001.key", ca_dir / "clients" / "monitor-001.key"]:
        assert mode_of(key) == 0o600, f"{key}: mode {oct(mode_of(key))}"


def test_the_crl_moat_pki_writes_is_what_openssl_expects(tmp_path):
    ca_dir = tmp_path / "ca"
    pki_ok(ca_dir, "init-ca")
    pki_ok(ca_dir, "issue-client", "meter-002")
    serial = serial_of(ca_dir / "clients" / "meter-002.crt")
    pki_ok(ca_dir, "revoke", serial.lower(), "--reason", "cessationOfOperation")
    result = subprocess.run(["openssl", "crl", "-noout", "-text", "-in", str(ca_dir / "ca.crl"),
                             "-CAfile", str(ca_dir / "ca.crt")],
                            capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stderr + result.stdout, result.stderr
    assert f"Serial Number: {serial}" in result.stdout, result.stdout
    assert "Cessation Of Operation" in result.stdout, result.stdout
    assert re.search(r"X509v3 CRL Number: *\n *2\n", result.stdout), result.stdout
    verify = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", str(ca_dir / "ca.crt"),
                             "-CRLfile", str(ca_dir / "ca.crl"),
                             str(ca_dir / "clients" / "meter-002.crt")],
                            capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert verify.returncode != 0 and "certificate revoked" in verify.stdout + verify.stderr


def test_moat_pki_refusals_are_one_clear_line(tmp_path):
    ca_dir = tmp_path / "ca"
    message = pki_error(ca_dir, "list")
    assert "init-ca" in message and str(ca_dir) in message, message
    pki_ok(ca_dir, "init-ca")
    key_before = (ca_dir / "ca.key").read_bytes()

    message = pki_error(ca_dir, "init-ca")
    assert len(message.strip().splitlines()) == 1, message
    assert str(ca_dir / "ca.key") in message and "already exists" in message, message
    assert (ca_dir / "ca.key").read_bytes() == key_before

    for bad in ["", "../escape", "a/b", "meters/+", "meter#1", "line\nbreak", "x" * 65]:
        message = pki_error(ca_dir, "issue-client", bad)
        assert "device id" in message and len(message.strip().splitlines()) == 1, message
    assert not (ca_dir / "clients").exists() or not any((ca_dir / "clients").iterdir())

    pki_ok(ca_dir, "issue-client", "meter-003")
    message = pki_error(ca_dir, "issue-client", "meter-003")
    assert "meter-003.crt" in message and "--replace" in message, message
    pki_ok(ca_dir, "revoke", "meter-003")
    assert "already revoked" in pki_error(ca_dir, "revoke", "meter-003")
    assert "index.txt" in pki_error(ca_dir, "revoke", "nobody")

    # Usage errors are CLI11's, exit code 2.
    pki_error(ca_dir, "issue-server", "broker", "--san", "bogus", code=2)
    pki_error(ca_dir, "revoke", "meter-003", "--reason", "boredom", code=2)
    pki_error(ca_dir, "init-ca", "--rsa", "1024", code=2)
    pki_error(ca_dir, "frobnicate", code=2)


# -- the embedded default ---------------------------------------------------------------------

def port_in_use(port: int) -> bool:
    """Something listens on 127.0.0.1:`port`. (A bind probe would also see the TIME_WAIT
    leftovers of an earlier run, which the broker's SO_REUSEADDR listener does not mind.)"""
    with socket.socket() as probe:
        probe.settimeout(2.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_embedded_default(workdir: Path) -> BrokerProcess:
    """`moat serve` with no configuration, in `workdir`; returns once both listeners listen."""
    broker = BrokerProcess([str(MOAT_BINARY), "serve"], workdir, {}, "moat")
    for name in ["local", "tls"]:
        if broker.wait_for_log(rf'listener "{name}" listening on 127\.0\.0\.1:', START_TIMEOUT) \
                is None:
            code = broker.stop()
            pytest.fail(f"moat serve did not report listener \"{name}\" (exit code {code}); "
                        f"log:\n{broker.log()}")
    return broker


def stop_cleanly(broker: BrokerProcess) -> None:
    code = broker.stop()
    assert code == 0, f"moat serve exited {code} after SIGTERM; log:\n{broker.log()}"


def test_embedded_default_serves_tls_on_8883_with_a_ca_of_its_own(tmp_path):
    for port in (1883, 8883):
        if port_in_use(port):
            pytest.skip(f"127.0.0.1:{port} is in use; the embedded default needs it")
    ca_cert = tmp_path / "var" / "pki" / "ca.crt"
    shown = tmp_path / "var" / "admin.password"

    broker = start_embedded_default(tmp_path)
    try:
        assert ca_cert.exists(), broker.log()
        line = wait_for_line(broker, r"mosquitto_pub --cafile (\S+) -h localhost -p 8883")
        assert str(ca_cert) in line, line
        assert mode_of(tmp_path / "var" / "pki" / "ca.key") == 0o600
        assert mode_of(tmp_path / "var" / "pki" / "server.key") == 0o600
        # Anonymous clients are refused; the admin user made on first run gets in.
        wait_for_line(broker, r'created user "admin" in \S+/var/passwd; its password is in '
                              r'\S+/var/admin\.password')
        assert mode_of(shown) == 0o600 and mode_of(tmp_path / "var" / "passwd") == 0o600
        password = shown.read_text().strip()
        assert len(password) >= 24 and password not in broker.log()
        admin = ["-u", "admin", "-P", password]
        for port, tls in ((1883, []), (8883, ["--cafile", str(ca_cert)])):
            refused = subprocess.run([MOSQUITTO_PUB, "-h", "localhost", "-p", str(port), "-t",
                                      "t", "-m", "x", *tls], capture_output=True, text=True,
                                     timeout=COMMAND_TIMEOUT)
            assert refused.returncode != 0 and "not authorised" in refused.stderr.lower(), \
                refused.stderr
        with MosquittoSub("127.0.0.1", 1883, ["greetings/#"], extra=admin) as sub:
            sub.wait_subscribed()
            # Relative to the broker's directory, as the log line suggests to a user there.
            result = subprocess.run([MOSQUITTO_PUB, "--cafile", "var/pki/ca.crt", "-h",
                                     "localhost", "-p", "8883", "-t", "greetings/tls", "-m",
                                     "hello over TLS", "-q", "1", *admin],
                                    cwd=tmp_path, capture_output=True, text=True,
                                    timeout=COMMAND_TIMEOUT)
            assert result.returncode == 0, result.stderr + broker.log()
            [message] = sub.receive(1)
            assert message.payload == b"hello over TLS"
    finally:
        stop_cleanly(broker)
    first_serial = serial_of(tmp_path / "var" / "pki" / "server.crt")

    # A second start re-uses the CA and the certificate: a client that trusted ca.crt still does.
    broker = start_embedded_default(tmp_path)
    try:
        assert "created a private CA" not in broker.log(), broker.log()
        assert "issued server certificate" not in broker.log(), broker.log()
        assert 'created user "admin"' not in broker.log(), broker.log()
        mosquitto_pub("localhost", 8883, "greetings/again", "hello again", qos=1,
                      extra=["--cafile", str(ca_cert), "-u", "admin", "-P", password])
    finally:
        stop_cleanly(broker)
    assert serial_of(tmp_path / "var" / "pki" / "server.crt") == first_serial
