#include "client/topic_alias_table.h"

#include <gtest/gtest.h>

#include "mqtt/reason_code.h"

namespace moat::client {
namespace {

using mqtt::ReasonCode;

TEST(TopicAliasTable, TopicWithAliasBindsItAndEmptyTopicUsesIt) {
  TopicAliasTable t(10);
  std::string topic = "sensors/1/temp";
  ASSERT_TRUE(t.resolve(topic, 3));
  std::string empty;
  ASSERT_TRUE(t.resolve(empty, 3));
  EXPECT_EQ(empty, "sensors/1/temp");
}

TEST(TopicAliasTable, AServerMayRebindAnAlias) {
  TopicAliasTable t(2);
  std::string a = "a";
  std::string b = "b";
  ASSERT_TRUE(t.resolve(a, 1));
  ASSERT_TRUE(t.resolve(b, 1));
  std::string empty;
  ASSERT_TRUE(t.resolve(empty, 1));
  EXPECT_EQ(empty, "b");
}

TEST(TopicAliasTable, AliasZeroIsInvalid) {
  TopicAliasTable t(5);
  std::string topic = "x";
  auto r = t.resolve(topic, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::TopicAliasInvalid));
}

TEST(TopicAliasTable, AliasAboveOurMaximumIsInvalid) {
  TopicAliasTable t(5);
  std::string topic = "x";
  auto r = t.resolve(topic, 6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::TopicAliasInvalid));
}

TEST(TopicAliasTable, AnyAliasIsInvalidWhenWeAnnouncedNone) {
  TopicAliasTable t;
  std::string topic = "x";
  EXPECT_FALSE(t.resolve(topic, 1));
}

TEST(TopicAliasTable, EmptyTopicWithUnknownAliasIsAProtocolError) {
  TopicAliasTable t(5);
  std::string empty;
  auto r = t.resolve(empty, 2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::ProtocolError));
}

TEST(TopicAliasTable, EmptyTopicWithoutAliasIsAProtocolError) {
  TopicAliasTable t(5);
  std::string empty;
  auto r = t.resolve(empty, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::ProtocolError));
}

TEST(TopicAliasTable, ResetForgetsEveryAlias) {
  TopicAliasTable t(5);
  std::string topic = "x";
  ASSERT_TRUE(t.resolve(topic, 1));
  ASSERT_NE(t.find(1), nullptr);
  t.reset(5);
  EXPECT_EQ(t.find(1), nullptr);
}

}  // namespace
}  // namespace moat::client
