// Giving freed heap memory back to the system. glibc keeps what a burst freed (the TLS state of
// a connection storm, say) in its per-thread arenas for reuse, so the resident size stays at the
// burst's peak although the memory is free; malloc_trim() returns the free pages. Plain
// functions, any thread; without glibc they report nothing and do nothing.
#pragma once

#include <cstddef>

namespace moat {

struct HeapUsage {
  size_t inUse = 0;     // bytes handed out by malloc
  size_t free = 0;      // bytes free in the allocator's arenas (resident or not)
  size_t resident = 0;  // the whole process's resident size (/proc/self/statm)
};

HeapUsage heapUsage();

// Trims when the arenas hold at least `minFree` free bytes and more free than in use (a burst
// has passed, not a working set that will be reused at once). Says whether it trimmed, with the
// usage before, and after when it did.
struct HeapTrim {
  bool trimmed = false;
  HeapUsage before;
  HeapUsage after;
};
HeapTrim trimHeapIfMostlyFree(size_t minFree);

}  // namespace moat
