"""Messages from one outside client to another through the broker, at every QoS, with
mosquitto_pub/mosquitto_sub and with paho, in MQTT 3.1.1 and 5.0."""

import pytest

from support.fixtures import both_versions
from support.mosquitto_clients import MosquittoSub, mosquitto_pub
from support.paho_client import PahoClient

QOS_LEVELS = [0, 1, 2]


@both_versions
@pytest.mark.parametrize("qos", QOS_LEVELS)
def test_mosquitto_clients_deliver_topic_and_payload_at_each_qos(broker, version, qos):
    with MosquittoSub(broker.host, broker.port, ["meters/+/reading"], qos=qos,
                      version=version) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker.host, broker.port, "meters/7/reading", "42.5 kWh", qos=qos,
                      version=version)
        [message] = sub.receive(1)
    assert (message.topic, message.payload) == ("meters/7/reading", b"42.5 kWh")
    assert message.qos == qos
    assert not message.retain


@both_versions
def test_mosquitto_clients_get_the_lower_of_publish_and_subscribe_qos(broker, version):
    with MosquittoSub(broker.host, broker.port, ["meters/#"], qos=1, version=version) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker.host, broker.port, "meters/7", "x", qos=2, version=version)
        [message] = sub.receive(1)
    assert message.qos == 1


@both_versions
@pytest.mark.parametrize("sub_qos", QOS_LEVELS, ids=lambda q: f"sub{q}")
@pytest.mark.parametrize("pub_qos", QOS_LEVELS, ids=lambda q: f"pub{q}")
def test_paho_delivery_keeps_topic_and_payload_at_the_lower_qos(broker, version, pub_qos,
                                                                sub_qos):
    payload = "21.5 °C".encode()
    with PahoClient(broker.host, broker.port, "display", version) as sub, \
            PahoClient(broker.host, broker.port, "thermometer", version) as pub:
        sub.connect()
        assert sub.subscribe("sensors/#", sub_qos) == [sub_qos]
        pub.connect()
        pub.publish("sensors/room 1/temp", payload, qos=pub_qos)
        message = sub.next_message()
    assert (message.topic, message.payload) == ("sensors/room 1/temp", payload)
    assert message.qos == min(pub_qos, sub_qos)
    assert not message.retain


@both_versions
def test_thousand_qos1_messages_from_paho_arrive_complete_and_in_order(broker, version):
    payloads = [f"reading {i:04d}".encode() for i in range(1000)]
    with PahoClient(broker.host, broker.port, "collector", version) as sub, \
            PahoClient(broker.host, broker.port, "meter", version) as pub:
        sub.connect()
        sub.subscribe("bulk/readings", 1)
        pub.connect()
        pub.publish_many("bulk/readings", payloads, qos=1, timeout=30)
        received = sub.receive(len(payloads), timeout=30)
    assert [m.payload for m in received] == payloads
    assert {m.qos for m in received} == {1}


@both_versions
def test_thousand_qos1_lines_from_mosquitto_pub_arrive_complete_and_in_order(broker, version):
    lines = [f"line {i:04d}" for i in range(1000)]
    with MosquittoSub(broker.host, broker.port, ["bulk/lines"], qos=1, version=version,
                      count=len(lines)) as sub:
        sub.wait_subscribed()
        mosquitto_pub(broker.host, broker.port, "bulk/lines", qos=1, version=version,
                      stdin="\n".join(lines) + "\n", timeout=30)
        received = sub.receive(len(lines), timeout=30)
        assert sub.wait_exit(10) == 0
    assert [m.payload.decode() for m in received] == lines
