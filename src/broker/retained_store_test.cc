#include "broker/retained_store.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

namespace moat::broker {
namespace {

MessagePtr msg(std::string topic, std::string payload) {
  auto m = std::make_shared<Message>();
  m->publish.topic = std::move(topic);
  m->publish.payload = std::move(payload);
  m->retain = true;
  return m;
}

std::set<std::string> topics(const RetainedStore& store, std::string_view filter) {
  std::vector<MessagePtr> out;
  store.match(filter, out);
  std::set<std::string> t;
  for (auto& m : out) t.insert(m->topic());
  return t;
}

using Topics = std::set<std::string>;

TEST(RetainedStore, KeepsTheLastMessagePerTopic) {
  RetainedStore s;
  s.set(msg("a/b", "1"));
  s.set(msg("a/b", "2"));
  std::vector<MessagePtr> out;
  s.match("a/b", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->payload(), "2");
  EXPECT_EQ(s.size(), 1u);
}

TEST(RetainedStore, EmptyPayloadClearsTheTopic) {
  RetainedStore s;
  s.set(msg("a/b", "1"));
  s.set(msg("a/b", ""));
  EXPECT_EQ(topics(s, "a/b"), Topics{});
  EXPECT_EQ(s.size(), 0u);
}

TEST(RetainedStore, WildcardsMatchStoredTopics) {
  RetainedStore s;
  s.set(msg("a", "x"));
  s.set(msg("a/b", "x"));
  s.set(msg("a/b/c", "x"));
  s.set(msg("a/d", "x"));
  EXPECT_EQ(topics(s, "a/#"), (Topics{"a", "a/b", "a/b/c", "a/d"}));
  EXPECT_EQ(topics(s, "a/+"), (Topics{"a/b", "a/d"}));
  EXPECT_EQ(topics(s, "+/b/+"), (Topics{"a/b/c"}));
  EXPECT_EQ(topics(s, "#"), (Topics{"a", "a/b", "a/b/c", "a/d"}));
}

TEST(RetainedStore, DollarTopicsNeedAFilterThatNamesThem) {
  RetainedStore s;
  s.set(msg("$SYS/uptime", "1"));
  s.set(msg("x", "1"));
  EXPECT_EQ(topics(s, "#"), Topics{"x"});
  EXPECT_EQ(topics(s, "+/uptime"), Topics{});
  EXPECT_EQ(topics(s, "$SYS/#"), Topics{"$SYS/uptime"});
}

TEST(RetainedStore, ExpiredMessagesAreNotReturned) {
  RetainedStore s;
  auto m = std::make_shared<Message>();
  m->publish.topic = "t";
  m->publish.payload = "p";
  m->expiresAt = Clock::now() - std::chrono::seconds(1);
  s.set(m);
  EXPECT_EQ(topics(s, "t"), Topics{});
}

}  // namespace
}  // namespace moat::broker
