#include "base/heap_trim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

namespace moat {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kOwnAllocator = true;  // the sanitizer's allocator: glibc's arenas are not used
#else
constexpr bool kOwnAllocator = false;
#endif

constexpr size_t kMiB = size_t{1} << 20;

// A burst of small blocks allocated and freed on another thread (in its own arena, as a
// worker's connections are), written to so they are resident. One block stays allocated, so
// the arena's top is in use and only trimming can give the rest back.
void burst(size_t bytes) {
  static std::vector<std::unique_ptr<char[]>> kept;
  std::thread([bytes] {
    std::vector<std::unique_ptr<char[]>> blocks;
    for (size_t done = 0; done < bytes; done += 2048) {
      blocks.emplace_back(new char[2048]);
      std::fill_n(blocks.back().get(), 2048, 'x');
    }
    kept.push_back(std::move(blocks.back()));
  }).join();
}

TEST(HeapTrim, GivesABurstsFreedMemoryBackOnceUntilTheHeapGrowsAgain) {
  if (kOwnAllocator) GTEST_SKIP() << "not glibc's allocator";
  HeapTrimmer trimmer(8 * kMiB);
  burst(64 * kMiB);
  ASSERT_GE(heapUsage().free, 48 * kMiB);

  HeapTrim t = trimmer.trimIfMostlyFree();
  ASSERT_TRUE(t.trimmed);
  // The free pages left the resident set.
  EXPECT_LT(t.after.resident + 32 * kMiB, t.before.resident)
      << "resident " << t.before.resident << " -> " << t.after.resident;

  // They are still counted as free, but there is nothing more to give back.
  EXPECT_FALSE(trimmer.trimIfMostlyFree().trimmed);

  // Another burst makes them resident again: trimmed again.
  burst(64 * kMiB);
  EXPECT_TRUE(trimmer.trimIfMostlyFree().trimmed);
}

TEST(HeapTrim, LeavesAWorkingSetAlone) {
  if (kOwnAllocator) GTEST_SKIP() << "not glibc's allocator";
  // More in use than free, however much is free: what is in use will be freed and reused.
  const size_t wanted = heapUsage().free + 16 * kMiB;
  std::vector<std::unique_ptr<char[]>> inUse;
  for (size_t done = 0; done < wanted; done += 2048) {
    inUse.emplace_back(new char[2048]);
    std::fill_n(inUse.back().get(), 2048, 'x');
  }
  HeapTrim t = HeapTrimmer(1).trimIfMostlyFree();
  EXPECT_FALSE(t.trimmed) << "in use " << t.before.inUse << ", free " << t.before.free;
}

TEST(HeapTrim, LeavesLessThanTheMinimumAlone) {
  if (kOwnAllocator) GTEST_SKIP() << "not glibc's allocator";
  burst(16 * kMiB);
  HeapUsage u = heapUsage();
  ASSERT_GT(u.free, u.inUse);
  EXPECT_FALSE(HeapTrimmer(u.free + 64 * kMiB).trimIfMostlyFree().trimmed);
  EXPECT_TRUE(HeapTrimmer(8 * kMiB).trimIfMostlyFree().trimmed);
}

}  // namespace
}  // namespace moat
