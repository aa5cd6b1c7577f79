"""Authorization with Mosquitto's acl_file (issue 5): the seeds' ACL example with outside clients
(mosquitto_pub/sub, exact bytes for the reason codes of both versions); the checks at PUBLISH,
SUBSCRIBE (a wildcard filter only if all it can match is granted), delivery and the will;
reload on change revoking a live subscription at once; a broken file at reload changing
nothing; and the audit event of a refusal.
"""

import json
import os
import time

import pytest

from support import mqtt_bytes as mb
from support.deploy import INSTALLED_AGO, install
from support.mosquitto_clients import MosquittoSub, mosquitto_passwd_file, mosquitto_pub
from support.raw_client import RawConnection

from integration.test_authentication import log_line

pytestmark = pytest.mark.moat_only("Moat's authorization")

SECURE = "secure"
USERS = {"admin": "admin-pass", "sensor_001": "sensor-pass", "dashboard": "dash-pass"}
NOT_AUTHORIZED = 0x87

# The seeds' example (docs 000), one rule per line, as an operator would write it.
SEED_ACL = """\
# Admin can access everything
user admin
topic readwrite #
# Sensor devices can only publish to their topics
user sensor_001
topic write sensors/001/#
topic read commands/001
# Dashboard can read everything, write nothing
user dashboard
topic read sensors/#
topic read devices/#
# Default: deny everything
topic deny #
"""


@pytest.fixture
def passwd(tmp_path):
    return mosquitto_passwd_file(tmp_path / "passwd", USERS)


def deploy(tmp_path, text: str, target) -> None:
    (tmp_path / "acl.new").write_text(text)
    install(tmp_path / "acl.new", target)


def acl_broker(broker_factory, tmp_path, passwd, acl_text, extra=""):
    acl = tmp_path / "acl"
    deploy(tmp_path, acl_text, acl)
    then = time.time() - INSTALLED_AGO
    os.utime(acl, (then, then))
    listener = {"name": SECURE, "transport": "tcp", "auth": ["password"]}
    return broker_factory(listeners=[listener], extra_toml=(
        f'[auth.password]\nfile = "{passwd}"\n[authz]\nacl_file = "{acl}"\n{extra}'))


def login(user):
    return ["-u", user, "-P", USERS[user]]


class Raw:
    """A logged-in raw connection for exact reason codes."""

    def __init__(self, broker, user, client_id, version=mb.V5):
        self.version = version
        self.conn = RawConnection(broker.host, broker.ports[SECURE])
        self.conn.send(mb.connect(client_id, version=version, username=user,
                                  password=USERS[user].encode()))
        assert mb.parse_connack(self.conn.read_packet(), version).reason == 0

    def publish_qos1(self, topic, payload=b"x", packet_id=1):
        self.conn.send(mb.publish(topic, payload, qos=1, packet_id=packet_id,
                                  version=self.version))
        ack = self.conn.read_packet()
        assert ack.type == mb.PUBACK
        return ack.body[2] if self.version == mb.V5 and len(ack.body) > 2 else 0

    def subscribe(self, topic_filter, packet_id=1):
        self.conn.send(mb.subscribe(packet_id, [(topic_filter, 1)], version=self.version))
        return mb.parse_ack_reasons(self.conn.read_packet_of_type(mb.SUBACK), self.version)[0]

    def close(self):
        self.conn.close()


def test_sensor_rights_from_the_seeds_acl(broker_factory, tmp_path, passwd):
    broker = acl_broker(broker_factory, tmp_path, passwd, SEED_ACL)
    sensor = Raw(broker, "sensor_001", "sensor-1")
    try:
        assert sensor.publish_qos1("sensors/001/temperature") == 0x10  # allowed, no subscriber
        assert sensor.publish_qos1("sensors/002/temperature", packet_id=2) == NOT_AUTHORIZED
        assert sensor.subscribe("commands/001") == 1
        assert sensor.subscribe("commands/002", packet_id=2) == NOT_AUTHORIZED
        assert sensor.subscribe("commands/#", packet_id=3) == NOT_AUTHORIZED  # wider than granted
    finally:
        sensor.close()
    log_line(broker, r'client "sensor-1" .*: publish "sensors/002/temperature" denied: no rule '
                     r'allows')
    old = Raw(broker, "sensor_001", "sensor-311", mb.V311)
    try:
        assert old.subscribe("commands/002") == 0x80  # 3.1.1's refusal
    finally:
        old.close()


