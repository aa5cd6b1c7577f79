"""Several certificates on one TLS listener, chosen by the name the client asks for (SNI), and
OCSP stapling, seen from outside with openssl s_client, mosquitto clients and Python's ssl.

The listener's default certificate is for "default.moat.test"; [[listener.tls.sni]] entries add
one for "broker.moat.test" and one for "*.devices.moat.test" (and, where a real MQTT client has
to resolve the name, one for "localhost"). Every certificate comes from the session's test
intermediate, so a client that trusts the test root verifies each of them.

What the tests check:
  - a client gets the certificate for the name it sends: exact names, one-label wildcards,
    whatever the case; no SNI, or a name no entry has, gets the default certificate;
  - with sni_strict, an unknown name is refused with an unrecognized_name alert, and the log
    names the peer, the SNI and the reason;
  - a configuration whose entries cannot work is refused at start (file and line for a
    mistake in the file, listener, entry and file for a certificate that cannot be used);
  - `openssl s_client -status` gets the OCSP response of the certificate it is served, and
    nothing for a certificate without one;
  - a changed certificate or OCSP response file is picked up by the broker's file watch; a
    response that cannot be stapled (revoked, past its nextUpdate, for another certificate)
    keeps the previous context on reload and stops the broker from starting.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest

from support.broker import BrokerProcess, check_config, serve_until_exit, write_moat_config
from support.deploy import install, install_long_ago
from support.mosquitto_clients import MosquittoSub, mosquitto_pub
from support.pki import Credential, Pki
from support.tls_client import attempt_connect, client_context, s_client

pytestmark = pytest.mark.moat_only("Moat's SNI certificates and OCSP stapling")

SECURE = "secure"
LOG_TIMEOUT = 5.0
# The broker looks at its TLS files every 2 s: one period and a reload, with room to spare.
WATCH_TIMEOUT = 8.0

DEFAULT_NAME = "default.moat.test"
EXACT_NAME = "broker.moat.test"
WILDCARD = "*.devices.moat.test"


# -- certificates and listeners ---------------------------------------------------------------

@pytest.fixture
def default_cert(pki: Pki) -> Credential:
    return pki.named_server("default", [DEFAULT_NAME])


@pytest.fixture
def exact_cert(pki: Pki) -> Credential:
    return pki.named_server("broker", [EXACT_NAME])


@pytest.fixture
def wildcard_cert(pki: Pki) -> Credential:
    return pki.named_server("devices", [WILDCARD])


def sni_entry(names: Sequence[str], credential: Credential, **keys) -> dict:
    entry = {"names": list(names), "cert": credential.cert, "key": credential.key}
    entry.update(keys)
    return entry


def tls_listener(default: Credential, sni: Sequence[dict] = (), **tls) -> dict:
    settings = {"cert": default.cert, "key": default.key}
    settings.update(tls)
    if sni:
        settings["sni"] = list(sni)
    return {"name": SECURE, "transport": "tls", "tls": settings}


def three_names(default_cert, exact_cert, wildcard_cert, **tls) -> dict:
    """The default certificate, an exact name and a wildcard."""
    return tls_listener(default_cert, [sni_entry([EXACT_NAME], exact_cert),
                                       sni_entry([WILDCARD], wildcard_cert)], **tls)


class ListenerFiles:
    """Copies of a listener's files in `directory`, so a test can replace them as an operator
    would; dated an hour back, so a replacement differs in mtime."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory

    def place(self, source: Path, name: str) -> Path:
        return install_long_ago(source, self.directory / name)

    def replace(self, source: Path, name: str) -> None:
        install(source, self.directory / name)


# -- what a client is served ------------------------------------------------------------------

