// Whole-file reads and crash-safe whole-file writes: the CA directory (pki), password files
// (security), anything an operator's tools and a running broker share.
//
// A write goes to a temporary file beside the target (created 0600, then given its final mode),
// is flushed to disk, renamed over the target, and the directory is flushed too. A reader (say a
// broker watching ca.crl or a password file) therefore sees the old file or the new one, never
// half of one, and a private key is never readable by others, not even for a moment. Plain
// functions without shared state: any thread may call them.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "base/result.h"

namespace moat {

// Replaces `path` with `data`, with permission bits `mode` (e.g. 0600 for a key). The error
// names the file.
[[nodiscard]] Result<void> writeFileAtomically(const std::filesystem::path& path,
                                               std::string_view data, mode_t mode);

// The contents of `path`; the error names the file.
[[nodiscard]] Result<std::string> readWholeFile(const std::filesystem::path& path);

// Creates `dir` (and its parents) when missing; a directory created here is private (0700).
[[nodiscard]] Result<void> ensurePrivateDirectory(const std::filesystem::path& dir);

}  // namespace moat
