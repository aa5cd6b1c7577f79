// libFuzzer target for policy.toml: parsePolicyFile + Policy::fromRules on arbitrary text, then
// checks.
//
// Besides "no crash, no sanitizer report":
//   - a refusal names "fuzz:" (the file) and stays bounded;
//   - a parse that succeeds is deterministic, and compiles or fails naming the file and line;
//   - for a few fixed subjects (with a certificate, token roles and claims, an address, a user
//     name with '/') and topics made from the rules' own filters, every decision that names a
//     rule names one of the file's, and an allow names an allow rule.
//
// The seeds in corpus/policy_file are docs/authorization.md's RBAC and ABAC examples, the
// tenants of tests/integration/test_policy.py and a file with every kind of condition.
#include <cstdint>
#include <cstdio>
#include <array>
#include <cstdlib>
#include <string>
#include <string_view>

#include "security/authz_policy.h"
#include "security/authz_policy_file.h"

namespace {

namespace authz = moat::security::authz;

void require(bool ok, const char* what, std::string_view detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_policy_file: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

authz::Subject subject(std::string user, std::string clientId) {
  authz::Subject s;
  s.username = std::move(user);
  s.clientId = std::move(clientId);
  s.listener = "a";
  return s;
}

// A topic name `filter` matches: '+' becomes "x", '#' becomes "y", a placeholder "v".
std::string instance(std::string_view filter) {
  std::string out;
  for (size_t i = 0; i < filter.size(); ++i) {
    if (filter.substr(i, 2) == "${") {
      const size_t close = filter.find('}', i);
      if (close == std::string_view::npos) break;
      out += 'v';
      i = close;
    } else if (filter[i] == '+') {
      out += 'x';
    } else if (filter[i] == '#') {
      out += 'y';
    } else {
      out += filter[i];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto file = authz::parsePolicyFile(text, "fuzz");
  auto again = authz::parsePolicyFile(text, "fuzz");
  require(file.has_value() == again.has_value(), "parse is not deterministic");
  if (!file) {
    const std::string& message = file.error().message;
    require(message.starts_with("fuzz:") && message.size() <= 2000,
            "refusal without the file or unbounded:", message);
    require(message == again.error().message, "refusal is not deterministic");
    return 0;
  }
  require(file->rules.size() == again->rules.size(), "rules are not deterministic");
  const auto rules = file->rules;
  auto policy = authz::Policy::fromRules(std::move(file->rules), std::move(file->directory));
  if (!policy) {  // what only the engine checks (placeholders): still named by file and line
    require(policy.error().message.starts_with("fuzz:"), "a compile error without the file:",
            policy.error().message);
    return 0;
  }

  static const auto kSubjects = [] {
    authz::Subject a = subject("u", "c1");
    a.cert = {{"cn", {"v"}}, {"o", {"O"}}, {"ou", {"O", "r"}}};
    a.token = std::make_shared<authz::TokenClaims>(
        authz::TokenClaims{{"r", "sensor", "admin"}, "", {{"scope", {"w"}}}});
    a.address = moat::net::IpAddress::parse("10.1.2.3");
    authz::Subject b = subject("sensor-1", "s1");
    b.token = std::make_shared<authz::TokenClaims>(authz::TokenClaims{{}, "acme", {}});
    authz::Subject c = subject("a/b", "c+2");
    c.cert = {{"cn", {"x/#"}}};
    return std::array{a, b, c, subject("", "anon")};
  }();
  constexpr size_t kMaxRulesChecked = 16;
  for (const authz::Subject& who : kSubjects) {
    (void)policy->tenantOf(who);
    (void)policy->rolesOf(who);
    for (size_t i = 0; i < rules.size() && i < kMaxRulesChecked; ++i) {
      const std::string name = instance(rules[i].filter);
      for (auto action : {authz::Action::Publish, authz::Action::Receive, authz::Action::Retain}) {
        for (uint8_t qos = 0; qos < 3; ++qos) {
          const authz::Decision d = policy->check(who, action, name, qos);
          require(d.allowed == policy->allows(who, action, name, qos), "check and allows differ",
                  name);
          if (d.where.empty()) {
            require(!d.allowed, "allowed without a rule", name);
            continue;
          }
          bool found = false;
          for (const auto& r : rules) found = found || (r.where == d.where && r.deny != d.allowed);
          require(found, "a decision names no fitting rule of the file:", d.where);
        }
      }
      const authz::Decision sub = policy->checkSubscribe(who, rules[i].filter);
      require(!sub.allowed || sub.maxQos <= 2, "granted QoS above 2");
    }
  }
  return 0;
}