def test_the_seeds_dashboard_reads_nothing_because_the_last_deny_is_its_own(
        broker_factory, tmp_path, passwd):
    """As in Mosquitto: `topic deny #` after `user dashboard` is one of the dashboard's rules,
    and a deny wins (docs/authorization.md, "The seeds' example")."""
    broker = acl_broker(broker_factory, tmp_path, passwd, SEED_ACL)
    dash = Raw(broker, "dashboard", "dash-1")
    try:
        assert dash.subscribe("sensors/#") == NOT_AUTHORIZED
        assert dash.publish_qos1("sensors/001/temperature") == NOT_AUTHORIZED
    finally:
        dash.close()
    log_line(broker, r'client "dash-1" .*: subscribe "sensors/#" denied by \S+acl:13 '
                     r'\(topic deny #\)')
    # The broker said so at start, as `moat acl lint` does.
    log_line(broker, r'authorization: \S+acl:10: "topic read sensors/#" grants nothing: \S+acl:13 '
                     r'\(topic deny #\) denies all of it for user dashboard')


def test_without_its_last_line_the_seeds_dashboard_reads_sensors_and_writes_nothing(
        broker_factory, tmp_path, passwd):
    acl = SEED_ACL.replace("# Default: deny everything\ntopic deny #\n", "")
    broker = acl_broker(broker_factory, tmp_path, passwd, acl)
    port = broker.ports[SECURE]
    with MosquittoSub(broker.host, port, ["sensors/#", "devices/#"], qos=1, client_id="dash",
                      extra=login("dashboard")) as dash:
        dash.wait_subscribed()
        mosquitto_pub(broker.host, port, "sensors/001/temperature", "21.5", qos=1,
                      extra=login("sensor_001"))
        assert [m.payload for m in dash.receive(1)] == [b"21.5"]
    reader = Raw(broker, "dashboard", "dash-2")
    try:
        assert reader.publish_qos1("sensors/001/temperature") == NOT_AUTHORIZED  # writes nothing
        assert reader.subscribe("#") == NOT_AUTHORIZED  # "#" is more than sensors/# + devices/#
    finally:
        reader.close()


def test_admin_commands_reach_the_sensor_and_forbidden_publishes_reach_nobody(
        broker_factory, tmp_path, passwd):
    broker = acl_broker(broker_factory, tmp_path, passwd, SEED_ACL)
    port = broker.ports[SECURE]
    with MosquittoSub(broker.host, port, ["commands/001"], qos=1, client_id="sensor-sub",
                      extra=login("sensor_001")) as sensor, \
            MosquittoSub(broker.host, port, ["#"], qos=1, client_id="admin-sub",
                         extra=login("admin")) as admin:
        sensor.wait_subscribed()
        admin.wait_subscribed()
        # 3.1.1 has no way to say "not authorized": the PUBLISH is acknowledged and dropped.
        mosquitto_pub(broker.host, port, "commands/001", "forged", qos=1,
                      extra=login("sensor_001"))
        mosquitto_pub(broker.host, port, "commands/001", "open", qos=1, extra=login("admin"))
        assert [m.payload for m in sensor.receive(1)] == [b"open"]
        assert [m.payload for m in admin.receive(1)] == [b"open"]  # the forged one never came


