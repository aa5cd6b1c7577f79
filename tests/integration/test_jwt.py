"""JWT authentication (issue 4): [auth.jwt] with a secret file, a PEM public key or a JWKS file;
tokens in the password field from outside clients (mosquitto_pub -P, paho username_pw_set) and
in MQTT 5 enhanced authentication (Authentication Method "JWT", exact bytes); expired tokens
refused; a live connection closed when its token expires, and kept by re-authentication with
a fresh token; tokens that must never pass (alg none, the HS256-with-public-key confusion,
another user's name); the JWKS reloaded on change.

Tokens are made by tests/support/jwt_tokens.py with keys generated for each test.
"""

import os
import subprocess
import time

import pytest

from support import mqtt_bytes as mb
from support.deploy import INSTALLED_AGO, install
from support.mosquitto_clients import MosquittoSub, mosquitto_pub
from support.paho_client import PahoClient
from support.raw_client import RawConnection
from support.jwt_tokens import SigningKey, jwks, unsigned_token

from integration.test_authentication import log_line

pytestmark = pytest.mark.moat_only("Moat's JWT authentication")

SECURE = "secure"
P = mb.Prop
BAD_CREDENTIALS = 0x86


def jwt_broker(broker_factory, tmp_path, source: str, auth=("jwt",), **settings):
    lines = ["[auth.jwt]", source] + [f"{k} = {v}" for k, v in settings.items()]
    listener = {"name": SECURE, "transport": "tcp", "auth": list(auth)}
    return broker_factory(listeners=[listener], extra_toml="\n".join(lines) + "\n")


def secret_broker(broker_factory, tmp_path, key: SigningKey, **settings):
    (tmp_path / "hs.key").write_bytes(key.secret)
    return jwt_broker(broker_factory, tmp_path, f'secret_file = "{tmp_path / "hs.key"}"',
                      **settings)


def connect(broker, client_id, version=mb.V5, username=None, password=None, props=None) -> int:
    with RawConnection(broker.host, broker.ports[SECURE]) as conn:
        conn.send(mb.connect(client_id, version=version, username=username, password=password,
                             props=props))
        return mb.parse_connack(conn.read_packet(), version).reason


# -- tokens in the password field, outside clients --------------------------------------------

def test_mosquitto_clients_log_in_with_a_token_in_the_password_field(broker_factory, tmp_path):
    key = SigningKey.hmac()
    broker = secret_broker(broker_factory, tmp_path, key)
    port = broker.ports[SECURE]
    assert "authentication by jwt, anonymous clients refused" in broker.listening_lines[SECURE]
    with MosquittoSub(broker.host, port, ["sensors/#"], qos=1, client_id="dash",
                      extra=["-u", "dashboard", "-P", key.token("dashboard")]) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker.host, port, "sensors/001/t", "21.5", qos=1, version=mb.V5,
                      extra=["-u", "sensor_001", "-P", key.token("sensor_001")])
        assert [m.payload for m in sub.receive(1)] == [b"21.5"]
    log_line(broker, r'client "dash" connected .*user "dashboard" by token valid until '
                     r'\d{4}-\d\d-\d\dT')


@pytest.mark.parametrize("make_key", [
    pytest.param(lambda: SigningKey.rsa("RS256"), id="RS256"),
    pytest.param(lambda: SigningKey.rsa("PS256"), id="PS256"),
    pytest.param(lambda: SigningKey.ec("ES256"), id="ES256"),
    pytest.param(lambda: SigningKey.ec("ES384"), id="ES384"),
    pytest.param(lambda: SigningKey.ed25519(), id="EdDSA"),
])
def test_paho_logs_in_with_a_token_signed_by_a_jwks_key(broker_factory, tmp_path, make_key):
    key, other = make_key(), SigningKey.rsa(kid="rsa-other")
    (tmp_path / "jwks.json").write_text(jwks(other, key))
    broker = jwt_broker(broker_factory, tmp_path, f'jwks_file = "{tmp_path / "jwks.json"}"',
                        issuer='"https://id.example"', audience='"moat"')
    token = key.token("sensor_001", iss="https://id.example", aud="moat", roles=["sensor"])
    with PahoClient(broker.host, broker.ports[SECURE], "sensor-1", version=mb.V5) as client:
        client.client.username_pw_set("sensor_001", token)
        assert client.connect().reason == 0
    # The wrong audience is refused.
    with PahoClient(broker.host, broker.ports[SECURE], "sensor-2", version=mb.V5) as client:
        client.client.username_pw_set(
            "sensor_001", key.token("sensor_001", iss="https://id.example", aud="elsewhere"))
        assert client.connect(expect_reason=BAD_CREDENTIALS).reason == BAD_CREDENTIALS


