// Internal to the authorization engine (authz_policy.cc): placeholders and their substitution.
// A level of a rule's filter that holds placeholders ("home/%u", "dev-${client_id}") is kept as
// pieces of text and variables; per check, each variable gets the subject's value (Var) with
// where it may be substituted, and the walks match a substituted level against a topic or a
// filter here. Topic levels are addressed by position: `pos` is where a level starts, kDone past
// the last one.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "security/authz_condition.h"
#include "security/authz_policy.h"

namespace moat::security::authz::detail {

constexpr size_t kDone = std::string_view::npos;  // a position past the topic's last level
constexpr uint8_t kUnspecified = 0x80;

// Placeholders, whatever their spelling, become variables: the first four fixed, then one per
// device attribute named in some rule.
constexpr uint16_t kVarUser = 0;
constexpr uint16_t kVarClient = 1;
constexpr uint16_t kVarCertCn = 2;
constexpr uint16_t kVarTenant = 3;
constexpr uint16_t kVarAttr0 = 4;
constexpr uint16_t kText = std::numeric_limits<uint16_t>::max();

// A piece of a template level: text, or a variable.
struct Piece {
  uint16_t var = kText;
  std::string text;
};

inline bool hasPlaceholder(std::string_view level, Placeholders syntax) {
  switch (syntax) {
    case Placeholders::None:
      return false;
    case Placeholders::Mosquitto:
      for (size_t i = 0; i + 1 < level.size(); ++i) {
        if (level[i] == '%' && (level[i + 1] == 'u' || level[i + 1] == 'c')) return true;
      }
      return false;
    case Placeholders::Moat:
      return level.find("${") != std::string_view::npos;
  }
  return false;
}

inline bool validAttributeName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
  });
}

// A level with placeholders as pieces. Mosquitto's scan: "%u" and "%c" are placeholders, any
// other '%' is itself. Moat's: "${NAME}", where an unknown NAME is an error. `attribute` interns
// an attribute name as a variable.
template <class InternAttribute>
Result<std::vector<Piece>> parsePieces(std::string_view level, Placeholders syntax,
                                       InternAttribute&& attribute) {
  std::vector<Piece> pieces;
  auto text = [&](std::string_view t) {
    if (t.empty()) return;
    if (!pieces.empty() && pieces.back().var == kText) {
      pieces.back().text += t;
    } else {
      pieces.push_back(Piece{kText, std::string(t)});
    }
  };
  size_t start = 0;
  if (syntax == Placeholders::Mosquitto) {
    for (size_t i = 0; i + 1 < level.size(); ++i) {
      if (level[i] == '%' && (level[i + 1] == 'u' || level[i + 1] == 'c')) {
        text(level.substr(start, i - start));
        pieces.push_back(Piece{level[i + 1] == 'u' ? kVarUser : kVarClient, {}});
        start = i + 2;
        ++i;
      }
    }
  } else {
    for (size_t open; (open = level.find("${", start)) != std::string_view::npos;) {
      const size_t close = level.find('}', open);
      if (close == std::string_view::npos) {
        return fail(kUnspecified, fmt::format("\"{}\": a placeholder without its '}}'", level));
      }
      text(level.substr(start, open - start));
      const std::string_view name = level.substr(open + 2, close - open - 2);
      uint16_t var;
      if (name == "username") {
        var = kVarUser;
      } else if (name == "client_id") {
        var = kVarClient;
      } else if (name == "cert.cn") {
        var = kVarCertCn;
      } else if (name == "tenant") {
        var = kVarTenant;
      } else if (name.starts_with("attr.") && validAttributeName(name.substr(5))) {
        var = attribute(name.substr(5));
      } else {
        return fail(kUnspecified,
                    fmt::format("unknown placeholder ${{{}}} (${{username}}, ${{client_id}}, "
                                "${{cert.cn}}, ${{tenant}} or ${{attr.NAME}})",
                                name));
      }
      pieces.push_back(Piece{var, {}});
      start = close + 1;
    }
  }
  text(level.substr(start));
  return pieces;
}

inline bool hasWildcard(std::string_view value) {
  return value.find_first_of("+#") != std::string_view::npos;
}

// A level that holds placeholders, as written and as pieces.
struct TemplateLevel {
  std::string text;
  Placeholders syntax = Placeholders::None;
  std::vector<Piece> pieces;
  std::vector<uint16_t> vars;  // the variables it needs
};

// The value of a variable for one subject, and where it may be substituted. A value with '/'
// spans levels: substituted into an allow rule it could land in another client's part of the
// tree ("home/%u/#" for user "a/b" is inside user "a"'s "home/a/#"), so it is substituted into
// deny rules only, which it can only narrow. A value with '+' or '#' is never substituted, and
// a deny rule that needs it denies everything (`unsafe`). A value that is absent (no user name,
// no certificate, no such attribute) makes the rules that need it not apply -- except the
// client id, which is always there: an empty one is unsafe, as in Mosquitto.
struct Var {
  std::string_view value;
  bool forDeny = false;
  bool forAllow = false;
  bool unsafe = false;

