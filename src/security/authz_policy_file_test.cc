// policy.toml: roles, groups, placeholders, limits, conditions, roles and tenants from tokens and
// certificates, and the errors a broken file gets. The seeds' RBAC and ABAC examples are here as
// policies; tests/integration/test_policy.py runs them with outside clients.
#include "security/authz_policy_file.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace moat::security::authz {
namespace {

Policy policyOf(std::string_view text) {
  auto file = parsePolicyFile(text, "policy.toml");
  EXPECT_TRUE(file.has_value()) << file.error().message;
  if (!file) return Policy();
  auto policy = Policy::fromRules(std::move(file->rules), std::move(file->directory));
  EXPECT_TRUE(policy.has_value()) << policy.error().message;
  return policy ? std::move(*policy) : Policy();
}

std::string errorOf(std::string_view text) {
  auto file = parsePolicyFile(text, "policy.toml");
  if (!file) return file.error().message;
  auto policy = Policy::fromRules(std::move(file->rules), std::move(file->directory));
  return policy ? std::string("(no error)") : policy.error().message;
}

Subject user(std::string name, std::string clientId = "c1") {
  Subject s;
  s.username = std::move(name);
  s.clientId = std::move(clientId);
  s.listener = "tls";
  return s;
}

// The seeds' RBAC example: sensors publish data, controllers send commands, admins do both.
constexpr std::string_view kRbac = R"(
[users.sensor-1]
groups = ["sensors"]
[users.ctl-1]
groups = ["controllers"]
[users.root]
roles = ["admin"]

[groups.sensors]
roles = ["sensor"]
[groups.controllers]
roles = ["controller"]

[[roles.sensor.rules]]
allow = "publish"
topic = "data/${username}/#"
max_qos = 1
[[roles.sensor.rules]]
allow = "read"
topic = "commands/${username}"

[[roles.controller.rules]]
allow = ["publish", "retain"]
topic = "commands/+"
[[roles.controller.rules]]
allow = "read"
topic = "data/#"

[roles.admin]
rules = [{ allow = "all", topic = "data/#" }, { allow = "all", topic = "commands/#" }]
)";

TEST(PolicyFile, RbacSensorsPublishDataControllersSendCommandsAdminsBoth) {
  const Policy p = policyOf(kRbac);
  const Subject sensor = user("sensor-1"), ctl = user("ctl-1"), root = user("root");
  EXPECT_TRUE(p.check(sensor, Action::Publish, "data/sensor-1/temp").allowed);
  EXPECT_FALSE(p.check(sensor, Action::Publish, "data/sensor-2/temp").allowed);
  EXPECT_FALSE(p.check(sensor, Action::Publish, "commands/sensor-1").allowed);
  EXPECT_TRUE(p.checkSubscribe(sensor, "commands/sensor-1").allowed);
  EXPECT_FALSE(p.checkSubscribe(sensor, "commands/+").allowed);
  EXPECT_FALSE(p.checkSubscribe(sensor, "data/#").allowed);

  EXPECT_TRUE(p.check(ctl, Action::Publish, "commands/sensor-1").allowed);
  EXPECT_TRUE(p.check(ctl, Action::Retain, "commands/sensor-1").allowed);
  EXPECT_FALSE(p.check(ctl, Action::Publish, "data/sensor-1/temp").allowed);
  EXPECT_TRUE(p.checkSubscribe(ctl, "data/#").allowed);
  EXPECT_TRUE(p.check(ctl, Action::Receive, "data/x/y").allowed);

  for (const char* topic : {"data/a", "commands/a"}) {
    EXPECT_TRUE(p.check(root, Action::Publish, topic).allowed) << topic;
    EXPECT_TRUE(p.check(root, Action::Receive, topic).allowed) << topic;
  }
  EXPECT_FALSE(p.checkSubscribe(root, "#").allowed);  // data/# + commands/# do not cover #
  EXPECT_FALSE(p.check(user("stranger"), Action::Publish, "data/stranger/x").allowed);
  EXPECT_FALSE(p.check(Subject{}, Action::Publish, "data/x").allowed);
}

