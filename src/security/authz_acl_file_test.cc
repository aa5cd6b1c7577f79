// Mosquitto acl_file reading: each kind of line, what Mosquitto 2.0.11 accepts and how Moat reads
// it, and each broken line refused with source:line and why. What Mosquitto did was observed with
// Debian's mosquitto 2.0.11 (`mosquitto -c conf` with `acl_file`; docs/authorization.md lists the
// probes); the tests that follow Mosquitto say so, and so do the few that part from it.
#include "security/authz_acl_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "security/authz_policy.h"

namespace moat::security::authz {
namespace {

constexpr ActionSet kRead = actionBit(Action::Subscribe) | actionBit(Action::Receive);
constexpr ActionSet kWrite = actionBit(Action::Publish) | actionBit(Action::Retain);

std::vector<Rule> rulesOf(std::string_view text) {
  auto rules = parseAclRules(text, "acl");
  EXPECT_TRUE(rules.has_value()) << rules.error().message;
  return rules ? std::move(*rules) : std::vector<Rule>{};
}

std::string errorOf(std::string_view text) {
  auto rules = parseAclRules(text, "acl");
  EXPECT_FALSE(rules.has_value()) << "accepted: " << text;
  return rules ? std::string() : rules.error().message;
}

TEST(AuthzAclFile, ReadsUserTopicAndPatternLines) {
  const auto rules = rulesOf(
      "topic read public/#\n"
      "user alice\n"
      "topic write alice/out\n"
      "pattern readwrite clients/%c/#\n"
      "topic deny alice/secret\n");
  ASSERT_EQ(rules.size(), 4u);

  EXPECT_EQ(rules[0].scope, Rule::Scope::Anonymous);
  EXPECT_EQ(rules[0].actions, kRead);
  EXPECT_FALSE(rules[0].deny);
  EXPECT_EQ(rules[0].filter, "public/#");
  EXPECT_EQ(rules[0].text, "topic read public/#");
  EXPECT_EQ(rules[0].where, "acl:1");

  EXPECT_EQ(rules[1].scope, Rule::Scope::User);
  EXPECT_EQ(rules[1].user, "alice");
  EXPECT_EQ(rules[1].actions, kWrite);
  EXPECT_EQ(rules[1].where, "acl:3");

  EXPECT_EQ(rules[2].scope, Rule::Scope::Everyone);
  EXPECT_EQ(rules[2].placeholders, Placeholders::Mosquitto);
  EXPECT_EQ(rules[2].actions, kAllActions);
  EXPECT_EQ(rules[2].filter, "clients/%c/#");

  EXPECT_EQ(rules[3].scope, Rule::Scope::User);
  EXPECT_TRUE(rules[3].deny);
  EXPECT_EQ(rules[3].actions, kAllActions);
}

TEST(AuthzAclFile, TopicWithoutAccessWordIsReadwrite) {
  const auto rules = rulesOf("topic sensors/#\npattern devices/%u\n");
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].actions, kAllActions);
  EXPECT_FALSE(rules[0].deny);
  EXPECT_EQ(rules[0].filter, "sensors/#");
  EXPECT_EQ(rules[1].actions, kAllActions);
  EXPECT_EQ(rules[1].filter, "devices/%u");
}

TEST(AuthzAclFile, SkipsCommentsBlankLinesAndCarriageReturns) {
  const auto rules = rulesOf("# a comment\n\n   \r\n#topic read x\ntopic read a\r\ntopic read b");
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].filter, "a");
  EXPECT_EQ(rules[0].where, "acl:5");
  EXPECT_EQ(rules[1].filter, "b");
  EXPECT_EQ(rules[1].where, "acl:6");
}

// Mosquitto 2.0.11 refuses to start on "  # comment" ("Invalid line in acl_file"); Moat reads it
// as the comment it is.
TEST(AuthzAclFile, IndentedCommentIsAComment) {
  EXPECT_EQ(rulesOf("  # indented\n\t# tab\ntopic read x\n").size(), 1u);
}

