"""Topic aliases (MQTT 5.0 section 3.3.2.3.4) in both directions.

paho 1.6 does not resolve aliases on messages it receives, so the subscriber that allows the
broker to use aliases is the raw-socket RawSession, which keeps its own alias table."""

import pytest

from support import mqtt_bytes as mb
from support.mqtt_bytes import Prop
from support.paho_client import PahoClient
from support.raw_client import open_session

LONG_TOPIC = "site/north/building-7/floor-3/meter_001/energy/active-import"


def test_mqtt5_publisher_alias_is_resolved_to_its_topic_for_subscribers(broker):
    with PahoClient(broker.host, broker.port, "display", mb.V5) as sub, \
            PahoClient(broker.host, broker.port, "meter", mb.V5) as pub:
        sub.connect()
        sub.subscribe("site/#", 1)
        pub.connect()
        pub.publish(LONG_TOPIC, b"1", qos=1, TopicAlias=1)
        pub.publish("", b"2", qos=1, TopicAlias=1)
        pub.publish("", b"3", qos=1, TopicAlias=1)
        got = sub.receive(3)
    assert [(m.topic, m.payload) for m in got] == [(LONG_TOPIC, b"1"), (LONG_TOPIC, b"2"),
                                                   (LONG_TOPIC, b"3")]
    assert all(getattr(m.properties, "TopicAlias", None) is None for m in got), \
        "the publisher's alias leaked to the subscriber, which did not allow aliases"


def test_mqtt5_publisher_can_remap_an_alias_to_another_topic(broker):
    with PahoClient(broker.host, broker.port, "display", mb.V5) as sub, \
            PahoClient(broker.host, broker.port, "meter", mb.V5) as pub:
        sub.connect()
        sub.subscribe("t/#", 1)
        pub.connect()
        pub.publish("t/one", b"1", qos=1, TopicAlias=2)
        pub.publish("t/two", b"2", qos=1, TopicAlias=2)
        pub.publish("", b"3", qos=1, TopicAlias=2)
        got = sub.receive(3)
    assert [(m.topic, m.payload) for m in got] == [("t/one", b"1"), ("t/two", b"2"),
                                                   ("t/two", b"3")]


def test_mqtt5_broker_aliases_towards_a_subscriber_resolve_to_the_right_topics(broker):
    topics = [LONG_TOPIC, "site/south/meter_002", LONG_TOPIC, "site/south/meter_002",
              LONG_TOPIC, "site/east/meter_003"]
    with open_session(broker.host, broker.port, "display", mb.V5,
                      props=[(Prop.TOPIC_ALIAS_MAXIMUM, 2)]) as sub, \
            PahoClient(broker.host, broker.port, "meters", mb.V5) as pub:
        sub.subscribe(1, [("site/#", 1)])
        pub.connect()
        for i, topic in enumerate(topics):
            pub.publish(topic, str(i).encode(), qos=1)
        got = [sub.read_publish() for _ in topics]
    assert [(m.topic_str, m.payload) for m in got] == [
        (topic, str(i).encode()) for i, topic in enumerate(topics)]
    used = [mb.prop_value(m.props, Prop.TOPIC_ALIAS) for m in got]
    assert all(alias is None or 1 <= alias <= 2 for alias in used), \
        f"broker used aliases {used} above the subscriber's Topic Alias Maximum 2"


def test_mqtt5_broker_uses_no_aliases_towards_a_subscriber_that_allows_none(broker):
    with open_session(broker.host, broker.port, "display", mb.V5) as sub, \
            PahoClient(broker.host, broker.port, "meters", mb.V5) as pub:
        sub.subscribe(1, [("site/#", 0)])
        pub.connect()
        for i in range(3):
            pub.publish(LONG_TOPIC, str(i).encode())
        got = [sub.read_publish() for _ in range(3)]
    assert all(m.topic == LONG_TOPIC.encode() for m in got)
    assert all(mb.prop_value(m.props, Prop.TOPIC_ALIAS) is None for m in got)


@pytest.mark.parametrize("qos", [0, 1])
def test_mqtt5_alias_is_set_with_the_topic_even_when_a_message_before_was_too_large(broker,
                                                                                    qos):
    """A message larger than the subscriber's Maximum Packet Size is not sent to it
    [MQTT-3.1.2-25], so no alias it would have set was ever established: the next message on
    that topic must carry the topic name, never only an alias the client has no mapping for
    (a Protocol Error for the receiver, spec 3.3.2.3.4). regression: review finding 5."""
    with open_session(broker.host, broker.port, "display", mb.V5,
                      props=[(Prop.TOPIC_ALIAS_MAXIMUM, 5),
                             (Prop.MAXIMUM_PACKET_SIZE, 100)]) as sub, \
            open_session(broker.host, broker.port, "meter", mb.V5) as pub:
        sub.subscribe(1, [("t", qos)])
        for packet_id, payload in enumerate([b"x" * 500, b"small", b"again"], start=1):
            pub.send(mb.publish("t", payload, qos=qos, packet_id=packet_id if qos else None,
                                version=mb.V5))
            if qos:
                pub.read_packet_of_type(mb.PUBACK)
        first = mb.parse_publish(sub.read_packet_of_type(mb.PUBLISH), mb.V5)
        alias = mb.prop_value(first.props, Prop.TOPIC_ALIAS)
        assert first.payload == b"small", "the message over the Maximum Packet Size was sent"
        assert first.topic == b"t", \
            f"first delivery on 't' has topic {first.topic!r} with alias {alias}"
        assert alias is None or 1 <= alias <= 5, f"alias {alias} above the maximum 5"
        if alias is not None:
            sub.aliases[alias] = first.topic
        if qos:
            sub.send(mb.puback(first.packet_id))
        second = sub.read_publish()  # the alias, if one was set, now resolves to 't'
    assert (second.topic, second.payload) == (b"t", b"again")