TEST(PolicyFile, ExplainsWithRoleFileAndLine) {
  const Policy p = policyOf(kRbac);
  auto d = p.check(user("sensor-1"), Action::Publish, "data/sensor-1/t");
  EXPECT_EQ(d.explain(),
            "allowed by policy.toml:14 (role sensor: allow publish data/${username}/# max_qos 1)");
  EXPECT_EQ(p.rolesOf(user("sensor-1")), std::vector<std::string>{"sensor"});
}

TEST(PolicyFile, MaxQosLimitsPublishAndCapsSubscribe) {
  const Policy p = policyOf(kRbac);
  const Subject sensor = user("sensor-1");
  EXPECT_TRUE(p.check(sensor, Action::Publish, "data/sensor-1/t", 1).allowed);
  auto d = p.check(sensor, Action::Publish, "data/sensor-1/t", 2);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.note.find("only up to QoS 1"), std::string::npos) << d.explain();
  EXPECT_FALSE(p.allows(sensor, Action::Publish, "data/sensor-1/t", 2));

  const Policy q = policyOf(R"(
[authenticated]
roles = ["r"]
[[roles.r.rules]]
allow = "read"
topic = "a/#"
max_qos = 0
[[roles.r.rules]]
allow = "read"
topic = "a/b/#"
max_qos = 1
)");
  EXPECT_EQ(q.checkSubscribe(user("x"), "a/#").maxQos, 0);
  EXPECT_EQ(q.checkSubscribe(user("x"), "a/b/c").maxQos, 1);  // the most any rule grants
}

TEST(PolicyFile, DenyInARoleWinsOverAnotherRolesAllow) {
  const Policy p = policyOf(R"(
[users.u]
roles = ["wide", "fence"]
[[roles.wide.rules]]
allow = "all"
topic = "plant/#"
[[roles.fence.rules]]
deny = ["publish", "read"]
topic = "plant/safety/#"
)");
  EXPECT_TRUE(p.check(user("u"), Action::Publish, "plant/line1").allowed);
  auto d = p.check(user("u"), Action::Publish, "plant/safety/stop");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "role fence: deny publish,read plant/safety/#");
  EXPECT_FALSE(p.checkSubscribe(user("u"), "plant/#").allowed);  // overlaps the deny: no
  EXPECT_TRUE(p.checkSubscribe(user("u"), "plant/line1/#").allowed);
}

TEST(PolicyFile, PlaceholdersForCertificateTenantAndAttributes) {
  const Policy p = policyOf(R"(
[users.m1]
attributes = { site = "berlin", tags = ["a", "b"] }
[authenticated]
roles = ["dev"]
[[roles.dev.rules]]
allow = "publish"
topics = ["cn/${cert.cn}", "t/${tenant}/x", "site/${attr.site}/#", "tag/${attr.tags}"]
)");
  Subject s = user("m1");
  s.cert = {{"cn", {"meter-7"}}};
  s.token = std::make_shared<TokenClaims>(TokenClaims{{}, "acme", {}});
  EXPECT_TRUE(p.check(s, Action::Publish, "cn/meter-7").allowed);
  EXPECT_FALSE(p.check(s, Action::Publish, "cn/meter-8").allowed);
  EXPECT_TRUE(p.check(s, Action::Publish, "t/acme/x").allowed);
  EXPECT_TRUE(p.check(s, Action::Publish, "site/berlin/1").allowed);
  EXPECT_FALSE(p.check(s, Action::Publish, "tag/a").allowed);  // several values: not one level
  Subject none = user("m2");  // no certificate, tenant or attributes: those rules do not apply
  EXPECT_FALSE(p.check(none, Action::Publish, "cn/").allowed);
  EXPECT_FALSE(p.check(none, Action::Publish, "site//1").allowed);
}