  static Var of(std::string_view value) {
    Var v;
    v.value = value;
    v.forDeny = !value.empty() && !hasWildcard(value);
    v.forAllow = v.forDeny && value.find('/') == std::string_view::npos;
    v.unsafe = !value.empty() && !v.forDeny;
    return v;
  }
};

enum class Use : uint8_t { None, DenyOnly, Any };

inline const Fields kNoFields;

// What a check needs to know about the subject, worked out once per check (Compiled::who).
struct Who {
  explicit Who(const Subject& s) : subject(s) {}
  const Subject& subject;
  const Fields* attributes = &kNoFields;  // the device attributes policy.toml gives the user
  boost::container::small_vector<Var, 8> vars;
  // The tries of rules that apply, besides the patterns: the user's or the anonymous ones, then
  // those of its roles.
  boost::container::small_vector<uint32_t, 8> roots;
  bool patternsMayAllow = true;  // Mosquitto: not for a user name or client id with '+' or '#'
  mutable bool timeDependent = false;  // a condition with a time window was evaluated

  const Var& var(uint16_t v) const { return vars[v]; }
  bool hasRoot(uint32_t root) const {
    return std::find(roots.begin(), roots.end(), root) != roots.end();
  }
  void addRoot(uint32_t root) {
    if (!hasRoot(root)) roots.push_back(root);
  }
  bool holds(const Condition& c) const {
    timeDependent = timeDependent || c.time.has_value();
    if (!now) now = std::chrono::system_clock::now();
    return authz::holds(c, ConditionFacts{subject.address, subject.listener, subject.cert,
                                          subject.claims(), *attributes, *now});
  }

 private:
  mutable std::optional<std::chrono::system_clock::time_point> now;
};

// Whether a template level may be substituted for `who`, and for which rules.
inline Use templateUse(const TemplateLevel& t, const Who& who) {
  Use use = Use::Any;
  for (uint16_t v : t.vars) {
    const Var& var = who.var(v);
    if (!var.forDeny) return Use::None;
    if (!var.forAllow) use = Use::DenyOnly;
  }
  return use;
}

// The first character of `t` substituted for `who` (templateUse not None).
inline char firstSubstitutedChar(const TemplateLevel& t, const Who& who) {
  const Piece& p = t.pieces.front();
  return p.var == kText ? p.text.front() : who.var(p.var).value.front();
}

inline std::string substitute(const TemplateLevel& t, const Who& who) {
  std::string out;
  for (const Piece& p : t.pieces)
    out += p.var == kText ? std::string_view(p.text) : who.var(p.var).value;
  return out;
}

constexpr size_t kNoMatch = std::string_view::npos - 1;

// Whether `t` substituted for `who` (templateUse not None) matches `topic` from `pos` (the start
// of a level) to the end of a level; then where the next level starts (kDone: none left), else
// kNoMatch. A value with '/' makes the substitution span levels.
inline size_t matchTemplateAt(const TemplateLevel& t, std::string_view topic, size_t pos,
                              const Who& who) {
  for (const Piece& p : t.pieces) {
    const std::string_view piece = p.var == kText ? std::string_view(p.text) : who.var(p.var).value;
    if (topic.substr(pos, piece.size()) != piece) return kNoMatch;
    pos += piece.size();
  }
  if (pos == topic.size()) return kDone;
  return topic[pos] == '/' ? pos + 1 : kNoMatch;
}

// The level of `topic` that starts at `pos` (not kDone), and where the next one starts.
inline std::pair<std::string_view, size_t> levelAt(std::string_view topic, size_t pos) {
  const size_t slash = topic.find('/', pos);
  if (slash == std::string_view::npos) return {topic.substr(pos), kDone};
  return {topic.substr(pos, slash - pos), slash + 1};
}

// How a substituted template `value` (no wildcards; it spans levels when it holds '/') overlaps
// `filter` from `pos`, the start of a level: not at all, in everything below (the filter's '#'),
// or level by level up to where the filter's next level starts.
struct FilterOverlap {
  enum Kind : uint8_t { None, Everything, Continue } kind = None;
  size_t next = kDone;
};
inline FilterOverlap overlapAt(std::string_view value, std::string_view filter, size_t pos) {
  for (size_t v = 0; v != kDone;) {
    if (pos == kDone) return {};  // the filter ends where the value goes on
    const auto [valueLevel, valueNext] = levelAt(value, v);
    const auto [filterLevel, filterNext] = levelAt(filter, pos);
    if (filterLevel == "#") return {FilterOverlap::Everything};
    if (filterLevel != "+" && filterLevel != valueLevel) return {};
    v = valueNext;
    pos = filterNext;
  }
  return {FilterOverlap::Continue, pos};
}

}  // namespace moat::security::authz::detail
