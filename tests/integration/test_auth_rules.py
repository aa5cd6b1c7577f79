"""Rules around authentication (issue 4): the ban list ([[auth.ban]]: address/CIDR, user name,
client id, with expiry) refusing before any credential is checked; the per-listener rule
`client_id_must_equal` (the user name or the certificate's CN); and a PSK removed from the PSK
file disconnecting the live client that used it.
"""

import os
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from support import mqtt_bytes as mb
from support.broker import serve_until_exit, write_moat_config
from support.deploy import INSTALLED_AGO, install
from support.mosquitto_clients import MosquittoSub
from support.paho_client import PahoClient
from support.raw_client import RawConnection

from integration.test_authentication import (USERS, auth_toml, log_line, password_file,  # noqa
                                             password_listener)
from integration.test_tls import paho_tls

pytestmark = pytest.mark.moat_only("Moat's ban list, client id rules and PSK reload")

SECURE = "secure"
BANNED = 0x8A


def connect(broker, port, client_id, version=mb.V5, username=None, password=None,
            source=None) -> int:
    with RawConnection(broker.host, port, source=source) as conn:
        conn.send(mb.connect(client_id, version=version, username=username, password=password))
        return mb.parse_connack(conn.read_packet(), version).reason


def toml_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the ban list -----------------------------------------------------------------------------

def test_banned_address_user_and_client_id_are_refused_before_their_password_is_checked(
        broker_factory, password_file):
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    bans = ('[[auth.ban]]\naddress = "127.0.0.2/32"\nreason = "scanner"\n'
            '[[auth.ban]]\nusername = "dashboard"\n'
            '[[auth.ban]]\nclient_id = "stolen-7"\n'
            f'[[auth.ban]]\nclient_id = "pardoned"\nuntil = {toml_time(past)}\n')
    broker = broker_factory(listeners=[password_listener()],
                            extra_toml=auth_toml(password_file) + bans)
    port = broker.ports[SECURE]
    good = ("sensor_001", USERS["sensor_001"].encode())
    assert connect(broker, port, "from-2", *[mb.V5], *good, source="127.0.0.2") == BANNED
    log_line(broker, r'connection refused for client "from-2": Banned \(address 127\.0\.0\.2/32 '
                     r'is on the ban list \(scanner\)\)')
    assert connect(broker, port, "d", mb.V5, "dashboard", USERS["dashboard"].encode()) == BANNED
    log_line(broker, r'client "d": Banned \(user name "dashboard" is on the ban list\)')
    assert connect(broker, port, "stolen-7", mb.V5, *good) == BANNED
    # 3.1.1 has no "banned": 5 Not authorized.
    assert connect(broker, port, "stolen-7", mb.V311, *good) == 5
    # An expired ban no longer applies; others are unaffected.
    assert connect(broker, port, "pardoned", mb.V5, *good) == 0
    assert connect(broker, port, "from-1", mb.V5, *good, source="127.0.0.1") == 0
    # A ban refuses before the password is checked: no failed login is counted.
    assert "failed login" not in broker.log()


def test_a_bad_ban_entry_stops_the_broker_from_starting(tmp_path):
    config = write_moat_config(tmp_path, extra_toml='[[auth.ban]]\naddress = "10.0.0.0/33"\n')
    result = serve_until_exit(config)
    assert result.returncode != 0
    assert "auth.ban: " in result.stderr, result.stderr


# -- client id bound to the user name ---------------------------------------------------------

def test_client_id_must_equal_the_user_name_where_the_listener_says_so(broker_factory,
                                                                        password_file):
    listener = password_listener(client_id_must_equal="username")
    broker = broker_factory(listeners=[listener], extra_toml=auth_toml(password_file))
    port = broker.ports[SECURE]
    password = USERS["sensor_001"].encode()
    assert connect(broker, port, "sensor_001", mb.V5, "sensor_001", password) == 0
    assert connect(broker, port, "dashboard", mb.V5, "sensor_001", password) == 0x85
    log_line(broker, r'connection refused for client "dashboard": Client Identifier not valid '
                     r'\(client id "dashboard" is not the user name "sensor_001" '
                     r'\(client_id_must_equal\)\)')
    assert connect(broker, port, "other", mb.V311, "sensor_001", password) == 2


def test_client_id_must_equal_the_certificate_cn(broker_factory, pki):
    listener = {"name": SECURE, "transport": "tls", "auth": ["certificate"],
                "client_id_must_equal": "cn",
                "tls": {"cert": pki.server.cert, "key": pki.server.key, "ca": pki.root.cert,
                        "client_cert": "require", "identity": "cn"}}
    broker = broker_factory(listeners=[listener])
    port = broker.ports[SECURE]
    meter = pki.client("meter-7")
    with PahoClient("localhost", port, "meter-7", version=mb.V5,
                    tls=paho_tls(pki, meter)) as ok:
        assert ok.connect().reason == 0
    with PahoClient("localhost", port, "meter-8", version=mb.V5,
                    tls=paho_tls(pki, meter)) as wrong:
        assert wrong.connect(expect_reason=0x85).reason == 0x85
    log_line(broker, r'client id "meter-8" is not the certificate\'s common name "meter-7"')


# -- PSK file reload --------------------------------------------------------------------------

PSK_HINT = "moat-tests"


def test_a_psk_removed_from_the_file_disconnects_its_live_client(broker_factory, pki, tmp_path):
    psk_file = tmp_path / "psk.txt"
    keys = {"lock-1": "0123456789abcdef0123456789abcdef", "lock-2": "fedcba9876543210fedcba98"}

    def deploy(text: str) -> None:
        (tmp_path / "psk.new").write_text(text)
        install(tmp_path / "psk.new", psk_file)

    deploy("".join(f"{k}:{v}\n" for k, v in keys.items()))
    then = time.time() - INSTALLED_AGO
    os.utime(psk_file, (then, then))  # installed a while ago: the change differs in mtime
    listener = {"name": SECURE, "transport": "tls", "auth": ["psk"],
                "tls": {"psk_file": str(psk_file), "psk_hint": PSK_HINT, "identity": "cn",
                        "max_version": "1.2"}}
    broker = broker_factory(listeners=[listener])
    port = broker.ports[SECURE]
    subs = {ident: MosquittoSub("127.0.0.1", port, ["locks/#"], version=mb.V5, client_id=ident,
                                extra=["--psk", key, "--psk-identity", ident])
            for ident, key in keys.items()}
    try:
        for sub in subs.values():
            sub.wait_subscribed()
        deploy(f"lock-2:{keys['lock-2']}\n")  # lock-1 removed; the file watch reloads
        log_line(broker, r'client "lock-1" .*: PSK identity "lock-1" was removed from the PSK '
                         r'file or its key changed; disconnecting')
        # lock-1 cannot come back; lock-2 is untouched.
        assert 'PSK identity "lock-2"' not in broker.log()
        result = subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-t", "locks/x",
             "-m", "x", "--psk", keys["lock-1"], "--psk-identity", "lock-1"],
            capture_output=True, timeout=30)
        assert result.returncode != 0
        result = subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-t", "locks/2",
             "-m", "still here", "-q", "1", "--psk", keys["lock-2"], "--psk-identity", "lock-2"],
            capture_output=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert [m.payload for m in subs["lock-2"].receive(1)] == [b"still here"]
    finally:
        for sub in subs.values():
            sub.stop()
