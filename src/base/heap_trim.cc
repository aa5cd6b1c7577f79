#include "base/heap_trim.h"

#include <unistd.h>

#include <fstream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace moat {

HeapUsage heapUsage() {
  HeapUsage u;
#if defined(__GLIBC__)
  struct mallinfo2 info = mallinfo2();
  u.inUse = info.uordblks + info.hblkhd;  // small chunks, and large ones mmap()ed on their own
  u.free = info.fordblks;
#endif
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, pages = 0;
  if (statm >> size >> pages) u.resident = pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return u;
}

HeapTrim trimHeapIfMostlyFree(size_t minFree) {
  HeapTrim t;
  t.before = heapUsage();
#if defined(__GLIBC__)
  if (t.before.free < minFree || t.before.free <= t.before.inUse) return t;
  malloc_trim(0);
  t.trimmed = true;
  t.after = heapUsage();
#endif
  return t;
}

}  // namespace moat
