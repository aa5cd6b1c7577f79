"""SCRAM-SHA-256 over MQTT 5 enhanced authentication (issue 4): users whose password-file line
is a SCRAM credential (`moat passwd -H scram-sha-256`) log in with `moat pub/sub --auth-method
SCRAM-SHA-256`, the password never sent; a wrong password is refused with 0x86 and counted as a
failed login; the broker's proof is in the CONNACK; the exchange byte by byte, including an
unknown user that looks like a real one, re-authentication, and protocol errors.
"""

import base64
import hashlib
import hmac
import os
import time

import pytest

from support import mqtt_bytes as mb
from support.moat_cli import MoatSub, moat_pub, moat_run
from support.raw_client import RawConnection

from integration.test_authentication import log_line

pytestmark = pytest.mark.moat_only("Moat's SCRAM-SHA-256 enhanced authentication")

SECURE = "secure"
P = mb.Prop
METHOD = "SCRAM-SHA-256"
USERS = {"meter-7": "pencil and paper", "gw-1": "gateway pass"}


@pytest.fixture
def scram_broker(broker_factory, tmp_path):
    path = tmp_path / "passwd"
    first = True
    for user, password in USERS.items():
        args = ["passwd", "-b", "-H", "scram-sha-256"] + (["-c"] if first else [])
        result = moat_run(*args, str(path), user, password)
        assert result.returncode == 0, result.stderr
        first = False
    assert path.read_text().count("SCRAM-SHA-256$4096:") == len(USERS)
    listener = {"name": SECURE, "transport": "tcp", "auth": ["scram", "password"]}
    return broker_factory(listeners=[listener], extra_toml=f'[auth.password]\nfile = "{path}"\n'
                          "[auth.brute_force]\nfirst_delay_ms = 10\nmax_delay_ms = 20\n")


def scram_args(user, password):
    return ["-V", "mqttv5", "--auth-method", METHOD, "-u", user, "-P", password]


def test_moat_pub_and_sub_log_in_with_scram(scram_broker):
    port = scram_broker.ports[SECURE]
    with MoatSub(scram_broker.host, port,
                 ["-t", "plant/#", "-v", *scram_args("gw-1", USERS["gw-1"])]) as sub:
        sub.wait_subscribed()
        result = moat_pub(scram_broker.host, port, "-t", "plant/7", "-m", "21.5",
                          *scram_args("meter-7", USERS["meter-7"]))
        assert result.returncode == 0, result.stderr
        assert sub.lines(1) == ["plant/7 21.5"]
    log_line(scram_broker, r'connected .*user "meter-7" by SCRAM-SHA-256\)')
    # The password never crossed the wire, so it is nowhere in the broker's log either.
    assert USERS["meter-7"] not in scram_broker.log()


def test_a_wrong_scram_password_is_refused_and_counted(scram_broker):
    port = scram_broker.ports[SECURE]
    result = moat_pub(scram_broker.host, port, "-t", "plant/7", "-m", "x",
                      *scram_args("meter-7", "wrong"))
    assert result.returncode == 1
    assert "bad user name or password" in result.stderr.decode().lower(), result.stderr
    log_line(scram_broker, r'Bad User Name or Password \(SCRAM-SHA-256 for user "meter-7": ')
    # The same credential also takes a password in CONNECT (the "password" method).
    result = moat_pub(scram_broker.host, port, "-t", "plant/7", "-m", "x",
                      "-u", "meter-7", "-P", USERS["meter-7"])
    assert result.returncode == 0, result.stderr


# -- the exchange byte by byte ----------------------------------------------------------------

def client_keys(password: str, salt: bytes, iterations: int):
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return client_key, server_key


