// Condition: what a policy.toml rule may require of the client besides its identity (attribute-
// based control, docs/authorization.md): the source address, the listener, fields of its
// certificate, claims of its token, its device attributes, the time of day. A rule with a
// condition applies only while every part of it holds; each part with several values holds when
// any of them does.
//
// A plain value type; holds() is a pure function of its arguments: any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/admission.h"

namespace moat::security::authz {

// Named values: certificate fields, token claims, device attributes. A name may have several
// values (an array claim, "tags = [...]").
using Fields = std::vector<std::pair<std::string, std::vector<std::string>>>;

// The values of `name` in `fields`; empty when it has none.
const std::vector<std::string>& valuesOf(const Fields& fields, std::string_view name);

struct TimeWindow {
  uint16_t startMinute = 0;  // minutes after 00:00 UTC
  uint16_t endMinute = 0;    // exclusive; below startMinute: the window spans midnight
  uint8_t days = 0x7F;       // bit 0 Sunday .. bit 6 Saturday (of the window's start)
};

// "08:00-18:00", days "mon".."sun"; errors say what is wrong.
[[nodiscard]] Result<TimeWindow> parseTimeWindow(std::string_view text,
                                                 const std::vector<std::string>& days);

struct Condition {
  std::vector<net::Cidr> addresses;    // the client's address is in one of them
  std::vector<std::string> listeners;  // it came in on one of them
  Fields cert;                         // "cn", "o", "ou": a certificate field has one value
  Fields claims;                       // a token claim has one of the values
  Fields attributes;                   // a device attribute (policy.toml users) has one
  std::optional<TimeWindow> time;      // now (UTC) is inside the window
  std::string text;                    // as written, for explanations
};

// What a condition is checked against.
struct ConditionFacts {
  const std::optional<net::IpAddress>& address;
  std::string_view listener;
  const Fields& cert;
  const Fields& claims;
  const Fields& attributes;
  std::chrono::system_clock::time_point now;
};

bool holds(const Condition& condition, const ConditionFacts& facts);

}  // namespace moat::security::authz
