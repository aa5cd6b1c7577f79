// The broker's own TLS identity for the embedded default configuration (`moat serve` with no
// --config): a private CA and a server certificate from it, made on first run and re-used after.
//
// The CA's certificate is what a user gives their client (`--cafile DIR/ca.crt`); the CA key
// stays in DIR, so the same directory also works with `moat pki` (issue-client, revoke, ...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/result.h"

namespace moat::pki {

// How long the embedded server certificate lasts, and how close to its end it is replaced.
// 397 days is the longest validity browsers and most TLS stacks accept for a server.
inline constexpr int kServerCertificateDays = 397;
inline constexpr int kServerRenewalDays = 30;

struct ServerFiles {
  std::filesystem::path caCert;  // DIR/ca.crt
  std::filesystem::path cert;    // DIR/server.crt
  std::filesystem::path key;     // DIR/server.key (0600)
  std::string serial;            // of server.crt, upper-case hex
  int64_t notAfter = 0;          // of server.crt, seconds since the epoch
  bool createdCa = false;        // the CA was made by this call
  std::string issuedBecause;     // why server.crt was (re-)issued; empty when it was re-used
};

// Makes sure `dir` holds a CA and a current server certificate for localhost, `hostname`,
// 127.0.0.1 and ::1. The certificate on disk is re-used unless it is missing, unreadable, not
// from this CA, does not match its key, lacks one of those names, or expires within
// kServerRenewalDays; then a new one replaces it. A `hostname` that is not a DNS name is left
// out (the others still work).
[[nodiscard]] Result<ServerFiles> ensureServerIdentity(const std::filesystem::path& dir,
                                                       std::string_view hostname);

}  // namespace moat::pki
