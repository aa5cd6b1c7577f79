"""Moat's policy.toml (issue 5): the seeds' RBAC example (sensors publish data, controllers send
commands, admins both) and ABAC example (only devices tagged FactoryFloor publish to
factory/#) with outside clients (mosquitto_pub/sub, paho) and exact bytes for the reason codes;
a rule's max_qos refusing a publish and capping a SUBACK; two tenants using the same topic names
without seeing each other, live or retained; a broken policy at reload changing nothing; and
`moat acl check --policy`.
"""


import pytest

from support import mqtt_bytes as mb
from support.deploy import install
from support.moat_cli import moat_run
from support.mosquitto_clients import MosquittoSub, mosquitto_passwd_file, mosquitto_pub
from support.paho_client import PahoClient
from support.raw_client import RawConnection

from integration.test_authentication import log_line

pytestmark = pytest.mark.moat_only("Moat's policy.toml")

SECURE = "secure"
NOT_AUTHORIZED = 0x87
USERS = {"sensor-1": "s1-pass", "ctl-1": "c1-pass", "root": "root-pass", "press-1": "p1-pass",
         "office-1": "o1-pass", "acme-dev": "a-pass", "globex-dev": "g-pass"}

RBAC = """\
[users.sensor-1]
groups = ["sensors"]
[users.ctl-1]
groups = ["controllers"]
[users.root]
roles = ["admin"]

[groups.sensors]
roles = ["sensor"]
[groups.controllers]
roles = ["controller"]

# Sensors publish their data (at most QoS 1) and read their own commands.
[[roles.sensor.rules]]
allow = "publish"
topic = "data/${username}/#"
max_qos = 1
[[roles.sensor.rules]]
allow = "read"
topic = "commands/${username}"

# Controllers read all data and send commands.
[[roles.controller.rules]]
allow = "read"
topic = "data/#"
[[roles.controller.rules]]
allow = "publish"
topic = "commands/+"

# Admins do both.
[roles.admin]
rules = [{ allow = "all", topic = "data/#" }, { allow = "all", topic = "commands/#" }]
"""

ABAC = """\
[users.press-1]
attributes = { location = "FactoryFloor" }
[users.office-1]
attributes = { location = "Office" }
[users.root]
roles = ["admin"]

[authenticated]
roles = ["device"]

[[roles.device.rules]]
allow = "publish"
topic = "factory/#"
when = { attr.location = "FactoryFloor" }
[[roles.device.rules]]
allow = "publish"
topic = "lab/#"
when = { address = "10.0.0.0/8" }

[[roles.admin.rules]]
allow = "read"
topic = "#"
"""

TENANTS = """\
[users.acme-dev]
tenant = "acme"
[users.globex-dev]
tenant = "globex"
[users.root]
roles = ["operator"]

[authenticated]
roles = ["device"]

[[roles.device.rules]]
allow = "all"
topic = "#"

# The operator has no tenant: it sees every tenant's topics under its mount point.
[[roles.operator.rules]]
allow = "read"
topic = "tenants/#"

[tenants.globex]
mount = "customers/globex/"
"""


@pytest.fixture
def passwd(tmp_path):
    return mosquitto_passwd_file(tmp_path / "passwd", USERS)


def user_client(broker, client_id: str, user: str) -> PahoClient:
    """A 5.0 paho client on the SECURE listener that logs in as `user` (not yet connected)."""
    client = PahoClient(broker.host, broker.ports[SECURE], client_id, version=mb.V5)
    client.client.username_pw_set(user, USERS[user])
    return client


def policy_broker(broker_factory, tmp_path, passwd, policy_text, extra=""):
    (tmp_path / "policy.toml").write_text(policy_text)
    listener = {"name": SECURE, "transport": "tcp", "auth": ["password"]}
    return broker_factory(listeners=[listener], extra_toml=(
        f'[auth.password]\nfile = "{passwd}"\n[authz]\npolicy = "{tmp_path / "policy.toml"}"\n'
        + extra))


def login(user):
    return ["-u", user, "-P", USERS[user]]


