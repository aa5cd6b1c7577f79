#include "broker/deadline_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

namespace moat::broker {
namespace {

using namespace std::chrono_literals;
using Wheel = DeadlineWheel<int>;
const Wheel::Clock::time_point kStart = Wheel::Clock::time_point{} + 1'000'000s;

// Items and the tick of their live deadline, as the Worker keeps them on its connections.
struct Owner {
  Wheel wheel{kStart, 8};  // a small wheel, so that later rounds are cheap to reach
  std::map<int*, uint64_t> current;
  std::vector<int> fired;

  void schedule(int& item, Wheel::Clock::time_point when) {
    current[&item] = wheel.schedule(&item, when);
  }
  void advance(Wheel::Clock::time_point now) {
    wheel.advance(
        now, [&](int* item) { return current.count(item) ? current[item] : 0; },
        [&](int* item) {
          current[item] = 0;
          fired.push_back(*item);
        });
  }
};

TEST(DeadlineWheel, ADeadlineComesWithinTheSecondAfterItAndNeverBefore) {
  Owner o;
  int a = 1;
  o.schedule(a, kStart + 2500ms);  // tick 3
  o.advance(kStart + 2999ms);
  EXPECT_TRUE(o.fired.empty());
  o.advance(kStart + 3s);
  EXPECT_EQ(o.fired, std::vector<int>{1});
  o.advance(kStart + 20s);
  EXPECT_EQ(o.fired, std::vector<int>{1}) << "a deadline fires once";
  EXPECT_EQ(o.wheel.size(), 0u);
}

TEST(DeadlineWheel, AMovedDeadlineFiresOnlyAtItsNewTime) {
  Owner o;
  int a = 1;
  o.schedule(a, kStart + 2s);
  o.schedule(a, kStart + 5s);  // the entry at 2 s is stale now
  o.advance(kStart + 4s);
  EXPECT_TRUE(o.fired.empty());
  o.advance(kStart + 5s);
  EXPECT_EQ(o.fired, std::vector<int>{1});
}

TEST(DeadlineWheel, ACancelledOrGoneItemIsNotCalledNorKept) {
  Owner o;
  int a = 1, b = 2;
  o.schedule(a, kStart + 2s);
  o.schedule(b, kStart + 2s);
  o.current[&a] = 0;    // cancelled
  o.current.erase(&b);  // gone
  o.advance(kStart + 3s);
  EXPECT_TRUE(o.fired.empty());
  EXPECT_EQ(o.wheel.size(), 0u);
}

TEST(DeadlineWheel, ADeadlineRoundsAwayWaitsForItsRound) {
  Owner o;  // 8 slots: 19 s is two rounds and three slots away
  int a = 1, b = 2;
  o.schedule(a, kStart + 19s);
  o.schedule(b, kStart + 3s);  // the same slot, this round
  o.advance(kStart + 3s);
  EXPECT_EQ(o.fired, std::vector<int>{2});
  o.advance(kStart + 18s);
  EXPECT_EQ(o.fired, std::vector<int>{2});
  EXPECT_EQ(o.wheel.size(), 1u);
  o.advance(kStart + 19s);
  EXPECT_EQ(o.fired, (std::vector<int>{2, 1}));
}

TEST(DeadlineWheel, ALateAdvanceHandlesEverythingDueOnce) {
  Owner o;
  std::vector<int> items = {1, 2, 3, 4};
  for (int i = 0; i < 4; ++i) o.schedule(items[i], kStart + std::chrono::seconds(1 + 5 * i));
  o.advance(kStart + 1h);  // far more than a round late
  std::sort(o.fired.begin(), o.fired.end());
  EXPECT_EQ(o.fired, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(o.wheel.size(), 0u);
}

TEST(DeadlineWheel, ADeadlineInThePastComesAtTheNextTick) {
  Owner o;
  int a = 1, b = 2;
  o.advance(kStart + 10s);
  o.schedule(a, kStart + 2s);  // already past: not lost, not early either
  EXPECT_EQ(o.wheel.nextTick(), kStart + 11s);
  o.advance(kStart + 10500ms);
  EXPECT_TRUE(o.fired.empty());
  o.advance(kStart + 11s);
  EXPECT_EQ(o.fired, std::vector<int>{1});
  // An item scheduled again from its own due() goes to a later tick, not the one being handled.
  o.schedule(b, kStart + 12s);
  o.wheel.advance(
      kStart + 12s, [&](int* item) { return o.current[item]; },
      [&](int* item) {
        o.fired.push_back(*item);
        o.current[item] = o.wheel.schedule(item, kStart + 12s);
      });
  EXPECT_EQ(o.fired, (std::vector<int>{1, 2}));
  EXPECT_EQ(o.current[&b], 13u);
}

}  // namespace
}  // namespace moat::broker
