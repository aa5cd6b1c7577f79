// Topic names and filters. Matching walks filter and name together in one pass without
// allocating; it may run once per subscription candidate on every publish.
#include "mqtt/topic.h"

#include <cstdint>
#include <cstring>

#include "mqtt/reason_code.h"

namespace moat::mqtt {
namespace {

constexpr std::string_view kSharePrefix = "$share/";
constexpr size_t kMaxTopicBytes = 65535;  // [MQTT-4.7.3-3]

bool isContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// True if none of the 8 bytes of `w` is zero or has its top bit set.
bool allPrintableAscii(uint64_t w) {
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  const bool anyHigh = (w & kHigh) != 0;
  const bool anyZero = ((w - kOnes) & ~w & kHigh) != 0;
  return !anyHigh && !anyZero;
}

}  // namespace

bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // Topics and client ids are nearly always ASCII: skip 8 bytes at a time while they are.
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, sizeof w);
      if (allPrintableAscii(w)) {
        p += 8;
        continue;
      }
    }
    const uint8_t b = *p;
    if (b < 0x80) {
      // [MQTT-1.5.4-2] no U+0000
      if (b == 0) return false;
      ++p;
      continue;
    }
    // [MQTT-1.5.4-1] well-formed per RFC 3629: the second byte's range excludes overlong forms
    // (E0, F0), surrogates U+D800..U+DFFF (ED) and code points above U+10FFFF (F4).
    size_t extra;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      extra = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      extra = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      extra = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;  // a stray continuation byte, C0/C1 (overlong) or F5..FF
    }
    if (static_cast<size_t>(end - p) <= extra) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i <= extra; ++i) {
      if (!isContinuation(p[i])) return false;
    }
    p += extra + 1;
  }
  return true;
}

bool hasWildcard(std::string_view filter) {
  // Two memchr scans beat find_first_of's per-character set lookup on the PUBLISH path.
  return filter.find('+') != std::string_view::npos || filter.find('#') != std::string_view::npos;
}

Result<void> validateTopicName(std::string_view name) {
  // [MQTT-4.7.3-1] at least one character
  if (name.empty()) return fail(code(ReasonCode::TopicNameInvalid), "topic name is empty");
  // [MQTT-4.7.3-3] at most 65535 bytes
  if (name.size() > kMaxTopicBytes) {
    return fail(code(ReasonCode::TopicNameInvalid), "topic name is longer than 65535 bytes");
  }
  if (!isValidUtf8(name)) {
    return fail(code(ReasonCode::MalformedPacket), "topic name is not valid UTF-8");
  }
  // [MQTT-3.3.2-2] [MQTT-4.7.0-1] no wildcards in a topic name
  if (hasWildcard(name)) {
    return fail(code(ReasonCode::TopicNameInvalid), "topic name contains a wildcard");
  }
  return {};
}

namespace {

// Checks the wildcard placement of a (non-shared) filter that is already known to be non-empty
// valid UTF-8.
Result<void> validateFilterLevels(std::string_view filter) {
  size_t start = 0;
  while (true) {
    const size_t slash = filter.find('/', start);
    const size_t end = slash == std::string_view::npos ? filter.size() : slash;
    const std::string_view level = filter.substr(start, end - start);
    if (level.find('#') != std::string_view::npos) {
      // [MQTT-4.7.1-1] '#' is a whole level and the last one
      if (level.size() != 1 || end != filter.size()) {
        return fail(code(ReasonCode::TopicFilterInvalid),
                    "'#' must be the whole last level of a topic filter");
      }
    } else if (level.find('+') != std::string_view::npos && level.size() != 1) {
      // [MQTT-4.7.1-2] '+' occupies a whole level
      return fail(code(ReasonCode::TopicFilterInvalid), "'+' must be a whole topic level");
    }
    if (slash == std::string_view::npos) return {};
    start = slash + 1;
  }
}

}  // namespace

Result<void> validateTopicFilter(std::string_view filter) {
  // [MQTT-4.7.3-1] at least one character
  if (filter.empty()) return fail(code(ReasonCode::TopicFilterInvalid), "topic filter is empty");
  // [MQTT-4.7.3-3] at most 65535 bytes
  if (filter.size() > kMaxTopicBytes) {
    return fail(code(ReasonCode::TopicFilterInvalid), "topic filter is longer than 65535 bytes");
  }
  if (!isValidUtf8(filter)) {
    return fail(code(ReasonCode::MalformedPacket), "topic filter is not valid UTF-8");
  }
  if (auto shared = parseSharedFilter(filter)) {
    // [MQTT-4.8.2-1] a ShareName at least one character long
    if (shared->group.empty()) {
      return fail(code(ReasonCode::TopicFilterInvalid), "shared subscription has an empty group");
    }
    // [MQTT-4.8.2-2] no '/', '+' or '#' in the ShareName, which is followed by '/' and a filter
    if (shared->group.find_first_of("+#") != std::string_view::npos) {
      return fail(code(ReasonCode::TopicFilterInvalid),
                  "shared subscription group contains a wildcard");
    }
    if (shared->filter.empty()) {
      return fail(code(ReasonCode::TopicFilterInvalid),
                  "shared subscription has no topic filter after the group");
    }
    return validateFilterLevels(shared->filter);
  }
  return validateFilterLevels(filter);
}

bool topicMatches(std::string_view filter, std::string_view name) {
  // [MQTT-4.7.2-1] filters starting with a wildcard do not match names starting with '$'
  if (!name.empty() && name.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  // A name never holds a wildcard, so an equal filter is an exact subscription: the common case.
  if (filter == name) return true;
  // One pass over both strings. In a valid filter '+' and '#' are whole levels, so meeting one
  // means the name is at the start of a level too.
  size_t f = 0;
  size_t n = 0;
  while (f < filter.size()) {
    const char c = filter[f];
    if (c == '#') return true;  // the rest of the name, even nothing ("sport/#" ~ "sport")
    if (c == '+') {
      while (n < name.size() && name[n] != '/') ++n;  // one level, possibly empty
      ++f;
      continue;
    }
    if (n == name.size() || name[n] != c) {
      // The name ran out at a level boundary: only a trailing "/#" still matches.
      return n == name.size() && filter.substr(f) == "/#";
    }
    ++f;
    ++n;
  }
  return n == name.size();
}

std::optional<SharedFilter> parseSharedFilter(std::string_view filter) {
  if (!filter.starts_with(kSharePrefix)) return std::nullopt;
  const std::string_view rest = filter.substr(kSharePrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return SharedFilter{rest, {}};
  return SharedFilter{rest.substr(0, slash), rest.substr(slash + 1)};
}

}  // namespace moat::mqtt
