#include "client/incoming_flow.h"

#include <gtest/gtest.h>

namespace moat::client {
namespace {

using mqtt::PacketType;
using mqtt::ReasonCode;

mqtt::Publish publish(uint8_t qos, uint16_t id, std::string topic = "t") {
  mqtt::Publish p;
  p.qos = qos;
  p.packetId = id;
  p.topic = std::move(topic);
  p.payload.assign(1, 'x');
  return p;
}

TEST(IncomingFlow, Qos0IsDeliveredWithoutAck) {
  IncomingFlow f;
  auto p = publish(0, 0);
  auto d = f.onPublish(p);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->deliver);
  EXPECT_FALSE(d->reply);
}

TEST(IncomingFlow, Qos1IsDeliveredEveryTimeAndAnsweredByPuback) {
  IncomingFlow f;
  for (int i = 0; i < 2; ++i) {
    auto p = publish(1, 7);
    auto d = f.onPublish(p);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->deliver);
    ASSERT_TRUE(d->reply);
    EXPECT_EQ(d->reply->type, PacketType::Puback);
    EXPECT_EQ(d->reply->packetId, 7);
  }
}

TEST(IncomingFlow, Qos2IsDeliveredOnceUntilPubrel) {
  IncomingFlow f;
  auto p = publish(2, 9);
  auto first = f.onPublish(p);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->deliver);
  EXPECT_EQ(first->reply->type, PacketType::Pubrec);

  auto again = publish(2, 9);
  again.dup = true;
  auto second = f.onPublish(again);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->deliver);  // a retransmission
  EXPECT_EQ(second->reply->type, PacketType::Pubrec);

  auto comp = f.onPubrel({PacketType::Pubrel, 9, ReasonCode::Success, {}});
  EXPECT_EQ(comp.type, PacketType::Pubcomp);
  EXPECT_EQ(comp.reasonCode, ReasonCode::Success);
  EXPECT_EQ(f.openQos2(), 0u);

  auto reused = publish(2, 9);
  auto third = f.onPublish(reused);
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->deliver);  // the id is free again: a new message
}

TEST(IncomingFlow, PubrelForAnUnknownIdIsAnsweredWithPacketIdNotFound) {
  IncomingFlow f;
  auto comp = f.onPubrel({PacketType::Pubrel, 3, ReasonCode::Success, {}});
  EXPECT_EQ(comp.packetId, 3);
  EXPECT_EQ(comp.reasonCode, ReasonCode::PacketIdentifierNotFound);
}

TEST(IncomingFlow, MoreOpenQos2ThanOurReceiveMaximumIsRefused) {
  IncomingFlow f(2, 0);
  auto a = publish(2, 1);
  auto b = publish(2, 2);
  auto c = publish(2, 3);
  ASSERT_TRUE(f.onPublish(a));
  ASSERT_TRUE(f.onPublish(b));
  auto r = f.onPublish(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::ReceiveMaximumExceeded));
}

TEST(IncomingFlow, Qos1DoesNotCountAgainstReceiveMaximum) {
  IncomingFlow f(1, 0);
  for (uint16_t id = 1; id <= 5; ++id) {
    auto p = publish(1, id);
    ASSERT_TRUE(f.onPublish(p));
  }
}

TEST(IncomingFlow, ResolvesTopicAliases) {
  IncomingFlow f(10, 4);
  auto first = publish(0, 0, "long/topic/name");
  first.properties.topicAlias = 4;
  ASSERT_TRUE(f.onPublish(first));
  auto second = publish(1, 1, "");
  second.properties.topicAlias = 4;
  auto d = f.onPublish(second);
  ASSERT_TRUE(d);
  EXPECT_EQ(second.topic, "long/topic/name");
}

TEST(IncomingFlow, RejectsAnAliasAboveOurTopicAliasMaximum) {
  IncomingFlow f(10, 4);
  auto p = publish(0, 0, "t");
  p.properties.topicAlias = 5;
  auto r = f.onPublish(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::TopicAliasInvalid));
}

TEST(IncomingFlow, RejectsAWildcardInATopicName) {
  IncomingFlow f;
  auto p = publish(0, 0, "a/+/b");
  EXPECT_FALSE(f.onPublish(p));
}

TEST(IncomingFlow, ResetForgetsOpenExchangesAndAliases) {
  IncomingFlow f(1, 1);
  auto p = publish(2, 1, "t");
  p.properties.topicAlias = 1;
  ASSERT_TRUE(f.onPublish(p));
  f.reset(1, 1);
  EXPECT_EQ(f.openQos2(), 0u);
  EXPECT_EQ(f.aliases().find(1), nullptr);
}

}  // namespace
}  // namespace moat::client
