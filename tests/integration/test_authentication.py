"""Password authentication (issue 4): a listener's `auth` chain with [auth.password] reading a
password file made by Debian's `mosquitto_passwd`, checked with outside clients
(mosquitto_pub/sub -u -P, paho username_pw_set over TLS as in the seeds); the reason codes of
each refusal (5.0: 0x86 bad user name or password, 0x87 not authorized; 3.1.1: 4 and 5); the
chain order (certificate, then password); and the configuration errors.
"""

import os
import re
import signal

import pytest

from support import mqtt_bytes as mb
from support.broker import check_config, serve_until_exit, write_moat_config
from support.mosquitto_clients import MosquittoSub, mosquitto_passwd_file, mosquitto_pub
from support.paho_client import PahoClient
from support.raw_client import RawConnection

from integration.test_tls import paho_tls

pytestmark = pytest.mark.moat_only("Moat's auth chain and [auth.password]")

SECURE = "secure"
LOG_TIMEOUT = 5.0
USERS = {"sensor_001": "s3nsor-pass", "dashboard": "dash board pass"}


@pytest.fixture
def password_file(tmp_path):
    """A password file written by Debian's mosquitto_passwd (its $7$ PBKDF2-SHA512 lines)."""
    path = mosquitto_passwd_file(tmp_path / "passwd", USERS)
    assert path.read_text().count("$7$") == len(USERS)
    return path


def auth_toml(path) -> str:
    return f'[auth.password]\nfile = "{path}"\n'


def password_listener(name=SECURE, auth=("password",), **extra) -> dict:
    return {"name": name, "transport": "tcp", "auth": list(auth), **extra}


def log_line(broker, pattern: str) -> str:
    match = broker.wait_for_log(pattern, LOG_TIMEOUT)
    assert match, f"no log line matching {pattern!r}; log:\n{broker.log()}"
    return match.string


def raw_connect(broker, port, client_id, version, username=None, password=None):
    """CONNECT with exact bytes; returns the CONNACK's reason code."""
    with RawConnection(broker.host, port) as conn:
        conn.send(mb.connect(client_id, version=version, username=username, password=password))
        return mb.parse_connack(conn.read_packet(), version).reason


# -- end to end with outside clients ----------------------------------------------------------

@pytest.mark.parametrize("version", [pytest.param(mb.V311, id="mqtt311"),
                                     pytest.param(mb.V5, id="mqtt5")])
def test_users_from_a_mosquitto_passwd_file_publish_and_subscribe(broker_factory,
                                                                  password_file, version):
    broker = broker_factory(listeners=[password_listener()], extra_toml=auth_toml(password_file))
    port = broker.ports[SECURE]
    line = broker.listening_lines[SECURE]
    assert "authentication by password, anonymous clients refused" in line, line
    dashboard = ["-u", "dashboard", "-P", USERS["dashboard"]]
    with MosquittoSub(broker.host, port, ["sensors/#"], qos=1, version=version,
                      client_id="dash-1", extra=dashboard) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker.host, port, "sensors/001/temperature", "21.5", qos=1,
                      version=version, extra=["-u", "sensor_001", "-P", USERS["sensor_001"]])
        assert [m.payload for m in sub.receive(1)] == [b"21.5"]
    log_line(broker, r'client "dash-1" connected from 127\.0\.0\.1:\d+ on listener "secure" '
                     r'\(.*, user "dashboard" by password\)')