class Raw:
    """A logged-in MQTT 5 connection with exact bytes."""

    def __init__(self, broker, user, client_id):
        self.conn = RawConnection(broker.host, broker.ports[SECURE])
        self.conn.send(mb.connect(client_id, version=mb.V5, username=user,
                                  password=USERS[user].encode()))
        assert mb.parse_connack(self.conn.read_packet(), mb.V5).reason == 0

    def publish(self, topic, qos=1, packet_id=1):
        """The reason code of the PUBACK (QoS 1) or PUBREC (QoS 2)."""
        self.conn.send(mb.publish(topic, b"x", qos=qos, packet_id=packet_id, version=mb.V5))
        ack = self.conn.read_packet()
        assert ack.type == (mb.PUBACK if qos == 1 else mb.PUBREC)
        return ack.body[2] if len(ack.body) > 2 else 0

    def subscribe(self, topic_filter, qos=1, packet_id=1):
        self.conn.send(mb.subscribe(packet_id, [(topic_filter, qos)], version=mb.V5))
        return mb.parse_ack_reasons(self.conn.read_packet_of_type(mb.SUBACK), mb.V5)[0]

    def close(self):
        self.conn.close()


# -- RBAC ------------------------------------------------------------------------------------

def test_rbac_sensors_publish_data_controllers_send_commands_admins_both(
        broker_factory, tmp_path, passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, RBAC)
    port = broker.ports[SECURE]
    with MosquittoSub(broker.host, port, ["data/#"], qos=1, client_id="ctl-sub",
                      extra=login("ctl-1")) as controller, \
            MosquittoSub(broker.host, port, ["commands/sensor-1"], qos=1, client_id="s1-sub",
                         extra=login("sensor-1")) as sensor:
        controller.wait_subscribed()
        sensor.wait_subscribed()
        mosquitto_pub(broker.host, port, "data/sensor-1/temp", "21.5", qos=1,
                      extra=login("sensor-1"))
        assert [m.payload for m in controller.receive(1)] == [b"21.5"]
        mosquitto_pub(broker.host, port, "commands/sensor-1", "calibrate", qos=1,
                      extra=login("ctl-1"))
        assert [m.payload for m in sensor.receive(1)] == [b"calibrate"]
        # The admin does both.
        mosquitto_pub(broker.host, port, "commands/sensor-1", "reboot", qos=1,
                      extra=login("root"))
        mosquitto_pub(broker.host, port, "data/sensor-1/temp", "0", qos=1, extra=login("root"))
        assert [m.payload for m in sensor.receive(1)] == [b"reboot"]
        assert [m.payload for m in controller.receive(1)] == [b"0"]

    s = Raw(broker, "sensor-1", "s1-raw")
    try:
        assert s.publish("data/sensor-2/temp") == NOT_AUTHORIZED      # another sensor's data
        assert s.publish("commands/sensor-1", packet_id=2) == NOT_AUTHORIZED  # not a controller
        assert s.subscribe("data/#") == NOT_AUTHORIZED
    finally:
        s.close()
    c = Raw(broker, "ctl-1", "c1-raw")
    try:
        assert c.publish("data/sensor-1/temp") == NOT_AUTHORIZED     # controllers send commands
        assert c.subscribe("commands/#") == NOT_AUTHORIZED
    finally:
        c.close()
    log_line(broker, r'client "c1-raw" .*: publish "data/sensor-1/temp" denied: no rule allows')


def test_max_qos_refuses_a_higher_publish_and_caps_the_suback(broker_factory, tmp_path, passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, RBAC + """
[[roles.sensor.rules]]
allow = "read"
topic = "broadcast/#"
max_qos = 0
""")
    s = Raw(broker, "sensor-1", "s1-qos")
    try:
        assert s.publish("data/sensor-1/t", qos=1) == 0x10  # allowed, nobody subscribed
        assert s.publish("data/sensor-1/t", qos=2, packet_id=2) == NOT_AUTHORIZED
        assert s.subscribe("broadcast/#", qos=2) == 0  # granted, at QoS 0
    finally:
        s.close()
    log_line(broker, r'publish "data/sensor-1/t" denied: no rule allows publish to '
                     r'"data/sensor-1/t" \(default deny\); allowed only up to QoS 1')
    paho = user_client(broker, "s1-paho", "sensor-1")
    paho.connect()
    try:
        assert paho.subscribe("broadcast/news", qos=1) == [0]
    finally:
        paho.disconnect()