def handshake(broker: BrokerProcess, pki: Pki, name: Optional[str], *extra: str,
              verify_name: bool = True) -> str:
    """`openssl s_client` to the TLS listener sending `name` as SNI (none when None), verifying
    the chain against the test root (and the certificate's name when `verify_name`); the
    handshake must succeed. Returns s_client's output."""
    args = ["-CAfile", str(pki.root.cert), "-verify_return_error"]
    if name is None:
        args.append("-noservername")
    else:
        args += ["-servername", name]
        if verify_name:
            args += ["-verify_hostname", name]
    result = s_client(broker.ports[SECURE], *args, *extra)
    assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    return result.stdout


def served_cn(output: str) -> str:
    """The CN of the certificate s_client was served."""
    match = re.search(r"^subject=.*CN = ([^,\n]+)", output, re.M)
    assert match, output
    return match.group(1)


def serial_of(pem_or_path) -> str:
    """The serial of a certificate (PEM text, or the first certificate of a file), as
    `openssl x509 -serial` prints it."""
    text = pem_or_path.read_text() if isinstance(pem_or_path, Path) else pem_or_path
    result = subprocess.run(["openssl", "x509", "-serial", "-noout"], input=text,
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().removeprefix("serial=")


def served_serial(output: str) -> str:
    """The serial of the certificate s_client was served (not of the OCSP responder's that
    -status prints before it)."""
    leaf = re.search(r"^Server certificate\n(-----BEGIN CERTIFICATE-----.*?"
                     r"-----END CERTIFICATE-----)", output, re.S | re.M)
    assert leaf, output
    return serial_of(leaf.group(1))


def stapled(output: str) -> Optional[Dict[str, str]]:
    """What `s_client -status` printed about the stapled OCSP response ("OCSP Response
    Status", "Cert Status", "Serial Number", "This Update", "Next Update"), or None when the
    server sent none."""
    if "OCSP response: no response sent" in output:
        return None
    assert "OCSP Response Data:" in output, output
    fields = {}
    for key in ("OCSP Response Status", "Cert Status", "Serial Number", "This Update",
                "Next Update"):
        match = re.search(rf"^\s*{key}: (.*)$", output, re.M)
        if match:
            fields[key] = match.group(1).strip()
    return fields


def response_field(response: Path, key: str) -> str:
    """A field of an OCSP response file as `openssl ocsp -resp_text` prints it."""
    result = subprocess.run(["openssl", "ocsp", "-respin", str(response), "-resp_text",
                             "-noverify"], capture_output=True, text=True, timeout=10)
    match = re.search(rf"^\s*{key}: (.*)$", result.stdout, re.M)
    assert match, result.stdout + result.stderr
    return match.group(1).strip()


# -- the broker's log -------------------------------------------------------------------------

def wait_for_line(broker: BrokerProcess, pattern: str, timeout: float = LOG_TIMEOUT) -> re.Match:
    match = broker.wait_for_log(pattern, timeout)
    assert match, f"no log line matching {pattern!r} within {timeout}s; log:\n{broker.log()}"
    return match


def reloaded_by_the_watch(broker: BrokerProcess) -> str:
    """The "TLS reloaded" line that follows the file watch noticing a change."""
    wait_for_line(broker, rf'listener "{SECURE}": TLS files changed; reloading', WATCH_TIMEOUT)
    return wait_for_line(broker, rf'listener "{SECURE}": TLS reloaded \(.*\)').string


def reload_failed(broker: BrokerProcess, problem: str) -> str:
    wait_for_line(broker, rf'listener "{SECURE}": TLS files changed; reloading', WATCH_TIMEOUT)
    return wait_for_line(broker, rf'listener "{SECURE}": TLS reload failed, keeping the previous '
                                 rf'settings: (?P<reason>.*(?:{problem}).*)').group("reason")


# -- certificates by name ---------------------------------------------------------------------

@pytest.mark.parametrize("name, cn", [
    (EXACT_NAME, EXACT_NAME),
    ("sensor-7.devices.moat.test", WILDCARD),
    ("Broker.MOAT.test", EXACT_NAME),
], ids=["exact", "wildcard", "mixed-case"])
def test_a_client_gets_and_verifies_the_certificate_for_the_name_it_asks_for(
        broker_factory, pki, default_cert, exact_cert, wildcard_cert, name, cn):
    broker = broker_factory(listeners=[three_names(default_cert, exact_cert, wildcard_cert)])
    assert served_cn(handshake(broker, pki, name)) == cn


@pytest.mark.parametrize("name", [None, "elsewhere.moat.test", "devices.moat.test",
                                  "a.b.devices.moat.test"],
                         ids=["no-sni", "unknown", "wildcard-parent", "two-labels"])
def test_no_sni_or_a_name_no_entry_has_gets_the_default_certificate(
        broker_factory, pki, default_cert, exact_cert, wildcard_cert, name):
    broker = broker_factory(listeners=[three_names(default_cert, exact_cert, wildcard_cert)])
    assert served_cn(handshake(broker, pki, name, verify_name=False)) == DEFAULT_NAME


def test_start_up_report_lists_every_certificate_with_its_names(
        broker_factory, pki, default_cert, exact_cert, wildcard_cert):
    broker = broker_factory(listeners=[three_names(default_cert, exact_cert, wildcard_cert)])
    line = broker.listening_lines[SECURE]
    assert "2 SNI certificate(s), " in line, line
    assert re.search(rf"certificate /O=Moat Tests/CN={DEFAULT_NAME} \(expires in \d+ days\); "
                     rf"for {EXACT_NAME}: /O=Moat Tests/CN={EXACT_NAME} \(expires in \d+ days\); "
                     rf"for {re.escape(WILDCARD)}: /O=Moat Tests/CN={re.escape(WILDCARD)} "
                     rf"\(expires in \d+ days\)", line), line


def test_mosquitto_clients_reach_the_broker_by_the_name_of_an_sni_entry(
        broker_factory, pki, default_cert):
    # "localhost" resolves here: its entry serves the test server certificate for localhost,
    # while the default certificate is for another name.
    broker = broker_factory(listeners=[tls_listener(default_cert,
                                                    [sni_entry(["localhost"], pki.server)])])
    port = broker.ports[SECURE]
    tls = ["--cafile", str(pki.root.cert)]
    with MosquittoSub("localhost", port, ["sni/#"], qos=1, client_id="sni-display",
                      extra=tls) as sub:
        sub.wait_subscribed()
        mosquitto_pub("localhost", port, "sni/hello", "by name", qos=1, extra=tls)
        message = sub.receive(1)[0]
    assert (message.topic, message.payload) == ("sni/hello", b"by name")

    # By address there is no SNI: the default certificate, which is not for 127.0.0.1.
    by_address = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port),
                                 "-t", "sni/hello", "-m", "by address", *tls],
                                capture_output=True, text=True, timeout=10)
    assert by_address.returncode != 0, by_address.stdout + by_address.stderr


