#include "client/packet_id_allocator.h"

#include <gtest/gtest.h>

#include <set>

namespace moat::client {
namespace {

TEST(PacketIdAllocator, NeverHandsOutZero) {
  PacketIdAllocator ids;
  for (int i = 0; i < 70000; ++i) {
    auto id = ids.allocate();
    ASSERT_TRUE(id);
    EXPECT_NE(*id, 0);
    ids.release(*id);
  }
}

TEST(PacketIdAllocator, DoesNotReuseAnIdStillInUse) {
  PacketIdAllocator ids;
  std::set<uint16_t> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = ids.allocate();
    ASSERT_TRUE(id);
    EXPECT_TRUE(seen.insert(*id).second);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(PacketIdAllocator, DoesNotReuseAReleasedIdAtOnce) {
  PacketIdAllocator ids;
  auto a = ids.allocate();
  ids.release(*a);
  auto b = ids.allocate();
  EXPECT_NE(*a, *b);
}

TEST(PacketIdAllocator, FailsWhenAll65535AreInUseAndRecoversOnRelease) {
  PacketIdAllocator ids;
  for (int i = 0; i < 65535; ++i) ASSERT_TRUE(ids.allocate());
  EXPECT_FALSE(ids.allocate());
  ids.release(4242);
  auto id = ids.allocate();
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 4242);
}

TEST(PacketIdAllocator, WrapsAroundSkippingIdsInUse) {
  PacketIdAllocator ids;
  ASSERT_TRUE(ids.reserve(1));
  for (int i = 0; i < 65533; ++i) ids.release(*ids.allocate());  // cursor ends near 65535
  auto last = ids.allocate();
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, 65535);
  auto next = ids.allocate();
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 2);  // 0 is never used and 1 is reserved
}

TEST(PacketIdAllocator, ReleasingAnUnusedIdChangesNothing) {
  PacketIdAllocator ids;
  ids.release(7);
  ids.release(0);
  EXPECT_EQ(ids.size(), 0u);
  EXPECT_FALSE(ids.reserve(0));
  EXPECT_TRUE(ids.reserve(7));
  EXPECT_FALSE(ids.reserve(7));
  EXPECT_TRUE(ids.inUse(7));
}

}  // namespace
}  // namespace moat::client
