"""Request/response in MQTT 5.0 (section 4.10): Response Topic, Correlation Data, User
Properties, Content Type and Payload Format Indicator pass through the broker unchanged."""

from support import mqtt_bytes as mb
from support.paho_client import PahoClient, prop

USER_PROPERTIES = [("site", "north"), ("site", "south"), ("trace-id", "42-ä")]


def test_mqtt5_request_properties_reach_the_responder_and_the_response_comes_back(broker):
    with PahoClient(broker.host, broker.port, "app", mb.V5) as requester, \
            PahoClient(broker.host, broker.port, "meter_001", mb.V5) as responder:
        requester.connect()
        requester.subscribe("replies/app", 1)
        responder.connect()
        responder.subscribe("requests/meter_001", 1)

        requester.publish("requests/meter_001", b'{"read": "kwh"}', qos=1,
                          ResponseTopic="replies/app", CorrelationData=b"\x00\x01req-7\xff",
                          UserProperty=USER_PROPERTIES, ContentType="application/json",
                          PayloadFormatIndicator=1)
        request = responder.next_message()
        assert request.payload == b'{"read": "kwh"}'
        assert prop(request, "ResponseTopic") == "replies/app"
        assert prop(request, "CorrelationData") == b"\x00\x01req-7\xff"
        assert prop(request, "UserProperty") == USER_PROPERTIES
        assert prop(request, "ContentType") == "application/json"
        assert prop(request, "PayloadFormatIndicator") == 1

        responder.publish(prop(request, "ResponseTopic"), b'{"kwh": 1234}', qos=1,
                          CorrelationData=prop(request, "CorrelationData"))
        response = requester.next_message()
    assert response.topic == "replies/app"
    assert response.payload == b'{"kwh": 1234}'
    assert prop(response, "CorrelationData") == b"\x00\x01req-7\xff"