@pytest.mark.parametrize("version, wrong, unknown, missing", [
    pytest.param(mb.V311, 4, 4, 5, id="mqtt311"),
    pytest.param(mb.V5, 0x86, 0x86, 0x87, id="mqtt5"),
])
def test_wrong_unknown_and_missing_passwords_get_their_reason_codes(
        broker_factory, password_file, version, wrong, unknown, missing):
    broker = broker_factory(listeners=[password_listener()], extra_toml=auth_toml(password_file))
    port = broker.ports[SECURE]
    assert raw_connect(broker, port, "w", version, "sensor_001", b"guess") == wrong
    log_line(broker, r'connection refused for client "w": .*\(wrong password for user '
                     r'"sensor_001"\)')
    assert raw_connect(broker, port, "u", version, "nobody", b"x") == unknown
    log_line(broker, r'connection refused for client "u": .*\(user "nobody" is not in the '
                     r'password file\)')
    assert raw_connect(broker, port, "a", version) == missing
    log_line(broker, r'connection refused for client "a": .*\(no authentication method accepted '
                     r'the client \(tried password\)\)')
    # The right password still works after the refusals.
    assert raw_connect(broker, port, "ok", version, "sensor_001",
                       USERS["sensor_001"].encode()) == 0


def test_paho_username_and_password_over_tls_as_in_the_seeds(broker_factory, pki, password_file):
    listener = {"name": SECURE, "transport": "tls", "auth": ["password"],
                "tls": {"cert": pki.server.cert, "key": pki.server.key}}
    broker = broker_factory(listeners=[listener], extra_toml=auth_toml(password_file))
    with PahoClient("localhost", broker.ports[SECURE], "sensor_001", version=mb.V5,
                    tls=paho_tls(pki)) as client:
        client.client.username_pw_set("sensor_001", USERS["sensor_001"])
        assert client.connect().reason == 0
        client.subscribe("commands/001", qos=1)
        client.publish("commands/001", b"open", qos=1)
        assert client.next_message().payload == b"open"
    with PahoClient("localhost", broker.ports[SECURE], "intruder", version=mb.V5,
                    tls=paho_tls(pki)) as intruder:
        intruder.client.username_pw_set("sensor_001", "wrong")
        assert intruder.connect(expect_reason=0x86).reason == 0x86


def test_certificate_first_then_password(broker_factory, pki, password_file):
    listener = {"name": SECURE, "transport": "tls", "auth": ["certificate", "password"],
                "tls": {"cert": pki.server.cert, "key": pki.server.key, "ca": pki.root.cert,
                        "client_cert": "optional", "identity": "cn"}}
    broker = broker_factory(listeners=[listener], extra_toml=auth_toml(password_file))
    port = broker.ports[SECURE]
    with PahoClient("localhost", port, "meter-cert", version=mb.V5,
                    tls=paho_tls(pki, pki.client("meter-cert"))) as device:
        assert device.connect().reason == 0
    log_line(broker, r'client "meter-cert" connected .*identity "meter-cert" from certificate cn')
    with PahoClient("localhost", port, "dash-pw", version=mb.V5, tls=paho_tls(pki)) as dash:
        dash.client.username_pw_set("dashboard", USERS["dashboard"])
        assert dash.connect().reason == 0
    log_line(broker, r'client "dash-pw" connected .*user "dashboard" by password')
    with PahoClient("localhost", port, "nobody", version=mb.V5, tls=paho_tls(pki)) as nobody:
        assert nobody.connect(expect_reason=0x87).reason == 0x87


def test_anonymous_in_the_chain_admits_clients_without_a_user_name_only(broker_factory,
                                                                        password_file):
    broker = broker_factory(listeners=[password_listener(auth=("password", "anonymous"))],
                            extra_toml=auth_toml(password_file))
    port = broker.ports[SECURE]
    assert raw_connect(broker, port, "anon", mb.V5) == 0
    # A user name must be proven where passwords are checked: no password, no entry.
    assert raw_connect(broker, port, "claims", mb.V5, "dashboard") == 0x87
    assert raw_connect(broker, port, "wrong", mb.V5, "dashboard", b"x") == 0x86


# -- configuration ----------------------------------------------------------------------------

