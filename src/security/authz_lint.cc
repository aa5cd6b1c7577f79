#include "security/authz_lint.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace moat::security::authz {

namespace {

std::vector<std::string_view> levels(std::string_view filter) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t slash = filter.find('/', start);
    out.push_back(filter.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool hasPlaceholder(const Rule& r) {
  switch (r.placeholders) {
    case Placeholders::None:
      return false;
    case Placeholders::Mosquitto:
      return r.filter.find("%u") != std::string::npos || r.filter.find("%c") != std::string::npos;
    case Placeholders::Moat:
      return r.filter.find("${") != std::string::npos;
  }
  return false;
}

// Whether `a` and `b` apply to the same clients (a `pattern` without placeholders applies to
// everyone, so it also reaches the clients of a user section or the anonymous ones).
bool reaches(const Rule& deny, const Rule& allow) {
  if (deny.scope == Rule::Scope::Everyone) return true;
  return deny.scope == allow.scope && deny.user == allow.user && deny.role == allow.role;
}

std::string whom(const Rule& r) {
  switch (r.scope) {
    case Rule::Scope::Anonymous:
      return "anonymous clients";
    case Rule::Scope::User:
      return fmt::format("user {}", r.user);
    case Rule::Scope::Everyone:
      return "every client";
    case Rule::Scope::Role:
      return fmt::format("role {}", r.role);
  }
  return {};
}

}  // namespace

bool filterCovers(std::string_view outer, std::string_view inner) {
  const auto o = levels(outer);
  const auto i = levels(inner);
  // [MQTT-4.7.2-1] a wildcard at the first level does not match a $ topic.
  if (!i.empty() && !i[0].empty() && i[0][0] == '$' && (o[0] == "#" || o[0] == "+")) return false;
  for (size_t k = 0; k < o.size(); ++k) {
    if (o[k] == "#") return true;  // covers this level and everything below
    if (k >= i.size()) return false;
    if (i[k] == "#") return false;  // inner reaches deeper than a single level of outer
    if (o[k] == "+") continue;
    if (i[k] == "+" || o[k] != i[k]) return false;
  }
  return o.size() == i.size();
}

std::vector<LintFinding> lintRules(const std::vector<Rule>& rules,
                                   const std::vector<std::string>* knownUsers) {
  std::vector<LintFinding> out;
  std::set<std::string> reported;  // user sections already reported as unknown
  for (size_t a = 0; a < rules.size(); ++a) {
    const Rule& r = rules[a];
    if (r.placeholders == Placeholders::Mosquitto && !hasPlaceholder(r)) {
      out.push_back({r.where, fmt::format("\"{}\" has no %u or %c: it applies to every client "
                                          "alike, anonymous ones included; write a topic rule "
                                          "or add a placeholder",
                                          r.text)});
    }
    if (!r.deny && r.filter == "#") {
      out.push_back({r.where, fmt::format("\"{}\" grants every topic to {}", r.text, whom(r))});
    }
    if (knownUsers && r.scope == Rule::Scope::User && !reported.count(r.user) &&
        std::find(knownUsers->begin(), knownUsers->end(), r.user) == knownUsers->end()) {
      reported.insert(r.user);
      out.push_back({r.where, fmt::format("user {} is not in the password file: its rules "
                                          "apply to nobody who logs in by password",
                                          r.user)});
    }
    if (r.deny || hasPlaceholder(r)) continue;
    for (size_t b = 0; b < rules.size(); ++b) {
      const Rule& other = rules[b];
      if (b == a || hasPlaceholder(other)) continue;
      // A rule with a condition neither shadows nor is shadowed for sure.
      if (other.when || r.when) continue;
      if (other.deny && reaches(other, r) && (other.actions & r.actions) == r.actions &&
          filterCovers(other.filter, r.filter)) {
        out.push_back({r.where, fmt::format("\"{}\" grants nothing: {} ({}) denies all of it "
                                            "for {} (a deny wins)",
                                            r.text, other.where, other.text, whom(r))});
        break;
      }
      if (!other.deny && b < a && other.scope == r.scope && other.user == r.user &&
          other.role == r.role && other.maxQos >= r.maxQos &&
          (other.actions & r.actions) == r.actions && filterCovers(other.filter, r.filter)) {
        out.push_back({r.where, fmt::format("\"{}\" is redundant: {} ({}) already grants it",
                                            r.text, other.where, other.text)});
        break;
      }
    }
  }
  return out;
}

}  // namespace moat::security::authz