// Mosquitto: "topic read a b" is read access to the topic "a b"; blanks around it are dropped,
// and so are repeated spaces between the words.
TEST(AuthzAclFile, TopicIsTheRestOfTheLineSpacesIncluded) {
  const auto rules = rulesOf("topic read a b\ntopic  read   x  \n  topic write c d  e\n");
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].filter, "a b");
  EXPECT_EQ(rules[1].filter, "x");
  EXPECT_EQ(rules[1].text, "topic  read   x");
  EXPECT_EQ(rules[2].filter, "c d  e");
}

// Mosquitto 2.0.11 splits words at spaces only and refuses "topic\tread\tx"; Moat takes tabs as
// blanks too. A tab inside the topic stays in it, as in Mosquitto.
TEST(AuthzAclFile, TabsSeparateWordsToo) {
  const auto rules = rulesOf("topic\tread\tx\ntopic read a\tb\n");
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].filter, "x");
  EXPECT_EQ(rules[0].actions, kRead);
  EXPECT_EQ(rules[1].filter, "a\tb");
}

TEST(AuthzAclFile, UserNameIsTheRestOfTheLine) {
  const auto rules = rulesOf("user   x y  \ntopic spaced\n");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].user, "x y");
}

TEST(AuthzAclFile, TopicRulesBeforeAnyUserAreForAnonymousClients) {
  const auto rules = rulesOf("topic read a\nuser bob\ntopic read b\nuser carol\ntopic read c\n");
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].scope, Rule::Scope::Anonymous);
  EXPECT_EQ(rules[1].scope, Rule::Scope::User);
  EXPECT_EQ(rules[1].user, "bob");
  EXPECT_EQ(rules[2].user, "carol");
}

// Mosquitto substitutes only in `pattern` lines: "%u" in a `topic` line is two characters.
TEST(AuthzAclFile, TopicLinesAreNotPatterns) {
  const auto rules = rulesOf("user alice\ntopic write %u/x\n");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].placeholders, Placeholders::None);
}

TEST(AuthzAclFile, UnknownKeywordIsRefusedWithItsLine) {
  EXPECT_EQ(errorOf("# acl\n\ntopik read x\n"),
            "acl:3: unknown keyword \"topik\" (topic, pattern or user)");
}

// Mosquitto compares keywords and access words with strcmp: "TOPIC" and "READ" are refused.
TEST(AuthzAclFile, KeywordsAndAccessWordsAreCaseSensitive) {
  EXPECT_EQ(errorOf("TOPIC read x\n"), "acl:1: unknown keyword \"TOPIC\" (topic, pattern or user)");
  EXPECT_EQ(errorOf("topic READ x\n"),
            "acl:1: unknown access \"READ\" (read, write, readwrite or deny)");
}

// Mosquitto: "Invalid topic access type "a"" for "topic a b".
TEST(AuthzAclFile, UnknownAccessIsRefused) {
  EXPECT_EQ(errorOf("topic a b\n"), "acl:1: unknown access \"a\" (read, write, readwrite or deny)");
}

TEST(AuthzAclFile, TopicWithoutTopicIsRefused) {
  EXPECT_EQ(errorOf("topic\n"), "acl:1: \"topic\" needs a topic");
  EXPECT_EQ(errorOf("pattern   \n"), "acl:1: \"pattern\" needs a topic");
}

// Mosquitto 2.0.11 reads "topic read" as readwrite on the topic "read", and "topic deny" as
// readwrite on "deny" (observed: a client with only `topic deny` could publish to "deny"). Moat
// refuses both.
TEST(AuthzAclFile, AccessWordWithoutTopicIsRefused) {
  EXPECT_EQ(errorOf("user a\n\n\n\ntopic read\n"),
            "acl:5: \"topic read\" needs a topic (Mosquitto would read \"read\" as the topic, with "
            "readwrite access; write \"topic readwrite read\" if that is meant)");
  EXPECT_NE(errorOf("topic deny \n").find("\"topic deny\" needs a topic"), std::string::npos);
  EXPECT_NE(errorOf("pattern write\n").find("\"pattern write\" needs a topic"), std::string::npos);
  EXPECT_NE(errorOf("topic readwrite\n").find("needs a topic"), std::string::npos);
}