def test_configuration_mistakes_are_named(tmp_path, password_file):
    cases = [
        ([password_listener()], "", 'auth "password" needs an [auth.password] table'),
        ([password_listener(auth=("password", "password"))], auth_toml(password_file),
         'listener.auth lists "password" twice'),
        ([password_listener(auth=("magic",))], "", 'listener.auth "magic": methods are'),
        ([password_listener(auth=("certificate",))], "", 'auth "certificate" needs '
                                                         '[listener.tls] identity'),
        ([{**password_listener(), "allow_anonymous": True}], auth_toml(password_file),
         "allow_anonymous and auth together"),
    ]
    for i, (listeners, extra, message) in enumerate(cases):
        config = write_moat_config(tmp_path / f"c{i}", listeners=listeners, extra_toml=extra)
        result = check_config(config)
        assert result.returncode != 0 and message in result.stderr + result.stdout, \
            (message, result.stderr)


def test_a_broken_password_file_stops_the_start_with_its_line(tmp_path, password_file):
    broken = tmp_path / "broken"
    broken.write_text(password_file.read_text() + "no-colon-here\n")
    config = write_moat_config(tmp_path / "b", listeners=[password_listener()],
                               extra_toml=auth_toml(broken))
    result = serve_until_exit(config)
    assert result.returncode != 0
    assert re.search(rf"auth\.password\.file: {re.escape(str(broken))}:3: ", result.stdout +
                     result.stderr), result.stdout + result.stderr


# -- credential changes without a restart -----------------------------------------------------

