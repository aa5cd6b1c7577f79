#include "net/admission.h"

#include <gtest/gtest.h>

namespace moat::net {
namespace {

using Clock = AdmissionControl::Clock;
using Verdict = AdmissionControl::Verdict;

IpAddress ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return IpAddress::v4({a, b, c, d}); }

Cidr cidr(std::string_view s) {
  auto c = Cidr::parse(s);
  EXPECT_TRUE(c) << s;
  return *c;
}

TEST(Cidr, MatchesAddressesInsideItsPrefixOnly) {
  auto c = cidr("10.1.0.0/16");
  EXPECT_TRUE(c.contains(ip4(10, 1, 200, 3)));
  EXPECT_FALSE(c.contains(ip4(10, 2, 0, 1)));
  EXPECT_TRUE(cidr("192.168.1.7").contains(ip4(192, 168, 1, 7)));
  EXPECT_FALSE(cidr("192.168.1.7").contains(ip4(192, 168, 1, 8)));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip4(8, 8, 8, 8)));
  EXPECT_TRUE(cidr("10.0.0.0/9").contains(ip4(10, 127, 0, 1)));
  EXPECT_FALSE(cidr("10.0.0.0/9").contains(ip4(10, 128, 0, 1)));
}

TEST(Cidr, Ipv6RangesDoNotMatchIpv4Addresses) {
  std::array<uint8_t, 16> loop{};
  loop[15] = 1;
  EXPECT_TRUE(cidr("::1").contains(IpAddress::v6(loop)));
  EXPECT_TRUE(cidr("2001:db8::/32").contains(
      IpAddress::v6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9})));
  EXPECT_FALSE(cidr("2001:db8::/32").contains(ip4(10, 0, 0, 1)));
}

TEST(Cidr, BadTextIsAnError) {
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("10.0.0/8"));
  EXPECT_FALSE(Cidr::parse("example.com"));
  EXPECT_FALSE(Cidr::parse("::1/129"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
}

TEST(AdmissionControl, DenyWinsOverAllow) {
  AdmissionSettings s;
  s.allow = {cidr("10.0.0.0/8")};
  s.deny = {cidr("10.9.0.0/16")};
  AdmissionControl a(s);
  auto now = Clock::now();
  EXPECT_EQ(a.check(ip4(10, 1, 1, 1), now), Verdict::Admit);
  EXPECT_EQ(a.check(ip4(10, 9, 1, 1), now), Verdict::Denied);
  EXPECT_EQ(a.check(ip4(11, 0, 0, 1), now), Verdict::Denied);
  EXPECT_EQ(a.refused(), 2u);
}

TEST(AdmissionControl, RateLimitAllowsABurstThenTheRate) {
  AdmissionSettings s;
  s.ratePerSecond = 2;
  s.burst = 3;
  AdmissionControl a(s);
  auto t = Clock::now();
  auto src = ip4(127, 0, 0, 1);
  EXPECT_EQ(a.check(src, t), Verdict::Admit);
  EXPECT_EQ(a.check(src, t), Verdict::Admit);
  EXPECT_EQ(a.check(src, t), Verdict::Admit);
  EXPECT_EQ(a.check(src, t), Verdict::RateLimited);
  // Another source has its own bucket.
  EXPECT_EQ(a.check(ip4(127, 0, 0, 2), t), Verdict::Admit);
  // Half a second later one token is back.
  t += std::chrono::milliseconds(500);
  EXPECT_EQ(a.check(src, t), Verdict::Admit);
  EXPECT_EQ(a.check(src, t), Verdict::RateLimited);
}

TEST(AdmissionControl, TrackedSourcesStayBounded) {
  AdmissionSettings s;
  s.ratePerSecond = 1;
  s.maxTrackedSources = 100;
  AdmissionControl a(s);
  auto t = Clock::now();
  for (int i = 0; i < 10000; ++i) {
    a.check(ip4(10, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)), t);
    ASSERT_LE(a.trackedSources(), 100u);
  }
  // A source seen before the table was trimmed is treated as new, never refused wrongly.
  EXPECT_EQ(a.check(ip4(10, 0, 0, 0), t), Verdict::Admit);
}

TEST(AdmissionControl, RefusalsOfOneSourceAreLoggedOncePerMinute) {
  AdmissionControl a({});
  auto t = Clock::now();
  auto src = ip4(1, 2, 3, 4);
  EXPECT_TRUE(a.shouldLog(src, t));
  EXPECT_FALSE(a.shouldLog(src, t + std::chrono::seconds(30)));
  EXPECT_TRUE(a.shouldLog(src, t + std::chrono::seconds(61)));
}

}  // namespace
}  // namespace moat::net
