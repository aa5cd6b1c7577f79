"""`moat bench` against a real broker: each scenario runs, checks every message, and ends with
one JSON line whose counts agree with what was sent; a broker that cannot be reached is a clear
error. (The figures themselves are benchmarks -- bench/compare -- not asserted here.)
"""

import json

import pytest

from support.moat_cli import moat_run

pytestmark = pytest.mark.moat_only("Moat's load generator")


def bench(broker, *args):
    result = moat_run("bench", *args, "-h", broker.host, "-p", str(broker.port), ""
                      "--threads", "2", timeout=60)
    lines = result.stdout.decode().strip().splitlines()
    assert lines, f"no output; stderr: {result.stderr.decode(errors='replace')}"
    return result.returncode, json.loads(lines[-1]), result


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_latency_at_a_fixed_rate_delivers_every_message_in_order(broker, qos):
    code, report, result = bench(broker, "latency", "-q", str(qos), "--rate", "200",
                                 "--duration", "1")
    assert code == 0, result.stderr
    assert report["scenario"] == "latency" and report["qos"] == qos
    assert 150 <= report["sent"] <= 200  # 1 s at 200 msg/s, scheduled from the start
    assert report["delivered"] == report["expected"] == report["sent"]
    assert report["lost"] == report["duplicated"] == report["out_of_order"] == 0
    lat = report["latency_us"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert "latency" in result.stdout.decode()  # the table for people, before the JSON


def test_fan_out_counts_one_delivery_per_subscriber(broker):
    code, report, result = bench(broker, "fan-out", "--subscribers", "5", "--rate", "500",
                                 "--duration", "1", "-q", "1")
    assert code == 0, result.stderr
    assert report["subscribers"] == 5
    assert report["expected"] == 5 * report["sent"] == report["delivered"]


def test_fan_in_qos1_with_several_lanes_per_publisher(broker):
    code, report, result = bench(broker, "fan-in", "--publishers", "3", "--inflight", "4",
                                 "--rate", "600", "--duration", "1", "-q", "1")
    assert code == 0, result.stderr
    assert report["publishers"] == 3
    assert report["delivered"] == report["sent"] > 0 and report["out_of_order"] == 0


def test_a_connection_storm_is_counted(broker):
    code, report, result = bench(broker, "connect", "--connections", "100", "--concurrency", "20")
    assert code == 0, result.stderr
    assert report["connections"] == 100 and report["connections_per_second"] > 0


def test_an_unreachable_broker_is_a_clear_error():
    result = moat_run("bench", "latency", "-h", "127.0.0.1", "-p", "1", "--duration", "1",
                      timeout=60)
    assert result.returncode == 1
    assert b"subscriber:" in result.stderr and b"refused" in result.stderr.lower()