def test_an_es256_public_key_pem_checks_tokens_without_kid(broker_factory, tmp_path):
    key = SigningKey.ec("ES256")
    (tmp_path / "key.pem").write_bytes(key.public_pem())
    broker = jwt_broker(broker_factory, tmp_path, f'public_key = "{tmp_path / "key.pem"}"')
    # The user name is optional: the token names the user.
    assert connect(broker, "k", password=key.token("meter-7", kid=False)) == 0
    log_line(broker, r'client "k" connected .*user "meter-7" by token')


# -- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version, code", [pytest.param(mb.V311, 4, id="mqtt311"),
                                           pytest.param(mb.V5, BAD_CREDENTIALS, id="mqtt5")])
def test_an_expired_token_is_refused(broker_factory, tmp_path, version, code):
    key = SigningKey.hmac()
    broker = secret_broker(broker_factory, tmp_path, key, leeway=5)
    # (3.1.1 has no password without a user name.)
    user = "sensor_001"
    assert connect(broker, "late", version, user, key.token(user, expires_in=-10)) == code
    log_line(broker, r'connection refused for client "late": Bad User Name or Password '
                     r'\(token refused: .*expired')
    # Within the leeway it still counts as valid (clocks differ a little).
    assert connect(broker, "skewed", version, user, key.token(user, expires_in=-2)) == 0


def test_tokens_that_must_never_pass(broker_factory, tmp_path):
    rsa_key = SigningKey.rsa()
    (tmp_path / "key.pem").write_bytes(rsa_key.public_pem())
    broker = jwt_broker(broker_factory, tmp_path, f'public_key = "{tmp_path / "key.pem"}"')
    # alg "none", unsigned.
    assert connect(broker, "none", password=unsigned_token()) == BAD_CREDENTIALS
    log_line(broker, r'client "none": .*token refused: .*unsigned tokens are refused')
    # HS256 with the server's public key as the HMAC secret (the classic confusion).
    confused = SigningKey("HS256", "rsa-1", secret=rsa_key.public_pem())
    assert connect(broker, "confused", password=confused.token()) == BAD_CREDENTIALS
    # A good token that names another user than the CONNECT's user name.
    assert connect(broker, "mixed", username="admin",
                   password=rsa_key.token("sensor_001")) == BAD_CREDENTIALS
    log_line(broker, r'user name "admin" is not the token\'s "sensor_001"')
    # A tampered payload.
    head, body, sig = rsa_key.token("sensor_001").split(".")
    forged = rsa_key.token("admin").split(".")[1]
    assert connect(broker, "forged", password=f"{head}.{forged}.{sig}") == BAD_CREDENTIALS
    log = broker.log()
    assert rsa_key.token("sensor_001").split(".")[2] not in log  # no signature in the log
    assert connect(broker, "good", password=rsa_key.token("sensor_001")) == 0


def test_a_banned_user_cannot_come_in_by_a_token_without_naming_itself(broker_factory,
                                                                       tmp_path):
    key = SigningKey.hmac()
    broker = secret_broker(broker_factory, tmp_path, key)
    broker.stop()
    # (restarted with a ban: the ban list is part of the configuration)
    (tmp_path / "hs.key").write_bytes(key.secret)
    listener = {"name": SECURE, "transport": "tcp", "auth": ["jwt", "anonymous"]}
    broker = broker_factory(listeners=[listener], name="banned", extra_toml=(
        f'[auth.jwt]\nsecret_file = "{tmp_path / "hs.key"}"\n'
        '[[auth.ban]]\nusername = "mallory"\n'))
    token = key.token("mallory")
    assert connect(broker, "m1", password=token) == 0x8A
    assert connect(broker, "m2", props=[(P.AUTHENTICATION_METHOD, "JWT"),
                                        (P.AUTHENTICATION_DATA, token.encode())]) == 0x8A
    log_line(broker, r'client "m2": Banned \(user name "mallory" is on the ban list\)')
    # "anonymous" does not take a client that names a user where tokens prove names.
    assert connect(broker, "named", username="admin") == 0x87
    assert connect(broker, "nameless") == 0


