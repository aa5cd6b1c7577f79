"""`moat pub` and `moat sub` against a real broker, with outside clients on the other end
(mosquitto_pub/mosquitto_sub and paho): the flags mosquitto users know, the output formats,
QoS handshakes, retained messages, wills, MQTT 5.0 properties, and clear errors for bad input.
"""

from __future__ import annotations

import signal
import socket
import threading

import pytest

from support import mqtt_bytes as mb
from support.fixtures import both_versions
from support.moat_cli import MoatSub, moat_pub, moat_run
from support.mosquitto_clients import MosquittoSub, mosquitto_pub, version_flag
from support.paho_client import PahoClient, prop

QOS_LEVELS = [0, 1, 2]


def vflag(version: int):
    return version_flag(version)


def assert_ok(result) -> None:
    assert result.returncode == 0, (f"exit {result.returncode}\nstdout: {result.stdout!r}\n"
                                    f"stderr: {result.stderr.decode(errors='replace')}")


# -- moat pub ------------------------------------------------------------------------------

@both_versions
@pytest.mark.parametrize("qos", QOS_LEVELS)
def test_moat_pub_reaches_mosquitto_sub_at_each_qos(broker, version, qos):
    with MosquittoSub(broker.host, broker.port, ["meters/+/reading"], qos=qos,
                      version=version) as sub:
        sub.wait_subscribed()
        assert_ok(moat_pub(broker.host, broker.port, "-t", "meters/7/reading", "-m", "42.5 kWh",
                           "-q", str(qos), *vflag(version)))
        [message] = sub.receive(1)
    assert (message.topic, message.payload, message.qos) == ("meters/7/reading", b"42.5 kWh", qos)
    assert not message.retain


@pytest.mark.parametrize("qos", [1, 2])
def test_moat_pub_completes_the_qos_handshake_before_it_exits(broker, qos):
    result = moat_pub(broker.host, broker.port, "-t", "t", "-m", "x", "-q", str(qos), "-d")
    assert_ok(result)
    log = result.stderr.decode()
    expected = ["sending PUBLISH", "received PUBACK"] if qos == 1 else \
        ["sending PUBLISH", "received PUBREC", "sending PUBREL", "received PUBCOMP"]
    positions = [log.index(step) for step in expected + ["sending DISCONNECT"]]
    assert positions == sorted(positions), log


def test_moat_pub_retained_message_reaches_a_later_subscriber(broker):
    assert_ok(moat_pub(broker.host, broker.port, "-t", "status/door", "-m", "closed", "-r",
                       "-q", "1"))
    with PahoClient(broker.host, broker.port, "late") as sub:
        sub.connect()
        sub.subscribe("status/#", 1)
        message = sub.next_message()
    assert (message.topic, message.payload, message.retain) == ("status/door", b"closed", True)


def test_moat_pub_lines_sends_one_message_per_line_in_order(broker):
    lines = [f"line {i}" for i in range(20)]
    with MosquittoSub(broker.host, broker.port, ["log"], qos=1) as sub:
        sub.wait_subscribed()
        assert_ok(moat_pub(broker.host, broker.port, "-t", "log", "-l", "-q", "1",
                           stdin=("\n".join(lines) + "\n").encode()))
        got = sub.receive(len(lines))
    assert [m.payload.decode() for m in got] == lines


def test_moat_pub_file_stdin_null_and_repeat(broker, tmp_path):
    blob = bytes(range(256)) * 8
    path = tmp_path / "blob.bin"
    path.write_bytes(blob)
    with MosquittoSub(broker.host, broker.port, ["in/#"], qos=1) as sub:
        sub.wait_subscribed()
        assert_ok(moat_pub(broker.host, broker.port, "-t", "in/file", "-f", str(path), "-q", "1"))
        assert_ok(moat_pub(broker.host, broker.port, "-t", "in/stdin", "-s", "-q", "1",
                           stdin=b"all\nof it\n"))
        assert_ok(moat_pub(broker.host, broker.port, "-t", "in/null", "-n", "-q", "1"))
        assert_ok(moat_pub(broker.host, broker.port, "-t", "in/rep", "-m", "again", "-q", "1",
                           "--repeat", "3", "--repeat-delay", "0.01"))
        got = sub.receive(6)
    assert [(m.topic, m.payload) for m in got] == [
        ("in/file", blob), ("in/stdin", b"all\nof it\n"), ("in/null", b""),
        ("in/rep", b"again"), ("in/rep", b"again"), ("in/rep", b"again")]


