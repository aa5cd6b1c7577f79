#include "pki/directory_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace moat::pki {

Result<DirectoryLock> DirectoryLock::acquire(const std::filesystem::path& dir) {
  std::filesystem::path file = dir / ".lock";
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(0x80, fmt::format("{}: cannot open: {}", file.string(), std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return fail(0x80, fmt::format("{}: another moat process is working in this CA directory; "
                                    "try again when it is done",
                                    dir.string()));
    }
    return fail(0x80, fmt::format("{}: cannot lock: {}", file.string(), std::strerror(err)));
  }
  return DirectoryLock(fd);
}

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

}  // namespace moat::pki
