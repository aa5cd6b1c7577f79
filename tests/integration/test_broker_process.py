"""The broker as a process: it reports its listener, and SIGTERM stops it cleanly (exit 0)
whenever it arrives, including right after start and with clients connected."""

import pytest

from support import mqtt_bytes as mb
from support.raw_client import open_session


@pytest.mark.moat_only("mosquitto 2.0 may miss a SIGTERM that arrives right after start")
def test_sigterm_right_after_the_listening_line_exits_0(broker_factory):
    """Once the listener is reported, a supervisor may stop the broker at any moment."""
    for i in range(5):
        broker = broker_factory(name=f"quick-{i}")
        assert broker.stop() == 0, f"start #{i}: exit code {broker.returncode}"


def test_sigterm_with_clients_connected_exits_0_and_closes_their_connections(broker_factory):
    broker = broker_factory()
    with open_session(broker.host, broker.port, "a", mb.V311) as a, \
            open_session(broker.host, broker.port, "b", mb.V5) as b:
        a.subscribe(1, [("x/#", 1)])
        assert broker.stop() == 0
        a.wait_closed()
        b.wait_closed()
