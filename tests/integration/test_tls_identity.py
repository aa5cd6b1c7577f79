"""The identity a TLS handshake gives ([listener.tls] identity / identity_as) and SPKI pinning
(issue 3): a certificate's CN becomes the username and/or client id, a client id that differs is
refused, and only pinned client keys get in."""

import hashlib
import subprocess

import pytest

from support import mqtt_bytes as mb
from support.tls_client import attempt_connect, client_context

from integration.test_tls import (SECURE, assert_accepted, connected_line, mutual_tls_listener,
                                  start_tls_broker)

pytestmark = pytest.mark.moat_only("TLS identity mapping is Moat's own")


def no_anonymous(listener: dict) -> dict:
    """The listener with anonymous access off (a [[listener]] key, not a [listener.tls] one)."""
    return {**listener, "allow_anonymous": False}


def spki_sha256(cert_path) -> str:
    """SHA-256 of the certificate's DER SubjectPublicKeyInfo, as `openssl` computes it."""
    pem = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-pubkey", "-noout"],
                         check=True, capture_output=True, timeout=10).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem,
                         check=True, capture_output=True, timeout=10).stdout
    return hashlib.sha256(der).hexdigest()


def connect(broker, pki, device, client_id, version=mb.V5):
    context = client_context(pki.root.cert, pki.client(device))
    return attempt_connect(broker.host, broker.ports[SECURE], context, client_id,
                           version=version)


@pytest.mark.parametrize("version", [pytest.param(mb.V311, id="mqtt311"),
                                     pytest.param(mb.V5, id="mqtt5")])
def test_certificate_cn_becomes_the_client_id_of_a_client_that_sends_none(
        broker_factory, pki, version):
    listener = no_anonymous(mutual_tls_listener(pki, identity="cn", identity_as="both"))
    broker = start_tls_broker(broker_factory, listener)
    attempt = connect(broker, pki, "meter_001", "", version)
    assert attempt.accepted, attempt
    line = connected_line(broker, "meter_001")
    assert 'identity "meter_001" from certificate cn' in line


def test_client_id_that_is_not_the_certificate_identity_is_refused(broker_factory, pki):
    listener = mutual_tls_listener(pki, identity="cn", identity_as="client_id")
    broker = start_tls_broker(broker_factory, listener)
    attempt = connect(broker, pki, "meter_001", "meter_002")
    assert attempt.connack_reason == 0x85, attempt
    assert broker.wait_for_log(r'client id "meter_002" is not the certificate\'s identity '
                               r'"meter_001"', timeout=5)
    assert connect(broker, pki, "meter_001", "meter_001").accepted


def test_identity_authenticates_on_a_listener_without_anonymous_access(broker_factory, pki):
    listener = no_anonymous(mutual_tls_listener(pki, identity="cn"))
    broker = start_tls_broker(broker_factory, listener)
    attempt = connect(broker, pki, "sensor_001", "sensor_001")
    assert_accepted(attempt, broker, "sensor_001")


def test_optional_certificate_without_one_gives_no_identity_and_is_refused(broker_factory, pki):
    listener = no_anonymous(mutual_tls_listener(pki, client_cert="optional", identity="cn"))
    broker = start_tls_broker(broker_factory, listener)
    context = client_context(pki.root.cert)
    attempt = attempt_connect(broker.host, broker.ports[SECURE], context, "nobody",
                              version=mb.V5)
    assert attempt.connack_reason == 0x87, attempt
    assert broker.wait_for_log(r"the handshake gave no identity \(cn required\)", timeout=5)


def test_only_pinned_client_keys_are_accepted(broker_factory, pki):
    pinned = spki_sha256(pki.client("pinned_device").cert)
    listener = mutual_tls_listener(pki, pin_spki=[pinned.upper()])
    broker = start_tls_broker(broker_factory, listener)
    assert connect(broker, pki, "pinned_device", "pinned_device").accepted
    other = connect(broker, pki, "other_device", "other_device")
    assert not other.accepted, other
    assert broker.wait_for_log(rf"127\.0\.0\.1:{other.local_port} on listener \"{SECURE}\": "
                               r"TLS handshake failed: client key not pinned", timeout=5)


def test_malformed_pin_is_a_configuration_error(broker_factory, pki):
    from support.broker import BrokerStartError
    listener = mutual_tls_listener(pki, pin_spki=["abc"])
    with pytest.raises(BrokerStartError, match="64 hex"):
        start_tls_broker(broker_factory, listener)