def test_strict_sni_refuses_an_unknown_name_with_an_alert_and_logs_the_name(
        broker_factory, pki, default_cert, exact_cert, wildcard_cert):
    broker = broker_factory(listeners=[three_names(default_cert, exact_cert, wildcard_cert,
                                                   sni_strict=True)])
    assert "2 SNI certificate(s) (strict)" in broker.listening_lines[SECURE]
    unknown = "elsewhere.moat.test"
    attempt = attempt_connect(broker.host, broker.ports[SECURE], client_context(pki.root.cert),
                              "stranger", server_name=unknown)
    assert attempt.connack_reason is None and "UNRECOGNIZED_NAME" in attempt.refusal, attempt
    wait_for_line(broker, re.escape(
        f'127.0.0.1:{attempt.local_port} on listener "{SECURE}": TLS handshake failed '
        f'(SNI "{unknown}"): no certificate for server name "{unknown}"'))
    assert 'client "stranger" connected' not in broker.log()

    refused = s_client(broker.ports[SECURE], "-servername", unknown)
    assert refused.returncode != 0 and "unrecognized name" in refused.stderr, refused.stderr
    # The names the listener has, and clients that send none, are still served.
    assert served_cn(handshake(broker, pki, EXACT_NAME)) == EXACT_NAME
    assert served_cn(handshake(broker, pki, "x.devices.moat.test")) == WILDCARD
    assert served_cn(handshake(broker, pki, DEFAULT_NAME)) == DEFAULT_NAME
    assert served_cn(handshake(broker, pki, None, verify_name=False)) == DEFAULT_NAME
    accepted = attempt_connect(broker.host, broker.ports[SECURE], client_context(pki.root.cert),
                               "known", server_name=EXACT_NAME)
    assert accepted.accepted, f"{accepted.refusal}; log:\n{broker.log()}"