def test_an_unproven_user_name_grants_nothing(broker_factory, tmp_path, passwd):
    """One [authz] serves every listener: a client that only claims to be admin on a listener
    that admits anonymous clients gets an anonymous client's rights (none here)."""
    acl = tmp_path / "acl"
    acl.write_text(SEED_ACL)
    listeners = [{"name": SECURE, "transport": "tcp", "auth": ["password"]},
                 {"name": "open", "transport": "tcp", "auth": ["anonymous"]}]
    broker = broker_factory(listeners=listeners, extra_toml=(
        f'[auth.password]\nfile = "{passwd}"\n[authz]\nacl_file = "{acl}"\n'))
    with RawConnection(broker.host, broker.ports["open"]) as conn:
        conn.send(mb.connect("pretender", version=mb.V5, username="admin"))
        assert mb.parse_connack(conn.read_packet(), mb.V5).reason == 0
        conn.send(mb.subscribe(1, [("#", 1)], version=mb.V5))
        assert mb.parse_ack_reasons(conn.read_packet_of_type(mb.SUBACK), mb.V5) == [0x87]


def test_a_will_to_a_forbidden_topic_is_refused_at_connect(broker_factory, tmp_path, passwd):
    broker = acl_broker(broker_factory, tmp_path, passwd, SEED_ACL)
    with RawConnection(broker.host, broker.ports[SECURE]) as conn:
        conn.send(mb.connect("sensor-w", version=mb.V5, username="sensor_001",
                             password=USERS["sensor_001"].encode(),
                             will=mb.Will(topic="commands/001", payload=b"gone")))
        assert mb.parse_connack(conn.read_packet(), mb.V5).reason == NOT_AUTHORIZED
    log_line(broker, r'client "sensor-w": Not authorized \(the will\'s topic "commands/001" is '
                     r'not allowed for this client\)')
    with RawConnection(broker.host, broker.ports[SECURE]) as conn:
        conn.send(mb.connect("sensor-ok", version=mb.V5, username="sensor_001",
                             password=USERS["sensor_001"].encode(),
                             will=mb.Will(topic="sensors/001/status", payload=b"gone")))
        assert mb.parse_connack(conn.read_packet(), mb.V5).reason == 0


def test_a_retained_message_is_not_sent_to_a_client_refused_the_filter(broker_factory, tmp_path,
                                                                         passwd):
    broker = acl_broker(broker_factory, tmp_path, passwd, SEED_ACL)
    mosquitto_pub(broker.host, broker.ports[SECURE], "commands/002", "secret", qos=1,
                  retain=True, extra=login("admin"))
    sensor = Raw(broker, "sensor_001", "sensor-r")
    try:
        assert sensor.subscribe("commands/002") == NOT_AUTHORIZED
        sensor.conn.expect_open_for(0.5)  # no retained PUBLISH follows the refusal
    finally:
        sensor.close()


def test_reload_revokes_a_live_subscription_and_a_broken_file_changes_nothing(
        broker_factory, tmp_path, passwd):
    broker = acl_broker(broker_factory, tmp_path, passwd, SEED_ACL)
    port = broker.ports[SECURE]
    acl = tmp_path / "acl"
    with MosquittoSub(broker.host, port, ["commands/001"], qos=1, client_id="sensor-live",
                      extra=login("sensor_001")) as sensor:
        sensor.wait_subscribed()
        mosquitto_pub(broker.host, port, "commands/001", "before", qos=1, extra=login("admin"))
        assert [m.payload for m in sensor.receive(1)] == [b"before"]
        # A broken file: logged, the rules in force stay.
        deploy(tmp_path, SEED_ACL + "topik read x\n", acl)
        log_line(broker, r"authorization reload failed, keeping the rules in force: .*acl:14: ")
        mosquitto_pub(broker.host, port, "commands/001", "still", qos=1, extra=login("admin"))
        assert [m.payload for m in sensor.receive(1)] == [b"still"]
        # The sensor loses its read right: the live subscription stops at once.
        deploy(tmp_path, SEED_ACL.replace("topic read commands/001\n", ""), acl)
        log_line(broker, r"authorization rules \S+ reloaded")
        # The subscription the new rules no longer grant is removed at once...
        log_line(broker, r'client "sensor-live": subscription "commands/001" removed: denied')
        mosquitto_pub(broker.host, port, "commands/001", "after", qos=1, extra=login("admin"))
        # ...so the next command is not sent to it (the admin's own copy shows it was routed).
        with MosquittoSub(broker.host, port, ["commands/001"], qos=1, client_id="admin-check",
                          extra=login("admin")) as admin:
            admin.wait_subscribed()
            mosquitto_pub(broker.host, port, "commands/001", "marker", qos=1,
                          extra=login("admin"))
            assert [m.payload for m in admin.receive(1)] == [b"marker"]
        assert b"after".hex() not in sensor.output()
        assert b"marker".hex() not in sensor.output()


