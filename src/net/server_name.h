// Server names as SNI (RFC 6066) carries them, for choosing a listener's certificate: the
// syntax a [[listener.tls.sni]] entry may use and how a client's name is matched against it.
//
// A pattern is a host name ("broker.example.com") or a wildcard of exactly one leading label
// ("*.devices.example.com" covers "a.devices.example.com", not "devices.example.com" nor
// "a.b.devices.example.com"). Comparison ignores case. Plain functions, any thread.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace moat::net {

// Checks a configured name and returns it in lower case. The error says what is wrong with it
// (no file or line: the caller knows where the name came from).
[[nodiscard]] Result<std::string> normalizeServerName(std::string_view name);

// Whether `pattern` (as normalizeServerName returns it) covers `host` (as a client sent it).
bool serverNameMatches(std::string_view pattern, std::string_view host);

}  // namespace moat::net