def test_moat_pub_speaks_mqtt31(broker):
    with MosquittoSub(broker.host, broker.port, ["old"], qos=1) as sub:
        sub.wait_subscribed()
        assert_ok(moat_pub(broker.host, broker.port, "-t", "old", "-m", "3.1", "-q", "1",
                           "-V", "mqttv31"))
        [message] = sub.receive(1)
    assert message.payload == b"3.1"


def test_moat_pub_v5_properties_are_seen_by_paho(broker):
    with PahoClient(broker.host, broker.port, "observer", mb.V5) as sub:
        sub.connect()
        sub.subscribe("req/#", 1)
        assert_ok(moat_pub(broker.host, broker.port, "-V", "mqttv5", "-t", "req/1", "-m", "{}",
                           "-q", "1",
                           "-D", "publish", "user-property", "site", "north",
                           "-D", "publish", "user-property", "unit", "kWh",
                           "-D", "publish", "content-type", "application/json",
                           "-D", "publish", "message-expiry-interval", "300",
                           "-D", "publish", "response-topic", "resp/1",
                           "-D", "publish", "correlation-data", "abc",
                           "-D", "connect", "session-expiry-interval", "0"))
        message = sub.next_message()
    assert message.payload == b"{}"
    assert prop(message, "UserProperty") == [("site", "north"), ("unit", "kWh")]
    assert prop(message, "ContentType") == "application/json"
    assert 0 < prop(message, "MessageExpiryInterval") <= 300
    assert prop(message, "ResponseTopic") == "resp/1"
    assert prop(message, "CorrelationData") == b"abc"


def test_moat_pub_topic_alias_sends_the_topic_once(broker):
    with MosquittoSub(broker.host, broker.port, ["aliased/topic"], qos=1) as sub:
        sub.wait_subscribed()
        result = moat_pub(broker.host, broker.port, "-V", "5", "-t", "aliased/topic", "-m", "a",
                          "-q", "1", "--repeat", "2", "-D", "publish", "topic-alias", "1", "-d")
        assert_ok(result)
        got = sub.receive(2)
    assert [(m.topic, m.payload) for m in got] == [("aliased/topic", b"a")] * 2
    log = result.stderr.decode()
    assert "'aliased/topic', alias 1" in log and "'', alias 1" in log, log


# -- moat sub ------------------------------------------------------------------------------

@both_versions
@pytest.mark.parametrize("qos", QOS_LEVELS)
def test_mosquitto_pub_reaches_moat_sub_at_each_qos(broker, version, qos):
    with MoatSub(broker.host, broker.port, ["-t", "a/#", "-q", str(qos), "-v",
                                            "-F", "%t|%p|%q|%r", *vflag(version)]) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker.host, broker.port, "a/b", "hello world", qos=qos, version=version)
        [line] = sub.lines(1)
    assert line == f"a/b|hello world|{qos}|0"


def test_moat_sub_verbose_prints_topic_and_payload(broker):
    with MoatSub(broker.host, broker.port, ["-t", "v/#", "-v", "-C", "2"]) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker.host, broker.port, "v/1", "one two")
        mosquitto_pub(broker.host, broker.port, "v/2", None)  # empty payload
        assert sub.wait_exit() == 0
        assert sub.stdout() == b"v/1 one two\nv/2 (null)\n"


def test_moat_sub_acknowledges_qos2_exactly_once(broker):
    with MoatSub(broker.host, broker.port, ["-t", "q2", "-q", "2", "-C", "3"]) as sub:
        sub.wait_subscribed()
        with PahoClient(broker.host, broker.port, "src") as pub:
            pub.connect()
            for i in range(3):
                pub.publish("q2", f"m{i}".encode(), qos=2)
        assert sub.wait_exit() == 0
    assert sub.stdout() == b"m0\nm1\nm2\n"
    log = sub.stderr()
    assert log.count("sending PUBREC") == 3 and log.count("sending PUBCOMP") == 3, log


def test_moat_sub_count_exits_after_n_messages(broker):
    with MoatSub(broker.host, broker.port, ["-t", "c", "-C", "3"]) as sub:
        sub.wait_subscribed()
        with PahoClient(broker.host, broker.port, "src") as pub:
            pub.connect()
            for i in range(5):
                pub.publish("c", f"{i}".encode(), qos=1)
        assert sub.wait_exit() == 0
    assert sub.stdout() == b"0\n1\n2\n"


def test_moat_sub_timeout_exits_27_like_mosquitto_sub(broker):
    with MoatSub(broker.host, broker.port, ["-t", "silent", "-W", "1"]) as sub:
        assert sub.wait_exit(timeout=10) == 27
        assert "Timed out" in sub.stderr()


