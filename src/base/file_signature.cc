#include "base/file_signature.h"

#include <fmt/format.h>

namespace moat {

std::string fileSignature(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return "missing";
  auto mtime = std::filesystem::last_write_time(file, ec);
  if (ec) return "missing";
  return fmt::format("{}:{}", size, mtime.time_since_epoch().count());
}

std::string fileSignature(const std::vector<std::string>& files) {
  std::string sig;
  for (const auto& f : files) sig += fmt::format("{}={};", f, fileSignature(f));
  return sig;
}

}  // namespace moat