# -- configurations that cannot work ----------------------------------------------------------

SNI_MISTAKES = {
    # id: (sni entries from the certificates, the line to blame, what the message must say)
    "name-in-two-entries": (
        lambda c: [sni_entry([EXACT_NAME], c), sni_entry(["x.moat.test", "BROKER.moat.test"], c)],
        '"x.moat.test", "BROKER.moat.test"', r'"broker\.moat\.test" is already in another entry'),
    "name-with-a-space": (
        lambda c: [sni_entry(["broker moat.test"], c)],
        '"broker moat.test"', r"not a server name: it contains a space"),
    "wildcard-not-a-whole-label": (
        lambda c: [sni_entry(["dev*.moat.test"], c)],
        '"dev*.moat.test"', r"'\*' may only be the whole first label"),
    "entry-without-names": (
        lambda c: [{"cert": c.cert, "key": c.key}],
        "[[listener.tls.sni]]", r"entry without names"),
}


@pytest.mark.parametrize("case", list(SNI_MISTAKES))
def test_check_config_names_file_and_line_of_an_sni_mistake(tmp_path, exact_cert, default_cert,
                                                            case):
    make_entries, blamed, problem = SNI_MISTAKES[case]
    config = write_moat_config(tmp_path / "broker",
                               listeners=[tls_listener(default_cert, make_entries(exact_cert))])
    result = check_config(config)
    assert result.returncode != 0, result.stderr
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if blamed in text)
    assert re.search(rf"{re.escape(str(config))}:{line}: ", result.stderr), \
        f"{config}:{line} not named in: {result.stderr!r}"
    assert re.search(problem, result.stderr), f"{problem!r} not in: {result.stderr!r}"


@pytest.mark.parametrize("case", ["key-of-another-certificate", "expired-certificate"])
def test_broker_refuses_to_start_when_an_sni_entry_cannot_work_naming_entry_and_file(
        tmp_path, pki, default_cert, exact_cert, wildcard_cert, case):
    if case == "key-of-another-certificate":
        entry = sni_entry([EXACT_NAME], exact_cert, key=wildcard_cert.key)
        problem = rf'\.key "{re.escape(str(wildcard_cert.key))}" does not match'
    else:
        entry = sni_entry([EXACT_NAME], pki.expired_server)
        problem = rf'\.cert "{re.escape(str(pki.expired_server.cert))}" has expired'
    config = write_moat_config(tmp_path / "broker",
                               listeners=[tls_listener(default_cert, [entry])])
    result = serve_until_exit(config)
    message = result.stdout + result.stderr
    assert result.returncode != 0, message
    assert "listening on" not in message, message
    assert re.search(rf'listener "{SECURE}": tls\.sni\["{EXACT_NAME}"\]{problem}', message), \
        f"{problem!r} not in: {message!r}"


