// libFuzzer target for Mosquitto acl_files: Policy::parseAclFile on arbitrary text, then checks.
//
// Besides "no crash, no sanitizer report":
//   - a refusal names "fuzz:LINE: " and stays short (errors quote at most 64 bytes of a line);
//   - a parse that succeeds is deterministic: a second parse has as many rules and gives the
//     same decisions;
//   - for a few fixed subjects (a user, an anonymous client, a user name with '/', a client id
//     with '+') and topics made from the file's own filters (each wildcard made a word, %u and %c
//     the subject's values), every decision names a rule of the file when it names one, an allow
//     names an allow rule and comes with no deny having matched;
//   - the subscribe-coverage rule is monotone: when a filter is granted, a topic it matches is
//     granted for Subscribe too.
//
// The seeds in corpus/acl_file were written by hand: the seeds' example, a file of every kind of
// rule (the one probed against mosquitto 2.0.11 for docs/authorization.md), and near misses of
// each parse error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "security/authz_acl_file.h"
#include "security/authz_policy.h"

namespace {

namespace authz = moat::security::authz;

[[noreturn]] void die(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_acl_file: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void require(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) die(what, detail);
}

authz::Subject subject(std::string user, std::string clientId) {
  authz::Subject s;
  s.username = std::move(user);
  s.clientId = std::move(clientId);
  return s;
}

// A topic name `filter` matches: '+' becomes "x", '#' becomes "y" (or is dropped with its '/',
// since "a/#" matches "a"), %u and %c the subject's values when `pattern`.
std::string instance(std::string_view filter, const authz::Subject& who, bool pattern,
                     bool dropHash) {
  std::string out;
  for (size_t i = 0; i < filter.size(); ++i) {
    const char c = filter[i];
    if (pattern && c == '%' && i + 1 < filter.size() &&
        (filter[i + 1] == 'u' || filter[i + 1] == 'c')) {
      out += filter[i + 1] == 'u' ? who.username : who.clientId;
      ++i;
    } else if (c == '+') {
      out += 'x';
    } else if (c == '#') {
      if (dropHash && !out.empty() && out.back() == '/') {
        out.pop_back();
      } else {
        out += 'y';
      }
    } else {
      out += c;
    }
  }
  return out;
}

bool sameDecision(const authz::Decision& a, const authz::Decision& b) {
  return a.allowed == b.allowed && a.rule == b.rule && a.where == b.where && a.note == b.note;
}

void checkDecision(const authz::Decision& d, const std::vector<authz::Rule>& rules) {
  if (d.where.empty()) {
    require(!d.allowed, "allowed without a rule");
    require(d.rule.empty(), "a rule without a place");
    return;
  }
  for (const authz::Rule& r : rules) {
    if (r.where == d.where) {
      require(r.text == d.rule, "decision names the wrong rule text", d.rule);
      require(r.deny != d.allowed, "decision contradicts its rule", d.rule);
      return;
    }
  }
  die("decision names no rule of the file:", d.where);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto first = authz::Policy::parseAclFile(text, "fuzz");
  auto again = authz::Policy::parseAclFile(text, "fuzz");
  require(first.has_value() == again.has_value(), "parse is not deterministic");
  if (!first) {
    const std::string& message = first.error().message;
    require(message.starts_with("fuzz:") && message.size() <= 400,
            "refusal without source:line or unbounded:", message);
    require(message == again.error().message, "refusal is not deterministic");
    return 0;
  }
  require(first->ruleCount() == again->ruleCount(), "rule count is not deterministic");
  const auto rules = authz::parseAclRules(text, "fuzz");
  require(rules.has_value() && rules->size() == first->ruleCount(), "rules and policy disagree");

  static const authz::Subject kSubjects[] = {subject("alice", "c1"), subject("", "anon-1"),
                                             subject("a/b", "c2"), subject("bob", "id+1")};
  constexpr size_t kMaxRulesChecked = 16;
  for (const authz::Subject& who : kSubjects) {
    for (size_t i = 0; i < rules->size() && i < kMaxRulesChecked; ++i) {
      const authz::Rule& rule = (*rules)[i];
      // The filter itself, as a subscription.
      const authz::Decision sub = first->checkSubscribe(who, rule.filter);
      require(sameDecision(sub, again->checkSubscribe(who, rule.filter)),
              "checkSubscribe is not deterministic", rule.filter);
      checkDecision(sub, *rules);
      for (bool dropHash : {false, true}) {
        const std::string name = instance(rule.filter, who, rule.placeholders == authz::Placeholders::Mosquitto, dropHash);
        if (name.empty()) continue;
        for (auto action : {authz::Action::Publish, authz::Action::Receive, authz::Action::Retain,
                            authz::Action::Subscribe}) {
          const authz::Decision d = first->check(who, action, name);
          require(sameDecision(d, again->check(who, action, name)), "check is not deterministic",
                  name);
          checkDecision(d, *rules);
        }
        // The coverage rule: what a granted filter matches is granted too. (Not for a shared
        // subscription, checked as its inner filter, which dropping '#' can empty.)
        if (sub.allowed && rule.placeholders == authz::Placeholders::None && !rule.filter.starts_with("$share/")) {
          const authz::Decision one = first->checkSubscribe(who, name);
          require(one.allowed, "a granted filter matches a topic that is not granted:", name);
        }
      }
    }
  }
  return 0;
}
