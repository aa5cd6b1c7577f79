"""pytest fixtures and hooks shared by tests/integration and tests/conformance.

Each suite's conftest.py imports everything from here, so both get:
  - `broker`: a broker started for this test, limits from an optional `@pytest.mark.limits(...)`;
  - `broker_factory`: start more brokers (or one with limits, workers or extra listeners, such
    as a TLS listener, chosen at run time);
  - `pki`: a CA hierarchy and certificates made with openssl for this run (support/pki.py);
  - `@pytest.mark.moat_only("why")`: skipped when MOAT_TEST_BROKER=mosquitto, for expectations
    only Moat meets (its exact CONNACK properties, its config command, limits mosquitto lacks);
  - on a failed test, every broker log of that test attached to the report.
"""

from __future__ import annotations

import pytest

from support import mqtt_bytes as mb
from support.broker import BrokerProcess, is_mosquitto, start_broker
from support.pki import Pki

both_versions = pytest.mark.parametrize("version", [mb.V311, mb.V5], ids=["mqtt311", "mqtt5"])

_BROKERS_ATTR = "_moat_test_brokers"


def pytest_configure(config):
    config.addinivalue_line("markers", "limits(**values): [limits] for this test's broker")
    config.addinivalue_line("markers", "moat_only(reason): expectation only Moat meets; "
                                       "skipped under MOAT_TEST_BROKER=mosquitto")


def pytest_runtest_setup(item):
    mark = item.get_closest_marker("moat_only")
    if mark is not None and is_mosquitto():
        reason = mark.args[0] if mark.args else "Moat-specific expectation"
        pytest.skip(f"Moat only: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("call", "setup"):
        for i, broker in enumerate(getattr(item, _BROKERS_ATTR, [])):
            report.sections.append((f"broker log #{i} ({broker!r})", broker.log() or "(empty)"))


def _stop_and_check(brokers):
    """Stops every broker; a broker that died during the test or did not exit 0 on SIGTERM is a
    failure of its own (it would otherwise hide behind whatever the test saw)."""
    problems = []
    for broker in brokers:
        if broker.returncode is not None:
            continue  # the test stopped it and judged the exit code itself
        crashed = not broker.running()
        code = broker.stop()
        if crashed:
            problems.append(f"{broker!r} exited during the test with code {code}")
        elif code != 0:
            problems.append(f"{broker!r} exited with code {code} after SIGTERM (expected 0)")
    if problems:
        logs = "\n\n".join(f"--- {b!r} ---\n{b.log()}" for b in brokers)
        pytest.fail("; ".join(problems) + "\n" + logs, pytrace=False)


@pytest.fixture
def broker_factory(request, tmp_path):
    """start(limits=None, name=None, listeners=(), workers=2, extra_toml="", log_level="info")
    -> BrokerProcess; everything started is stopped after the test. `listeners` are added after
    the plain "local" one (see support.broker.render_listener); `extra_toml` goes at the end of
    the file."""
    started = []
    setattr(request.node, _BROKERS_ATTR, started)

    def start(limits=None, name=None, listeners=(), workers=2, extra_toml="",
              log_level="info") -> BrokerProcess:
        workdir = tmp_path / (name or f"broker{len(started)}")
        broker = start_broker(workdir, limits, listeners=listeners, workers=workers,
                              extra_toml=extra_toml, log_level=log_level)
        started.append(broker)
        return broker

    yield start
    _stop_and_check(started)


@pytest.fixture
def broker(request, broker_factory) -> BrokerProcess:
    mark = request.node.get_closest_marker("limits")
    return broker_factory(dict(mark.kwargs) if mark else None)


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    """One throwaway PKI for the whole run; certificates are made on first use."""
    return Pki(tmp_path_factory.mktemp("pki"))