def test_a_token_valid_past_year_2262_neither_overflows_nor_expires(broker_factory, tmp_path):
    key = SigningKey.hmac()
    broker = secret_broker(broker_factory, tmp_path, key)
    far = key.token(expires_in=None, exp=10**10)  # 2286-11-20
    with RawConnection(broker.host, broker.ports[SECURE]) as conn:
        conn.send(mb.connect("far", version=mb.V5, password=far))
        assert mb.parse_connack(conn.read_packet(), mb.V5).reason == 0
        conn.send(mb.pingreq())
        assert conn.read_packet().type == mb.PINGRESP


def test_jwt_passes_other_passwords_to_the_next_method(broker_factory, tmp_path):
    key = SigningKey.hmac()
    (tmp_path / "hs.key").write_bytes(key.secret)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "legacy", "pw"],
                   check=True, capture_output=True, timeout=30)
    listener = {"name": SECURE, "transport": "tcp", "auth": ["jwt", "password"]}
    broker = broker_factory(listeners=[listener], extra_toml=(
        f'[auth.jwt]\nsecret_file = "{tmp_path / "hs.key"}"\n'
        f'[auth.password]\nfile = "{tmp_path / "passwd"}"\n'))
    assert connect(broker, "t", password=key.token("fleet-1")) == 0
    assert connect(broker, "p", username="legacy", password="pw") == 0
    assert connect(broker, "w", username="legacy", password="wrong") == BAD_CREDENTIALS


# -- expiry and re-authentication -------------------------------------------------------------

def test_a_live_connection_is_closed_when_its_token_expires(broker_factory, tmp_path):
    key = SigningKey.hmac()
    broker = secret_broker(broker_factory, tmp_path, key, leeway=0)
    with RawConnection(broker.host, broker.ports[SECURE]) as conn:
        conn.send(mb.connect("short", version=mb.V5, password=key.token(expires_in=2)))
        assert mb.parse_connack(conn.read_packet(), mb.V5).reason == 0
        started = time.monotonic()
        conn.expect_disconnect(mb.V5, 0x87, timeout=10)  # Not authorized, then the close
        assert time.monotonic() - started < 8
    log_line(broker, r'client "short" .*: token of user "sensor_001" expired at .*; disconnecting')


def test_enhanced_auth_with_jwt_and_re_authentication_extends_the_connection(broker_factory,
                                                                              tmp_path):
    key = SigningKey.hmac()
    broker = secret_broker(broker_factory, tmp_path, key, leeway=0)
    method = [(P.AUTHENTICATION_METHOD, "JWT")]
    with RawConnection(broker.host, broker.ports[SECURE]) as conn:
        conn.send(mb.connect("reauth", version=mb.V5, props=method + [
            (P.AUTHENTICATION_DATA, key.token(expires_in=2).encode())]))
        ack = mb.parse_connack(conn.read_packet(), mb.V5)
        assert ack.reason == 0
        assert mb.prop_value(ack.props, P.AUTHENTICATION_METHOD) == "JWT"
        # A fresh token before the first runs out: AUTH 0x19 -> AUTH 0x00.
        conn.send(mb.auth(0x19, method + [(P.AUTHENTICATION_DATA,
                                           key.token(expires_in=60).encode())]))
        answer = mb.parse_auth(conn.read_packet())
        assert answer.reason == 0
        assert mb.prop_value(answer.props, P.AUTHENTICATION_METHOD) == "JWT"
        log_line(broker, r'client "reauth" .*: re-authenticated by token \(user "sensor_001", '
                         r'valid until')
        # Past the first token's expiry the connection still answers.
        time.sleep(3)  # the expiry being tested is this long; nothing to wait on but time
        conn.send(mb.pingreq())
        assert conn.read_packet().type == mb.PINGRESP
        # A token for someone else does not re-authenticate: DISCONNECT 0x87.
        conn.send(mb.auth(0x19, method + [(P.AUTHENTICATION_DATA, key.token("admin").encode())]))
        closing = conn.read_packet()
        assert closing.type == mb.DISCONNECT and closing.body[0] == 0x87


