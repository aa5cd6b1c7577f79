// Topic names and filters (spec 4.7): validation, matching, shared-subscription syntax.
#pragma once

#include <optional>
#include <string_view>

#include "base/result.h"

namespace moat::mqtt {

// True if `s` is well-formed UTF-8 as MQTT requires (spec 1.5.4): no overlong forms, no
// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, and no U+0000.
bool isValidUtf8(std::string_view s);

// A topic name for PUBLISH: non-empty, valid UTF-8, at most 65535 bytes, no '+' or '#'.
// Fails with 0x90 Topic Name Invalid (0x81 for bad UTF-8).
[[nodiscard]] Result<void> validateTopicName(std::string_view name);

// A topic filter for SUBSCRIBE/UNSUBSCRIBE: non-empty, valid UTF-8; '+' occupies a whole level;
// '#' occupies a whole level and is the last one. A "$share/group/filter" is checked as a shared
// subscription: the group is non-empty without '+', '#' or '/', and the filter is present.
// Fails with 0x8F Topic Filter Invalid (0x81 for bad UTF-8).
[[nodiscard]] Result<void> validateTopicFilter(std::string_view filter);

// Whether `filter` (already valid, not shared) matches `name` (already valid). Filters starting
// with a wildcard do not match names starting with '$' [MQTT-4.7.2-1].
bool topicMatches(std::string_view filter, std::string_view name);

struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
// Splits "$share/group/filter"; nullopt when `filter` is not a shared subscription.
std::optional<SharedFilter> parseSharedFilter(std::string_view filter);

bool hasWildcard(std::string_view filter);

}  // namespace moat::mqtt
