"""Admission before any protocol work (issue 3): per-listener CIDR allow/deny lists and a
per-source connection rate limit. A refused connection is closed at once, without a handshake
or a CONNACK, and logged at most once a minute per address."""

import pytest

from support import mqtt_bytes as mb
from support.raw_client import RawConnection, open_session

pytestmark = pytest.mark.moat_only("admission settings are Moat's own")


def _refused_before_any_reply(host, port):
    """The broker closes the connection without sending anything, even to a valid CONNECT."""
    with RawConnection(host, port) as conn:
        try:
            conn.send(mb.connect("probe", mb.V311))
        except OSError:
            return  # closed before we could even write
        conn.expect_closed()


def test_denied_range_is_refused_and_logged_once_per_address(broker_factory):
    broker = broker_factory(listeners=[{"name": "guarded", "deny": ["127.0.0.0/8"]}])
    port = broker.ports["guarded"]
    for _ in range(3):
        _refused_before_any_reply(broker.host, port)
    assert broker.wait_for_log(r'on listener "guarded": connection refused before any '
                               r'handshake: address not allowed', timeout=5)
    assert broker.log().count("address not allowed") == 1
    # The plain listener of the same broker is not affected.
    with open_session(broker.host, broker.port, "neighbour", mb.V311) as ok:
        ok.send("C0 00")
        ok.expect("D0 00")


def test_allow_list_admits_only_its_ranges(broker_factory):
    broker = broker_factory(listeners=[
        {"name": "inside", "allow": ["127.0.0.0/8"]},
        {"name": "outside", "allow": ["10.0.0.0/8", "2001:db8::/32"]},
    ])
    with open_session(broker.host, broker.ports["inside"], "in", mb.V5) as conn:
        conn.send("C0 00")
        conn.expect("D0 00")
    _refused_before_any_reply(broker.host, broker.ports["outside"])


def test_connection_rate_per_source_refuses_the_excess_and_recovers(broker_factory):
    broker = broker_factory(listeners=[{"name": "rated", "max_connection_rate": 1}])
    port = broker.ports["rated"]
    # The bucket holds two connections (twice the rate); the third in a row is refused.
    for i in range(2):
        with open_session(broker.host, port, f"c{i}", mb.V311) as conn:
            conn.send("C0 00")
            conn.expect("D0 00")
    _refused_before_any_reply(broker.host, port)
    assert broker.wait_for_log(r"too many connections from this address", timeout=5)


def test_bad_cidr_is_a_configuration_error_naming_the_line(tmp_path):
    import subprocess
    from support.broker import MOAT_BINARY
    cfg = tmp_path / "moat.toml"
    cfg.write_text('[[listener]]\nname = "a"\nbind = "127.0.0.1:0"\ndeny = ["10.0.0.0/33"]\n')
    result = subprocess.run([str(MOAT_BINARY), "check-config", str(cfg)], capture_output=True,
                            text=True, timeout=10)
    assert result.returncode != 0
    assert f"{cfg}:4" in result.stderr
    assert "prefix length" in result.stderr