TEST(PolicyFile, UnsafeValuesGrantNothingAndDenyEverything) {
  const Policy p = policyOf(R"(
[authenticated]
roles = ["dev"]
[[roles.dev.rules]]
allow = "all"
topic = "#"
[[roles.dev.rules]]
deny = "publish"
topic = "locked/${cert.cn}"
[[roles.dev.rules]]
allow = "publish"
topic = "own/${cert.cn}/#"
)");
  Subject s = user("u");
  s.cert = {{"cn", {"evil/#"}}};
  auto d = p.check(s, Action::Publish, "anything");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.note.find("${cert.cn} cannot be substituted"), std::string::npos) << d.explain();
  Subject slash = user("u");
  slash.cert = {{"cn", {"a/b"}}};
  EXPECT_FALSE(p.check(slash, Action::Publish, "locked/a/b").allowed);  // deny: substituted
  EXPECT_TRUE(p.check(slash, Action::Publish, "own/a/b/x").allowed);    // via "#" only
}

// The seeds' ABAC example: only devices tagged FactoryFloor publish to factory/#.
constexpr std::string_view kAbac = R"(
[users.press-1]
attributes = { location = "FactoryFloor" }
[users.office-1]
attributes = { location = "Office" }
[authenticated]
roles = ["device"]
[[roles.device.rules]]
allow = "publish"
topic = "factory/#"
when = { attr.location = "FactoryFloor" }
)";

TEST(PolicyFile, AbacOnlyDevicesTaggedFactoryFloorPublishToFactory) {
  const Policy p = policyOf(kAbac);
  EXPECT_TRUE(p.check(user("press-1"), Action::Publish, "factory/line1/press").allowed);
  auto d = p.check(user("office-1"), Action::Publish, "factory/line1/press");
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(p.check(user("unknown"), Action::Publish, "factory/x").allowed);
}

TEST(PolicyFile, ConditionsOnAddressListenerCertificateClaimAndTime) {
  const Policy p = policyOf(R"(
[authenticated]
roles = ["r"]
[[roles.r.rules]]
allow = "publish"
topic = "net"
when = { address = ["10.0.0.0/8", "::1"] }
[[roles.r.rules]]
allow = "publish"
topic = "lst"
when = { listener = "mtls" }
[[roles.r.rules]]
allow = "publish"
topic = "ou"
when = { cert.ou = ["Meters", "Pumps"] }
[[roles.r.rules]]
allow = "publish"
topic = "claim"
when = { claim.scope = "write" }
[[roles.r.rules]]
allow = "publish"
topic = "always"
when = { time = "00:00-24:00" }
[[roles.r.rules]]
allow = "publish"
topic = "never"
when = { time = "10:00-10:01", days = ["mon"] }
[[roles.r.rules]]
deny = "publish"
topic = "lst"
when = { address = "10.9.9.9" }
)");
  Subject s = user("u");
  EXPECT_FALSE(p.check(s, Action::Publish, "net").allowed);
  s.address = net::IpAddress::parse("10.1.2.3");
  EXPECT_TRUE(p.check(s, Action::Publish, "net").allowed);
  s.address = net::IpAddress::parse("192.0.2.1");
  EXPECT_FALSE(p.check(s, Action::Publish, "net").allowed);
  EXPECT_FALSE(p.check(s, Action::Publish, "lst").allowed);
  s.listener = "mtls";
  EXPECT_TRUE(p.check(s, Action::Publish, "lst").allowed);
  s.address = net::IpAddress::parse("10.9.9.9");
  EXPECT_FALSE(p.check(s, Action::Publish, "lst").allowed);  // a conditional deny
  EXPECT_FALSE(p.check(s, Action::Publish, "ou").allowed);
  s.cert = {{"cn", {"x"}}, {"ou", {"Lab", "Pumps"}}};
  EXPECT_TRUE(p.check(s, Action::Publish, "ou").allowed);
  EXPECT_FALSE(p.check(s, Action::Publish, "claim").allowed);
  s.token = std::make_shared<TokenClaims>(TokenClaims{{}, "", {{"scope", {"read", "write"}}}});
  EXPECT_TRUE(p.check(s, Action::Publish, "claim").allowed);
  EXPECT_TRUE(p.check(s, Action::Publish, "always").allowed);
}