# -- ABAC ------------------------------------------------------------------------------------

def test_abac_only_devices_tagged_factory_floor_publish_to_factory(broker_factory, tmp_path,
                                                                    passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, ABAC)
    port = broker.ports[SECURE]
    with MosquittoSub(broker.host, port, ["factory/#", "lab/#"], qos=1, client_id="root-sub",
                      extra=login("root")) as watcher:
        watcher.wait_subscribed()
        # 3.1.1 (mosquitto_pub's default) has no refusal code: office-1's publish is dropped.
        mosquitto_pub(broker.host, port, "factory/line1/press", "office", qos=1,
                      extra=login("office-1"))
        mosquitto_pub(broker.host, port, "factory/line1/press", "press", qos=1,
                      extra=login("press-1"))
        assert [m.payload for m in watcher.receive(1)] == [b"press"]
    office = Raw(broker, "office-1", "office-raw")
    try:
        assert office.publish("factory/line1/press") == NOT_AUTHORIZED
    finally:
        office.close()
    press = Raw(broker, "press-1", "press-raw")
    try:
        assert press.publish("lab/bench") == NOT_AUTHORIZED  # loopback is not in 10.0.0.0/8
    finally:
        press.close()


# -- tenants ---------------------------------------------------------------------------------

def test_two_tenants_with_the_same_topic_names_do_not_see_each_other(broker_factory, tmp_path,
                                                                      passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, TENANTS)
    port = broker.ports[SECURE]
    # A retained message in each tenant, under the same name.
    mosquitto_pub(broker.host, port, "status", "acme-status", qos=1, retain=True,
                  extra=login("acme-dev"))
    mosquitto_pub(broker.host, port, "status", "globex-status", qos=1, retain=True,
                  extra=login("globex-dev"))
    with MosquittoSub(broker.host, port, ["#"], qos=1, client_id="acme-sub",
                      extra=login("acme-dev")) as acme, \
            MosquittoSub(broker.host, port, ["#"], qos=1, client_id="globex-sub",
                         extra=login("globex-dev")) as globex, \
            MosquittoSub(broker.host, port, ["tenants/#", "customers/#"], qos=1,
                         client_id="operator", extra=login("root")) as operator:
        # Each tenant's "#" holds its own retained message, under the name it used.
        assert [(m.topic, m.payload) for m in acme.receive(1)] == [("status", b"acme-status")]
        assert [(m.topic, m.payload) for m in globex.receive(1)] == [
            ("status", b"globex-status")]
        operator.wait_subscribed()
        got = sorted((m.topic, m.payload) for m in operator.receive(2))
        assert got == [("customers/globex/status", b"globex-status"),
                       ("tenants/acme/status", b"acme-status")]
        # Live: acme publishes first, then globex; had acme's message leaked into globex's
        # namespace it would reach globex's subscriber before globex's own.
        mosquitto_pub(broker.host, port, "sensors/1", "acme-live", qos=1,
                      extra=login("acme-dev"))
        mosquitto_pub(broker.host, port, "sensors/1", "globex-live", qos=1,
                      extra=login("globex-dev"))
        assert [(m.topic, m.payload) for m in globex.receive(1)] == [("sensors/1", b"globex-live")]
        assert [(m.topic, m.payload) for m in acme.receive(1)] == [("sensors/1", b"acme-live")]
        got = [(m.topic, m.payload) for m in operator.receive(2)]
        assert got == [("tenants/acme/sensors/1", b"acme-live"),
                       ("customers/globex/sensors/1", b"globex-live")]


def test_a_tenant_has_no_dollar_topics_and_no_topics_too_long_for_its_mount(
        broker_factory, tmp_path, passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, TENANTS)
    acme = Raw(broker, "acme-dev", "acme-raw")
    try:
        assert acme.publish("$SYS/broker/x") == 0x90  # Topic Name invalid
        assert acme.publish("t" * 65530, packet_id=2) == 0x90  # 65,530 + "tenants/acme/"
        assert acme.subscribe("$SYS/#") == 0x8F  # Topic Filter invalid
        assert acme.publish("fine", packet_id=3) == 0x10
    finally:
        acme.close()
    log_line(broker, r'client "acme-raw" .*: publish to "\$SYS/broker/x" refused: a tenant\'s '
                     r'client has no \'\$\' topics')


