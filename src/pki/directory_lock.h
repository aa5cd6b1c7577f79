// DirectoryLock: one writer at a time in a CA directory.
//
// Two `moat pki` commands (or `moat pki` and a broker creating its embedded identity) working
// on one directory at once could both read the index, each add a line, and lose one of them.
// An exclusive flock() on DIR/.lock, held for the life of this object, prevents that; the
// kernel drops it when the process dies, so a crash never leaves the directory locked.
#pragma once

#include <filesystem>

#include "base/result.h"

namespace moat::pki {

class DirectoryLock {
 public:
  // Takes the lock without waiting; an error names the directory when another process has it.
  [[nodiscard]] static Result<DirectoryLock> acquire(const std::filesystem::path& dir);

  DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirectoryLock& operator=(DirectoryLock&& other) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock();

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace moat::pki
