"""Topics beginning with '$' (MQTT 3.1.1 section 4.7.2, MQTT 5.0 section 4.7.2): a filter
starting with a wildcard does not match them; a filter that names the '$' level does."""

from support.fixtures import both_versions
from support.paho_client import PahoClient


def connected(broker, client_id, version):
    c = PahoClient(broker.host, broker.port, client_id, version)
    c.connect()
    return c


@both_versions
def test_wildcard_filters_do_not_match_topics_starting_with_dollar(broker, version):
    with connected(broker, "everything", version) as sub, \
            connected(broker, "publisher", version) as pub:
        sub.subscribe("#", 1)
        sub.subscribe("+/x", 1)
        for topic in ("$SYS/x", "$foo", "$foo/x"):
            pub.publish(topic, b"hidden", qos=1)
        pub.publish("fence", b"end", qos=1)
        got = sub.receive_until("fence")
    assert [(m.topic, m.payload) for m in got] == [("fence", b"end")]


@both_versions
def test_filter_naming_the_dollar_level_matches_it(broker, version):
    with connected(broker, "dollar", version) as sub, \
            connected(broker, "publisher", version) as pub:
        sub.subscribe("$foo/#", 1)
        pub.publish("$foo/x", b"seen", qos=1)
        pub.publish("$foo/y/z", b"seen too", qos=1)
        got = sub.receive(2)
    assert [(m.topic, m.payload) for m in got] == [("$foo/x", b"seen"), ("$foo/y/z", b"seen too")]