def rewrite(path, text: str) -> None:
    """Replaces the file's content in one step (write a temporary file, rename), as editors
    and `moat passwd` do, with a modification time the watch cannot mistake for the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


@pytest.mark.parametrize("trigger", ["file-watch", "sighup"])
def test_a_user_removed_from_the_file_is_disconnected_and_refused(broker_factory, password_file,
                                                                  trigger):
    broker = broker_factory(listeners=[password_listener()], extra_toml=auth_toml(password_file))
    port = broker.ports[SECURE]
    sensor = RawConnection(broker.host, port)
    dashboard = PahoClient(broker.host, port, "dash-live", version=mb.V5)
    dashboard.client.username_pw_set("dashboard", USERS["dashboard"])
    try:
        sensor.send(mb.connect("sensor-live", version=mb.V5, username="sensor_001",
                               password=USERS["sensor_001"].encode()))
        assert mb.parse_connack(sensor.read_packet(), mb.V5).reason == 0
        assert dashboard.connect().reason == 0
        kept = [line for line in password_file.read_text().splitlines()
                if not line.startswith("sensor_001:")]
        rewrite(password_file, "\n".join(kept) + "\n")
        if trigger == "sighup":
            os.kill(broker.pid, signal.SIGHUP)
        log_line(broker, r"password file .* reloaded \(1 user, 1 removed or changed\)")
        # A 5.0 DISCONNECT with reason 0x87 Not authorized, then the connection closes.
        assert sensor.read_packet().raw() == bytes([0xE0, 0x01, 0x87])
        sensor.expect_closed()
        log_line(broker, r'client "sensor-live" .*: user "sensor_001" was removed from the '
                         r'password file')
        assert raw_connect(broker, port, "sensor-again", mb.V5, "sensor_001",
                           USERS["sensor_001"].encode()) == 0x86
        # The other user stays connected and can still publish.
        dashboard.publish("dash/alive", b"yes", qos=1)
    finally:
        sensor.close()
        dashboard.close()


def test_a_broken_file_at_reload_changes_nothing(broker_factory, password_file):
    broker = broker_factory(listeners=[password_listener()], extra_toml=auth_toml(password_file))
    port = broker.ports[SECURE]
    good = password_file.read_text()
    rewrite(password_file, good + "sensor_002:$7$broken\n")
    log_line(broker, r"password file reload failed, keeping the previous users: .*passwd:3: ")
    assert raw_connect(broker, port, "still", mb.V5, "sensor_001",
                       USERS["sensor_001"].encode()) == 0


# -- a client id belongs to the identity that created its session -----------------------------

def test_another_identity_can_neither_take_over_nor_clear_a_session(broker_factory,
                                                                     password_file):
    broker = broker_factory(listeners=[password_listener()], extra_toml=auth_toml(password_file))
    port = broker.ports[SECURE]
    owner = RawConnection(broker.host, port)
    try:
        owner.send(mb.connect("meter-1", version=mb.V5, clean=False, username="sensor_001",
                              password=USERS["sensor_001"].encode(),
                              props=[(mb.Prop.SESSION_EXPIRY_INTERVAL, 3600)]))
        assert mb.parse_connack(owner.read_packet(), mb.V5).reason == 0
        # Another user with the same client id, live session: no takeover.
        assert raw_connect(broker, port, "meter-1", mb.V5, "dashboard",
                           USERS["dashboard"].encode()) == 0x87
        log_line(broker, r'connection refused for client "meter-1": .*\(client id "meter-1" '
                         r'belongs to user "sensor_001", not to user "dashboard"\)')
        owner.send(mb.pingreq())
        assert owner.read_packet().raw() == bytes([0xD0, 0x00])  # still connected
        owner.send(mb.disconnect(mb.V5))
        owner.expect_closed()
    finally:
        owner.close()
    # Offline session: a clean start by another identity does not wipe it.
    assert raw_connect(broker, port, "meter-1", mb.V5, "dashboard",
                       USERS["dashboard"].encode()) == 0x87
    with RawConnection(broker.host, port) as again:
        again.send(mb.connect("meter-1", version=mb.V5, clean=False, username="sensor_001",
                              password=USERS["sensor_001"].encode(),
                              props=[(mb.Prop.SESSION_EXPIRY_INTERVAL, 3600)]))
        connack = mb.parse_connack(again.read_packet(), mb.V5)
        assert (connack.reason, connack.session_present) == (0, True)


@pytest.mark.parametrize("client_id, username, reason", [
    pytest.param("meters/+", "sensor_001", 0x85, id="wildcard-in-client-id"),
    pytest.param("tab\there", "sensor_001", 0x85, id="control-character-in-client-id"),
    pytest.param("ok-id", "sensor#1", 0x86, id="wildcard-in-user-name"),
])
def test_client_ids_and_user_names_with_wildcards_or_control_characters_are_refused(
        broker_factory, password_file, client_id, username, reason):
    broker = broker_factory(listeners=[password_listener()], extra_toml=auth_toml(password_file))
    assert raw_connect(broker, broker.ports[SECURE], client_id, mb.V5, username, b"x") == reason


# -- password guessing ------------------------------------------------------------------------

BRUTE_FORCE = ("[auth.brute_force]\nmax_failures = 5\nwindow = 60\nban_time = 60\n"
               "first_delay_ms = 10\nmax_delay_ms = 50\n")


def connect_from(broker, port, source, client_id, username, password) -> int:
    with RawConnection(broker.host, port, source=source) as conn:
        conn.send(mb.connect(client_id, version=mb.V5, username=username, password=password))
        return mb.parse_connack(conn.read_packet(), mb.V5).reason


def test_guessing_a_password_ends_in_a_ban_of_that_address_only(broker_factory, password_file):
    broker = broker_factory(listeners=[password_listener()],
                            extra_toml=auth_toml(password_file) + BRUTE_FORCE)
    port = broker.ports[SECURE]
    reasons = []
    for i in range(50):
        reasons.append(connect_from(broker, port, "127.0.0.1", f"guess-{i}", "sensor_001",
                                    f"guess {i}".encode()))
        if reasons[-1] == 0x8A:
            break
    # Five wrong passwords (0x86), then the address is banned (0x8A Banned).
    assert reasons == [0x86] * 5 + [0x8A], reasons
    log_line(broker, r"address 127\.0\.0\.1 banned for 60 s after 5 failed logins within 60 s "
                     r'\(last as user "sensor_001"\)')
    log_line(broker, r"connection refused for client \"guess-5\": Banned \(address 127\.0\.0\.1 "
                     r"is banned for \d+ s more")
    # The right password does not help from the banned address...
    assert connect_from(broker, port, "127.0.0.1", "real", "sensor_001",
                        USERS["sensor_001"].encode()) == 0x8A
    # ...but works from another one, and the user is not locked out.
    assert connect_from(broker, port, "127.0.0.2", "real", "sensor_001",
                        USERS["sensor_001"].encode()) == 0