def scram_exchange(conn, user, password, first_packet):
    """Runs an exchange whose first message goes in `first_packet(data)`; returns the packet
    that ends it and the server signature expected."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    client_first_bare = f"n={user},r={nonce}"
    conn.send(first_packet(f"n,,{client_first_bare}".encode()))
    challenge = mb.parse_auth(conn.read_packet())
    assert challenge.reason == 0x18
    assert mb.prop_value(challenge.props, P.AUTHENTICATION_METHOD) == METHOD
    server_first = mb.prop_value(challenge.props, P.AUTHENTICATION_DATA).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    assert fields["r"].startswith(nonce) and len(fields["r"]) > len(nonce)
    salt, iterations = base64.b64decode(fields["s"]), int(fields["i"])
    client_key, server_key = client_keys(password, salt, iterations)
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message,
                         hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = f"{without_proof},p={base64.b64encode(proof).decode()}"
    conn.send(mb.auth(0x18, [(P.AUTHENTICATION_METHOD, METHOD),
                             (P.AUTHENTICATION_DATA, final.encode())]))
    expected = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    return conn.read_packet(), "v=" + base64.b64encode(expected).decode(), (salt, iterations)


def connect_with(client_id):
    return lambda data: mb.connect(client_id, version=mb.V5, props=[
        (P.AUTHENTICATION_METHOD, METHOD), (P.AUTHENTICATION_DATA, data)])


def test_the_exchange_ends_in_a_connack_with_the_servers_proof_and_re_authenticates(
        scram_broker):
    with RawConnection(scram_broker.host, scram_broker.ports[SECURE]) as conn:
        last, expected, _ = scram_exchange(conn, "meter-7", USERS["meter-7"],
                                           connect_with("raw-1"))
        ack = mb.parse_connack(last, mb.V5)
        assert ack.reason == 0
        assert mb.prop_value(ack.props, P.AUTHENTICATION_METHOD) == METHOD
        assert mb.prop_value(ack.props, P.AUTHENTICATION_DATA).decode() == expected
        # Re-authentication: AUTH 0x19 starts the same exchange; it ends in AUTH 0x00.
        last, expected, _ = scram_exchange(
            conn, "meter-7", USERS["meter-7"],
            lambda data: mb.auth(0x19, [(P.AUTHENTICATION_METHOD, METHOD),
                                        (P.AUTHENTICATION_DATA, data)]))
        done = mb.parse_auth(last)
        assert done.reason == 0
        assert mb.prop_value(done.props, P.AUTHENTICATION_DATA).decode() == expected
    log_line(scram_broker, r'client "raw-1" .*: re-authenticated by SCRAM-SHA-256')


def test_an_unknown_user_gets_a_stable_salt_and_the_same_refusal(scram_broker):
    salts = []
    for i in range(2):
        with RawConnection(scram_broker.host, scram_broker.ports[SECURE]) as conn:
            last, _, (salt, iterations) = scram_exchange(conn, "nobody", "x",
                                                         connect_with(f"ghost-{i}"))
            assert mb.parse_connack(last, mb.V5).reason == 0x86
            assert iterations == 4096  # what the real users have
            salts.append(salt)
    assert salts[0] == salts[1]
    log_line(scram_broker, r'client "ghost-0": Bad User Name or Password \(SCRAM-SHA-256 for '
                           r'user "nobody": ')


def test_a_scram_user_removed_from_the_file_is_disconnected(scram_broker, tmp_path):
    with RawConnection(scram_broker.host, scram_broker.ports[SECURE]) as conn:
        last, _, _ = scram_exchange(conn, "gw-1", USERS["gw-1"], connect_with("gw"))
        assert mb.parse_connack(last, mb.V5).reason == 0
        result = moat_run("passwd", "-D", str(tmp_path / "passwd"), "gw-1")
        assert result.returncode == 0, result.stderr
        conn.expect_disconnect(mb.V5, 0x87, timeout=10)  # picked up by the 2 s file watch
    log_line(scram_broker, r'client "gw" .*: user "gw-1" was removed from the password file')


def test_a_disconnect_during_the_exchange_just_ends_it(scram_broker):
    with RawConnection(scram_broker.host, scram_broker.ports[SECURE]) as conn:
        conn.send(connect_with("shy")(b"n,,n=meter-7,r=abc"))
        assert mb.parse_auth(conn.read_packet()).reason == 0x18
        conn.send(mb.disconnect(mb.V5))
        conn.expect_closed()  # no CONNACK
    log_line(scram_broker, r'client "shy" .*: disconnected during the authentication exchange')


def test_packets_out_of_turn_during_the_exchange_are_protocol_errors(scram_broker):
    with RawConnection(scram_broker.host, scram_broker.ports[SECURE]) as conn:
        conn.send(connect_with("rude")(b"n,,n=meter-7,r=abc"))
        assert mb.parse_auth(conn.read_packet()).reason == 0x18
        conn.send(mb.publish("plant/7", b"too early", version=mb.V5))
        assert mb.parse_connack(conn.read_packet(), mb.V5).reason == 0x82
        conn.expect_closed()
    log_line(scram_broker, r'client "rude": Protocol Error \(PUBLISH during the authentication '
                           r'exchange\)')
    with RawConnection(scram_broker.host, scram_broker.ports[SECURE]) as conn:
        conn.send(connect_with("garbled")(b"not scram"))
        assert mb.parse_connack(conn.read_packet(), mb.V5).reason == 0x82
