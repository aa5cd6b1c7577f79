#include "net/server_name.h"

#include <fmt/format.h>

namespace moat::net {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

Result<std::string> normalizeServerName(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return fail(0x80, fmt::format("\"{}\" is not a server name: {}", name, why));
  };
  if (name.empty()) return fail(0x80, "a server name must not be empty");
  if (name.size() > 253) return bad("longer than 253 characters");
  std::string out;
  out.reserve(name.size());
  for (char c : name) out += lower(c);
  std::string_view rest = out;
  if (rest.starts_with("*.")) {
    rest.remove_prefix(2);
  } else if (rest.find('*') != std::string_view::npos) {
    return bad("'*' may only be the whole first label, as in \"*.example.com\"");
  }
  bool numeric = true;
  for (size_t start = 0; start <= rest.size();) {
    size_t end = rest.find('.', start);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view label = rest.substr(start, end - start);
    if (label.empty()) return bad("an empty label (two dots, or a dot at either end)");
    if (label.size() > 63) return bad("a label longer than 63 characters");
    for (char c : label) {
      if (c == '*') return bad("'*' may only be the whole first label, as in \"*.example.com\"");
      if (c == ' ' || c == '\t') return bad("it contains a space");
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) return bad(fmt::format("'{}' is not allowed (letters, digits, '-' and '.')", c));
      numeric = numeric && c >= '0' && c <= '9';
    }
    start = end + 1;
  }
  // SNI carries host names only; a client connecting to an address sends none (RFC 6066 3).
  if (numeric) return bad("an IP address is never sent as SNI");
  return out;
}

bool serverNameMatches(std::string_view pattern, std::string_view host) {
  if (!pattern.starts_with("*.")) return equalIgnoringCase(pattern, host);
  std::string_view suffix = pattern.substr(1);  // ".devices.example.com"
  if (host.size() <= suffix.size()) return false;
  std::string_view label = host.substr(0, host.size() - suffix.size());
  return label.find('.') == std::string_view::npos &&
         equalIgnoringCase(host.substr(label.size()), suffix);
}

}  // namespace moat::net