def test_replacing_an_sni_entrys_certificate_is_picked_up_by_the_file_watch(
        broker_factory, pki, tmp_path, default_cert, exact_cert):
    files = ListenerFiles(tmp_path / "tls")
    entry = sni_entry([EXACT_NAME], exact_cert, cert=files.place(exact_cert.cert, "broker.crt"),
                      key=files.place(exact_cert.key, "broker.key"))
    broker = broker_factory(listeners=[tls_listener(default_cert, [entry])])
    assert served_serial(handshake(broker, pki, EXACT_NAME)) == serial_of(exact_cert.cert)

    renewed = pki.named_server("broker-renewed", [EXACT_NAME])
    files.replace(renewed.cert, "broker.crt")
    files.replace(renewed.key, "broker.key")
    line = reloaded_by_the_watch(broker)
    assert re.search(rf"for {EXACT_NAME}: certificate /O=Moat Tests/CN={EXACT_NAME} serial "
                     rf"(?i:{serial_of(renewed.cert)}), expires in \d+ days", line), line
    assert served_serial(handshake(broker, pki, EXACT_NAME)) == serial_of(renewed.cert)
    assert served_cn(handshake(broker, pki, None, verify_name=False)) == DEFAULT_NAME


# -- OCSP stapling ----------------------------------------------------------------------------

def test_each_certificate_is_stapled_with_its_own_response_to_clients_that_ask(
        broker_factory, pki, default_cert, exact_cert, wildcard_cert):
    listener = tls_listener(
        default_cert,
        [sni_entry([EXACT_NAME], exact_cert, ocsp_response=pki.ocsp_response(exact_cert)),
         sni_entry([WILDCARD], wildcard_cert)],
        ocsp_response=pki.ocsp_response(default_cert))
    broker = broker_factory(listeners=[listener])
    assert "OCSP response stapled until " in broker.listening_lines[SECURE]

    for name, cert in [(None, default_cert), (EXACT_NAME, exact_cert)]:
        output = handshake(broker, pki, name, "-status", verify_name=name is not None)
        response = stapled(output)
        assert response is not None, output
        assert response["OCSP Response Status"] == "successful (0x0)", output
        assert response["Cert Status"] == "good", output
        assert response["Serial Number"].upper() == serial_of(cert.cert).upper(), output
        assert served_serial(output) == serial_of(cert.cert)
    # A certificate without a response: nothing is stapled.
    assert stapled(handshake(broker, pki, "x.devices.moat.test", "-status")) is None
    # A client that does not ask gets none.
    assert "OCSP Response Data" not in handshake(broker, pki, EXACT_NAME)


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_stapled_response_reaches_tls_1_2_and_1_3_clients(broker_factory, pki, version):
    broker = broker_factory(listeners=[tls_listener(
        pki.server, ocsp_response=pki.ocsp_response(pki.server))])
    response = stapled(handshake(broker, pki, "localhost", "-status", version))
    assert response and response["Cert Status"] == "good"


def test_a_response_close_to_its_next_update_is_reported_at_start(broker_factory, pki):
    broker = broker_factory(listeners=[tls_listener(
        pki.server, ocsp_response=pki.ocsp_response(pki.server, minutes=120))])
    line = wait_for_line(broker, rf'listener "{SECURE}": tls\.ocsp_response "[^"]+" reaches its '
                                 rf'nextUpdate in (\d+) minutes \(.* UTC\); fetch a fresh response')
    assert 100 < int(line.group(1)) <= 120, line.string
    assert stapled(handshake(broker, pki, "localhost", "-status"))["Cert Status"] == "good"


def test_a_new_response_file_is_picked_up_by_the_file_watch_and_stapled(broker_factory, pki,
                                                                        tmp_path):
    files = ListenerFiles(tmp_path / "tls")
    first = pki.ocsp_response(pki.server, days=7)
    listener = tls_listener(pki.server,
                            ocsp_response=files.place(first, "server.ocsp.der"))
    broker = broker_factory(listeners=[listener])
    before = stapled(handshake(broker, pki, "localhost", "-status"))
    assert before["Next Update"] == response_field(first, "Next Update")

    second = pki.ocsp_response(pki.server, days=3)
    files.replace(second, "server.ocsp.der")
    line = reloaded_by_the_watch(broker)
    assert ", OCSP response stapled until " in line, line
    after = stapled(handshake(broker, pki, "localhost", "-status"))
    assert after["Next Update"] == response_field(second, "Next Update") != before["Next Update"]
    assert after["Cert Status"] == "good"


