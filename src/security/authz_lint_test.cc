#include "security/authz_lint.h"

#include <gtest/gtest.h>

#include "security/authz_acl_file.h"
#include "security/authz_policy_file.h"

namespace moat::security::authz {
namespace {

std::vector<LintFinding> lint(std::string_view text,
                              const std::vector<std::string>* users = nullptr) {
  auto rules = parseAclRules(text, "acl");
  EXPECT_TRUE(rules) << rules.error().message;
  return rules ? lintRules(*rules, users) : std::vector<LintFinding>{};
}

TEST(AuthzLint, FilterCoversFollowsTopicMatching) {
  EXPECT_TRUE(filterCovers("#", "sensors/#"));
  EXPECT_TRUE(filterCovers("sensors/#", "sensors/+/t"));
  EXPECT_TRUE(filterCovers("sensors/#", "sensors"));  // '#' also matches the parent level
  EXPECT_TRUE(filterCovers("+/t", "a/t"));
  EXPECT_FALSE(filterCovers("sensors/#", "#"));
  EXPECT_FALSE(filterCovers("+/t", "+/t/x"));
  EXPECT_FALSE(filterCovers("a/+", "a/#"));
  EXPECT_FALSE(filterCovers("#", "$SYS/x"));  // [MQTT-4.7.2-1]
  EXPECT_TRUE(filterCovers("$SYS/#", "$SYS/broker/x"));
}

TEST(AuthzLint, TheSeedsDenyShadowsTheDashboardsReads) {
  auto found = lint(
      "user admin\ntopic readwrite #\nuser dashboard\ntopic read sensors/#\n"
      "topic read devices/#\ntopic deny #\n");
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].where, "acl:2");  // the admin's "#"
  EXPECT_EQ(found[1].where, "acl:4");
  EXPECT_EQ(found[1].message,
            "\"topic read sensors/#\" grants nothing: acl:6 (topic deny #) denies all of it for "
            "user dashboard (a deny wins)");
  EXPECT_EQ(found[2].where, "acl:5");
}

TEST(AuthzLint, ADenyOfAnotherUserShadowsNothing) {
  EXPECT_TRUE(lint("user a\ntopic read x/#\nuser b\ntopic deny x/#\n").empty());
}

TEST(AuthzLint, RedundantAllowsAndPlaceholderlessPatternsAreReported) {
  auto found = lint(
      "user a\ntopic readwrite x/#\ntopic read x/y\npattern read public/#\n"
      "pattern read home/%u/#\n");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].message,
            "\"topic read x/y\" is redundant: acl:2 (topic readwrite x/#) already grants it");
  EXPECT_EQ(found[1].where, "acl:4");
}

TEST(AuthzLint, UsersUnknownToThePasswordFileAreReportedOnce) {
  std::vector<std::string> users{"alice"};
  auto found =
      lint("user alice\ntopic read a\nuser bob\ntopic read b\nuser bob\ntopic read c\n", &users);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].message,
            "user bob is not in the password file: its rules apply to nobody who logs in by "
            "password");
}

// The broker lints at every (re)load: 100,000 rules must not be compared all with all (that
// took the broker minutes to start). Compared within each user's section, with one finding.
TEST(AuthzLint, ALargePolicyIsComparedWithinEachClientsRules) {
  std::string text = "topic deny private/#\n";
  for (int u = 0; u < 20000; ++u) {
    text += "user d" + std::to_string(u) + "\n";
    for (int r = 0; r < 5; ++r) {
      text += "topic read fleet/" + std::to_string(u) + "/" + std::to_string(r) + "/#\n";
    }
  }
  text += "user d7\ntopic read fleet/7/1/x\n";
  auto found = lint(text);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].message,
            "\"topic read fleet/7/1/x\" is redundant: acl:46 (topic read fleet/7/1/#) already "
            "grants it");
}

TEST(AuthzLint, RolesAreTheirOwnClientsAndConditionalRulesAreNotShadows) {
  auto file = parsePolicyFile(R"(
[[roles.a.rules]]
allow = "all"
topic = "#"
[[roles.b.rules]]
allow = "read"
topic = "x/#"
[[roles.b.rules]]
deny = "read"
topic = "x/#"
when = { time = "22:00-06:00" }
[[roles.b.rules]]
allow = "read"
topic = "x/y"
max_qos = 1
)",
                              "policy.toml");
  ASSERT_TRUE(file.has_value()) << file.error().message;
  auto found = lintRules(file->rules, nullptr);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].message, "\"role a: allow all #\" grants every topic to role a");
  EXPECT_EQ(found[1].message,
            "\"role b: allow read x/y max_qos 1\" is redundant: policy.toml:5 (role b: allow "
            "read x/#) already grants it");
}

}  // namespace
}  // namespace moat::security::authz
