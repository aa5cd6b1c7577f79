// Micro-benchmarks of the authorization engine (security::authz::Policy): the per-delivery
// question "may this client receive this topic?" with Mosquitto-style rules (100 or 100,000 user
// sections) and with policy.toml roles and placeholders; and a SUBSCRIBE check. The cost should
// follow the topic's depth and the rules that match it, not the size of the policy.
#include <benchmark/benchmark.h>

#include <string>

#include "security/authz_policy.h"
#include "security/authz_policy_file.h"

namespace moat::security::authz {
namespace {

// `users` user sections, each reading its own devices/<i>/#, plus patterns for every client.
Policy aclPolicy(int users) {
  std::string text = "pattern read clients/%c/#\npattern write clients/%c/out\n";
  for (int i = 0; i < users; ++i) {
    text += "user u" + std::to_string(i) + "\ntopic read devices/" + std::to_string(i) +
            "/#\ntopic write devices/" + std::to_string(i) + "/up\n";
  }
  return std::move(*Policy::parseAclFile(text, "acl"));
}

Policy rolePolicy() {
  auto file = parsePolicyFile(R"(
[users.u42]
groups = ["meters"]
attributes = { site = "berlin" }
[groups.meters]
roles = ["meter"]
[authenticated]
roles = ["device"]
[[roles.meter.rules]]
allow = "read"
topic = "devices/${username}/#"
[[roles.meter.rules]]
allow = "read"
topic = "sites/${attr.site}/#"
[[roles.device.rules]]
deny = "all"
topic = "devices/+/secret"
)",
                              "policy.toml");
  return std::move(*Policy::fromRules(std::move(file->rules), std::move(file->directory)));
}

Subject subject() {
  Subject s;
  s.username = "u42";
  s.clientId = "c42";
  s.listener = "tls";
  return s;
}

void BM_AclReceive(benchmark::State& state) {
  const Policy p = aclPolicy(static_cast<int>(state.range(0)));
  const Subject who = subject();
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.allows(who, Action::Receive, "devices/42/telemetry/temperature"));
  }
}
BENCHMARK(BM_AclReceive)->Arg(100)->Arg(100'000);

void BM_RoleReceive(benchmark::State& state) {
  const Policy p = rolePolicy();
  const Subject who = subject();
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.allows(who, Action::Receive, "devices/u42/telemetry/temperature"));
  }
}
BENCHMARK(BM_RoleReceive);

void BM_AclSubscribe(benchmark::State& state) {
  const Policy p = aclPolicy(static_cast<int>(state.range(0)));
  const Subject who = subject();
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.checkSubscribe(who, "devices/42/+/temperature").allowed);
  }
}
BENCHMARK(BM_AclSubscribe)->Arg(100'000);

}  // namespace
}  // namespace moat::security::authz