def revoked_response(pki: Pki) -> Path:
    return pki.ocsp_response(pki.server, status="revoked")


def expired_response(pki: Pki) -> Path:
    pytest.importorskip("cryptography", reason="the expired response is made with cryptography")
    return pki.expired_ocsp_response(pki.server)


def response_for_another_certificate(pki: Pki) -> Path:
    return pki.ocsp_response(pki.renewed_server)


def not_a_response(pki: Pki) -> Path:
    return pki.server.cert


UNUSABLE_RESPONSES = {
    # id: (the response file, what the reason must say)
    "revoked": (revoked_response,
                r'the responder says tls\.cert "[^"]+" is revoked \(since .*reason keyCompromise\)'
                r"; a revoked certificate is not served"),
    "past-next-update": (expired_response, r"past its nextUpdate \(.* UTC\); fetch a fresh"),
    "another-certificate": (response_for_another_certificate,
                            r'holds no status for tls\.cert "[^"]+" \(serial [0-9A-F]+\)'),
    "not-ocsp": (not_a_response, r"not a DER OCSP response"),
}


@pytest.mark.parametrize("case", list(UNUSABLE_RESPONSES))
def test_an_unusable_response_at_reload_keeps_the_previous_one_and_says_why(
        broker_factory, pki, tmp_path, case):
    make_response, problem = UNUSABLE_RESPONSES[case]
    bad = make_response(pki)
    files = ListenerFiles(tmp_path / "tls")
    good = pki.ocsp_response(pki.server)
    listener = tls_listener(pki.server, ocsp_response=files.place(good, "server.ocsp.der"))
    broker = broker_factory(listeners=[listener])

    files.replace(bad, "server.ocsp.der")
    reason = reload_failed(broker, problem)
    assert reason.startswith(f'tls.ocsp_response "{files.directory / "server.ocsp.der"}": '), reason
    response = stapled(handshake(broker, pki, "localhost", "-status"))
    assert response["Cert Status"] == "good"
    assert response["Next Update"] == response_field(good, "Next Update")
    assert "TLS reloaded" not in broker.log(), broker.log()


@pytest.mark.parametrize("case", list(UNUSABLE_RESPONSES))
def test_broker_refuses_to_start_with_a_response_it_cannot_staple(tmp_path, pki, case):
    make_response, problem = UNUSABLE_RESPONSES[case]
    response = make_response(pki)
    config = write_moat_config(tmp_path / "broker", listeners=[
        tls_listener(pki.server, ocsp_response=response)])
    result = serve_until_exit(config)
    message = result.stdout + result.stderr
    assert result.returncode != 0, message
    assert "listening on" not in message, message
    assert f'listener "{SECURE}": tls.ocsp_response "{response}": ' in message, message
    assert re.search(problem, message), f"{problem!r} not in: {message!r}"


def test_a_revoked_response_for_an_sni_entry_names_the_entry(tmp_path, pki, default_cert,
                                                             exact_cert):
    response = pki.ocsp_response(exact_cert, status="revoked")
    entry = sni_entry([EXACT_NAME], exact_cert, ocsp_response=response)
    config = write_moat_config(tmp_path / "broker", listeners=[tls_listener(default_cert,
                                                                            [entry])])
    result = serve_until_exit(config)
    message = result.stdout + result.stderr
    assert result.returncode != 0, message
    assert (f'listener "{SECURE}": tls.sni["{EXACT_NAME}"].ocsp_response "{response}": the '
            f'responder says tls.sni["{EXACT_NAME}"].cert "{exact_cert.cert}" is revoked') \
        in message, message
