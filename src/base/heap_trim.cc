#include "base/heap_trim.h"

#include <unistd.h>

#include <fstream>

#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 33)
#include <malloc.h>
#define MOAT_GLIBC_HEAP 1
#endif
#endif

namespace moat {

HeapUsage heapUsage() {
  HeapUsage u;
#if defined(MOAT_GLIBC_HEAP)
  struct mallinfo2 info = mallinfo2();
  u.inUse = info.uordblks + info.hblkhd;  // small chunks, and large ones mmap()ed on their own
  u.free = info.fordblks;
#endif
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, pages = 0;
  if (statm >> size >> pages) u.resident = pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return u;
}

HeapTrim HeapTrimmer::trimIfMostlyFree() {
  HeapTrim t;
  t.before = heapUsage();
#if defined(MOAT_GLIBC_HEAP)
  if (t.before.free < minFree_ || t.before.free <= t.before.inUse ||
      t.before.resident < residentAfterLastTrim_ + minFree_) {
    return t;
  }
  malloc_trim(0);
  t.trimmed = true;
  t.after = heapUsage();
  residentAfterLastTrim_ = t.after.resident;
#endif
  return t;
}

}  // namespace moat