def test_moat_sub_retained_only_and_no_retained(broker):
    mosquitto_pub(broker.host, broker.port, "r/1", "old", retain=True)
    with MoatSub(broker.host, broker.port, ["-t", "r/#", "--retained-only"]) as only:
        only.lines(1)
        mosquitto_pub(broker.host, broker.port, "r/2", "fresh")  # ends --retained-only
        assert only.wait_exit() == 0
    assert only.stdout() == b"old\n"
    with MoatSub(broker.host, broker.port, ["-t", "r/#", "-R", "-C", "1"]) as fresh:
        fresh.wait_subscribed()
        mosquitto_pub(broker.host, broker.port, "r/3", "new")
        assert fresh.wait_exit() == 0
    assert fresh.stdout() == b"new\n"


def test_moat_sub_filters_out_topics_and_honours_no_eol(broker):
    with MoatSub(broker.host, broker.port, ["-t", "f/#", "-T", "f/noise/#", "-N", "-C", "2"]) \
            as sub:
        sub.wait_subscribed()
        for topic, payload in [("f/a", "A"), ("f/noise/x", "N"), ("f/b", "B")]:
            mosquitto_pub(broker.host, broker.port, topic, payload)
        assert sub.wait_exit() == 0
    assert sub.stdout() == b"AB"


def test_moat_sub_format_fields(broker):
    fmt = r"%t\t%p\t%q\t%r\t%l\t%x\t%%\t%I"
    with MoatSub(broker.host, broker.port, ["-t", "fmt", "-q", "1", "-F", fmt, "-C", "1",
                                            "-i", "fmt-sub"]) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker.host, broker.port, "fmt", "hi", qos=1)
        assert sub.wait_exit() == 0
    topic, payload, qos, retain, length, hexed, percent, iso = \
        sub.stdout().decode().rstrip("\n").split("\t")
    assert (topic, payload, qos, retain, length, hexed, percent) == \
        ("fmt", "hi", "1", "0", "2", "6869", "%")
    assert len(iso) >= 24 and iso[4] == "-" and iso[10] == "T", iso


def test_moat_sub_v5_shows_properties_and_subscription_identifier(broker):
    with MoatSub(broker.host, broker.port, ["-V", "mqttv5", "-t", "p/#", "-q", "1", "-C", "1",
                                            "-D", "subscribe", "subscription-identifier", "42",
                                            "-F", "%t %p %P %C %S"]) as sub:
        sub.wait_subscribed()
        with PahoClient(broker.host, broker.port, "src", mb.V5) as pub:
            pub.connect()
            pub.publish("p/x", b"body", qos=1, UserProperty=[("k", "v")], ContentType="text")
        assert sub.wait_exit() == 0
    assert sub.stdout() == b"p/x body k:v text 42\n"


def test_moat_sub_no_local_skips_its_own_messages(broker):
    # moat sub cannot publish on its own, so --remove-retained provides an own publish:
    # with --nl the emptied retained message must not come back to the subscriber.
    mosquitto_pub(broker.host, broker.port, "nl/1", "stale", retain=True)
    with MoatSub(broker.host, broker.port, ["-V", "5", "-t", "nl/#", "--nl", "--remove-retained",
                                            "-C", "2"]) as sub:
        sub.lines(1)
        mosquitto_pub(broker.host, broker.port, "nl/fence", "fence")
        assert sub.wait_exit() == 0
    assert sub.stdout() == b"stale\nfence\n"
    with PahoClient(broker.host, broker.port, "check") as check:
        check.connect()
        check.subscribe("nl/#")
        check.publish("nl/fence2", b"f")
        got = check.receive_until("nl/fence2")
    assert [m.topic for m in got] == ["nl/fence2"], "the retained message was not removed"


def test_moat_sub_will_is_published_when_it_is_killed(broker):
    with PahoClient(broker.host, broker.port, "watcher") as watcher:
        watcher.connect()
        watcher.subscribe("wills/#", 1)
        with MoatSub(broker.host, broker.port, ["-t", "x", "--will-topic", "wills/sub",
                                                "--will-payload", "gone", "--will-qos", "1"]) \
                as sub:
            sub.wait_subscribed()
            sub.send_signal(signal.SIGKILL)
            sub.wait_exit()
        message = watcher.next_message()
    assert (message.topic, message.payload) == ("wills/sub", b"gone")


def test_moat_sub_disconnects_cleanly_on_sigterm_without_will(broker):
    with PahoClient(broker.host, broker.port, "watcher") as watcher:
        watcher.connect()
        watcher.subscribe("wills/#", 1)
        with MoatSub(broker.host, broker.port, ["-t", "x", "--will-topic", "wills/sub",
                                                "--will-payload", "gone"]) as sub:
            sub.wait_subscribed()
            sub.send_signal(signal.SIGTERM)
            assert sub.wait_exit() == 0
            assert "sending DISCONNECT" in sub.stderr()
        watcher.publish("wills/fence", b"f", qos=1)
        got = watcher.receive_until("wills/fence")
    assert [m.topic for m in got] == ["wills/fence"]