def test_response_topics_stay_inside_the_tenant(broker_factory, tmp_path, passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, TENANTS)
    responder = user_client(broker, "acme-responder", "acme-dev")
    responder.connect()
    operator = user_client(broker, "operator-rr", "root")
    operator.connect()
    try:
        assert responder.subscribe("requests", qos=1) == [1]
        assert operator.subscribe("tenants/acme/requests", qos=1) == [1]
        requester = user_client(broker, "acme-requester", "acme-dev")
        requester.connect()
        try:
            requester.publish("requests", b"ping", qos=1, ResponseTopic="replies/1")
        finally:
            requester.close()
        got = responder.next_message()
        assert got.properties.ResponseTopic == "replies/1"  # as the tenant wrote it
        seen = operator.next_message()
        assert seen.properties.ResponseTopic == "tenants/acme/replies/1"  # where it lives
    finally:
        responder.close()
        operator.close()


def test_a_tenant_client_cannot_reach_outside_its_mount(broker_factory, tmp_path, passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, TENANTS)
    port = broker.ports[SECURE]
    with MosquittoSub(broker.host, port, ["#"], qos=1, client_id="globex-all",
                      extra=login("globex-dev")) as globex:
        globex.wait_subscribed()
        # acme names globex's mount in its topic: it lands in acme's own namespace.
        mosquitto_pub(broker.host, port, "customers/globex/sensors/1", "sneaky", qos=1,
                      extra=login("acme-dev"))
        mosquitto_pub(broker.host, port, "marker", "own", qos=1, extra=login("globex-dev"))
        assert [(m.topic, m.payload) for m in globex.receive(1)] == [("marker", b"own")]


def test_a_reload_that_moves_a_client_to_another_tenant_disconnects_it(broker_factory,
                                                                         tmp_path, passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, TENANTS)
    client = Raw(broker, "acme-dev", "acme-live")
    (tmp_path / "policy.new").write_text(TENANTS.replace('tenant = "acme"', 'tenant = "globex"'))
    install(tmp_path / "policy.new", tmp_path / "policy.toml")
    disconnect = client.conn.read_packet_of_type(mb.DISCONNECT)
    assert disconnect.body[0] == NOT_AUTHORIZED
    client.close()
    log_line(broker, r'client "acme-live" .*: the reloaded policy moved it from mount point '
                     r'"tenants/acme/" to "customers/globex/"; disconnecting')


# -- provenance ------------------------------------------------------------------------------

def test_the_broker_stamps_who_sent_a_command_and_removes_forged_stamps(broker_factory, tmp_path,
                                                                        passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, RBAC,
                           extra='[provenance]\nproperty = "publisher"\n')
    port = broker.ports[SECURE]
    sensor = user_client(broker, "s1-prov", "sensor-1")
    sensor.connect()
    controller = user_client(broker, "c1-prov", "ctl-1")
    controller.connect()
    try:
        assert sensor.subscribe("commands/sensor-1", qos=1) == [1]
        # The controller claims to be root, and adds a property of its own.
        controller.publish("commands/sensor-1", b"open", qos=1,
                           UserProperty=[("publisher", "root"), ("site", "berlin")])
        got = sensor.next_message()
        assert got.payload == b"open"
        assert got.properties.UserProperty == [("site", "berlin"), ("publisher", "ctl-1")]
        # A 3.1.1 publisher (no properties at all) is stamped too.
        mosquitto_pub(broker.host, port, "commands/sensor-1", "close", qos=1, extra=login("root"))
        got = sensor.next_message()
        assert got.payload == b"close"
        assert got.properties.UserProperty == [("publisher", "root")]
    finally:
        sensor.close()
        controller.close()


# -- reload and explanations -----------------------------------------------------------------

