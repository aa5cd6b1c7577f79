#include "broker/login_guard.h"

#include <gtest/gtest.h>

namespace moat::broker {
namespace {

using namespace std::chrono_literals;

LoginGuardSettings small() {
  LoginGuardSettings s;
  s.maxFailures = 3;
  s.window = 10s;
  s.banTime = 30s;
  s.firstDelay = 100ms;
  s.maxDelay = 1000ms;
  s.maxTracked = 4;
  return s;
}

TEST(LoginGuard, DelaysDoubleAndTheAddressIsBannedAtTheLimit) {
  LoginGuard g(small());
  auto t = LoginGuard::Clock::now();
  EXPECT_EQ(g.failed("10.0.0.1", "alice", t).delay, 100ms);
  EXPECT_EQ(g.failed("10.0.0.1", "alice", t).delay, 200ms);
  EXPECT_FALSE(g.banned("10.0.0.1", t));
  auto third = g.failed("10.0.0.1", "alice", t);
  EXPECT_TRUE(third.bannedNow);
  EXPECT_TRUE(g.banned("10.0.0.1", t + 29s));
  EXPECT_FALSE(g.banned("10.0.0.1", t + 31s));
  EXPECT_FALSE(g.banned("10.0.0.2", t));
}

TEST(LoginGuard, TheUserIsSlowedFromEveryAddressButNeverBanned) {
  LoginGuard g(small());
  auto t = LoginGuard::Clock::now();
  g.failed("10.0.0.1", "alice", t);
  g.failed("10.0.0.2", "alice", t);
  auto v = g.failed("10.0.0.3", "alice", t);  // the user's third failure, each address's first
  EXPECT_EQ(v.delay, 400ms);
  EXPECT_FALSE(v.bannedNow);
  for (int i = 0; i < 10; ++i) EXPECT_LE(g.failed("10.0.0.4", "bob", t).delay, 1000ms);
}

TEST(LoginGuard, FailuresOutsideTheWindowStartAgain) {
  LoginGuard g(small());
  auto t = LoginGuard::Clock::now();
  g.failed("10.0.0.1", "", t);
  g.failed("10.0.0.1", "", t);
  EXPECT_FALSE(g.failed("10.0.0.1", "", t + 11s).bannedNow);
}

TEST(LoginGuard, MemoryIsBounded) {
  LoginGuard g(small());
  auto t = LoginGuard::Clock::now();
  for (int i = 0; i < 100; ++i) {
    g.failed("10.0.1." + std::to_string(i), "u" + std::to_string(i),
             t + std::chrono::milliseconds(i));
  }
  // Only maxTracked entries are kept: an early address has been forgotten.
  EXPECT_EQ(g.failed("10.0.1.0", "", t + 200ms).delay, 100ms);
}

}  // namespace
}  // namespace moat::broker