@both_versions
def test_moat_sub_persistent_session_gets_what_was_queued_while_away(broker, version):
    args = ["-t", "queue/#", "-q", "1", "-c", "-i", "persistent-sub", *vflag(version)]
    with MoatSub(broker.host, broker.port, args) as first:
        first.wait_subscribed()
        first.send_signal(signal.SIGTERM)
        assert first.wait_exit() == 0
    mosquitto_pub(broker.host, broker.port, "queue/1", "while away", qos=1, version=version)
    with MoatSub(broker.host, broker.port, args + ["-C", "1"]) as second:
        assert second.wait_exit() == 0
        assert "received CONNACK (0, session present)" in second.stderr()
    assert second.stdout() == b"while away\n"


def test_moat_sub_unsubscribe_flag(broker):
    with MoatSub(broker.host, broker.port, ["-t", "u/a", "-t", "u/b", "-U", "u/b", "-C", "1"]) \
            as sub:
        sub.wait_stderr("received UNSUBACK")
        mosquitto_pub(broker.host, broker.port, "u/b", "dropped")
        mosquitto_pub(broker.host, broker.port, "u/a", "kept")
        assert sub.wait_exit() == 0
    assert sub.stdout() == b"kept\n"


# -- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["pub", "-m", "x"], "Both topic and message must be supplied"),
    (["pub", "-t", "x"], "Both topic and message must be supplied"),
    (["pub", "-t", "x", "-m", "y", "-q", "3"], "Invalid QoS given: 3"),
    (["pub", "-t", "a/+", "-m", "y"], "Invalid publish topic"),
    (["pub", "-t", "x", "-m", "y", "-n"], "Only one type of message"),
    (["pub", "-t", "x", "-m", "y", "-V", "mqttv4"], "Invalid protocol version"),
    (["pub", "-t", "x", "-m", "y", "-D", "publish", "user-property", "k", "v"], "need -V mqttv5"),
    (["pub", "-t", "x", "-m", "y", "-V", "5", "-D", "publish", "no-such", "1"],
     "unknown property"),
    (["pub", "-t", "x", "-m", "y", "--no-such-flag"], "--no-such-flag"),
    (["sub"], "You must specify a topic"),
    (["sub", "-t", "a/#/b"], "Invalid subscription topic"),
    (["sub", "-t", "x", "-q", "3"], "Invalid QoS given: 3"),
    (["sub", "-t", "x", "-F", "%c%y"], "Invalid format specifier 'y'"),
    (["sub", "-t", "x", "--nl"], "need -V mqttv5"),
])
def test_bad_arguments_give_a_clear_error_and_exit_nonzero(args, message):
    result = moat_run(*args)
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert message in stderr, stderr
    assert "terminate" not in stderr and "exception" not in stderr.lower()


def test_help_exits_zero():
    for command in ("pub", "sub"):
        result = moat_run(command, "--help")
        assert result.returncode == 0
        assert b"-t" in result.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_broker_is_a_clear_error():
    port = _closed_port()
    result = moat_run("pub", "-h", "127.0.0.1", "-p", str(port), "-t", "x", "-m", "y")
    assert result.returncode == 1
    assert b"cannot connect to 127.0.0.1:" in result.stderr


class RefusingServer:
    """Answers every CONNECT with one fixed CONNACK: a stand-in for a broker that refuses."""

    def __init__(self, connack: bytes):
        self.connack = connack
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                conn.recv(4096)
                conn.sendall(self.connack)
                conn.recv(4096)  # until the client closes
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)


@pytest.mark.parametrize("tool", ["pub", "sub"])
@pytest.mark.parametrize("version, connack, text", [
    ("mqttv311", bytes([0x20, 2, 0, 5]), "Connection refused: not authorised"),
    ("mqttv311", bytes([0x20, 2, 0, 4]), "Connection refused: bad user name or password"),
    ("mqttv5", bytes([0x20, 3, 0, 0x87, 0]), "Connection refused: Not authorized"),
    ("mqttv5", bytes([0x20, 3, 0, 0x86, 0]), "Connection refused: Bad User Name or Password"),
])
def test_refused_connection_names_the_reason(tool, version, connack, text):
    server = RefusingServer(connack)
    try:
        args = ["-t", "x", "-m", "y"] if tool == "pub" else ["-t", "x"]
        result = moat_run(tool, "-h", "127.0.0.1", "-p", str(server.port), "-V", version, *args)
    finally:
        server.close()
    assert result.returncode == 1
    assert text in result.stderr.decode(), result.stderr
