// Giving freed heap memory back to the system. glibc keeps what a burst freed (the TLS state of
// a connection storm, say) in its per-thread arenas for reuse, so the resident size stays at the
// burst's peak although the memory is free; malloc_trim() returns the free pages (they stay in
// the allocator's free lists, counted as free, but no longer resident). Without glibc (2.33 or
// later) nothing is reported and nothing is done.
#pragma once

#include <cstddef>

namespace moat {

struct HeapUsage {
  size_t inUse = 0;     // bytes handed out by malloc
  size_t free = 0;      // bytes free in the allocator's arenas (resident or not)
  size_t resident = 0;  // the whole process's resident size (/proc/self/statm)
};

[[nodiscard]] HeapUsage heapUsage();

struct HeapTrim {
  bool trimmed = false;
  HeapUsage before;
  HeapUsage after;  // when trimmed
};

// Decides when to trim: when the arenas hold at least `minFree` free bytes, more free than in
// use (a burst has passed, not a working set that will be reused at once), and the resident
// size has grown by `minFree` since the last trim (the pages a trim returned stay counted as
// free, so without this an idle process would trim again each time it asked). Trimming locks
// and walks every arena: ask every few seconds, not on a hot path. Not thread-safe.
class HeapTrimmer {
 public:
  explicit HeapTrimmer(size_t minFree) : minFree_(minFree) {}
  [[nodiscard]] HeapTrim trimIfMostlyFree();

 private:
  size_t minFree_;
  size_t residentAfterLastTrim_ = 0;
};

}  // namespace moat
