"""MQTT 5.0 subscription options and identifiers (section 3.8.3.1, 3.8.2.1.2, 3.3.4):
No Local keeps a client's own messages from coming back; Subscription Identifiers travel with
the messages a subscription matched."""

import pytest

from support import mqtt_bytes as mb
from support.paho_client import PahoClient, prop


def connected(broker, client_id, version=mb.V5):
    c = PahoClient(broker.host, broker.port, client_id, version)
    c.connect()
    return c


def test_mqtt5_no_local_subscriber_does_not_get_its_own_messages(broker):
    with connected(broker, "chatter") as chatter, connected(broker, "friend") as friend:
        chatter.subscribe("chat/room", 1, no_local=True)
        chatter.publish("chat/room", b"my own words", qos=1)
        friend.publish("chat/room", b"hello", qos=1)
        got = chatter.receive_until("chat/room")
    assert [m.payload for m in got] == [b"hello"]


@pytest.mark.parametrize("version", [mb.V311, mb.V5], ids=["mqtt311", "mqtt5"])
def test_without_no_local_a_subscriber_gets_its_own_messages(broker, version):
    with connected(broker, "chatter", version) as chatter:
        chatter.subscribe("chat/room", 1)
        chatter.publish("chat/room", b"echo", qos=1)
        assert chatter.next_message().payload == b"echo"


def test_mqtt5_no_local_applies_only_to_its_own_subscription(broker):
    with connected(broker, "chatter") as chatter, connected(broker, "listener") as listener:
        chatter.subscribe("chat/room", 1, no_local=True)
        listener.subscribe("chat/room", 1)
        chatter.publish("chat/room", b"words", qos=1)
        assert listener.next_message().payload == b"words"


def test_mqtt5_message_carries_the_identifier_of_the_matching_subscription(broker):
    with connected(broker, "display") as display, connected(broker, "meter") as meter:
        display.subscribe("meters/+/kwh", 1, subscription_id=7)
        display.subscribe("alarms/#", 1, subscription_id=300)
        meter.publish("meters/1/kwh", b"12", qos=1)
        meter.publish("alarms/fire", b"!", qos=1)
        first, second = display.receive(2)
    assert prop(first, "SubscriptionIdentifier") == [7]
    assert prop(second, "SubscriptionIdentifier") == [300]


def test_mqtt5_message_matching_two_subscriptions_carries_both_identifiers(broker):
    """The broker may send one copy with both identifiers or one copy per subscription
    (spec 3.3.4); either way each identifier comes with the message."""
    with connected(broker, "display") as display, connected(broker, "meter") as meter:
        display.subscribe("meters/#", 1, subscription_id=1)
        display.subscribe("meters/+/kwh", 1, subscription_id=2)
        display.subscribe("fence", 0)
        meter.publish("meters/1/kwh", b"12", qos=1)
        meter.publish("fence", b"end")
        got = display.receive_until("fence")[:-1]
    assert {m.payload for m in got} == {b"12"}
    identifiers = sorted(i for m in got for i in prop(m, "SubscriptionIdentifier", []))
    assert identifiers == [1, 2]


def test_mqtt5_subscription_without_identifier_delivers_none(broker):
    with connected(broker, "display") as display, connected(broker, "meter") as meter:
        display.subscribe("meters/#", 0)
        meter.publish("meters/1/kwh", b"12")
        assert prop(display.next_message(), "SubscriptionIdentifier") is None
