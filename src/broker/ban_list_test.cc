#include "broker/ban_list.h"

#include <gtest/gtest.h>

namespace moat::broker {
namespace {

using Kind = BanList::Kind;
using namespace std::chrono_literals;
const BanList::Clock::time_point kNow = BanList::Clock::time_point{} + 1'000'000s;

TEST(BanList, AnAddressRangeBansEveryAddressInIt) {
  BanList bans;
  ASSERT_TRUE(bans.add({Kind::Address, "203.0.113.0/24", std::nullopt, "scanner"}));
  auto hit = bans.match("203.0.113.77", "", "c1", kNow);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->reason, "scanner");
  EXPECT_FALSE(bans.match("203.0.114.1", "", "c1", kNow));
  EXPECT_FALSE(bans.match("not an address", "", "c1", kNow));
}

TEST(BanList, UserNamesAndClientIdsMatchExactly) {
  BanList bans;
  ASSERT_TRUE(bans.add({Kind::Username, "mallory", std::nullopt, ""}));
  ASSERT_TRUE(bans.add({Kind::ClientId, "stolen-7", std::nullopt, ""}));
  EXPECT_TRUE(bans.match("10.0.0.1", "mallory", "c1", kNow));
  EXPECT_FALSE(bans.match("10.0.0.1", "Mallory", "c1", kNow));
  EXPECT_FALSE(bans.match("10.0.0.1", "", "c1", kNow));
  EXPECT_TRUE(bans.match("10.0.0.1", "", "stolen-7", kNow));
  EXPECT_FALSE(bans.match("10.0.0.1", "", "stolen-70", kNow));
}

TEST(BanList, AnExpiredBanNoLongerMatchesNorIsListed) {
  BanList bans;
  ASSERT_TRUE(bans.add({Kind::Username, "eve", kNow + 10s, ""}));
  EXPECT_TRUE(bans.match("10.0.0.1", "eve", "c", kNow + 9s));
  EXPECT_FALSE(bans.match("10.0.0.1", "eve", "c", kNow + 10s));
  EXPECT_EQ(bans.entries(kNow).size(), 1u);
  EXPECT_TRUE(bans.entries(kNow + 10s).empty());
}

TEST(BanList, AddingTheSameValueAgainReplacesIt) {
  BanList bans;
  ASSERT_TRUE(bans.add({Kind::ClientId, "x", kNow + 1s, "first"}));
  ASSERT_TRUE(bans.add({Kind::ClientId, "x", std::nullopt, "second"}));
  auto all = bans.entries(kNow);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].reason, "second");
  EXPECT_TRUE(bans.remove(Kind::ClientId, "x"));
  EXPECT_FALSE(bans.remove(Kind::ClientId, "x"));
  EXPECT_FALSE(bans.match("10.0.0.1", "", "x", kNow));
}

TEST(BanList, ABadEntryChangesNothing) {
  BanList bans;
  ASSERT_TRUE(bans.add({Kind::Username, "keep", std::nullopt, ""}));
  EXPECT_FALSE(bans.add({Kind::Address, "10.0.0.0/40", std::nullopt, ""}));
  auto r = bans.replace(
      {{Kind::Username, "other", std::nullopt, ""}, {Kind::Address, "nonsense", std::nullopt, ""}});
  EXPECT_FALSE(r);
  EXPECT_TRUE(bans.match("10.0.0.1", "keep", "c", kNow));
  EXPECT_FALSE(bans.match("10.0.0.1", "other", "c", kNow));
}

TEST(BanList, DescribeNamesKindAndValue) {
  EXPECT_EQ(BanList::describe({Kind::Address, "::1", std::nullopt, ""}), "address ::1");
  EXPECT_EQ(BanList::describe({Kind::Username, "m", std::nullopt, ""}), "user name \"m\"");
  EXPECT_EQ(BanList::describe({Kind::ClientId, "c", std::nullopt, ""}), "client id \"c\"");
}

}  // namespace
}  // namespace moat::broker