def test_re_authentication_keeps_the_tenant_of_the_first_token(broker_factory, tmp_path):
    """A client stays in the tenant it connected in: a fresh token naming the same tenant
    re-authenticates it, one naming another tenant (or none, after one that named it)
    disconnects it with 0x87 (its session and subscriptions are that tenant's)."""
    key = SigningKey.hmac()
    broker = secret_broker(broker_factory, tmp_path, key)
    method = [(P.AUTHENTICATION_METHOD, "JWT")]

    def reauth(conn, **claims):
        conn.send(mb.auth(0x19, method + [(P.AUTHENTICATION_DATA, key.token(**claims).encode())]))

    for client_id, other in (("acme-1", {"tenant": "globex"}), ("acme-2", {})):
        with RawConnection(broker.host, broker.ports[SECURE]) as conn:
            conn.send(mb.connect(client_id, version=mb.V5, props=method + [
                (P.AUTHENTICATION_DATA, key.token(tenant="acme").encode())]))
            assert mb.parse_connack(conn.read_packet(), mb.V5).reason == 0
            reauth(conn, tenant="acme")
            assert mb.parse_auth(conn.read_packet()).reason == 0
            reauth(conn, **other)
            closing = conn.read_packet()
            assert closing.type == mb.DISCONNECT and closing.body[0] == 0x87
        log_line(broker, rf'client "{client_id}" .*: re-authentication failed: the new token '
                         rf'names tenant "{other.get("tenant", "")}", not "acme"')


def test_an_unknown_enhanced_auth_method_gets_0x8c(broker_factory, tmp_path):
    broker = secret_broker(broker_factory, tmp_path, SigningKey.hmac())
    assert connect(broker, "m", props=[(P.AUTHENTICATION_METHOD, "KERBEROS")]) == 0x8C
    log_line(broker, r'authentication method "KERBEROS" is not offered on this listener '
                     r'\(offered: JWT\)')


# -- key reload -------------------------------------------------------------------------------

def test_a_new_jwks_is_picked_up_and_a_broken_one_changes_nothing(broker_factory, tmp_path):
    old, new = SigningKey.ec(kid="old"), SigningKey.ec(kid="new")
    target = tmp_path / "jwks.json"

    def deploy(text: str) -> None:
        (tmp_path / "jwks.new").write_text(text)
        install(tmp_path / "jwks.new", target)

    deploy(jwks(old))
    then = time.time() - INSTALLED_AGO
    os.utime(target, (then, then))
    broker = jwt_broker(broker_factory, tmp_path, f'jwks_file = "{target}"')
    assert connect(broker, "a", password=old.token()) == 0
    deploy('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}')
    log_line(broker, r"JWT keys reload failed, keeping the previous keys: ")
    assert connect(broker, "b", password=old.token()) == 0
    with RawConnection(broker.host, broker.ports[SECURE]) as live:
        live.send(mb.connect("live", version=mb.V5, password=old.token()))
        assert mb.parse_connack(live.read_packet(), mb.V5).reason == 0
        deploy(jwks(new))
        log_line(broker, r"JWT keys \S+ reloaded \(1 key\)")
        # The client whose key was removed is disconnected; new tokens need the new key.
        live.expect_disconnect(mb.V5, 0x87)
    log_line(broker, r'client "live" .*: the key of its token \(ES256, kid "old"\) is no longer '
                     r'in the JWT keys; disconnecting')
    assert connect(broker, "c", password=new.token()) == 0
    assert connect(broker, "d", password=old.token()) == BAD_CREDENTIALS