TEST(AuthzAclFile, InvalidTopicFilterIsRefused) {
  EXPECT_EQ(errorOf("topic read sensors/#/x\n"),
            "acl:1: invalid topic filter \"sensors/#/x\": '#' must be the whole last level of a "
            "topic filter");
  EXPECT_EQ(errorOf("topic read sensors+\n"),
            "acl:1: invalid topic filter \"sensors+\": '+' must be a whole topic level");
  // Mosquitto has no comments after a rule: the '#' is part of the topic, which is then invalid.
  EXPECT_NE(errorOf("topic read foo # comment\n").find("invalid topic filter \"foo # comment\""),
            std::string::npos);
}

// Mosquitto: "Missing username in acl_file" for both.
TEST(AuthzAclFile, UserWithoutNameIsRefused) {
  EXPECT_EQ(errorOf("user\ntopic x\n"), "acl:1: \"user\" needs a name");
  EXPECT_EQ(errorOf("user   \ntopic x\n"), "acl:1: \"user\" needs a name");
}

// Mosquitto files the rules under "alice # admins", a name no client has: alice's rules vanish
// silently. Moat refuses a user name it could never authenticate.
TEST(AuthzAclFile, UserNameMoatCannotAuthenticateIsRefused) {
  const std::string error = errorOf("user alice # admins\ntopic read x\n");
  EXPECT_EQ(error.rfind("acl:1: user name \"alice # admins\" cannot be used: ", 0), 0u) << error;
  EXPECT_NE(error.find("(a comment must be on a line of its own)"), std::string::npos);
  EXPECT_NE(errorOf("user c+d\n").find("cannot be used"), std::string::npos);
  EXPECT_NE(errorOf("user a\x01z\n").find("\"a\\x01z\""), std::string::npos);
}

TEST(AuthzAclFile, InvalidUtf8IsRefused) {
  EXPECT_EQ(errorOf("topic read caf\xE9\n"), "acl:1: not valid UTF-8 (or holds a NUL byte)");
  EXPECT_EQ(errorOf(std::string_view("topic read a\0b\n", 15)),
            "acl:1: not valid UTF-8 (or holds a NUL byte)");
}

TEST(AuthzAclFile, ErrorsShowAtMost64BytesOfTheLine) {
  const std::string error = errorOf("topic read " + std::string(200, 'a') + "/#/x\n");
  EXPECT_NE(error.find("\"" + std::string(64, 'a') + "\"..."), std::string::npos) << error;
  EXPECT_LT(error.size(), 200u);
}

TEST(AuthzAclFile, AFileWithAnErrorLoadsNothing) {
  auto policy = Policy::parseAclFile("user admin\ntopic readwrite #\ntopic read a/#/b\n", "acl");
  ASSERT_FALSE(policy.has_value());
  EXPECT_EQ(policy.error().message.rfind("acl:3: ", 0), 0u);
}

TEST(AuthzAclFile, LoadNamesTheFileInErrorsAndDecisions) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("moat_authz_acl_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "acl";
  std::ofstream(path) << "user alice\ntopic read sensors/#\n";

  auto policy = Policy::loadAclFile(path);
  ASSERT_TRUE(policy.has_value()) << policy.error().message;
  EXPECT_EQ(policy->ruleCount(), 1u);
  Subject alice;
  alice.username = "alice";
  alice.clientId = "c";
  const Decision d = policy->check(alice, Action::Receive, "sensors/1");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.where, path.string() + ":2");

  auto missing = Policy::loadAclFile(dir / "missing");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace moat::security::authz
