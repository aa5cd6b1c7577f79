// moat bench's bookkeeping: the payload stamp, the latency histogram's percentiles, and the
// delivery check that tells duplicates from late (out-of-order) deliveries.
#include "apps/moat/bench_stats.h"

#include <gtest/gtest.h>

namespace moat::app::bench {
namespace {

TEST(BenchStamp, RoundTripsAndPadsToTheSize) {
  const std::string payload = makePayload({7, 123456789012ULL, -5}, 64);
  EXPECT_EQ(payload.size(), 64u);
  auto s = readStamp(payload);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->stream, 7u);
  EXPECT_EQ(s->sequence, 123456789012ULL);
  EXPECT_EQ(s->sentNs, -5);
  EXPECT_EQ(makePayload({1, 1, 1}, 3).size(), kStampSize);  // never shorter than the stamp
  EXPECT_FALSE(readStamp("short"));
}

TEST(BenchHistogram, PercentilesAreExactBelowAMillisecondAndCloseAbove) {
  Histogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.add(v);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.percentile(0.5), 500u);
  EXPECT_EQ(h.percentile(0.99), 990u);
  EXPECT_EQ(h.max(), 1000u);
  Histogram big;
  big.add(1'000'000);
  const uint64_t p = big.percentile(0.5);
  EXPECT_LE(p, 1'000'000u);
  EXPECT_GE(p, 985'000u);  // within the bucket width (~1.5 %)
  Histogram merged;
  merged.merge(h);
  merged.merge(big);
  EXPECT_EQ(merged.count(), 1001u);
  EXPECT_EQ(merged.max(), 1'000'000u);
  EXPECT_EQ(Histogram().percentile(0.5), 0u);
}

TEST(BenchDeliveryCheck, CountsDuplicatesLateOnesAndForeignMessages) {
  DeliveryCheck c(2);
  auto at = [](uint32_t stream, uint64_t seq) { return Stamp{stream, seq, 0}; };
  EXPECT_TRUE(c.record(at(0, 1), 1000));
  EXPECT_TRUE(c.record(at(0, 2), 1000));
  EXPECT_TRUE(c.record(at(0, 4), 1000));  // 3 skipped, so far
  EXPECT_TRUE(c.record(at(0, 3), 1000));  // late: out of order
  EXPECT_TRUE(c.record(at(0, 4), 1000));  // seen: a duplicate
  EXPECT_TRUE(c.record(at(1, 1), 1000));
  EXPECT_TRUE(c.record(at(0, 200), 1000));
  EXPECT_TRUE(c.record(at(0, 5), 1000));   // behind by more than the window: out of order
  EXPECT_FALSE(c.record(at(2, 1), 1000));  // no such stream
  EXPECT_FALSE(c.record(at(1, 0), 1000));  // sequences start at 1
  EXPECT_EQ(c.delivered(), 8u);
  EXPECT_EQ(c.duplicated(), 1u);
  EXPECT_EQ(c.outOfOrder(), 2u);
  EXPECT_EQ(c.unique(), 7u);
  EXPECT_EQ(c.foreign(), 2u);
  EXPECT_EQ(c.latency().count(), 8u);
}

}  // namespace
}  // namespace moat::app::bench
