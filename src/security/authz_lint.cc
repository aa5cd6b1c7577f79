#include "security/authz_lint.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

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
  // Rules are compared only with those that reach the same clients: the rules of the same user
  // (anonymous section, role), and the deny rules for every client. Grouped first, so a policy
  // of 10,000 users with 10 rules each costs 10,000 x 10 x 10 comparisons, not 100,000^2; a group
  // beyond kMaxGroup rules is not compared pairwise (it says so).
  constexpr size_t kMaxGroup = 2000;
  std::map<std::tuple<Rule::Scope, std::string_view, std::string_view>, std::vector<size_t>> groups;
  std::vector<size_t> everyoneDenies;
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (hasPlaceholder(r)) continue;
    groups[{r.scope, r.user, r.role}].push_back(i);
    if (r.deny && r.scope == Rule::Scope::Everyone) everyoneDenies.push_back(i);
  }
  for (const auto& [key, members] : groups) {
    if (members.size() > kMaxGroup) {
      out.push_back({rules[members.front()].where,
                     fmt::format("{} rules for {}: too many to compare for shadowed or redundant "
                                 "ones (at most {})",
                                 members.size(), whom(rules[members.front()]), kMaxGroup)});
    }
  }
  std::vector<size_t> candidates;
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
    const auto& group = groups[{r.scope, r.user, r.role}];
    if (group.size() > kMaxGroup) continue;
    candidates = group;
    if (r.scope != Rule::Scope::Everyone) {
      candidates.insert(candidates.end(), everyoneDenies.begin(), everyoneDenies.end());
      std::sort(candidates.begin(), candidates.end());
    }
    for (size_t b : candidates) {
      const Rule& other = rules[b];
      if (b == a) continue;
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