def test_a_refusal_is_an_audit_event_naming_the_rule(broker_factory, tmp_path, passwd):
    audit = tmp_path / "audit.jsonl"
    broker = acl_broker(broker_factory, tmp_path, passwd, SEED_ACL + "user sensor_001\n"
                        "topic deny sensors/001/private\n", extra=f'[audit]\nfile = "{audit}"\n')
    sensor = Raw(broker, "sensor_001", "sensor-a")
    try:
        assert sensor.publish_qos1("sensors/001/private") == NOT_AUTHORIZED
    finally:
        sensor.close()
    log_line(broker, r'publish "sensors/001/private" denied by .*acl:15')
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    [denied] = [e for e in events if e["event"] == "authorization"]
    assert (denied["client_id"], denied["username"], denied["action"], denied["topic"]) == \
        ("sensor-a", "sensor_001", "publish", "sensors/001/private")
    assert denied["where"].endswith("acl:15") and denied["rule"] == "topic deny sensors/001/private"


# -- moat acl check -------------------------------------------------------------------------

def test_moat_acl_check_explains_decisions_of_the_seeds_acl(tmp_path):
    from support.moat_cli import moat_run
    acl = tmp_path / "acl"
    acl.write_text(SEED_ACL)

    def check(*args):
        result = moat_run("acl", "check", "--acl-file", str(acl), *args)
        return result.returncode, result.stdout.decode().strip()

    code, out = check("--user", "admin", "--action", "subscribe", "--topic", "#")
    assert code == 0 and out == f"allowed by {acl}:3 (topic readwrite #)", out
    code, out = check("--user", "sensor_001", "--action", "publish", "--topic", "sensors/002/t")
    assert code == 1 and out.startswith("denied"), out
    code, out = check("--user", "sensor_001", "--action", "subscribe", "--topic", "commands/+")
    assert code == 1, out
    result = moat_run("acl", "check", "--acl-file", str(tmp_path / "missing"), "--action",
                      "publish", "--topic", "t")
    assert result.returncode == 2 and "missing" in result.stderr.decode()


def test_moat_acl_lint_flags_the_seeds_shadowed_dashboard_rules(tmp_path, passwd):
    from support.moat_cli import moat_run
    acl = tmp_path / "acl"
    acl.write_text(SEED_ACL + "user sensor_002\ntopic write sensors/002/#\n")
    config = tmp_path / "moat.toml"
    config.write_text(f'[auth.password]\nfile = "{passwd}"\n[authz]\nacl_file = "{acl}"\n'
                      '[[listener]]\nname = "l"\nbind = "127.0.0.1:0"\nauth = ["password"]\n')
    result = moat_run("acl", "lint", "--config", str(config))
    out = result.stdout.decode()
    assert result.returncode == 1, out + result.stderr.decode()
    assert (f'{acl}:10: warning: "topic read sensors/#" grants nothing: {acl}:13 (topic deny #) '
            "denies all of it for user dashboard (a deny wins)") in out
    assert f'{acl}:11: warning: "topic read devices/#" grants nothing' in out
    assert f"{acl}:3: warning: \"topic readwrite #\" grants every topic to user admin" in out
    assert f"{acl}:15: warning: user sensor_002 is not in the password file" in out
    # The file as its comments mean it (no per-user deny) has only the admin's grant to report.
    acl.write_text(SEED_ACL.replace("topic deny #\n", ""))
    result = moat_run("acl", "lint", "--acl-file", str(acl))
    assert result.returncode == 1
    assert result.stdout.decode().count("warning") == 1
