#include "broker/subscription_index.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "broker/broker.h"
#include "broker/session.h"
#include "broker/worker.h"

namespace moat::broker {
namespace {

class SubscriptionIndexTest : public ::testing::Test {
 protected:
  SubscriptionIndexTest() : broker_(config::embeddedDefault()) {}

  std::shared_ptr<Session> session(const std::string& id) {
    auto s = std::make_shared<Session>(broker_.worker(0), id, ++uid_);
    sessions_.push_back(s);
    return s;
  }

  std::set<std::string> matching(std::string_view topic) {
    std::vector<MatchedSubscription> out;
    index_.match(topic, out);
    std::set<std::string> ids;
    for (auto& m : out) ids.insert(m.session->clientId());
    return ids;
  }

  void sub(const std::shared_ptr<Session>& s, std::string_view filter, uint8_t qos = 0) {
    mqtt::SubscriptionOptions o;
    o.qos = qos;
    index_.subscribe(filter, {}, s, o, 0);
  }

  Broker broker_;
  SubscriptionIndex index_;
  std::vector<std::shared_ptr<Session>> sessions_;
  uint64_t uid_ = 0;
};

using Ids = std::set<std::string>;

TEST_F(SubscriptionIndexTest, ExactFilterMatchesOnlyItsTopic) {
  sub(session("a"), "sport/tennis");
  EXPECT_EQ(matching("sport/tennis"), Ids{"a"});
  EXPECT_EQ(matching("sport/tennis/x"), Ids{});
  EXPECT_EQ(matching("sport"), Ids{});
}

TEST_F(SubscriptionIndexTest, PlusMatchesExactlyOneLevel) {
  sub(session("a"), "sport/+/player");
  EXPECT_EQ(matching("sport/tennis/player"), Ids{"a"});
  EXPECT_EQ(matching("sport//player"), Ids{"a"});
  EXPECT_EQ(matching("sport/player"), Ids{});
  EXPECT_EQ(matching("sport/a/b/player"), Ids{});
}

TEST_F(SubscriptionIndexTest, HashMatchesParentAndEverythingBelow) {
  sub(session("a"), "sport/#");
  EXPECT_EQ(matching("sport"), Ids{"a"});
  EXPECT_EQ(matching("sport/tennis/player1"), Ids{"a"});
  EXPECT_EQ(matching("sports"), Ids{});
}

TEST_F(SubscriptionIndexTest, LeadingWildcardsDoNotMatchDollarTopics) {
  sub(session("hash"), "#");
  sub(session("plus"), "+/monitor/Clients");
  sub(session("sys"), "$SYS/#");
  EXPECT_EQ(matching("$SYS/monitor/Clients"), Ids{"sys"});
  EXPECT_EQ(matching("a/monitor/Clients"), (Ids{"hash", "plus"}));
}

TEST_F(SubscriptionIndexTest, UnsubscribeRemovesOnlyThatSubscription) {
  auto a = session("a");
  auto b = session("b");
  sub(a, "x/+");
  sub(b, "x/+");
  EXPECT_TRUE(index_.unsubscribe("x/+", {}, a.get()));
  EXPECT_FALSE(index_.unsubscribe("x/+", {}, a.get()));
  EXPECT_EQ(matching("x/y"), Ids{"b"});
  EXPECT_EQ(index_.size(), 1u);
}

TEST_F(SubscriptionIndexTest, ResubscribingReplacesOptions) {
  auto a = session("a");
  sub(a, "t", 0);
  mqtt::SubscriptionOptions o;
  o.qos = 2;
  EXPECT_FALSE(index_.subscribe("t", {}, a, o, 7));
  std::vector<MatchedSubscription> out;
  index_.match("t", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].options.qos, 2);
  EXPECT_EQ(out[0].subscriptionId, 7u);
}

TEST_F(SubscriptionIndexTest, OverlappingFiltersOfOneSessionAreAllReported) {
  auto a = session("a");
  sub(a, "a/b");
  sub(a, "a/+");
  sub(a, "#");
  std::vector<MatchedSubscription> out;
  index_.match("a/b", out);
  EXPECT_EQ(out.size(), 3u);
}

TEST_F(SubscriptionIndexTest, SharedGroupYieldsOneMemberPerMessageInTurn) {
  auto a = session("a");
  auto b = session("b");
  mqtt::SubscriptionOptions o;
  index_.subscribe("work/#", "g", a, o, 0);
  index_.subscribe("work/#", "g", b, o, 0);
  std::map<std::string, int> counts;
  for (int i = 0; i < 10; ++i) {
    std::vector<MatchedSubscription> out;
    index_.match("work/1", out);
    ASSERT_EQ(out.size(), 1u);
    counts[out[0].session->clientId()]++;
  }
  EXPECT_EQ(counts["a"], 5);
  EXPECT_EQ(counts["b"], 5);
}

TEST_F(SubscriptionIndexTest, MatchCostDoesNotDependOnNonMatchingSubscriptions) {
  // Many subscriptions on other branches leave a match with exactly its own results.
  auto a = session("a");
  for (int i = 0; i < 10000; ++i) sub(a, "devices/" + std::to_string(i) + "/telemetry");
  auto b = session("b");
  sub(b, "devices/42/telemetry");
  EXPECT_EQ(matching("devices/42/telemetry"), (Ids{"a", "b"}));
  EXPECT_EQ(index_.size(), 10001u);
}

TEST_F(SubscriptionIndexTest, EmptyNodesArePrunedOnUnsubscribe) {
  auto a = session("a");
  sub(a, "a/b/c/d");
  EXPECT_TRUE(index_.unsubscribe("a/b/c/d", {}, a.get()));
  EXPECT_EQ(index_.size(), 0u);
  sub(a, "a/b");
  EXPECT_EQ(matching("a/b"), Ids{"a"});
}

}  // namespace
}  // namespace moat::broker
