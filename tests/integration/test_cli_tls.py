"""`moat pub` and `moat sub` over TLS, with mosquitto's flags: --cafile/--capath, --cert/--key,
--insecure, --tls-version, --ciphers, --psk/--psk-identity, and -L mqtt(s):// URLs.

The servers are Moat's TLS listener (a "secure" listener beside the plain "local" one, keys and
certificates from the session's throwaway PKI, support/pki.py) and, for what Moat's broker does
not offer or to check the client against another implementation, Debian's mosquitto run as a
TLS or PSK server on a loopback port. A refusal is checked by the exit code and the words the
user sees on stderr.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import List, Sequence

import pytest

from support import mqtt_bytes as mb
from support.broker import MOSQUITTO_BINARY, START_TIMEOUT, BrokerProcess
from support.fixtures import both_versions
from support.moat_cli import MoatSub, moat_pub, moat_run
from support.mosquitto_clients import MosquittoSub, mosquitto_pub

SECURE = "secure"
PSK_IDENTITY = "meter-17"
PSK_KEY = "5eed0f7e1de55a1dc0ffee"

moat_broker = pytest.mark.moat_only("Moat's [listener.tls] listener")


# -- servers ----------------------------------------------------------------------------------

def tls_listener(server, **tls) -> dict:
    settings = {"cert": server.cert, "key": server.key}
    settings.update(tls)
    return {"name": SECURE, "transport": "tls", "tls": settings}


def start_tls_broker(broker_factory, server, **tls) -> BrokerProcess:
    return broker_factory(listeners=[tls_listener(server, **tls)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mosquitto_server(tmp_path):
    """start(lines) -> (BrokerProcess, port): Debian's mosquitto with one listener on a free
    loopback port configured by `lines`; stopped after the test."""
    started: List[BrokerProcess] = []

    def start(lines: Sequence[str]):
        last_log = ""
        for attempt in range(3):  # the port may be taken between the probe and the bind
            port = _free_port()
            workdir = tmp_path / f"mosquitto{len(started)}-{attempt}"
            workdir.mkdir()
            config = ["log_dest stderr", "log_type all", "persistence false",
                      f"listener {port} 127.0.0.1", "allow_anonymous true", *lines]
            if os.geteuid() == 0:
                config.append("user root")  # else it drops to a user who cannot read tmp_path
            (workdir / "mosquitto.conf").write_text("\n".join(config) + "\n")
            server = BrokerProcess([str(MOSQUITTO_BINARY), "-c", str(workdir / "mosquitto.conf")],
                                   workdir, {}, "mosquitto")
            started.append(server)
            if server.wait_for_log(r"mosquitto version .* running", START_TIMEOUT):
                return server, port
            server.stop()
            last_log = server.log()
        raise AssertionError(f"mosquitto did not start; log:\n{last_log}")

    yield start
    for server in started:
        server.stop()


def mismatched_server_certificate(pki, directory: Path):
    """A server certificate from the test root for "elsewhere.example" only: valid, trusted,
    but not for localhost or 127.0.0.1."""
    directory.mkdir(exist_ok=True)
    key, csr, cert = directory / "elsewhere.key", directory / "elsewhere.csr", \
        directory / "elsewhere.crt"
    ext = directory / "elsewhere.ext"
    ext.write_text("basicConstraints = critical,CA:FALSE\n"
                   "keyUsage = critical,digitalSignature\n"
                   "extendedKeyUsage = serverAuth\n"
                   "subjectAltName = DNS:elsewhere.example\n")

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)

    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=elsewhere.example", "-keyout", str(key), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(pki.root.cert), "-CAkey",
            str(pki.root.key), "-set_serial", "0x5eed", "-days", "2", "-sha256",
            "-extfile", str(ext), "-out", str(cert))
    return cert, key


# -- helpers ----------------------------------------------------------------------------------

def trust(pki) -> List[str]:
    return ["--cafile", str(pki.root.cert)]


def identity(credential) -> List[str]:
    return ["--cert", str(credential.cert), "--key", str(credential.key)]


def psk(key: str = PSK_KEY, ident: str = PSK_IDENTITY) -> List[str]:
    return ["--psk", key, "--psk-identity", ident]


def version_args(version: int) -> List[str]:
    return ["-V", {mb.V311: "mqttv311", mb.V5: "mqttv5"}[version]]


def assert_fails(result: subprocess.CompletedProcess, *fragments: str) -> str:
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 1, f"exit {result.returncode}; stderr:\n{err}"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in stderr:\n{err}"
    return err


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, (f"exit {result.returncode}; stderr:\n"
                                    f"{result.stderr.decode(errors='replace')}")


def deliver(host: str, port: int, sub_args: Sequence[str], pub_args: Sequence[str],
            topic: str = "tls/check", payload: str = "sealed") -> MoatSub:
    """moat sub then moat pub on one topic; returns the subscriber once the message arrived."""
    with MoatSub(host, port, ["-t", topic, "-C", "1", *sub_args]) as sub:
        sub.wait_subscribed()
        assert_ok(moat_pub(host, port, "-t", topic, "-m", payload, "-q", "1", *pub_args))
        assert sub.lines(1) == [payload]
        assert sub.wait_exit() == 0
        return sub


# -- against Moat's TLS listener --------------------------------------------------------------

@moat_broker
@both_versions
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_pub_and_sub_deliver_over_tls_verifying_the_server_with_cafile(
        broker_factory, pki, version, host):
    broker = start_tls_broker(broker_factory, pki.server)
    args = trust(pki) + version_args(version)
    sub = deliver(host, broker.ports[SECURE], args, args)
    assert "TLS TLSv1.3" in sub.stderr(), sub.stderr()
    assert "server CN=localhost" in sub.stderr()


@moat_broker
def test_capath_is_a_directory_of_hashed_ca_certificates(broker_factory, pki, tmp_path):
    broker = start_tls_broker(broker_factory, pki.server)
    capath = tmp_path / "capath"
    capath.mkdir()
    (capath / "root.pem").write_bytes(Path(pki.root.cert).read_bytes())
    subprocess.run(["openssl", "rehash", str(capath)], check=True, capture_output=True,
                   timeout=60)
    args = ["--capath", str(capath)]
    deliver("localhost", broker.ports[SECURE], args, args)


@moat_broker
def test_url_with_mqtts_scheme_sets_host_port_topic_and_tls(broker_factory, pki):
    broker = start_tls_broker(broker_factory, pki.server)
    url = f"mqtts://localhost:{broker.ports[SECURE]}/url/topic"
    with MoatSub(None, None, ["-L", url, "-C", "1", "-v", *trust(pki)]) as sub:
        sub.wait_subscribed()
        assert_ok(moat_run("pub", "-L", url, "-m", "via url", "-q", "1", *trust(pki)))
        assert sub.lines(1) == ["url/topic via url"]
        assert sub.wait_exit() == 0


@moat_broker
def test_mutual_tls_with_cert_and_key_against_a_listener_that_requires_one(
        broker_factory, pki):
    broker = start_tls_broker(broker_factory, pki.server, ca=pki.root.cert,
                              client_cert="require")
    port = broker.ports[SECURE]
    args = trust(pki) + identity(pki.client("cli-meter"))
    deliver("localhost", port, args, args)  # a listener that requires one let both in


@moat_broker
@pytest.mark.parametrize("tls_version", ["tlsv1.2", "tlsv1.3"])
def test_required_client_certificate_missing_or_untrusted_is_a_clear_error(
        broker_factory, pki, tls_version):
    broker = start_tls_broker(broker_factory, pki.server, ca=pki.root.cert,
                              client_cert="require")
    port = broker.ports[SECURE]
    pinned = trust(pki) + ["--tls-version", tls_version]
    none = moat_pub("localhost", port, "-t", "t", "-m", "x", *pinned)
    # TLS 1.2 says it with a handshake_failure alert, TLS 1.3 with certificate_required.
    expected = ("requires a client certificate" if tls_version == "tlsv1.3"
                else "handshake failure")
    assert_fails(none, "moat pub: TLS handshake failed: ", expected)
    rogue = moat_pub("localhost", port, "-t", "t", "-m", "x", *pinned,
                     *identity(pki.rogue_client("cli-rogue")))
    assert_fails(rogue, "TLS handshake failed: the server does not trust our client certificate")
    expired = moat_pub("localhost", port, "-t", "t", "-m", "x", *pinned,
                       *identity(pki.expired_client("cli-expired")))
    assert_fails(expired, "TLS handshake failed: the server rejected our client certificate "
                          "(alert: certificate expired)")


@moat_broker
def test_wrong_ca_file_fails_the_handshake_and_says_why(broker_factory, pki):
    broker = start_tls_broker(broker_factory, pki.server)
    port = broker.ports[SECURE]
    wrong = ["--cafile", str(pki.rogue_root.cert)]
    assert_fails(moat_pub("localhost", port, "-t", "t", "-m", "x", *wrong),
                 "moat pub: TLS handshake failed: server certificate rejected: ",
                 "not issued by a CA in --cafile")
    sub = moat_run("sub", "-h", "localhost", "-p", str(port), "-t", "t", *wrong)
    assert_fails(sub, "moat sub: TLS handshake failed: server certificate rejected")
    # The broker heard why from the client's alert.
    assert broker.wait_for_log(r"TLS handshake failed.*unknown CA", 5), broker.log()


@moat_broker
def test_insecure_accepts_a_trusted_certificate_for_another_name(broker_factory, pki, tmp_path):
    cert, key = mismatched_server_certificate(pki, tmp_path / "elsewhere")
    broker = broker_factory(listeners=[{"name": SECURE, "transport": "tls",
                                        "tls": {"cert": cert, "key": key}}])
    port = broker.ports[SECURE]
    for host, mismatch in (("localhost", "hostname mismatch"), ("127.0.0.1", "IP address")):
        err = assert_fails(moat_pub(host, port, "-t", "t", "-m", "x", *trust(pki)),
                           "TLS handshake failed: server certificate rejected: ", mismatch,
                           "--insecure skips this check")
        assert f'"{host}"' in err
    args = trust(pki) + ["--insecure"]
    deliver("localhost", port, args, args)


@moat_broker
def test_tls_version_pins_the_protocol_version(broker_factory, pki):
    only_12 = broker_factory(listeners=[tls_listener(pki.server, max_version="1.2")])
    port = only_12.ports[SECURE]
    assert_fails(moat_pub("localhost", port, "-t", "t", "-m", "x", *trust(pki),
                          "--tls-version", "tlsv1.3"),
                 "TLS handshake failed: no TLS version both sides accept")
    assert_ok(moat_pub("localhost", port, "-t", "t", "-m", "x", *trust(pki),
                       "--tls-version", "tlsv1.2"))

    only_13 = broker_factory(listeners=[tls_listener(pki.server, min_version="1.3")])
    port = only_13.ports[SECURE]
    assert_fails(moat_pub("localhost", port, "-t", "t", "-m", "x", *trust(pki),
                          "--tls-version", "tlsv1.2"),
                 "TLS handshake failed: no TLS version both sides accept")
    args = trust(pki) + ["--tls-version", "tlsv1.3"]
    sub = deliver("localhost", port, args, args)
    assert "TLS TLSv1.3, TLS_" in sub.stderr(), sub.stderr()


@moat_broker
def test_ciphers_choose_the_tls_1_2_suite(broker_factory, pki):
    broker = start_tls_broker(broker_factory, pki.server)
    args = trust(pki) + ["--tls-version", "tlsv1.2", "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305"]
    sub = deliver("localhost", broker.ports[SECURE], args, args)
    assert "TLS TLSv1.2, ECDHE-ECDSA-CHACHA20-POLY1305" in sub.stderr(), sub.stderr()


@moat_broker
def test_tls_client_on_a_plain_port_is_told_it_may_not_be_a_tls_port(broker_factory, pki):
    broker = start_tls_broker(broker_factory, pki.server)
    assert_fails(moat_pub("localhost", broker.port, "-t", "t", "-m", "x", *trust(pki)),
                 "TLS handshake failed: the server closed the connection",
                 f"is localhost:{broker.port} a TLS port?")


@moat_broker
def test_moat_sub_over_tls_receives_what_mosquitto_pub_sends_with_cafile(broker_factory, pki):
    broker = start_tls_broker(broker_factory, pki.server)
    port = broker.ports[SECURE]
    with MoatSub("localhost", port, ["-t", "interop/#", "-v", "-q", "1", "-C", "2",
                                     *trust(pki)]) as sub:
        sub.wait_subscribed()
        mosquitto_pub("localhost", port, "interop/a", "from mosquitto", qos=1,
                      extra=trust(pki))
        mosquitto_pub("localhost", port, "interop/b", "x" * 70_000, qos=0, extra=trust(pki))
        assert sub.lines(2) == ["interop/a from mosquitto", "interop/b " + "x" * 70_000]
        assert sub.wait_exit() == 0


@moat_broker
def test_mosquitto_sub_with_cafile_receives_what_moat_pub_sends_over_tls(broker_factory, pki):
    broker = start_tls_broker(broker_factory, pki.server, ca=pki.root.cert,
                              client_cert="optional")
    port = broker.ports[SECURE]
    with MosquittoSub("localhost", port, ["interop/#"], qos=1, extra=trust(pki)) as sub:
        sub.wait_subscribed()
        assert_ok(moat_pub("localhost", port, "-t", "interop/c", "-m", "from moat", "-q", "1",
                           *trust(pki), *identity(pki.client("cli-pub"))))
        [message] = sub.receive(1)
    assert (message.topic, message.payload) == ("interop/c", b"from moat")


@moat_broker
@pytest.mark.parametrize("tls_version, reason", [
    ("tlsv1.3", "the server answered with a certificate instead of accepting our PSK"),
    ("tlsv1.2", "the server refused the handshake (alert: handshake failure"),
])
def test_psk_client_does_not_settle_for_a_server_certificate(broker_factory, pki, tls_version,
                                                             reason):
    """A server that does not take the PSK may offer its certificate instead (TLS 1.3); a PSK
    client has no trust anchors for it and must refuse, not connect unauthenticated."""
    broker = start_tls_broker(broker_factory, pki.server)
    result = moat_pub("localhost", broker.ports[SECURE], "-t", "t", "-m", "x", *psk(),
                      "--tls-version", tls_version)
    assert_fails(result, f"TLS handshake failed: {reason}")


# -- against mosquitto as the TLS server ------------------------------------------------------

def test_mutual_tls_against_mosquitto_requiring_a_certificate(mosquitto_server, pki):
    _, port = mosquitto_server([f"cafile {pki.root.cert}", f"certfile {pki.server.cert}",
                                f"keyfile {pki.server.key}", "require_certificate true"])
    args = trust(pki) + identity(pki.client("cli-mosq"))
    deliver("localhost", port, args, args)
    assert_fails(moat_pub("localhost", port, "-t", "t", "-m", "x", *trust(pki)),
                 "TLS handshake failed: ", "client certificate")


@pytest.mark.parametrize("tls_version", [None, "tlsv1.2", "tlsv1.3"])
def test_psk_against_mosquittos_psk_listener(mosquitto_server, tmp_path, tls_version):
    psk_file = tmp_path / "psk.txt"
    psk_file.write_text(f"{PSK_IDENTITY}:{PSK_KEY}\n")
    _, port = mosquitto_server(["psk_hint moat-tests", f"psk_file {psk_file}"])
    pinned = ["--tls-version", tls_version] if tls_version else []
    sub = deliver("127.0.0.1", port, psk() + pinned, psk() + pinned)
    expected = {"tlsv1.2": "TLS TLSv1.2, ", "tlsv1.3": "TLS TLSv1.3, "}.get(tls_version, "TLS ")
    assert expected in sub.stderr(), sub.stderr()


@pytest.mark.parametrize("tls_version", ["tlsv1.2", "tlsv1.3"])
def test_psk_with_a_wrong_key_or_identity_is_a_clear_error(mosquitto_server, tmp_path,
                                                           tls_version):
    psk_file = tmp_path / "psk.txt"
    psk_file.write_text(f"{PSK_IDENTITY}:{PSK_KEY}\n")
    _, port = mosquitto_server(["psk_hint moat-tests", f"psk_file {psk_file}"])
    pinned = ["--tls-version", tls_version]
    wrong_key = moat_pub("127.0.0.1", port, "-t", "t", "-m", "x", *psk("00112233"), *pinned)
    assert_fails(wrong_key, "moat pub: TLS handshake failed: ", "PSK")
    wrong_id = moat_pub("127.0.0.1", port, "-t", "t", "-m", "x",
                        *psk(ident="someone-else"), *pinned)
    assert_fails(wrong_id, "moat pub: TLS handshake failed: ")


# -- flags ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["pub", "sub"])
@pytest.mark.parametrize("args, message", [
    (["--cafile", "ca.pem", "--key", "c.key"], "--key needs --cert"),
    (["--cafile", "ca.pem", "--cert", "c.pem"], "--cert needs --key"),
    (["--psk", "0badc0de"], "--psk needs --psk-identity"),
    (["--psk-identity", "me"], "--psk-identity needs --psk"),
    (["--psk", "0badc0de", "--psk-identity", "me", "--cafile", "ca.pem"],
     "--psk cannot be used with --cafile, --capath or --cert"),
    (["--insecure"], "--insecure needs TLS"),
    (["--tls-version", "tlsv1.3"], "--tls-version needs TLS"),
    (["--psk", "0badc0de", "--psk-identity", "me", "--tls-version", "tlsv1.1"],
     "--tls-version must be tlsv1.2 or tlsv1.3"),
    (["--psk", "not-hex", "--psk-identity", "me"], "--psk must be a key in hexadecimal"),
    (["--cafile", "/nonexistent/ca.pem"], '--cafile "/nonexistent/ca.pem"'),
    (["-L", "mqtt://localhost:1883/t", "-p", "1884"], "-L cannot be used with -h or -p"),
    (["-L", "ftp://localhost/t"],
     "invalid URL 'ftp://localhost/t' for -L: the scheme must be mqtt://, mqtts://, ws:// or wss://"),
])
def test_bad_tls_flag_combinations_are_refused_before_connecting(command, args, message):
    result = moat_run(command, "-t", "t", "-m", "x", *args) if command == "pub" else \
        moat_run(command, "-t", "t", *args)
    assert_fails(result, f"Error: {message}")


def test_tls_makes_the_default_port_8883(pki):
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8883)) == 0:
            pytest.skip("something listens on 127.0.0.1:8883")
    assert_fails(moat_run("pub", "-h", "127.0.0.1", "-t", "t", "-m", "x", *trust(pki)),
                 "cannot connect to 127.0.0.1:8883")
    assert_fails(moat_run("pub", "-L", "mqtts://127.0.0.1/t", "-m", "x", *trust(pki)),
                 "cannot connect to 127.0.0.1:8883")
    assert_fails(moat_run("pub", "-L", "mqtt://127.0.0.1:8883/t", "-m", "x"),
                 "cannot connect to 127.0.0.1:8883")


def test_url_topic_and_t_together_are_a_duplicate_topic_for_pub():
    assert_fails(moat_run("pub", "-L", "mqtt://localhost/a", "-t", "b", "-m", "x"),
                 "Error: Duplicate topic: -t and the -L URL.")