TEST(PolicyFile, AnswersThatDependOnTheTimeAreNotCacheable) {
  const Policy p = policyOf(R"(
[authenticated]
roles = ["r"]
[[roles.r.rules]]
allow = "read"
topic = "day/#"
when = { time = "00:00-24:00" }
[[roles.r.rules]]
allow = "read"
topic = "any/#"
when = { listener = "tls" }
)");
  bool cacheable = true;
  EXPECT_TRUE(p.allows(user("u"), Action::Receive, "day/1", 0, &cacheable));
  EXPECT_FALSE(cacheable);
  EXPECT_TRUE(p.allows(user("u"), Action::Receive, "any/1", 0, &cacheable));
  EXPECT_TRUE(cacheable);
  EXPECT_FALSE(p.allows(user("u"), Action::Receive, "none", 0, &cacheable));
  EXPECT_TRUE(cacheable);
}

TEST(PolicyFile, TimeWindows) {
  using namespace std::chrono;
  auto at = [](int day, int hour, int minute) {  // 2026-11-22 is a Sunday
    return sys_days(year(2026) / 11 / (22 + day)) + hours(hour) + minutes(minute);
  };
  auto inside = [&](std::string_view window, std::vector<std::string> days, sys_time<minutes> t) {
    auto w = parseTimeWindow(window, days);
    EXPECT_TRUE(w.has_value());
    Condition c;
    c.time = *w;
    const std::optional<net::IpAddress> none;
    const Fields empty;
    return holds(c, ConditionFacts{none, "", empty, empty, empty, t});
  };
  EXPECT_TRUE(inside("08:00-18:00", {}, at(0, 8, 0)));
  EXPECT_FALSE(inside("08:00-18:00", {}, at(0, 18, 0)));
  EXPECT_TRUE(inside("22:00-06:00", {}, at(0, 23, 30)));
  EXPECT_TRUE(inside("22:00-06:00", {}, at(1, 5, 59)));
  EXPECT_FALSE(inside("22:00-06:00", {}, at(1, 6, 0)));
  EXPECT_TRUE(inside("08:00-18:00", {"mon", "tue"}, at(1, 9, 0)));   // Monday
  EXPECT_FALSE(inside("08:00-18:00", {"mon", "tue"}, at(0, 9, 0)));  // Sunday
  EXPECT_TRUE(inside("22:00-06:00", {"sun"}, at(1, 1, 0)));          // Sunday's night, on Monday
  EXPECT_FALSE(inside("22:00-06:00", {"mon"}, at(1, 1, 0)));
  EXPECT_FALSE(parseTimeWindow("8:00-18:00", {}).has_value());
  EXPECT_FALSE(parseTimeWindow("08:00-08:00", {}).has_value());
  EXPECT_FALSE(parseTimeWindow("08:00-18:00", {"monday"}).has_value());
}

TEST(PolicyFile, RolesFromTokensAndCertificates) {
  const Policy p = policyOf(R"(
[certificates]
roles_from = ["ou"]
[[roles.meter.rules]]
allow = "publish"
topic = "meters/#"
[[roles.ops.rules]]
allow = "read"
topic = "meters/#"
)");
  Subject s = user("u");
  EXPECT_FALSE(p.check(s, Action::Publish, "meters/1").allowed);
  s.cert = {{"ou", {"meter"}}};
  EXPECT_TRUE(p.check(s, Action::Publish, "meters/1").allowed);
  Subject t = user("v");
  t.token = std::make_shared<TokenClaims>(TokenClaims{{"ops", "undefined-role"}, "", {}});
  EXPECT_TRUE(p.checkSubscribe(t, "meters/#").allowed);
  EXPECT_FALSE(p.check(t, Action::Publish, "meters/1").allowed);
  EXPECT_EQ(p.rolesOf(t), (std::vector<std::string>{"ops", "undefined-role"}));
}

