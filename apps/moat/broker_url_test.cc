#include "apps/moat/broker_url.h"

#include <gtest/gtest.h>

namespace moat::app {
namespace {

TEST(BrokerUrl, PlainUrlGivesHostPortAndTopic) {
  auto u = parseBrokerUrl("mqtt://broker.example:1884/sensors/+/temp");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "broker.example");
  EXPECT_EQ(u->port, 1884);
  EXPECT_EQ(u->topic, "sensors/+/temp");
  EXPECT_FALSE(u->username);
  EXPECT_FALSE(u->password);
}

TEST(BrokerUrl, MqttsMeansTlsAndLeavesThePortToTheDefault) {
  auto u = parseBrokerUrl("MQTTS://localhost/a");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "localhost");
  EXPECT_FALSE(u->port);
  EXPECT_EQ(u->topic, "a");
}

TEST(BrokerUrl, WebSocketSchemes) {
  auto ws = parseBrokerUrl("ws://h:9001/a/b");
  ASSERT_TRUE(ws) << ws.error().message;
  EXPECT_TRUE(ws->websocket);
  EXPECT_FALSE(ws->tls);
  EXPECT_EQ(ws->port, 9001);
  EXPECT_EQ(ws->topic, "a/b");
  auto wss = parseBrokerUrl("WSS://h/t");
  ASSERT_TRUE(wss) << wss.error().message;
  EXPECT_TRUE(wss->websocket);
  EXPECT_TRUE(wss->tls);
  EXPECT_FALSE(wss->port);
}

TEST(BrokerUrl, CredentialsEndAtTheLastAt) {
  auto u = parseBrokerUrl("mqtt://alice:p@ss:word@10.0.0.1:1883/t");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->username, "alice");
  EXPECT_EQ(u->password, "p@ss:word");
  EXPECT_EQ(u->host, "10.0.0.1");
}

TEST(BrokerUrl, UserNameWithoutPasswordLeavesThePasswordUnset) {
  auto u = parseBrokerUrl("mqtt://bob@h/t");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->username, "bob");
  EXPECT_FALSE(u->password);
}

TEST(BrokerUrl, Ipv6LiteralInBrackets) {
  auto u = parseBrokerUrl("mqtts://[::1]:8884/x/#");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8884);
  EXPECT_EQ(u->topic, "x/#");
}

TEST(BrokerUrl, RefusesWhatItCannotUse) {
  for (const char* url : {"http://h/t", "h:1883/t", "mqtt://h", "mqtt://h/", "mqtt:///t",
                          "mqtt://h:0/t", "mqtt://h:65536/t", "mqtt://h:12x/t", "mqtt://h:/t",
                          "mqtt://[::1/t", "mqtt://[::1]x/t", "mqtt://@h/t"}) {
    auto u = parseBrokerUrl(url);
    EXPECT_FALSE(u) << url;
    if (!u) {
      EXPECT_NE(u.error().message.find("-L"), std::string::npos) << u.error().message;
    }
  }
}

}  // namespace
}  // namespace moat::app
