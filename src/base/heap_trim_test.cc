#include "base/heap_trim.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

namespace moat {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kOwnAllocator = true;  // ASan's allocator: glibc's arenas are not in use
#else
constexpr bool kOwnAllocator = false;
#endif

// A burst of small blocks allocated and freed on another thread (in its own arena, as a
// worker's connections are), written to so they are resident.
void burst(size_t bytes) {
  std::thread([bytes] {
    std::vector<std::unique_ptr<char[]>> blocks;
    for (size_t done = 0; done < bytes; done += 2048) {
      blocks.emplace_back(new char[2048]);
      std::fill_n(blocks.back().get(), 2048, 'x');
    }
    // Keep the last block so the arena's top is in use and only trimming can give the rest.
    auto last = std::move(blocks.back());
    blocks.pop_back();
    blocks.clear();
    static std::unique_ptr<char[]> kept;
    kept = std::move(last);
  }).join();
}

TEST(HeapTrim, GivesABurstsFreedMemoryBack) {
  if (kOwnAllocator) GTEST_SKIP() << "not glibc's allocator";
  burst(64 << 20);
  HeapUsage held = heapUsage();
  ASSERT_GE(held.free, size_t{48} << 20);

  HeapTrim t = trimHeapIfMostlyFree(8 << 20);
  ASSERT_TRUE(t.trimmed);
  // The free pages left the resident set.
  EXPECT_LT(t.after.resident + (size_t{32} << 20), t.before.resident)
      << "resident " << t.before.resident << " -> " << t.after.resident;
}

TEST(HeapTrim, LeavesAWorkingSetAlone) {
  if (kOwnAllocator) GTEST_SKIP() << "not glibc's allocator";
  // More in use than free, however much is free: what is in use will be freed and reused.
  const size_t wanted = heapUsage().free + (size_t{16} << 20);
  std::vector<std::unique_ptr<char[]>> inUse;
  for (size_t done = 0; done < wanted; done += 2048) inUse.emplace_back(new char[2048]);
  HeapTrim t = trimHeapIfMostlyFree(1);
  EXPECT_FALSE(t.trimmed) << "in use " << t.before.inUse << ", free " << t.before.free;
}

}  // namespace
}  // namespace moat
