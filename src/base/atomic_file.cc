#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace moat {

namespace {

tl::unexpected<Error> ioError(const std::filesystem::path& path, std::string_view what, int err) {
  return fail(0x80, fmt::format("{}: {}: {}", path.string(), what, std::strerror(err)));
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Makes the rename itself durable: without it a crash can bring back the old directory entry.
void syncDirectory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

Result<void> writeFileAtomically(const std::filesystem::path& path, std::string_view data,
                                 mode_t mode) {
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::string temp = (dir / fmt::format(".{}.tmp-XXXXXX", path.filename().string())).string();
  // mkstemp creates the file 0600: a key is private from its first byte.
  int fd = ::mkstemp(temp.data());
  if (fd < 0) return ioError(path, "cannot create a temporary file beside it", errno);
  auto abandon = [&](std::string_view what) {
    int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return ioError(path, what, err);
  };
  if (::fchmod(fd, mode) != 0) return abandon("cannot set permissions");
  if (!writeAll(fd, data)) return abandon("cannot write");
  if (::fsync(fd) != 0) return abandon("cannot flush to disk");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return ioError(path, "cannot write", err);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return ioError(path, "cannot replace", err);
  }
  syncDirectory(dir);
  return {};
}

Result<std::string> readWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ioError(path, "cannot open", errno);
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return ioError(path, "cannot read", errno);
  return out.str();
}

Result<void> ensurePrivateDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return {};
  if (!dir.parent_path().empty()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) {
      return fail(0x80,
                  fmt::format("{}: cannot create: {}", dir.parent_path().string(), ec.message()));
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ioError(dir, "cannot create", errno);
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return fail(0x80, fmt::format("{}: not a directory", dir.string()));
  }
  return {};
}

}  // namespace moat
