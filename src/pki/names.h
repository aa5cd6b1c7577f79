// The names a `moat pki` CA accepts: device ids and server names (which become file names and,
// for devices, the MQTT identity through the certificate's CN) and subject alternative names.
// Checked before anything is generated, so a bad name costs nothing and leaves no files.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace moat::pki {

// The longest device id or server name: X.509's upper bound for a common name (RFC 5280,
// ub-common-name).
inline constexpr size_t kMaxNameLength = 64;

// A device id is used as a file name (DIR/clients/ID.crt) and, through the CN, as a username or
// client id; so no path separators or "..", no MQTT wildcards ('+', '#'), no control characters,
// not empty, not starting with '.', at most kMaxNameLength bytes.
[[nodiscard]] Result<void> checkDeviceId(std::string_view id);
// A server name is a file name (DIR/NAME.crt): the same rules, and not "ca" (DIR/ca.crt is the
// CA's own certificate).
[[nodiscard]] Result<void> checkServerName(std::string_view name);
// A DNS name for a SAN: labels of letters, digits, '-' and '_', separated by dots, optionally
// "*." first; at most 253 bytes.
bool isDnsName(std::string_view name);

struct SubjectAltName {
  enum class Type { Dns, Ip };
  Type type = Type::Dns;
  std::string value;  // the host name, or the address as inet_ntop() writes it

  std::string toString() const;  // "DNS:localhost", "IP:127.0.0.1"
};

// Parses "DNS:name" or "IP:address" (IPv4 or IPv6, e.g. "IP:::1").
[[nodiscard]] Result<SubjectAltName> parseSubjectAltName(std::string_view text);

}  // namespace moat::pki
