// fileSignature: what the broker's file watch compares to notice that a file it read (a
// certificate, a password file, JWT keys, an ACL file) has changed — its size and modification
// time, or "missing". Cheap enough to ask every couple of seconds. Plain functions: any thread.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace moat {

std::string fileSignature(const std::filesystem::path& file);
// The signatures of several files, with their names, in order.
std::string fileSignature(const std::vector<std::string>& files);

}  // namespace moat
