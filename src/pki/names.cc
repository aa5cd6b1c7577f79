#include "pki/names.h"

#include <arpa/inet.h>

#include <fmt/format.h>

namespace moat::pki {

namespace {

// What is shown of a refused name: control characters as \xNN, so the error stays one line.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Result<void> checkFileName(std::string_view what, std::string_view name) {
  auto bad = [&](std::string_view why) {
    return fail(0x80, fmt::format("{} \"{}\" {}", what, printable(name), why));
  };
  if (name.empty()) return fail(0x80, fmt::format("{} is empty", what));
  if (name.size() > kMaxNameLength) {
    return bad(fmt::format("is longer than {} bytes", kMaxNameLength));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
  }
  if (name.find('/') != std::string_view::npos || name.find('\\') != std::string_view::npos) {
    return bad("contains a path separator ('/' or '\\')");
  }
  if (name.find("..") != std::string_view::npos) return bad("contains \"..\"");
  if (name.front() == '.') return bad("starts with '.'");
  return {};
}

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

Result<void> checkDeviceId(std::string_view id) {
  MOAT_TRY(checkFileName("device id", id));
  // [MQTT-4.7.1-1] '+' and '#' are wildcards: as a username or client id mapped into ACL topic
  // patterns (%u, %c) they would widen a device's access.
  if (id.find_first_of("+#") != std::string_view::npos) {
    return fail(0x80, fmt::format("device id \"{}\" contains an MQTT wildcard ('+' or '#')", id));
  }
  return {};
}

Result<void> checkServerName(std::string_view name) {
  MOAT_TRY(checkFileName("server name", name));
  if (name == "ca") {
    return fail(0x80, "server name \"ca\" is taken: ca.crt and ca.key are the CA's own files");
  }
  return {};
}

bool isDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.ends_with('.')) name.remove_suffix(1);  // a fully qualified name
  while (true) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!isLabelChar(c)) return false;
    }
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

std::string SubjectAltName::toString() const {
  return fmt::format("{}:{}", type == Type::Dns ? "DNS" : "IP", value);
}

Result<SubjectAltName> parseSubjectAltName(std::string_view text) {
  if (text.starts_with("DNS:")) {
    std::string_view host = text.substr(4);
    if (!isDnsName(host)) {
      return fail(0x80, fmt::format("SAN \"{}\": \"{}\" is not a valid DNS name", printable(text),
                                    printable(host)));
    }
    return SubjectAltName{SubjectAltName::Type::Dns, std::string(host)};
  }
  if (text.starts_with("IP:")) {
    std::string address(text.substr(3));
    unsigned char buf[16];
    int family = AF_INET;
    if (inet_pton(AF_INET, address.c_str(), buf) != 1) {
      family = AF_INET6;
      if (inet_pton(AF_INET6, address.c_str(), buf) != 1) {
        return fail(0x80, fmt::format("SAN \"{}\": \"{}\" is not an IPv4 or IPv6 address",
                                      printable(text), printable(address)));
      }
    }
    // Kept in the form inet_ntop() writes, so that names compare equal however they were typed.
    char canonical[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, buf, canonical, sizeof canonical);
    return SubjectAltName{SubjectAltName::Type::Ip, canonical};
  }
  return fail(0x80, fmt::format("SAN \"{}\" must be DNS:<name> or IP:<address>", printable(text)));
}

}  // namespace moat::pki