TEST(PolicyFile, TenantsFromEachSourceAndConflicts) {
  const Policy p = policyOf(R"(
[users.a]
tenant = "acme"
[certificates]
tenant_from = "o"
[tenants.acme]
mount = "t/acme/"
)");
  auto t = p.tenantOf(user("a"));
  ASSERT_TRUE(t.has_value());
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->name, "acme");
  EXPECT_EQ((*t)->mount, "t/acme/");
  Subject token = user("b");
  token.token = std::make_shared<TokenClaims>(TokenClaims{{}, "globex", {}});
  EXPECT_EQ((*p.tenantOf(token))->mount, "tenants/globex/");
  Subject cert = user("c");
  cert.cert = {{"o", {"initech"}}};
  EXPECT_EQ((*p.tenantOf(cert))->name, "initech");
  EXPECT_FALSE(p.tenantOf(user("d"))->has_value());
  Subject conflict = user("a");
  conflict.token = std::make_shared<TokenClaims>(TokenClaims{{}, "globex", {}});
  auto bad = p.tenantOf(conflict);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message,
            "the policy file names tenant \"acme\" but the token names \"globex\"");
  Subject invalid = user("e");
  invalid.cert = {{"o", {"$SYS"}}};
  EXPECT_FALSE(p.tenantOf(invalid).has_value());
}

TEST(PolicyFile, ErrorsNameTheLine) {
  EXPECT_EQ(errorOf("[users.u]\nroles = [\"nope\"]\n"),
            "policy.toml:1: role \"nope\" is not defined (a [roles.nope] table)");
  EXPECT_EQ(errorOf("[users.u]\ngroups = [\"g\"]\n"),
            "policy.toml:1: group \"g\" is not defined (a [groups.g] table)");
  EXPECT_EQ(errorOf("[[roles.r.rules]]\nallow = \"write-ish\"\ntopic = \"a\"\n"),
            "policy.toml:1: unknown action \"write-ish\" (publish, subscribe, receive, retain, "
            "read, write or all)");
  EXPECT_EQ(errorOf("[[roles.r.rules]]\nallow = \"publish\"\ndeny = \"publish\"\ntopic = \"a\"\n"),
            "policy.toml:1: a rule in roles.r.rules needs either allow = [...] or deny = [...]");
  EXPECT_EQ(errorOf("[[roles.r.rules]]\nallow = \"publish\"\ntopic = \"a/${user}\"\n"),
            "policy.toml:1: unknown placeholder ${user} (${username}, ${client_id}, ${cert.cn}, "
            "${tenant} or ${attr.NAME})");
  EXPECT_EQ(errorOf("[[roles.r.rules]]\nallow = \"publish\"\ntopic = \"a/#/b\"\n"),
            "policy.toml:1: topic \"a/#/b\": '#' must be the whole last level of a topic filter");
  EXPECT_EQ(errorOf("[[roles.r.rules]]\nallow = \"publish\"\ntopic = \"a\"\nwhen = { tim = "
                    "\"08:00-18:00\" }\n"),
            "policy.toml:4: unknown key 'tim' in [roles.r.rules.when]");
  EXPECT_EQ(errorOf("[[roles.r.rules]]\nallow = \"publish\"\ntopic = \"a\"\nwhen = { address = "
                    "\"10.0.0.0/33\" }\n")
                .substr(0, 43),
            "policy.toml:4: when.address \"10.0.0.0/33\": ");
  EXPECT_EQ(errorOf("[tenants.a]\nmount = \"x/\"\n[tenants.b]\nmount = \"x/b/\"\n"),
            "policy.toml:3: mount \"x/b/\" lies inside mount \"x/\": tenants would see each other");
  EXPECT_EQ(errorOf("[tenants.a]\nmount = \"x\"\n"),
            "policy.toml:1: tenants.a.mount \"x\" must be a topic name ending in '/', without "
            "wildcards, not starting with '$'");
  EXPECT_EQ(errorOf("[tenants.ops]\nmount = \"tenants/\"\n"),
            "policy.toml:1: tenants.ops.mount \"tenants/\" lies under \"tenants/\", where the "
            "tenants without a mount of their own live; use \"tenants/ops/\" or a mount elsewhere");
  EXPECT_EQ(errorOf("[rolez]\n"), "policy.toml:1: unknown key 'rolez' in [policy]");
  EXPECT_EQ(errorOf("[[roles.r.rules]]\ndeny = \"publish\"\ntopic = \"a\"\nmax_qos = 1\n"),
            "policy.toml:1: max_qos belongs to allow rules");
}

}  // namespace
}  // namespace moat::security::authz