def test_a_broken_policy_at_reload_changes_nothing_and_a_good_one_revokes(
        broker_factory, tmp_path, passwd):
    broker = policy_broker(broker_factory, tmp_path, passwd, RBAC)
    port = broker.ports[SECURE]
    policy = tmp_path / "policy.toml"
    with MosquittoSub(broker.host, port, ["data/#"], qos=1, client_id="ctl-live",
                      extra=login("ctl-1")) as controller:
        controller.wait_subscribed()
        (tmp_path / "policy.new").write_text(RBAC.replace('roles = ["controller"]',
                                                          'roles = ["controler"]'))
        install(tmp_path / "policy.new", policy)
        log_line(broker, r'authorization reload failed, keeping the rules in force: .*policy.toml'
                         r':\d+: role "controler" is not defined')
        mosquitto_pub(broker.host, port, "data/sensor-1/t", "still", qos=1,
                      extra=login("sensor-1"))
        assert [m.payload for m in controller.receive(1)] == [b"still"]
        (tmp_path / "policy.new").write_text(RBAC.replace('allow = "read"\ntopic = "data/#"',
                                                          'allow = "read"\ntopic = "x"'))
        install(tmp_path / "policy.new", policy)
        log_line(broker, r'client "ctl-live": subscription "data/#" removed: denied')


def test_moat_acl_check_explains_a_policy_decision(tmp_path):
    (tmp_path / "policy.toml").write_text(RBAC + ABAC.replace("[users.root]\nroles = [\"admin\"]\n",
                                                              "").replace("[[roles.admin.rules]]\n"
                                                                          "allow = \"read\"\n"
                                                                          "topic = \"#\"\n", ""))
    policy = str(tmp_path / "policy.toml")
    ok = moat_run("acl", "check", "--policy", policy, "-u", "sensor-1", "-i", "s1", "-a",
                  "publish", "-t", "data/sensor-1/t", "-q", "1")
    assert ok.returncode == 0, ok.stderr
    out = ok.stdout.decode()
    assert "roles: sensor, device" in out
    assert "allowed by " + policy + ":14 (role sensor: allow publish data/${username}/# " \
           "max_qos 1)" in out
    no = moat_run("acl", "check", "--policy", policy, "-u", "office-1", "-a", "publish", "-t",
                  "factory/a")
    assert no.returncode == 1
    assert 'denied: no rule allows publish to "factory/a" (default deny)' in no.stdout.decode()
    lab = moat_run("acl", "check", "--policy", policy, "-u", "press-1", "--address", "10.1.2.3",
                   "-a", "publish", "-t", "lab/bench")
    assert lab.returncode == 0, lab.stdout
    bad = moat_run("acl", "check", "--policy", policy, "-u", "x", "--address", "nope", "-a",
                   "publish", "-t", "a")
    assert bad.returncode == 2 and b"not an IP address" in bad.stderr


def test_moat_acl_check_takes_what_a_token_would_say(tmp_path):
    """`--role`, `--claim` and `--tenant` stand for a token's claims: the decision follows them
    as it would for a client admitted by that token."""
    (tmp_path / "policy.toml").write_text("""\
[authenticated]
roles = ["device"]

[[roles.device.rules]]
allow = "publish"
topic = "scoped/#"
when = { claim.scope = "write" }

[[roles.ops.rules]]
allow = "publish"
topic = "ops/#"

[tenants.acme]
mount = "t/acme/"
""")
    policy = str(tmp_path / "policy.toml")

    def check(*args):
        return moat_run("acl", "check", "--policy", policy, "-u", "bot", "-a", "publish", *args)

    assert check("-t", "ops/x").returncode == 1
    ops = check("-t", "ops/x", "--role", "ops")
    assert ops.returncode == 0, ops.stdout
    assert "roles: device, ops" in ops.stdout.decode()
    assert check("-t", "scoped/a").returncode == 1
    assert check("-t", "scoped/a", "--claim", "scope=read").returncode == 1
    assert check("-t", "scoped/a", "--claim", "scope=write").returncode == 0
    tenant = check("-t", "ops/x", "--role", "ops", "--tenant", "acme")
    assert tenant.returncode == 0, tenant.stdout
    assert 'tenant: acme (topics under "t/acme/")' in tenant.stdout.decode()
