// Mosquitto's acl_file: line by line into Rules. Mosquitto's own reader (security_default.c,
// aclfile__parse) strips trailing white space, skips lines whose first byte is '#', splits the
// keyword and the access word off at spaces and takes the rest of the line as the topic or the
// user name; this one does the same, with the differences listed in authz_acl_file.h.
#include "security/authz_acl_file.h"

#include <fmt/format.h>

#include <utility>

#include "mqtt/topic.h"
#include "security/username.h"

namespace moat::security::authz {

namespace {

constexpr uint8_t kUnspecified = 0x80;
constexpr size_t kShownBytes = 64;

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits the first word off `s` (already trimmed): {word, the rest trimmed}.
std::pair<std::string_view, std::string_view> firstWord(std::string_view s) {
  size_t end = 0;
  while (end < s.size() && !isBlank(s[end])) ++end;
  return {s.substr(0, end), trimBlanks(s.substr(end))};
}

// `s` quoted for an error message: control characters escaped, at most kShownBytes of it.
std::string shown(std::string_view s) {
  std::string out = "\"";
  size_t n = std::min(s.size(), kShownBytes);
  while (n > 0 && n < s.size() && (static_cast<uint8_t>(s[n]) & 0xC0) == 0x80) --n;  // whole chars
  for (char c : s.substr(0, n)) {
    const auto b = static_cast<uint8_t>(c);
    if (b < 0x20 || b == 0x7F) {
      out += fmt::format("\\x{:02x}", b);
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  out += n < s.size() ? "\"..." : "\"";
  return out;
}

struct Access {
  bool deny = false;
  ActionSet actions = 0;
};

bool parseAccess(std::string_view word, Access& access) {
  constexpr ActionSet kRead = actionBit(Action::Subscribe) | actionBit(Action::Receive);
  constexpr ActionSet kWrite = actionBit(Action::Publish) | actionBit(Action::Retain);
  if (word == "read") {
    access = {false, kRead};
  } else if (word == "write") {
    access = {false, kWrite};
  } else if (word == "readwrite") {
    access = {false, kAllActions};
  } else if (word == "deny") {
    access = {true, kAllActions};
  } else {
    return false;
  }
  return true;
}

}  // namespace

Result<std::vector<Rule>> parseAclRules(std::string_view text, std::string_view source) {
  std::vector<Rule> rules;
  bool inUserSection = false;
  std::string user;
  size_t number = 0;
  while (!text.empty()) {
    ++number;
    const size_t nl = text.find('\n');
    const std::string_view raw = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto error = [&](std::string_view what) {
      return fail(kUnspecified, fmt::format("{}:{}: {}", source, number, what));
    };

    const std::string_view line = trimBlanks(raw);
    if (line.empty() || line.front() == '#') continue;
    // [MQTT-1.5.4-1] [MQTT-1.5.4-2] topics and user names are UTF-8 without U+0000.
    if (!mqtt::isValidUtf8(line)) return error("not valid UTF-8 (or holds a NUL byte)");

    const auto [keyword, args] = firstWord(line);
    if (keyword == "user") {
      if (args.empty()) return error("\"user\" needs a name");
      if (auto ok = checkUsername(args); !ok) {
        return error(fmt::format(
            "user name {} cannot be used: {}{}", shown(args), ok.error().message,
            args.find('#') != std::string_view::npos ? " (a comment must be on a line of its own)"
                                                     : ""));
      }
      inUserSection = true;
      user = std::string(args);
      continue;
    }
    if (keyword != "topic" && keyword != "pattern") {
      return error(fmt::format("unknown keyword {} (topic, pattern or user)", shown(keyword)));
    }

    const bool pattern = keyword == "pattern";
    if (args.empty()) return error(fmt::format("\"{}\" needs a topic", keyword));
    auto [first, rest] = firstWord(args);
    Access access{false, kAllActions};  // no access word: readwrite
    std::string_view filter;
    if (rest.empty()) {
      // Mosquitto reads "topic read" as readwrite on the topic "read".
      if (Access ignored; parseAccess(first, ignored)) {
        return error(fmt::format(
            "\"{} {}\" needs a topic (Mosquitto would read \"{}\" as the topic, with readwrite "
            "access; write \"{} readwrite {}\" if that is meant)",
            keyword, first, first, keyword, first));
      }
      filter = first;
    } else {
      if (!parseAccess(first, access)) {
        return error(
            fmt::format("unknown access {} (read, write, readwrite or deny)", shown(first)));
      }
      filter = rest;
    }
    if (auto valid = mqtt::validateTopicFilter(filter); !valid) {
      return error(
          fmt::format("invalid topic filter {}: {}", shown(filter), valid.error().message));
    }

    Rule rule;
    if (pattern) {
      rule.scope = Rule::Scope::Everyone;
    } else if (inUserSection) {
      rule.scope = Rule::Scope::User;
      rule.user = user;
    } else {
      rule.scope = Rule::Scope::Anonymous;
    }
    rule.deny = access.deny;
    rule.actions = access.actions;
    rule.filter = std::string(filter);
    rule.placeholders = pattern ? Placeholders::Mosquitto : Placeholders::None;
    rule.text = std::string(line);
    rule.where = fmt::format("{}:{}", source, number);
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace moat::security::authz
